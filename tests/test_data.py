"""Data: sources, carving val/test, samples_per_class subsets, corrupt files, resizing, the tf.data pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from harness import data
from harness.errors import ConfigError, UserError
from tests.conftest import make_cfg


def labels_of(split):
    return np.bincount(split.labels, minlength=3)


# --- carving and subsets -------------------------------------------------------------------------


def test_stratified_split_is_disjoint_complete_proportional_and_seeded():
    labels = np.repeat(np.arange(4), [50, 30, 15, 5])
    val, test, train = data.stratified_split(labels, [0.1, 0.1], seed=0)
    assert len(val) == 10 and len(test) == 10 and len(train) == 80
    assert sorted(np.concatenate([val, test, train])) == list(range(100))
    share = np.bincount(labels[val], minlength=4)
    assert (np.abs(share - np.array([50, 30, 15, 5]) * 0.1) <= 1).all()
    again = data.stratified_split(labels, [0.1, 0.1], seed=0)
    assert all((a == b).all() for a, b in zip(again, (val, test, train)))
    other = data.stratified_split(labels, [0.1, 0.1], seed=1)
    assert not (other[0] == val).all()


def test_stratified_split_gives_every_class_a_share_of_val():
    labels = np.repeat(np.arange(5), 40)
    val, train = data.stratified_split(labels, [0.2], seed=3)
    assert np.bincount(labels[val]).tolist() == [8] * 5


def test_per_class_subset_takes_exactly_k_of_each_class():
    labels = np.repeat(np.arange(3), [10, 7, 5])
    chosen = data.per_class_subset(labels, 4, seed=0, class_names=["a", "b", "c"])
    assert np.bincount(labels[chosen]).tolist() == [4, 4, 4]
    with pytest.raises(ConfigError, match="at most 5 .*'c'"):
        data.per_class_subset(labels, 6, seed=0, class_names=["a", "b", "c"])


# --- folder datasets -------------------------------------------------------------------------------


def test_folder_with_train_val_test(image_folder):
    splits = data.load_splits(make_cfg("dataset=folder", f"dataset.path={image_folder}"))
    assert splits.class_names == ["blue", "green", "red"]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (18, 9, 6)
    assert splits.skipped == 0 and splits.train.pool.sizes.tolist()[0] == [40, 30]


def test_folder_without_val_is_split_by_val_fraction(image_folder):
    import shutil

    shutil.rmtree(image_folder / "val")
    shutil.rmtree(image_folder / "test")
    splits = data.load_splits(make_cfg("dataset=folder", f"dataset.path={image_folder}", "dataset.val_fraction=0.33"))
    assert len(splits.val) == 6 and len(splits.train) == 12 and splits.test is None
    assert labels_of(splits.val).tolist() == [2, 2, 2]
    assert not set(splits.val.ids) & set(splits.train.ids)


def test_a_plain_directory_of_class_folders_is_split_too(image_folder):
    cfg = make_cfg("dataset=folder", f"dataset.path={image_folder / 'train'}", "dataset.val_fraction=0.5")
    splits = data.load_splits(cfg)
    assert (len(splits.train), len(splits.val)) == (9, 9)


def test_corrupt_and_non_image_files_are_skipped_and_counted(image_folder, caplog):
    (image_folder / "train" / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (image_folder / "train" / "red" / "notes.txt").write_text("hello")
    (image_folder / "train" / "blue" / "truncated.png").write_bytes((image_folder / "train" / "blue" / "img_001.png").read_bytes()[:60])
    with caplog.at_level("WARNING"):
        splits = data.load_splits(make_cfg("dataset=folder", f"dataset.path={image_folder}"))
    assert splits.skipped == 3 and len(splits.train) == 18
    assert sum("skipped 3 unreadable" in r.getMessage() for r in caplog.records) == 1
    batches = list(data.pipeline(splits.train, make_cfg("dataset=folder", f"dataset.path={image_folder}", "data.image_size=32"), training=True))
    assert sum(len(y) for _, y in batches) == 18


def test_samples_per_class_subsets_only_the_training_split(image_folder):
    cfg = make_cfg("dataset=folder", f"dataset.path={image_folder}", "data.samples_per_class=2")
    splits = data.load_splits(cfg)
    assert labels_of(splits.train).tolist() == [2, 2, 2] and len(splits.val) == 9
    again = data.load_splits(cfg)
    assert (again.train.index == splits.train.index).all()


def test_samples_per_class_beyond_a_carved_train_split_is_a_config_error(image_folder):
    import shutil

    shutil.rmtree(image_folder / "val")
    cfg = make_cfg("dataset=folder", f"dataset.path={image_folder}", "data.samples_per_class=6", "dataset.val_fraction=0.5")
    with pytest.raises(ConfigError, match="data.samples_per_class"):
        data.load_splits(cfg)


# --- digits and TFDS -------------------------------------------------------------------------------


def test_digits_are_real_rgb_images_split_80_10_10():
    splits = data.load_splits(make_cfg("experiment=quickstart"))
    assert splits.num_classes == 10 and len(splits.train) + len(splits.val) + len(splits.test) == 1797
    assert abs(len(splits.val) - 180) <= 1 and abs(len(splits.test) - 180) <= 1
    image = next(iter(splits.val.images()))
    assert image.shape == (8, 8, 3) and image.dtype == tf.uint8 and int(tf.reduce_max(image)) == 255


@pytest.fixture
def offline_tfds(monkeypatch, tmp_path):
    """TFDS mock data; the download probe is told the network is up, as the mock downloads nothing."""
    monkeypatch.setattr(data, "network_available", lambda *a, **k: True)
    with tfds.testing.mock_data(num_examples=40):
        yield


def test_tfds_dataset_with_its_own_validation_and_test_splits(offline_tfds):
    splits = data.load_splits(make_cfg("dataset=oxford_flowers102"))
    assert splits.num_classes == 102 and len(splits.class_names) == 102
    assert (len(splits.train), len(splits.val), len(splits.test)) == (40, 40, 40)
    assert splits.notes == []
    batch_x, batch_y = next(iter(data.pipeline(splits.val, make_cfg("data.image_size=32", "train.batch_size=8"), training=False)))
    assert batch_x.shape == (8, 32, 32, 3) and batch_x.dtype == tf.float32


def test_tfds_dataset_with_only_train_gets_val_and_test_carved(offline_tfds):
    splits = data.load_splits(make_cfg("dataset=tf_flowers"))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (32, 4, 4)
    assert splits.notes == ["carved val from train (10%)", "carved test from train (10%)"]
    assert not set(splits.val.ids) & set(splits.train.ids)
    assert len(list(splits.val.images())) == 4


def test_tfds_dataset_without_network_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "network_available", lambda *a, **k: False)
    with pytest.raises(UserError, match="cannot be downloaded.*experiment=quickstart.*dataset=folder.*model.weights="):
        data.load_splits(make_cfg("dataset=beans", f"dataset.data_dir={tmp_path}"))


def test_unknown_tfds_name_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="dataset.name"):
        data.load_splits(make_cfg("dataset=tfds", "dataset.name=no_such_dataset_xyz", f"dataset.data_dir={tmp_path}"))


# --- resizing and augmentation -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["squash", "pad", "crop"])
def test_resize_modes_hit_the_target_shape(mode):
    image = tf.cast(tf.random.uniform((30, 90, 3), 0, 255), tf.uint8)
    out = data.resize(image, 24, 48, mode)
    assert out.shape == (24, 48, 3) and out.dtype == tf.uint8


def test_pad_keeps_content_aspect_and_crop_fills_the_frame():
    image = tf.fill((10, 40, 3), tf.constant(200, tf.uint8))  # wide white strip
    padded = data.resize(image, 32, 32, "pad").numpy()
    cropped = data.resize(image, 32, 32, "crop").numpy()
    assert padded[0].max() == 0 and padded[16].min() == 200  # black bars above, content in the middle
    assert cropped.min() == 200


def test_aspect_ratio_sets_the_network_input(image_folder):
    cfg = make_cfg("dataset=folder", f"dataset.path={image_folder}", "data.image_size=32", "data.aspect_ratio=2.0", "train.batch_size=4")
    x, _ = next(iter(data.pipeline(data.load_splits(cfg).train, cfg, training=True)))
    assert x.shape[1:] == (23, 45, 3)


def test_augmentation_runs_on_batches_and_changes_training_images_only(image_folder):
    overrides = ["dataset=folder", f"dataset.path={image_folder}", "data.image_size=32", "train.batch_size=18", "data.augmentation.rotation=0.1"]
    plain, augmented = make_cfg(*overrides), make_cfg(*overrides, "data.augment=true")
    splits = data.load_splits(plain)
    assert data.augmenter(plain, 0) is None
    stack = data.augmenter(augmented, 0)
    assert [layer.__class__.__name__ for layer in stack.layers] == ["RandomFlip", "RandomBrightness", "RandomContrast", "RandomRotation"]
    x_plain = np.sort(next(iter(data.pipeline(splits.train, plain, training=True)))[0].numpy().ravel())
    x_aug = np.sort(next(iter(data.pipeline(splits.train, augmented, training=True)))[0].numpy().ravel())
    assert not np.allclose(x_plain, x_aug)
    v1 = next(iter(data.pipeline(splits.val, plain, training=False)))[0].numpy()
    v2 = next(iter(data.pipeline(splits.val, augmented, training=False)))[0].numpy()
    assert np.array_equal(v1, v2)
