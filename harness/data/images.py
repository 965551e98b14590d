"""A split's decoded+resized images as one uint8 array, kept in the on-disk cache across runs and processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.config.geometry import Geometry
from harness.data.pipeline import resized
from harness.data.splits import Split
from harness.process.progress import Meter
from harness.storage import cache


def image_key(split: Split, geometry: Geometry) -> str:
    """Identity of a split's decoded+resized images: source content, which examples, geometry, code versions."""
    return cache.digest(
        "images",
        split.pool.fingerprint,
        split.index,
        geometry.height,
        geometry.width,
        geometry.resize_mode,
        cache.versions(),
    )


def image_array(split: Split, geometry: Geometry, cache_root: Path) -> tuple[np.ndarray, bool]:
    """The split's uint8 images at the geometry, from the cache (built on first use). Returns (array, built)."""

    def fill(out: np.ndarray) -> None:
        start, meter = 0, Meter("decoding images for the cache", len(split))
        for batch in resized(split, geometry).batch(256).as_numpy_iterator():  # decoded in parallel, 256 at a time
            out[start : start + len(batch)] = batch
            start += len(batch)
            meter.update(len(batch))

    path = cache_root / "images" / f"{image_key(split, geometry)}.npy"
    return cache.array_entry(path, (len(split), *geometry.shape), "uint8", fill)


def split_images(split: Split, geometry: Geometry, cache_root: Path | None) -> np.ndarray:
    """The split's uint8 images at the geometry: the cache's entry (memory-mapped, read as needed), or decoded now
    into memory when cache_root is None."""
    if cache_root is not None:
        return image_array(split, geometry, cache_root)[0]
    return np.concatenate(list(resized(split, geometry).batch(256).as_numpy_iterator()))
