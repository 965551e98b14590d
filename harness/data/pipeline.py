"""The tf.data pipeline a model trains on: inputs (decoded now, or a cached array) -> shuffle -> batch -> augment."""

from __future__ import annotations

import math

import numpy as np
from omegaconf import DictConfig

from harness.config.geometry import Geometry
from harness.data.rows import Rows
from harness.data.splits import Split


def resize(image, height: int, width: int, mode: str):
    """uint8 HxWx3 (any size) -> uint8 height x width x 3 by squash | pad | crop."""
    import tensorflow as tf

    if mode == "squash":
        out = tf.image.resize(image, (height, width), antialias=True)
    elif mode == "pad":
        out = tf.image.resize_with_pad(tf.cast(image, tf.float32), height, width, antialias=True)
    else:  # crop: scale so the image covers the target, then take the centre
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = tf.maximum(height / shape[0], width / shape[1])
        size = tf.cast(tf.math.ceil(shape * scale), tf.int32)
        out = tf.image.resize(image, size, antialias=True)
        out = tf.image.resize_with_crop_or_pad(out, height, width)
    # uint8 keeps the in-memory cache 4x smaller than float32; the model rescales anyway.
    return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8)


def resized(split: Split, geometry: Geometry):
    """The split's images decoded and fitted to the geometry, in split order. One parallel map does both: with
    two chained maps tf.data's autotuner often left one of 2 cores idle (1,150 images/s in 3 of 4 tries on 6,000
    JPEGs, against 1,490–1,610 for one map in 4 of 4)."""
    height, width, mode = geometry
    return split.images(lambda im: resize(im, height, width, mode))


def epoch_steps(train_size: int, full_train: int | None, batch_size: int, budget: str) -> int | None:
    """Optimizer steps per epoch on a cycled training split, or None for one pass over it: a samples_per_class
    subset under train.budget=full_data gets the steps of one pass over the whole split."""
    if budget == "full_data" and full_train is not None and full_train > train_size:
        return math.ceil(full_train / batch_size)
    return None


def _streamed(rows: Rows, labels: np.ndarray, buffer: int, batch_size: int, seed: int, training: bool, repeat: bool):
    """Batches of (rows, labels) read from disk by index: the positions 0..n-1 are shuffled exactly as the rows
    themselves would be (tf.data's seeded shuffle depends only on the seed, the buffer and the element count, not on
    what the elements hold), batched, and each batch's rows read then (harness.data.rows). Memory holds a few batches,
    whatever the split's size, and the numbers are those of the same pipeline over the rows in memory."""
    import tensorflow as tf

    index = tf.data.Dataset.range(len(rows))
    if training:
        index = index.shuffle(min(buffer, len(rows)), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        index = index.repeat()
    classes = tf.constant(labels)

    def gather(positions):
        x = tf.numpy_function(rows.take, [positions], tf.as_dtype(rows.dtype), stateful=False)
        x.set_shape([None, *rows.shape[1:]])
        return x, tf.gather(classes, positions)

    return index.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE)


# What inputs held in memory cost a run, per byte: tf.data's iterator keeps a copy of a dataset's tensors beside
# the dataset's own (measured: 333 MB of features held, 665 MB once iterated, with from_tensor_slices or a gather).
HOLD_COST = 2


def held_in_memory(sizes: dict[str, int], memory_mb: int) -> dict[str, bool]:
    """Which of a run's inputs it keeps in memory (data.memory_mb, one budget for what holding them costs, filled
    in the order given: train, then val, then test): a cached array read in whole rather than streamed from its
    file, or the decoded split of an uncached run kept rather than decoded again each epoch. `sizes`: bytes of
    each split's inputs.
    Streaming costs a Python call per batch: on cached features, where a step takes about a millisecond, it
    doubles an epoch's time; held, the run's memory grows by the inputs, which the budget bounds."""
    left, held = memory_mb * 2**20, {}
    for name, nbytes in sizes.items():
        held[name] = nbytes * HOLD_COST <= left
        left -= nbytes * HOLD_COST if held[name] else 0
    return held


def input_bytes(split: Split, geometry: Geometry, array: np.ndarray | None) -> int:
    """Bytes of a split's inputs held in memory: its cached array, or its decoded uint8 images."""
    return array.nbytes if array is not None else len(split) * int(np.prod(geometry.shape))


def pipeline(
    split: Split,
    geometry: Geometry,
    data: DictConfig,
    *,
    batch_size: int,
    seed: int,
    training: bool,
    array: np.ndarray | None = None,
    repeat: bool = False,
    hold: bool | None = None,
    classes: int | None = None,
):
    """Batched (float32 inputs, int labels). Inputs come from `array` (cached images or frozen-prefix features,
    one row per example of `split`: held in memory up to data.memory_mb, else read from disk batch by batch) or are
    decoded+resized once and kept in memory (train.cache=off); then shuffle (seeded), batch, and augment by the
    `data` section when training. `repeat`: cycle the split, reshuffled each pass (an epoch is then a number of
    steps, epoch_steps). `hold`: keep the inputs in memory (default: if they alone fit data.memory_mb).
    `classes`: the number of classes, for one-hot labels where data.mix mixes them (every split, so that one
    loss fits all).
    """
    import tensorflow as tf

    if hold is None:
        hold = held_in_memory({"alone": input_bytes(split, geometry, array)}, data.memory_mb)["alone"]
    if array is not None and not hold:
        ds = _streamed(Rows(array), split.labels, data.shuffle_buffer, batch_size, seed, training, repeat)
    else:
        if array is not None:  # one sequential read; tf.data then slices tensors without a Python call per batch
            ds = tf.data.Dataset.from_tensor_slices((Rows(array).chunk(0, len(array)), split.labels))
        else:
            ds = tf.data.Dataset.zip(resized(split, geometry), tf.data.Dataset.from_tensor_slices(split.labels))
            if hold:  # else decoded again each epoch
                ds = ds.cache()
        if training:
            ds = ds.shuffle(min(data.shuffle_buffer, len(split)), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.batch(batch_size)
    if ds.element_spec[0].dtype != tf.float32:
        ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y))
    if soft_labels(data):
        if classes is None:
            raise ValueError(f"data.mix={data.mix} needs the number of classes for its one-hot labels")
        ds = ds.map(lambda x, y: (x, tf.one_hot(y, classes)))
    if training:
        from harness.data.augment import augmenting

        ds = augmenting(ds, data.augment, data.augmentation, data.mix, data.mix_alpha, seed)
    return ds.prefetch(tf.data.AUTOTUNE)


def augmented(data: DictConfig) -> bool:
    """Whether training images change from epoch to epoch (an augmentation policy or mixing): their features
    through frozen layers can then not be computed once."""
    return data.augment != "none" or data.mix != "none"


def soft_labels(data: DictConfig) -> bool:
    """Whether a run's labels are one-hot rows (data.mix mixes them) rather than class indices."""
    return data.mix != "none"
