"""The content-addressed store: concurrent builders (one builds, the others wait), dead and failed builders, entries of the wrong shape, a cache
folder deleted mid-build, files rewritten behind its back."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from harness.storage import cache, claims


def _build_entry(path: str, value: int) -> list:
    def fill(out):
        time.sleep(0.3)  # long enough that every builder is writing at the same time
        out[:] = value

    array, built = cache.array_entry(Path(path), (64, 64), "uint8", fill)
    return [int(array.min()), int(array.max()), built]


def test_concurrent_builders_of_one_entry_build_it_once_and_all_read_it(tmp_path):
    path = tmp_path / "entry.npy"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(_build_entry, [(str(path), value) for value in (5, 6, 7, 8)])
    assert sum(built for _, _, built in results) == 1, "the others waited for the one builder"
    assert len({(lo, hi) for lo, hi, _ in results}) == 1 and all(lo == hi for lo, hi, _ in results)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry.npy", "entry.npy.crc32"], (
        "no temporary or lock files left"
    )


def test_an_entry_whose_builder_died_is_built_by_the_next_run(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = tmp_path / "entry.npy.building"
    lock.write_text(json.dumps(asdict(claims.Owner(dead.pid, claims.me().host, "1"))))
    array, built = cache.array_entry(tmp_path / "entry.npy", (2, 2), "uint8", lambda out: out.fill(3))
    assert built and int(array.max()) == 3 and not lock.exists()


def test_a_run_waiting_for_another_builder_stops_when_asked_and_leaves_the_entry_to_it(tmp_path, monkeypatch):
    from harness.process import stopping

    lock = tmp_path / "entry.npy.building"
    lock.write_text(json.dumps(asdict(claims.me())))  # a live builder: this very process, seen from a twin's side
    monkeypatch.setattr(claims, "me", lambda: claims.Owner(1, "elsewhere", "1"))  # the waiter is someone else
    monkeypatch.setattr(stopping, "_state", {"requested": 15, "busy": 1, "worker": False})
    with pytest.raises(stopping.Interrupted):
        cache.array_entry(tmp_path / "entry.npy", (2,), "uint8", lambda out: pytest.fail("the waiter built it"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry.npy.building"], "the builder's lock is untouched"


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


@pytest.mark.parametrize("damage", ["empty", "truncated", "directory", "garbage"])
def test_a_damaged_array_entry_is_rebuilt_not_a_failed_run(tmp_path, damage):
    path = tmp_path / "e.npy"
    cache.array_entry(path, (4, 4), "uint8", lambda out: out.fill(1))
    if damage == "directory":
        path.unlink()
        (path / "inside").mkdir(parents=True)
    else:
        data = {"empty": b"", "truncated": path.read_bytes()[:90], "garbage": b"not an array"}[damage]
        path.write_bytes(data)
    array, built = cache.array_entry(path, (4, 4), "uint8", lambda out: out.fill(2))
    assert built and array.min() == array.max() == 2


@pytest.mark.parametrize("stored", ['{"a": 1}', "[1, 2]", "not json", "directory"])
def test_a_json_entry_that_is_not_what_its_builder_writes_is_rebuilt(tmp_path, stored):
    path = tmp_path / "scan.json"
    if stored == "directory":
        (path / "inside").mkdir(parents=True)
    else:
        path.write_text(stored)
    valid = lambda value: isinstance(value, list) and len(value) == 3  # noqa: E731
    value, built = cache.json_entry(path, lambda: [1, 2, 3], valid)
    assert built and value == [1, 2, 3] and json.loads(path.read_text()) == [1, 2, 3]


def test_deleting_the_cache_folder_while_an_entry_is_built_never_fails_the_run(tmp_path):
    root = tmp_path / "cache"

    def fill(out):
        shutil.rmtree(root, ignore_errors=True)  # "safe to delete at any time": even now
        out[:] = 7

    array, built = cache.array_entry(root / "features" / "x.npy", (3, 2), "float32", fill)
    assert built and np.array_equal(array, np.full((3, 2), 7, np.float32))

    def build():
        shutil.rmtree(root, ignore_errors=True)
        return {"a": 1}

    assert cache.json_entry(root / "scans" / "y.json", build) == ({"a": 1}, True)


def test_a_file_rewritten_at_the_same_size_with_its_old_mtime_gets_a_new_key(tmp_path):
    image = tmp_path / "a.jpg"
    image.write_bytes(b"x" * 100)
    before = cache.file_listing([image])
    stat = image.stat()
    time.sleep(0.01)
    image.write_bytes(b"y" * 100)
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = cache.file_listing([image])
    assert after[0][1:3] == before[0][1:3] and after != before


@pytest.mark.parametrize("order", ["in order", "out of order"])
def test_an_entry_is_written_row_by_row_and_its_checksum_is_that_of_its_bytes(tmp_path, order):
    data = np.arange(40, dtype=np.float32).reshape(10, 2, 2)

    def fill(out):
        starts = range(0, 10, 3) if order == "in order" else reversed(range(0, 10, 3))
        for start in starts:
            out[start : start + 3] = data[start : start + 3]  # the last slice runs past the end, as a batch does

    array, built = cache.array_entry(tmp_path / "e.npy", data.shape, "float32", fill)
    assert built and np.array_equal(array, data)
    assert (tmp_path / "e.npy.crc32").read_text() == cache.checksum(tmp_path / "e.npy")
