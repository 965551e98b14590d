"""Cached images: keyed by exactly what determines them, and the very bytes the uncached pipeline makes."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from harness.config.geometry import geometry
from harness.data import images
from harness.data.images import image_array, image_key
from harness.data.pipeline import resized
from harness.training.run import cache_root
from tests.helpers import FAST, make_cfg, splits_of, write_images


def folder_cfg(folder: Path, tmp_path: Path, *overrides: str):
    return make_cfg("dataset=folder", f"dataset.path={folder}", f"cache_dir={tmp_path / 'cache'}", *FAST, *overrides)


def keys(cfg) -> tuple[str, str]:
    splits = splits_of(cfg)
    return image_key(splits.train, geometry(cfg.data)), image_key(splits.val, geometry(cfg.data))


def test_image_keys_change_with_geometry_subset_and_content_and_nothing_else(image_folder, tmp_path):
    base = keys(folder_cfg(image_folder, tmp_path))
    assert base[0] != base[1], "train and val are different entries"
    # Knobs that do not touch the pixels reuse the entry.
    for same in (
        "train.learning_rate=0.1",
        "train.seed=7",
        "model.unfreeze=1.0",
        "train.batch_size=4",
        "data.augment=randaugment",
    ):
        assert keys(folder_cfg(image_folder, tmp_path, same)) == base, same
    # Knobs that do change them get their own.
    for other in ("data.image_size=40", "data.aspect_ratio=2.0", "data.resize_mode=pad"):
        assert keys(folder_cfg(image_folder, tmp_path, other))[0] != base[0], other
    subset = keys(folder_cfg(image_folder, tmp_path, "data.samples_per_class=3"))
    assert subset[0] != base[0] and subset[1] == base[1], "samples_per_class subsets train only"
    # Editing, adding or removing a file changes the source fingerprint.
    victim = next((image_folder / "train" / "red").glob("*.png"))
    os.utime(victim, ns=(time.time_ns(), time.time_ns() + 10**9))
    edited = keys(folder_cfg(image_folder, tmp_path))
    assert edited[0] != base[0] and edited[1] == base[1]
    write_images(image_folder / "val" / "blue", 1, seed=99, color=2)
    (image_folder / "val" / "blue" / "img_000.jpg").rename(image_folder / "val" / "blue" / "extra.jpg")
    assert keys(folder_cfg(image_folder, tmp_path))[1] != edited[1]


def uncached(split, geo) -> np.ndarray:
    return np.concatenate(list(resized(split, geo).batch(64).as_numpy_iterator()))


def test_cached_images_are_the_bytes_the_uncached_pipeline_makes(image_folder, tmp_path):
    cfg = folder_cfg(image_folder, tmp_path, "data.aspect_ratio=1.5", "data.resize_mode=crop")
    splits = splits_of(cfg)
    geo, root = geometry(cfg.data), cache_root(cfg)
    shutil.rmtree(root / "images")  # no folder scan's images: the entry is decoded here
    array, built = image_array(splits.train, geo, root)
    again, built_again = image_array(splits.train, geo, root)
    assert built and not built_again and isinstance(again, np.memmap)
    np.testing.assert_array_equal(array, uncached(splits.train, geo))


@pytest.mark.parametrize("resize_mode", ["squash", "pad", "crop"])
def test_a_folder_is_decoded_once_its_scan_keeps_the_images_every_split_takes(
    image_folder, tmp_path, monkeypatch, resize_mode
):
    """The scan decodes every file to check it; the images it fits to the run's geometry from that decode are the
    bytes the training pipeline makes, whole splits use them as they are, and subsets (a carved val, a
    samples_per_class train) copy their rows: nothing is decoded a second time. Files the scan skips (a broken
    JPEG, a truncated PNG) leave no row."""
    (image_folder / "train" / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (image_folder / "train" / "blue" / "truncated.png").write_bytes(
        (image_folder / "train" / "blue" / "img_001.png").read_bytes()[:60]
    )
    wholes = folder_cfg(image_folder, tmp_path, "data.aspect_ratio=1.5", f"data.resize_mode={resize_mode}")
    carved = folder_cfg(  # the same train/ folder, scanned once, carved and subset
        image_folder / "train",
        tmp_path,
        "data.samples_per_class=2",
        "dataset.val_fraction=0.3",
        "data.aspect_ratio=1.5",
        f"data.resize_mode={resize_mode}",
    )
    expected = {}
    for cfg in (wholes, carved):
        splits = splits_of(cfg)
        expected[cfg.dataset.path] = [
            (split, uncached(split, geometry(cfg.data))) for split in (splits.train, splits.val)
        ]
    assert len(splits_of(wholes).train) == 18, "the broken files are not rows"
    monkeypatch.setattr(images, "resized", lambda *a: pytest.fail("an image was decoded a second time"))
    for cfg in (wholes, carved):
        for split, pixels in expected[cfg.dataset.path]:
            array, built = image_array(split, geometry(cfg.data), cache_root(cfg))
            np.testing.assert_array_equal(array, pixels)
    entries = list((cache_root(wholes) / "images").glob("*.npy"))
    assert len(entries) == 3 + 2, "train, val and test of the folder, and the carved run's two subsets"
