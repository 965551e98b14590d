"""A split's decoded+resized images as one uint8 array, kept in the on-disk cache across runs and processes.

An image folder's scan decodes every file anyway (to find the broken ones); on a first run it also fits each image
to the run's geometry and keeps the whole pool's images (`resized_path`), so no image is decoded twice: a split
that is the whole pool is that entry, and one that takes part of it (a carved val, a samples_per_class subset)
copies its rows from it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.config.geometry import Geometry
from harness.data.pipeline import resized
from harness.data.splits import Split
from harness.process import stopping
from harness.process.progress import Meter
from harness.storage import cache


def resized_key(fingerprint: str, geometry: Geometry) -> str:
    """Identity of a whole pool's images fitted to the geometry, in the pool's order: its content (the pool's
    fingerprint), the geometry, the code versions."""
    return cache.digest(
        "pool-images", fingerprint, geometry.height, geometry.width, geometry.resize_mode, cache.versions()
    )


def resized_path(cache_root: Path, fingerprint: str, geometry: Geometry) -> Path:
    return cache_root / "images" / f"{resized_key(fingerprint, geometry)}.npy"


def _whole(split: Split) -> bool:
    count = len(split.pool.labels)
    return len(split) == count and np.array_equal(split.index, np.arange(count))


COPY_ROWS = 1024  # rows a subset copies from its pool's entry at a time


def image_key(split: Split, geometry: Geometry) -> str:
    """Identity of a split's decoded+resized images: source content, which examples, geometry, code versions."""
    if _whole(split):
        return resized_key(split.pool.fingerprint, geometry)
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

    def fill(out) -> None:
        import tensorflow as tf

        whole = resized_path(cache_root, split.pool.fingerprint, geometry)
        pool = cache.found(whole, (len(split.pool.labels), *geometry.shape), "uint8")
        if pool is not None:  # the scan kept the pool's images: this split is part of them
            copied(pool, out)
            return
        start, meter = 0, Meter("decoding images for the cache", len(split))
        # Decoded on every core, 256 at a time; the next batch is assembled while this one is written. With tf.data's
        # autotuner deciding, the writes in between led it to decode on one of 2 cores in 3 of 7 builds of 8,000
        # JPEGs (760 against 1,450 images/s); without it, at its fixed parallelism (the cores), in none of 7.
        fixed = tf.data.Options()
        fixed.autotune.enabled = False
        batches = resized(split, geometry).batch(256).prefetch(1).with_options(fixed)
        for batch in batches.as_numpy_iterator():
            out[start : start + len(batch)] = batch
            start += len(batch)
            meter.update(len(batch))
            stopping.check()  # the entry is a temporary file until it is complete

    def copied(pool: np.ndarray, out) -> None:
        meter = Meter("copying images from the folder's cache", len(split))
        for start in range(0, len(split), COPY_ROWS):
            rows = split.index[start : start + COPY_ROWS]
            out[start : start + len(rows)] = pool[rows]
            meter.update(len(rows))
            stopping.check()

    path = cache_root / "images" / f"{image_key(split, geometry)}.npy"
    return cache.array_entry(path, (len(split), *geometry.shape), "uint8", fill)


def split_images(split: Split, geometry: Geometry, cache_root: Path | None) -> np.ndarray:
    """The split's uint8 images at the geometry: the cache's entry (memory-mapped, read as needed), or decoded now
    into memory when cache_root is None."""
    if cache_root is not None:
        return image_array(split, geometry, cache_root)[0]
    return np.concatenate(list(resized(split, geometry).batch(256).as_numpy_iterator()))
