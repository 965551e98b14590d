"""The pipeline: resize modes, the input geometry, cycling and holding or streaming the inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from harness.data.pipeline import resize
from tests.helpers import batches, make_cfg, splits_of


@pytest.mark.parametrize("mode", ["squash", "pad", "crop"])
def test_resize_modes_hit_the_target_shape(mode):
    image = tf.cast(tf.random.uniform((30, 90, 3), 0, 255), tf.uint8)
    out = resize(image, 24, 48, mode)
    assert out.shape == (24, 48, 3) and out.dtype == tf.uint8


def test_pad_keeps_content_aspect_and_crop_fills_the_frame():
    image = tf.fill((10, 40, 3), tf.constant(200, tf.uint8))  # wide white strip
    padded = resize(image, 32, 32, "pad").numpy()
    cropped = resize(image, 32, 32, "crop").numpy()
    assert padded[0].max() == 0 and padded[16].min() == 200  # black bars above, content in the middle
    assert cropped.min() == 200


def test_aspect_ratio_sets_the_network_input(image_folder):
    cfg = make_cfg(
        "dataset=folder",
        f"dataset.path={image_folder}",
        "data.image_size=32",
        "data.aspect_ratio=2.0",
        "train.batch_size=4",
    )
    x, _ = next(iter(batches(splits_of(cfg).train, cfg, True)))
    assert x.shape[1:] == (23, 45, 3)


def test_an_epoch_on_a_subset_has_the_steps_of_a_pass_over_the_whole_split():
    from harness.data.pipeline import epoch_steps

    assert epoch_steps(24, 600, 32, "full_data") == 19  # 1 image per class of 24 classes, 600 in all
    assert epoch_steps(24, 600, 32, "subset") is None and epoch_steps(600, None, 32, "full_data") is None
    assert epoch_steps(600, 600, 32, "full_data") is None  # the whole split: one pass, as always


def test_a_cycled_split_is_reshuffled_on_every_pass(image_folder):
    cfg = make_cfg("dataset=folder", f"dataset.path={image_folder}", "data.image_size=32", "train.batch_size=6")
    from harness.config.geometry import geometry
    from harness.data.pipeline import pipeline

    split = splits_of(cfg).train
    ds = pipeline(split, geometry(cfg.data), cfg.data, batch_size=6, seed=0, training=True, repeat=True)
    labels = [y.numpy().tolist() for _, y in ds.take(9)]  # three passes over 18 images
    passes = [sum(labels[i : i + 3], []) for i in (0, 3, 6)]
    assert all(sorted(p) == sorted(split.labels.tolist()) for p in passes) and passes[0] != passes[1]


@pytest.mark.parametrize("memory_mb", ["0", "512"])  # streamed from the file; held in memory
def test_a_cached_array_gives_the_batches_of_the_whole_array_in_memory_whether_streamed_or_held(
    image_folder, tmp_path, memory_mb
):
    """Where a run holds its cached inputs changes no number: the same seeded shuffle and batches as the whole
    array in memory gave."""
    import tensorflow as tf

    from harness.data.pipeline import held_in_memory, pipeline
    from harness.data.rows import Rows
    from harness.storage import cache

    cfg = make_cfg(
        "dataset=folder",
        f"dataset.path={image_folder}",
        "data.image_size=32",
        "data.shuffle_buffer=7",
        f"data.memory_mb={memory_mb}",
    )
    split = splits_of(cfg).train
    rng = np.random.default_rng(0)
    data = rng.integers(0, 255, (len(split), 4, 3), dtype=np.uint8)
    array, _ = cache.array_entry(
        tmp_path / "rows.npy", data.shape, "uint8", lambda out: out.__setitem__(slice(None), data)
    )
    assert isinstance(Rows(array)._path, Path)  # a file behind it: read, not mapped
    assert held_in_memory({"train": array.nbytes}, cfg.data.memory_mb)["train"] == (memory_mb != "0")
    in_memory = tf.data.Dataset.from_tensor_slices((data, split.labels)).shuffle(
        7, seed=3, reshuffle_each_iteration=True
    )
    in_memory = in_memory.repeat().batch(5).map(lambda x, y: (tf.cast(x, tf.float32), y))
    streamed = pipeline(split, None, cfg.data, batch_size=5, seed=3, training=True, array=array, repeat=True)
    for (a, ya), (b, yb) in zip(in_memory.take(12), streamed.take(12)):  # past the end of a pass: reshuffled alike
        assert np.array_equal(a.numpy(), b.numpy()) and np.array_equal(ya.numpy(), yb.numpy())
    ordered = pipeline(split, None, cfg.data, batch_size=5, seed=3, training=False, array=array)
    assert np.array_equal(np.concatenate([x.numpy() for x, _ in ordered]), data.astype(np.float32))


def test_reading_rows_maps_nothing_of_the_file(tmp_path):
    """Rows read with positioned reads leave the process's mapped memory as it was, however many are read."""
    from harness.data.rows import Rows
    from harness.storage import cache

    data = np.arange(4096 * 1024, dtype=np.uint8).reshape(4096, 1024)
    array, _ = cache.array_entry(
        tmp_path / "big.npy", data.shape, "uint8", lambda out: out.__setitem__(slice(None), data)
    )
    rows = Rows(array)
    assert np.array_equal(rows.take(np.array([4095, 0, 17, 17])), data[[4095, 0, 17, 17]])
    assert np.array_equal(rows.chunk(100, 300), data[100:300])
    mapped = (
        [line for line in Path("/proc/self/smaps").read_text().split("\n") if "big.npy" in line]
        if Path("/proc/self/smaps").exists()
        else []
    )
    assert len(mapped) <= 1  # the cache's own map of the entry at most; Rows maps nothing


def test_uncached_images_are_kept_in_memory_only_up_to_the_limit_and_give_the_same_batches_either_way(image_folder):
    """train.cache=off: the decoded split is kept for later epochs when it fits data.memory_mb, else decoded again
    each epoch (a 100k-image folder at 224 px is 15 GB); the seeded batches are the same."""
    from harness.config.geometry import geometry
    from harness.data.pipeline import held_in_memory, pipeline

    def epochs(memory_mb: str) -> list[np.ndarray]:
        cfg = make_cfg(
            "dataset=folder", f"dataset.path={image_folder}", "data.image_size=32", f"data.memory_mb={memory_mb}"
        )
        ds = pipeline(splits_of(cfg).train, geometry(cfg.data), cfg.data, batch_size=4, seed=1, training=True)
        return [x.numpy() for _ in range(2) for x, _ in ds]  # two epochs, reshuffled

    kept, decoded_again = epochs("512"), epochs("0")
    assert len(kept) == len(decoded_again) and all(np.array_equal(a, b) for a, b in zip(kept, decoded_again))
    assert held_in_memory({"train": 18 * 32 * 32 * 3}, 512) == {"train": True}
    assert held_in_memory({"train": 100_000 * 224 * 224 * 3}, 512) == {"train": False}


def test_one_memory_budget_holds_a_runs_inputs_train_first_and_streams_the_rest():
    from harness.data.pipeline import held_in_memory

    mb = 2**20  # an array held costs the run twice its size (tf.data's iterator keeps a copy)
    assert held_in_memory({"train": 150 * mb, "val": 150 * mb, "test": 50 * mb}, 512) == {
        "train": True,
        "val": False,  # would take the run past its budget: streamed
        "test": True,  # still fits beside train
    }
    assert held_in_memory({"train": 300 * mb, "val": 50 * mb}, 512) == {"train": False, "val": True}
    assert held_in_memory({"train": 1, "val": 1}, 0) == {"train": False, "val": False}
