"""The pipeline: resize modes, the input geometry, augmentation on training batches only."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from harness.data.pipeline import augmenter, resize
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


def test_augmentation_runs_on_batches_and_changes_training_images_only(image_folder):
    overrides = [
        "dataset=folder",
        f"dataset.path={image_folder}",
        "data.image_size=32",
        "train.batch_size=18",
        "data.augmentation.rotation=0.1",
    ]
    plain, augmented = make_cfg(*overrides), make_cfg(*overrides, "data.augment=true")
    splits = splits_of(plain)
    assert augmenter(plain.data, 0) is None
    stack = augmenter(augmented.data, 0)
    assert [layer.__class__.__name__ for layer in stack.layers] == [
        "RandomFlip",
        "RandomBrightness",
        "RandomContrast",
        "RandomRotation",
    ]
    x_plain = np.sort(next(iter(batches(splits.train, plain, True)))[0].numpy().ravel())
    x_aug = np.sort(next(iter(batches(splits.train, augmented, True)))[0].numpy().ravel())
    assert not np.allclose(x_plain, x_aug)
    v1 = next(iter(batches(splits.val, plain, False)))[0].numpy()
    v2 = next(iter(batches(splits.val, augmented, False)))[0].numpy()
    assert np.array_equal(v1, v2)


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
