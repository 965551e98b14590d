"""Rows read from a cached array's file: an entry changed under a run is one line naming it, also through
TensorFlow's input pipeline, which wraps what a function raises in its own multi-line error."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from harness.data.rows import CacheChanged, Rows, changed_entry


def _entry(tmp_path):
    path = tmp_path / "e.npy"
    np.save(path, np.arange(64 * 16, dtype=np.uint8).reshape(64, 16))
    return path, Rows(np.load(path, mmap_mode="r"))


@pytest.mark.parametrize("change", ["truncated", "deleted"])
def test_an_entry_changed_under_a_reader_is_one_line_naming_it(tmp_path, change):
    path, rows = _entry(tmp_path)
    assert rows.take(np.array([3, 63])).shape == (2, 16)
    if change == "truncated":
        with open(path, "r+b") as f:
            f.truncate(path.stat().st_size - 300)
    else:
        path.unlink()
    with pytest.raises(CacheChanged) as changed:
        rows.take(np.array([63]))
    assert str(changed.value).startswith(f"cache entry {path} changed while this run read it (")
    assert str(changed.value).endswith("the next run rebuilds it") and "\n" not in str(changed.value)


def test_the_line_is_found_inside_tensorflows_error(tmp_path):
    path, rows = _entry(tmp_path)
    batches = tf.data.Dataset.range(64).map(lambda i: tf.numpy_function(lambda k: rows.take([k])[0], [i], tf.uint8))
    with open(path, "r+b") as f:
        f.truncate(200)
    with pytest.raises(Exception) as wrapped:
        for _ in batches:
            pass
    line = changed_entry(wrapped.value)
    assert line is not None and str(path) in line and "\n" not in line
    assert changed_entry(ValueError("something else")) is None
