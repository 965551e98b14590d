"""Augmentation policies and mixing: drawn per image and per batch inside tf.data, repeatable by seed, in range."""

from __future__ import annotations

import random

import numpy as np
import pytest
import tensorflow as tf
from omegaconf import OmegaConf

from harness.config.schema import AUGMENT_POLICIES, Augmentation
from harness.data import augment

SETTINGS = OmegaConf.structured(Augmentation(rotation=0.1, shift=0.1, zoom=0.1))
POLICIES = [p for p in AUGMENT_POLICIES if p != "none"]


def _same_image_batches(batches: int = 3, size: int = 16) -> tf.data.Dataset:
    """`batches` batches of one image (not symmetric, so a flip shows), with class-index labels."""
    image = np.random.default_rng(0).integers(0, 256, (24, 24, 3)).astype(np.float32)
    images = np.repeat(image[None], batches * size, axis=0)
    return tf.data.Dataset.from_tensor_slices((images, np.zeros(len(images), np.int64))).batch(size)


def _variation(ds: tf.data.Dataset) -> tuple[int, int]:
    """(distinct images within the first batch, distinct first images across batches) of a pipeline fed the
    same image everywhere: 1 and 1 when the random choice was fixed once, at trace time."""
    first = [x for x, _ in ds.as_numpy_iterator()]
    return len({im.tobytes() for im in first[0]}), len({batch[0].tobytes() for batch in first})


def _frozen_at_trace_time(ds: tf.data.Dataset) -> tf.data.Dataset:
    """What Keras's RandAugment did before keras-team/keras#21169: the operation picked with Python's random
    while tf.data traced the map function, so every batch and image gets the same one."""

    def step(x, y):
        name = random.choice(augment.DRAWN[1:])
        return tf.map_fn(lambda im: augment.OPS[name].fn(im, augment.OPS[name].top), x), y

    return ds.map(step)


def test_the_variation_check_catches_a_choice_frozen_at_trace_time():
    assert _variation(_frozen_at_trace_time(_same_image_batches())) == (1, 1)


@pytest.mark.parametrize("policy", POLICIES)
def test_each_policy_draws_per_image_and_per_batch(policy):
    within, across = _variation(augment.augmenting(_same_image_batches(), policy, SETTINGS, "none", 0.2, seed=3))
    assert within >= 2 and across >= 2, (within, across)
    if policy != "flip":  # a flip has two outcomes; the others many
        assert within >= 8, within


@pytest.mark.parametrize("policy", POLICIES)
def test_a_seed_repeats_a_policy_exactly_and_another_seed_does_not(policy):
    def run(seed):
        ds = augment.augmenting(_same_image_batches(), policy, SETTINGS, "none", 0.2, seed=seed)
        return np.concatenate([x for x, _ in ds.as_numpy_iterator()])

    first, again, other = run(5), run(5), run(6)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.min() >= 0 and first.max() <= 255 and first.shape == (48, 24, 24, 3)


def test_each_pass_over_the_data_draws_again():
    ds = augment.augmenting(_same_image_batches(1), "trivialaugment", SETTINGS, "none", 0.2, seed=0)
    one, two = (next(iter(ds))[0].numpy() for _ in range(2))
    assert not np.array_equal(one, two)


@pytest.mark.parametrize("name", list(augment.OPS))
def test_every_operation_keeps_shape_and_value_range(name):
    image = tf.constant(np.random.default_rng(1).integers(0, 256, (20, 30, 3)), tf.float32)
    op = augment.OPS[name]
    for value in (op.bottom, op.top, op.wide):
        out = op.fn(image, tf.constant(value, tf.float32)).numpy()
        assert out.shape == (20, 30, 3) and out.min() >= 0 and out.max() <= 255, (name, value)


def test_operations_do_what_their_names_say():
    image = tf.constant(np.random.default_rng(2).integers(0, 255, (16, 16, 3)), tf.float32)  # 0..254
    assert np.array_equal(augment.invert(image, 0).numpy(), 255 - image.numpy())
    assert np.array_equal(augment.solarize(image, 255.0).numpy(), image.numpy()), (
        "a threshold above every value changes none"
    )
    assert set(np.unique(augment.posterize(image, 1.0).numpy())) <= {0.0, 128.0}
    flat = tf.fill((8, 8, 3), 100.0)
    assert np.allclose(augment.autocontrast(flat, 0).numpy(), 100.0), "a flat image stays as it is"
    equalized = augment.equalize(image, 0).numpy()
    assert equalized.min() == 0 and equalized.max() >= 250
    assert np.allclose(augment.rotate(image, tf.constant(0.0)).numpy(), image.numpy(), atol=1e-3)


