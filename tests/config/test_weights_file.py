"""Weights files are checked from their HDF5 header, before TensorFlow starts."""

from __future__ import annotations

import sys

import pytest

from harness.config.weights_file import mismatch
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
    code = (
        "import sys; from harness.config.weights_file import mismatch; "
        f"mismatch({str(path)!r}, 'mobilenet', 0.25); print('tensorflow' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_a_keras_3_weights_file_is_checked_for_its_width_too(weights_file):
    assert mismatch(weights_file, "mobilenet", 0.25) is None  # the fixture: Keras 3's own .weights.h5 layout
    assert mismatch(weights_file, "mobilenet", 0.5) == (
        "weights of mobilenet at model.alpha=0.5: its first layer has 8 filters, not 16 (it fits model.alpha=0.25)"
    )


def test_a_file_without_weight_names_or_with_non_finite_weights_is_one_short_line(tmp_path):
    import h5py
    import numpy as np

    path = write_weights_file(tmp_path / "w.h5")
    with h5py.File(path, "a") as f:
        del f["conv1"].attrs["weight_names"]
    assert (
        mismatch(path, "mobilenet", 0.25)
        == "a keras.applications weights file (its layer 'conv1' lists no weight_names)"
    )
    nan = write_weights_file(tmp_path / "nan.h5")
    with h5py.File(nan, "a") as f:
        f["conv1"]["conv1/kernel:0"][0, 0, 0, 0] = np.nan
    assert mismatch(nan, "mobilenet", 0.25) == "weights with finite values (conv1/conv1/kernel:0 holds NaN or infinity)"
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    assert "neither layer_names nor Keras 3's layers group" in mismatch(other, "mobilenet", 0.25)
