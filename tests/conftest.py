"""Fixtures: a private cache folder, tiny generated image folders, an offline stand-in for ImageNet weights."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "HARNESS_CACHE_DIR" not in os.environ:  # never the user's cache; inherited by every CLI subprocess and xdist worker
    import atexit
    import shutil
    import tempfile

    os.environ["HARNESS_CACHE_DIR"] = tempfile.mkdtemp(prefix="harness-test-cache-")
    atexit.register(shutil.rmtree, os.environ["HARNESS_CACHE_DIR"], ignore_errors=True)  # only where it was made

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import write_images


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """train/{red,green,blue}/ with 6 images each, val/ with 3 each, and a test/ split."""
    root = tmp_path / "shapes"
    for c, name in enumerate(["red", "green", "blue"]):
        write_images(root / "train" / name, 6, seed=c, color=c)
        write_images(root / "val" / name, 3, seed=10 + c, color=c)
        write_images(root / "test" / name, 2, seed=20 + c, color=c)
    return root


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    return tmp_path / "results"


@pytest.fixture
def weights_file(tmp_path_factory) -> Path:
    """A MobileNet alpha-0.25 backbone weights file standing in for ImageNet weights, offline.

    Random weights whose BatchNorm statistics were calibrated on one batch (momentum 0, training
    mode), so the backbone behaves like a pretrained one in inference mode instead of collapsing to 0.
    """
    import keras

    path = tmp_path_factory.mktemp("weights") / "mobilenet_025_no_top.weights.h5"
    backbone = keras.applications.MobileNet(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.25)
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    backbone(np.random.default_rng(0).uniform(-1, 1, (32, 32, 32, 3)).astype("float32"), training=True)
    backbone.save_weights(path)
    return path
