"""Augmentation policies (data.augment) and batch mixing (data.mix), as tf.data map functions on batches.

Every random choice is a stateless op seeded per image: a batch draws its seed from
`tf.data.Dataset.random(seed, rerandomize_each_iteration=True)` (a new sequence each pass, the same one for the
same train.seed), and each image of the batch gets its own seed from it. So an image's operations differ from its
neighbours' and from one batch and epoch to the next, and a seed repeats them exactly. Nothing is chosen with
Python's `random` while tracing: Keras's RandAugment once did, and inside tf.data every batch then got the chain
frozen at trace time (keras-team/keras #21169; tests/data/test_augment.py fails on such a pipeline).

Each image runs only its chosen operations (tf.switch_case inside tf.map_fn), not all of them with a selection
afterwards. Images are float32 in [0, 255] (the pipeline's batches); operations keep that range.

The operations and magnitudes follow torchvision's (v0.15+) AutoAugment, RandAugment and TrivialAugmentWide:
magnitudes on a scale of bins, signed operations negated with probability 1/2, geometric ones filled with grey.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import tensorflow as tf

FILL = 128.0


# -- operations on one image (H, W, 3 float32 in [0, 255]) -----------------------------------------------------


def _blend(base, image, factor):
    """torchvision's/PIL's ImageEnhance: base + factor * (image - base), clipped."""
    return tf.clip_by_value(base + factor * (image - base), 0.0, 255.0)


def _grey(image):
    return tf.image.rgb_to_grayscale(image)  # H, W, 1


def _transform(image, matrix):
    """Apply a projective transform (8 numbers mapping output to input coordinates), bilinear, grey outside."""
    shape = tf.shape(image)[:2]
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None],
        transforms=tf.reshape(tf.cast(matrix, tf.float32), (1, 8)),
        output_shape=shape,
        fill_value=FILL,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return out[0]


def _about_centre(image, a, b, c, d):
    """The transform x_in = A (x_out - centre) + centre for the 2x2 matrix A = [[a, b], [c, d]]."""
    h, w = tf.cast(tf.shape(image)[0], tf.float32), tf.cast(tf.shape(image)[1], tf.float32)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    return tf.stack([a, b, cx - a * cx - b * cy, c, d, cy - c * cx - d * cy, 0.0, 0.0])


def identity(image, v):
    return image


def shear_x(image, v):
    return _transform(image, _about_centre(image, 1.0, v, 0.0, 1.0))


def shear_y(image, v):
    return _transform(image, _about_centre(image, 1.0, 0.0, v, 1.0))


def translate_x(image, v):  # v: a fraction of the width
    dx = v * tf.cast(tf.shape(image)[1], tf.float32)
    return _transform(image, tf.stack([1.0, 0.0, -dx, 0.0, 1.0, 0.0, 0.0, 0.0]))


def translate_y(image, v):  # v: a fraction of the height
    dy = v * tf.cast(tf.shape(image)[0], tf.float32)
    return _transform(image, tf.stack([1.0, 0.0, 0.0, 0.0, 1.0, -dy, 0.0, 0.0]))


def rotate(image, v):  # v: degrees
    t = v * math.pi / 180
    return _transform(image, _about_centre(image, tf.cos(t), -tf.sin(t), tf.sin(t), tf.cos(t)))


def brightness(image, v):  # v: factor - 1
    return _blend(tf.zeros_like(image), image, 1.0 + v)


def color(image, v):
    return _blend(_grey(image), image, 1.0 + v)


def contrast(image, v):
    return _blend(tf.reduce_mean(_grey(image)), image, 1.0 + v)


def sharpness(image, v):
    """Blend with PIL's SMOOTH filter ([[1,1,1],[1,5,1],[1,1,1]] / 13), the border kept as it was."""
    kernel = tf.constant([[1, 1, 1], [1, 5, 1], [1, 1, 1]], tf.float32) / 13.0
    kernel = tf.tile(kernel[:, :, None, None], (1, 1, 3, 1))
    smooth = tf.nn.depthwise_conv2d(image[None], kernel, (1, 1, 1, 1), "VALID")[0]
    smooth = tf.pad(smooth, [[1, 1], [1, 1], [0, 0]])
    inner = tf.pad(tf.ones_like(smooth[1:-1, 1:-1]), [[1, 1], [1, 1], [0, 0]])
    return _blend(inner * tf.round(smooth) + (1 - inner) * image, image, 1.0 + v)


def posterize(image, v):  # v: bits kept
    shift = 2.0 ** (8.0 - tf.round(v))
    return tf.floor(tf.round(image) / shift) * shift


