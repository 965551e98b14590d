"""The caches: keyed by exactly what determines their content, safe under concurrent builders, and invisible in results."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest

from harness import cache, data
from harness.run import run
from tests.conftest import FAST, make_cfg, write_images


def folder_cfg(folder: Path, tmp_path: Path, *overrides: str):
    return make_cfg("dataset=folder", f"dataset.path={folder}", f"cache_dir={tmp_path / 'cache'}", *FAST, *overrides)


def keys(cfg) -> tuple[str, str]:
    splits = data.load_splits(cfg)
    return data.image_key(splits.train, cfg), data.image_key(splits.val, cfg)


# --- keys -------------------------------------------------------------------------------------------------


def test_image_keys_change_with_geometry_subset_and_content_and_nothing_else(image_folder, tmp_path):
    base = keys(folder_cfg(image_folder, tmp_path))
    assert base[0] != base[1], "train and val are different entries"
    # Knobs that do not touch the pixels reuse the entry.
    for same in ("train.learning_rate=0.1", "train.seed=7", "model.unfreeze=1.0", "train.batch_size=4", "data.augment=true"):
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


def test_a_folder_is_checked_by_decoding_once_per_state(image_folder, tmp_path, monkeypatch):
    probed = []
    real = data._probe_image
    monkeypatch.setattr(data, "_probe_image", lambda path: probed.append(path) or real(path))
    cfg = folder_cfg(image_folder, tmp_path)
    first = data.load_splits(cfg)
    count = len(probed)
    assert count == len(first.train) + len(first.val) + len(first.test)
    second = data.load_splits(cfg)
    assert len(probed) == count, "the scan was served from the cache"
    assert list(second.train.ids) == list(first.train.ids) and (second.train.pool.sizes == first.train.pool.sizes).all()
    data.load_splits(folder_cfg(image_folder, tmp_path, "train.cache=off"))
    assert len(probed) == 2 * count, "train.cache=off checks every file again"


def test_cached_images_are_the_bytes_the_uncached_pipeline_makes(image_folder, tmp_path):
    cfg = folder_cfg(image_folder, tmp_path, "data.aspect_ratio=1.5", "data.resize_mode=crop")
    splits = data.load_splits(cfg)
    array, built = data.image_array(splits.train, cfg)
    again, built_again = data.image_array(splits.train, cfg)
    uncached = np.concatenate(list(data._resized(splits.train, cfg).batch(64).as_numpy_iterator()))
    assert built and not built_again and isinstance(again, np.memmap)
    np.testing.assert_array_equal(array, uncached)


# --- concurrency and faults -----------------------------------------------------------------------------


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


# --- cached vs uncached: the same model ------------------------------------------------------------------


def fitted(folder, tmp_path, weights, name, *overrides):
    cfg = folder_cfg(
        folder, tmp_path, "model.alpha=0.25", f"model.weights={weights}", "train.epochs=2", "train.steps_per_epoch=null",
        "train.batch_size=4", f"results_dir={tmp_path / 'results'}", f"run_name={name}", "train.patience=null", *overrides,
    )
    return run(cfg)


@pytest.mark.parametrize("unfreeze, kind", [(0.0, "full"), (0.5, "prefix")])
def test_training_on_cached_features_gives_the_uncached_model(image_folder, tmp_path, weights_file, unfreeze, kind):
    plain = fitted(image_folder, tmp_path, weights_file, "off", f"model.unfreeze={unfreeze}", "train.cache=off")
    cached = fitted(image_folder, tmp_path, weights_file, "on", f"model.unfreeze={unfreeze}", "train.feature_dtype=float32")
    assert plain["feature_cache"] == "none" and cached["feature_cache"] == kind
    assert cached["cache"]["features"] == {"train": "built", "val": "built", "test": "built"}
    # Same initial weights, same batches, same head: the same numbers, epoch by epoch.
    np.testing.assert_allclose(cached["history"]["loss"], plain["history"]["loss"], rtol=1e-4)
    np.testing.assert_allclose(cached["history"]["val_accuracy"], plain["history"]["val_accuracy"])
    assert cached["test_accuracy"] == pytest.approx(plain["test_accuracy"])
    assert cached["trainable_params"] == plain["trainable_params"]
    again = fitted(image_folder, tmp_path, weights_file, "again", f"model.unfreeze={unfreeze}", "train.feature_dtype=float32")
    assert again["cache"]["features"]["train"] == "hit" and again["cache"]["images"]["train"] == "unused"
    np.testing.assert_allclose(again["history"]["loss"], cached["history"]["loss"], rtol=1e-6)


def test_augmentation_or_a_fully_trainable_backbone_trains_on_cached_images_only(image_folder, tmp_path, weights_file):
    augmented = fitted(image_folder, tmp_path, weights_file, "aug", "model.unfreeze=0", "data.augment=true", "train.epochs=1",
                        "train.steps_per_epoch=1")
    assert augmented["feature_cache"] == "none" and augmented["cache"]["images"]["train"] == "built"
    everything = fitted(image_folder, tmp_path, weights_file, "all", "model.unfreeze=1.0", "train.epochs=1", "train.steps_per_epoch=1")
    assert everything["feature_cache"] == "none" and everything["cache"]["images"]["train"] == "hit"


def test_a_saved_model_from_cached_features_predicts_like_the_trained_one(image_folder, tmp_path, weights_file):
    import keras

    record = fitted(image_folder, tmp_path, weights_file, "saved", "model.unfreeze=0", "train.save_model=true", "train.epochs=2",
                    "train.feature_dtype=float32")
    assert record["feature_cache"] == "full"
    model = keras.saving.load_model(tmp_path / "results" / record["name"] / "saved" / "model.keras")
    cfg = folder_cfg(image_folder, tmp_path, "train.cache=off")
    splits = data.load_splits(cfg)
    images = np.concatenate([x for x, _ in data.pipeline(splits.val, cfg, training=False).as_numpy_iterator()])
    accuracy = (model.predict(images, verbose=0).argmax(-1) == splits.val.labels).mean()
    assert accuracy == pytest.approx(record["history"]["val_accuracy"][-1])  # no early stopping: the last epoch's weights