def test_the_autoaugment_table_is_the_imagenet_policy_of_25_pairs():
    table = augment.AUTOAUGMENT_IMAGENET
    assert len(table) == 25 and all(len(sub) == 2 for sub in table)
    for op, p, level in (pair for sub in table for pair in sub):
        assert op in augment.OPS and 0 <= p <= 1 and 0 <= level < augment.AUTOAUGMENT_BINS
    assert table[0] == (("posterize", 0.4, 8), ("rotate", 0.6, 9))


@pytest.mark.parametrize("mix", ["mixup", "cutmix"])
def test_mixing_gives_soft_labels_that_weigh_what_each_image_keeps(mix):
    # Image k is flat at 10 k and its own class k, so a mixed image's mean is its labels' weighted sum of 10 k.
    images = np.stack([np.full((16, 16, 3), 10.0 * k, np.float32) for k in range(8)])
    ds = tf.data.Dataset.from_tensor_slices((images, tf.one_hot(np.arange(8), 8))).batch(8)
    x, y = (t.numpy() for t in next(iter(augment.augmenting(ds, "none", SETTINGS, mix, 1.0, seed=0))))
    assert np.allclose(y.sum(axis=1), 1.0) and (y.max(axis=1) < 1.0).any(), "labels mixed, each row sums to 1"
    assert np.allclose(x.mean(axis=(1, 2, 3)), y @ (10.0 * np.arange(8)), atol=1e-3)
    for i in range(8):
        partners = np.flatnonzero(y[i] > 0)
        assert i in partners and len(partners) <= 2
        if mix == "cutmix":  # pixels are one image's or the other's, in the shares the labels give
            values = np.unique(x[i])
            assert set(values.round(3)) <= set((10.0 * partners).round(3))
            assert np.isclose((x[i] == 10.0 * i).all(axis=-1).mean(), y[i, i], atol=1e-5) or len(partners) == 1
        else:  # mixup: every pixel the same convex combination
            assert np.allclose(x[i], x[i].mean(), atol=1e-4)


def test_policies_and_mixing_change_training_batches_only(image_folder):
    from tests.helpers import batches, make_cfg, splits_of

    common = ["dataset=folder", f"dataset.path={image_folder}", "data.image_size=32", "train.batch_size=18"]
    plain, augmented = make_cfg(*common), make_cfg(*common, "data.augment=autoaugment", "data.mix=mixup")
    splits = splits_of(plain)
    x_plain = next(iter(batches(splits.train, plain, True)))[0].numpy()
    x_aug, y_aug = (t.numpy() for t in next(iter(batches(splits.train, augmented, True))))
    assert not np.allclose(x_plain, x_aug) and y_aug.shape == (18, splits.num_classes)
    v_plain, _ = next(iter(batches(splits.val, plain, False)))
    v_aug, v_labels = next(iter(batches(splits.val, augmented, False)))
    assert np.array_equal(v_plain.numpy(), v_aug.numpy()) and v_labels.shape[-1] == splits.num_classes


def test_streamed_and_held_inputs_are_augmented_alike(image_folder, tmp_path):
    """A batch's draws follow its place in the epoch, not where its images were read from."""
    from harness.config.geometry import geometry
    from harness.data.images import split_images
    from harness.data.pipeline import pipeline
    from tests.helpers import make_cfg, splits_of

    cfg = make_cfg(
        "dataset=folder",
        f"dataset.path={image_folder}",
        "data.image_size=32",
        "train.batch_size=6",
        "data.augment=trivialaugment",
        "data.mix=cutmix",
        f"cache_dir={tmp_path / 'cache'}",
    )
    splits = splits_of(cfg)
    array = split_images(splits.train, geometry(cfg.data), tmp_path / "cache")

    def epoch(hold: bool):
        ds = pipeline(
            splits.train,
            geometry(cfg.data),
            cfg.data,
            batch_size=6,
            seed=1,
            training=True,
            array=array,
            hold=hold,
            classes=splits.num_classes,
        )
        return [(x.numpy(), y.numpy()) for x, y in ds]

    for (x1, y1), (x2, y2) in zip(epoch(True), epoch(False), strict=True):
        assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
