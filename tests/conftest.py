"""Shared fixtures: composing configs like the CLI does, tiny generated image folders, fast-mode overrides."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "HARNESS_CACHE_DIR" not in os.environ:  # never the user's cache; inherited by every CLI subprocess
    import tempfile

    os.environ["HARNESS_CACHE_DIR"] = tempfile.mkdtemp(prefix="harness-test-cache-")

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from PIL import Image

from harness.config import CONF_DIR

ROOT = Path(__file__).resolve().parent.parent

# Fast mode: tiny images, one training step, one epoch. Validation still sees the whole split.
FAST = ["data.image_size=32", "train.epochs=1", "train.steps_per_epoch=1", "train.verbose=0", "train.batch_size=8"]


def make_cfg(*overrides: str):
    """The config `python -m harness <overrides>` would run."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=cwd or ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def write_images(folder: Path, count: int, size: tuple[int, int] = (40, 30), seed: int = 0, color: int = 0) -> None:
    """`count` small JPEG/PNG images whose dominant channel depends on `color`, so classes are learnable."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        pixels = rng.integers(0, 80, size=(size[1], size[0], 3), dtype=np.uint8)
        pixels[..., color % 3] += 150
        ext = "png" if i % 2 else "jpg"
        Image.fromarray(pixels).save(folder / f"img_{i:03d}.{ext}")


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
