"""The content-addressed store: concurrent builders, failed builders, entries of the wrong shape."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest

from harness import cache


def _build_entry(path: str, value: int) -> list:
    def fill(out):
        time.sleep(0.3)  # long enough that every builder is writing at the same time
        out[:] = value

    array, built = cache.array_entry(Path(path), (64, 64), "uint8", fill)
    return [int(array.min()), int(array.max()), built]


def test_concurrent_builders_of_one_entry_all_read_one_complete_file(tmp_path):
    path = tmp_path / "entry.npy"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(_build_entry, [(str(path), 7)] * 4)
    assert all(lo == hi == 7 for lo, hi, _ in results)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry.npy"], "no temporary files left"


def test_a_builder_that_fails_leaves_no_entry(tmp_path):
    def fill(out):
        out[:5] = 1
        raise KeyboardInterrupt  # killed half way

    with pytest.raises(KeyboardInterrupt):
        cache.array_entry(tmp_path / "e.npy", (10,), "uint8", fill)
    assert list(tmp_path.iterdir()) == []
    array, built = cache.array_entry(tmp_path / "e.npy", (10,), "uint8", lambda out: out.fill(3))
    assert built and array.tolist() == [3] * 10


def test_an_entry_of_the_wrong_shape_is_rebuilt(tmp_path):
    np.save(tmp_path / "e.npy", np.zeros(3, "uint8"))
    array, built = cache.array_entry(tmp_path / "e.npy", (4,), "uint8", lambda out: out.fill(1))
    assert built and array.tolist() == [1, 1, 1, 1]
