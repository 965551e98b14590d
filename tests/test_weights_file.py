"""Weights files are checked from their HDF5 header, before TensorFlow starts."""

from __future__ import annotations

import sys

import pytest

from harness.weights_file import mismatch
from tests.helpers import write_weights_file


def test_the_matching_no_top_file_passes(tmp_path):
    assert mismatch(write_weights_file(tmp_path / "w.h5"), "mobilenet", 0.25) is None


@pytest.mark.parametrize(
    "kwargs, backbone, alpha, expected",
    [
        ({"top": True}, "mobilenet", 0.25, "without the classifier top (this file has its 'conv_preds' layer"),
        ({}, "mobilenet", 0.5, "its first layer has 8 filters, not 16 (it fits model.alpha=0.25)"),
        ({"first_layer": "Conv1", "filters": 16}, "mobilenet", 0.25, "no 'conv1' layer: another architecture"),
    ],
)
def test_a_file_for_another_model_says_what_it_fits(tmp_path, kwargs, backbone, alpha, expected):
    assert expected in mismatch(write_weights_file(tmp_path / "w.h5", **kwargs), backbone, alpha)


def test_mobilenet_v2_widths_round_as_keras_does(tmp_path):
    path = write_weights_file(tmp_path / "w.h5", first_layer="Conv1", filters=16)
    assert mismatch(path, "mobilenet_v2", 0.35) is None and mismatch(path, "mobilenet_v2", 0.5) is None
    assert "not 48" in mismatch(path, "mobilenet_v2", 1.4)


def test_a_file_that_is_not_hdf5_is_named_so(tmp_path):
    path = tmp_path / "w.h5"
    path.write_bytes(b"<html>404</html>")
    assert "this file is not HDF5" in mismatch(path, "mobilenet", 0.25)


def test_checking_a_file_does_not_load_tensorflow(tmp_path):
    import subprocess

    path = write_weights_file(tmp_path / "w.h5")
    code = ("import sys; from harness.weights_file import mismatch; "
            f"mismatch({str(path)!r}, 'mobilenet', 0.25); print('tensorflow' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