def solarize(image, v):  # v: threshold
    return tf.where(image >= v, 255.0 - image, image)


def autocontrast(image, v):
    low = tf.reduce_min(image, axis=(0, 1))
    high = tf.reduce_max(image, axis=(0, 1))
    scale = tf.where(high > low, 255.0 / tf.maximum(high - low, 1e-3), 1.0)
    low = tf.where(high > low, low, 0.0)
    return tf.clip_by_value((image - low) * scale, 0.0, 255.0)


def _equalize_channel(channel):
    """PIL's ImageOps.equalize on one channel of integers 0..255."""
    values = tf.cast(tf.round(channel), tf.int32)
    histogram = tf.math.bincount(tf.reshape(values, [-1]), minlength=256, maxlength=256)
    last = tf.gather(histogram, tf.reduce_max(tf.where(histogram > 0)))
    step = (tf.reduce_sum(histogram) - tf.cast(last, tf.int32)) // 255
    lut = (tf.cumsum(histogram, exclusive=True) + step // 2) // tf.maximum(step, 1)
    lut = tf.cast(tf.clip_by_value(lut, 0, 255), tf.float32)
    return tf.where(step == 0, channel, tf.gather(lut, values))


def equalize(image, v):
    return tf.stack([_equalize_channel(image[..., c]) for c in range(3)], axis=-1)


def invert(image, v):
    return 255.0 - image


class Op(NamedTuple):
    """An operation with its magnitude scale: the value at the top bin (torchvision's RandAugment, and its
    TrivialAugmentWide), whether the sign flips at random, and the value at bin 0 where it is not 0."""

    fn: object
    top: float
    wide: float
    signed: bool
    bottom: float = 0.0


OPS: dict[str, Op] = {
    "identity": Op(identity, 0.0, 0.0, False),
    "shear_x": Op(shear_x, 0.3, 0.99, True),
    "shear_y": Op(shear_y, 0.3, 0.99, True),
    "translate_x": Op(translate_x, 150 / 331, 32 / 224, True),  # a fraction of the side (wide: 32 px at 224)
    "translate_y": Op(translate_y, 150 / 331, 32 / 224, True),
    "rotate": Op(rotate, 30.0, 135.0, True),
    "brightness": Op(brightness, 0.9, 0.99, True),
    "color": Op(color, 0.9, 0.99, True),
    "contrast": Op(contrast, 0.9, 0.99, True),
    "sharpness": Op(sharpness, 0.9, 0.99, True),
    "posterize": Op(posterize, 4.0, 2.0, False, bottom=8.0),  # bits kept: 8 at bin 0 down to 4 (wide: 2)
    "solarize": Op(solarize, 0.0, 0.0, False, bottom=255.0),  # the threshold: 255 at bin 0 down to 0
    "autocontrast": Op(autocontrast, 0.0, 0.0, False),
    "equalize": Op(equalize, 0.0, 0.0, False),
    "invert": Op(invert, 0.0, 0.0, False),
}
# RandAugment and TrivialAugmentWide draw from these (torchvision's list; invert is AutoAugment's only).
DRAWN = [name for name in OPS if name != "invert"]

# AutoAugment's ImageNet policy (Cubuk et al. 2018, table 9 of arXiv:1805.09501): 25 sub-policies of two
# operations, each (operation, probability, magnitude bin of 10). One sub-policy is drawn per image.
AUTOAUGMENT_IMAGENET = (
    (("posterize", 0.4, 8), ("rotate", 0.6, 9)),
    (("solarize", 0.6, 5), ("autocontrast", 0.6, 0)),
    (("equalize", 0.8, 0), ("equalize", 0.6, 0)),
    (("posterize", 0.6, 7), ("posterize", 0.6, 6)),
    (("equalize", 0.4, 0), ("solarize", 0.2, 4)),
    (("equalize", 0.4, 0), ("rotate", 0.8, 8)),
    (("solarize", 0.6, 3), ("equalize", 0.6, 0)),
    (("posterize", 0.8, 5), ("equalize", 1.0, 0)),
    (("rotate", 0.2, 3), ("solarize", 0.6, 8)),
    (("equalize", 0.6, 0), ("posterize", 0.4, 6)),
    (("rotate", 0.8, 8), ("color", 0.4, 0)),
    (("rotate", 0.4, 9), ("equalize", 0.6, 0)),
    (("equalize", 0.0, 0), ("equalize", 0.8, 0)),
    (("invert", 0.6, 0), ("equalize", 1.0, 0)),
    (("color", 0.6, 4), ("contrast", 1.0, 8)),
    (("rotate", 0.8, 8), ("color", 1.0, 2)),
    (("color", 0.8, 8), ("solarize", 0.8, 7)),
    (("sharpness", 0.4, 7), ("invert", 0.6, 0)),
    (("shear_x", 0.6, 5), ("equalize", 1.0, 0)),
    (("color", 0.4, 0), ("equalize", 0.6, 0)),
    (("equalize", 0.4, 0), ("solarize", 0.2, 4)),
    (("solarize", 0.6, 5), ("autocontrast", 0.6, 0)),
    (("invert", 0.6, 0), ("equalize", 1.0, 0)),
    (("color", 0.6, 4), ("contrast", 1.0, 8)),
    (("equalize", 0.8, 0), ("equalize", 0.6, 0)),
)
AUTOAUGMENT_BINS = 10
RANDAUGMENT_BINS = 31  # magnitudes 0..30, torchvision's scale (its default 9)


def _apply(image, names: list[str], index, fraction, negate, wide: bool):
    """Run operation names[index] at `fraction` (0..1) of its scale, negated where `negate`."""

    def branch(name):
        op = OPS[name]
        top = op.wide if wide else op.top

        def run():
            value = op.bottom + fraction * (top - op.bottom)
            return op.fn(image, tf.where(negate, -value, value) if op.signed else value)

        return run

    return tf.switch_case(index, [branch(name) for name in names])


def _coin(seed, p):
    return tf.random.stateless_uniform((), seed) < p


def _flip(image, seed):
    return tf.image.stateless_random_flip_left_right(image, seed)


def _basic(image, seed, a):
    """data.augmentation's ranges: flip, brightness shift, contrast factor, then one affine map (rotation,
    shift, zoom), each drawn per image."""
    s = _split(seed, 6)
    if a.flip:
        image = _flip(image, s[0])
    if a.brightness:
        delta = tf.random.stateless_uniform((), s[1], -a.brightness, a.brightness) * 255.0
        image = tf.clip_by_value(image + delta, 0.0, 255.0)
    if a.contrast:
        factor = tf.random.stateless_uniform((), s[2], 1.0 - a.contrast, 1.0 + a.contrast)
        mean = tf.reduce_mean(image, axis=(0, 1))
        image = tf.clip_by_value((image - mean) * factor + mean, 0.0, 255.0)
    if a.rotation or a.shift or a.zoom:
        angle = tf.random.stateless_uniform((), s[3], -a.rotation, a.rotation) * 2 * math.pi
        scale = 1.0 / tf.random.stateless_uniform((), s[4], 1.0 - a.zoom, 1.0 + a.zoom)
        shift = tf.random.stateless_uniform((2,), s[5], -a.shift, a.shift) * tf.cast(tf.shape(image)[1::-1], tf.float32)
        c, n = tf.cos(angle) * scale, tf.sin(angle) * scale
        matrix = _about_centre(image, c, -n, n, c) - tf.stack([0.0, 0.0, shift[0], 0.0, 0.0, shift[1], 0.0, 0.0])
        image = _transform(image, matrix)
    return image


def _split(seed, n: int):
    return tf.random.experimental.stateless_split(seed, n)


def _randaugment(image, seed, layers: int, magnitude: int):
    s = _split(seed, 3 * layers)
    for i in range(layers):
        index = tf.random.stateless_uniform((), s[3 * i], 0, len(DRAWN), tf.int32)
        image = _apply(image, DRAWN, index, magnitude / (RANDAUGMENT_BINS - 1), _coin(s[3 * i + 1], 0.5), False)
    return image


def _trivialaugment(image, seed):
    s = _split(seed, 3)
    index = tf.random.stateless_uniform((), s[0], 0, len(DRAWN), tf.int32)
    level = tf.random.stateless_uniform((), s[1], 0, RANDAUGMENT_BINS, tf.int32)
    fraction = tf.cast(level, tf.float32) / (RANDAUGMENT_BINS - 1)
    return _apply(image, DRAWN, index, fraction, _coin(s[2], 0.5), True)


_NAMES = list(OPS)
_POLICY_OPS = tf.constant([[_NAMES.index(op) for op, _, _ in sub] for sub in AUTOAUGMENT_IMAGENET], tf.int32)
_POLICY_P = tf.constant([[p for _, p, _ in sub] for sub in AUTOAUGMENT_IMAGENET], tf.float32)
_POLICY_LEVEL = tf.constant([[m for _, _, m in sub] for sub in AUTOAUGMENT_IMAGENET], tf.float32)


def _autoaugment(image, seed):
    s = _split(seed, 5)
    sub = tf.random.stateless_uniform((), s[0], 0, len(AUTOAUGMENT_IMAGENET), tf.int32)
    for k in range(2):
        fraction = _POLICY_LEVEL[sub, k] / (AUTOAUGMENT_BINS - 1)
        image = tf.cond(
            _coin(s[1 + 2 * k], _POLICY_P[sub, k]),
            lambda image=image, k=k, fraction=fraction: _apply(
                image, _NAMES, _POLICY_OPS[sub, k], fraction, _coin(s[2 + 2 * k], 0.5), False
            ),
            lambda image=image: image,
        )
    return image


def one_image(policy: str, augmentation) -> object | None:
    """fn(image, seed[2]) -> image for data.augment's policy, or None for `none`."""
    a = augmentation
    return {
        "none": None,
        "flip": _flip,
        "basic": lambda image, seed: _basic(image, seed, a),
        "randaugment": lambda image, seed: _randaugment(image, seed, int(a.layers), int(a.magnitude)),
        "trivialaugment": _trivialaugment,
        "autoaugment": _autoaugment,
    }[policy]


def _per_image(fn, images, seed):
    """fn applied to each image of a batch with its own seed, drawn from the batch's."""
    n = tf.shape(images)[0]
    seeds = tf.random.stateless_uniform((n, 2), seed, minval=None, maxval=None, dtype=tf.int64)
    return tf.map_fn(
        lambda args: fn(args[0], args[1]),
        (images, seeds),
        fn_output_signature=tf.TensorSpec(images.shape[1:], tf.float32),
        parallel_iterations=16,
    )


def _beta(seed, alpha: float):
    s = _split(seed, 2)
    x = tf.random.stateless_gamma((), s[0], alpha)
    y = tf.random.stateless_gamma((), s[1], alpha)
    return x / (x + y)


def _mixup(images, labels, seed, alpha: float):
    s = _split(seed, 2)
    lam = _beta(s[0], alpha)
    order = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(images)[0]), s[1])
    mixed = lam * images + (1 - lam) * tf.gather(images, order)
    return mixed, lam * labels + (1 - lam) * tf.gather(labels, order)


def _cutmix(images, labels, seed, alpha: float):
    """A box of the partner image pasted in, labels weighted by the area each image keeps (one box per batch)."""
    s = _split(seed, 3)
    lam = _beta(s[0], alpha)
    order = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(images)[0]), s[1])
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    centre = tf.random.stateless_uniform((2,), s[2]) * tf.stack([hf, wf])
    side = tf.sqrt(1.0 - lam) * tf.stack([hf, wf])
    top, left = tf.unstack(tf.cast(tf.clip_by_value(centre - side / 2, 0, tf.stack([hf, wf])), tf.int32))
    bottom, right = tf.unstack(tf.cast(tf.clip_by_value(centre + side / 2, 0, tf.stack([hf, wf])), tf.int32))
    rows = tf.logical_and(tf.range(h) >= top, tf.range(h) < bottom)
    cols = tf.logical_and(tf.range(w) >= left, tf.range(w) < right)
    box = tf.cast(tf.logical_and(rows[:, None], cols[None, :]), tf.float32)[None, :, :, None]
    mixed = images * (1 - box) + tf.gather(images, order) * box
    kept = 1.0 - tf.reduce_sum(box) / (hf * wf)
    return mixed, kept * labels + (1 - kept) * tf.gather(labels, order)


def augmenting(ds, policy: str, augmentation, mix: str, mix_alpha: float, seed: int):
    """`ds` of batches (float32 images in [0, 255], labels: one-hot where mix is on) augmented by the policy and
    mixed, each batch with its own seed from a seeded random stream (the same stream for the same seed)."""
    per_image = one_image(policy, augmentation)
    mixer = {"none": None, "mixup": _mixup, "cutmix": _cutmix}[mix]
    if per_image is None and mixer is None:
        return ds
    stream = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def step(batch, r):
        images, labels = batch
        batch_seed = tf.stack([tf.constant(seed, tf.int64), r])
        s = _split(batch_seed, 2)
        if per_image is not None:
            images = _per_image(per_image, images, s[0])
        if mixer is not None:
            images, labels = mixer(images, labels, s[1], mix_alpha)
        return images, labels

    return tf.data.Dataset.zip(ds, stream).map(step, num_parallel_calls=tf.data.AUTOTUNE)
