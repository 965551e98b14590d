"""Frozen-prefix feature caching: train only the part of a transfer model above its frozen bottom.

When the bottom of a backbone is frozen and the input is not augmented, its output for an image never
changes during training, so it is computed once (per images, backbone, weights, cut) and the run trains a
`trainer` model — the unfrozen rest of the backbone plus the same head layers, the very same layer objects —
on the stored activations. Trained weights therefore land in the full model, which is what gets saved,
evaluated and analysed. A cut is only made where the backbone's graph is a single tensor (between
blocks of MobileNetV2/ResNet, anywhere in a plain chain), at or below the first trainable layer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from harness.data.rows import Rows
from harness.models.build import InferenceMode, backbone_of
from harness.process import stopping
from harness.process.progress import Meter
from harness.storage import cache

log = logging.getLogger(__name__)

# Layers whose output in training mode is random even when frozen; a backbone called with the outer training
# flag (random init, or model.unfrozen_bn=batch) cannot have them in a cached prefix. One wrapped in
# InferenceMode never runs them in training mode.
STOCHASTIC = ("Dropout", "SpatialDropout", "GaussianNoise", "GaussianDropout", "AlphaDropout", "StochasticDepth")


def _tensor_sources(node: Any) -> list[str]:
    """Names of the operations whose outputs a serialized call reads (Keras's `__keras_tensor__` entries)."""
    if isinstance(node, dict):
        if node.get("class_name") == "__keras_tensor__":
            return [node["config"]["keras_history"][0]]
        return [name for value in node.values() for name in _tensor_sources(value)]
    if isinstance(node, (list, tuple)):
        return [name for value in node for name in _tensor_sources(value)]
    return []


def producers(backbone: keras.Model) -> dict[str, list[str]]:
    """For each operation of the backbone's graph, the operations it reads, from the model's public config
    (the format Keras saves models in): the first inbound node is the call inside this graph."""
    return {
        entry["name"]: _tensor_sources(entry["inbound_nodes"][0]) if entry.get("inbound_nodes") else []
        for entry in backbone.get_config()["layers"]
    }


def _operations(backbone: keras.Model) -> list:
    """Every node of the backbone's graph in topological order: layers, and the plain keras.ops some
    applications use between them (MobileNetV3's hard-swish, ConvNeXt), which `.layers` leaves out."""
    return list(backbone.operations)


def cut_points(backbone: keras.Model) -> list[int]:
    """Every i such that operations[:i] hand exactly one tensor to the rest (operations are topologically sorted).

    i == len(operations) is the whole backbone. Index 1 (the input alone) is left out: nothing to cache.
    """
    layers = _operations(backbone)
    position = {layer.name: i for i, layer in enumerate(layers)}
    reads = producers(backbone)
    last_use = list(range(len(layers)))  # a tensor not consumed inside the backbone must be its output
    last_use[-1] = len(layers)
    for j, layer in enumerate(layers):
        for producer in reads[layer.name] if j else []:
            k = position[producer]
            last_use[k] = max(last_use[k], j)
    cuts = []
    for i in range(2, len(layers) + 1):
        crossing = sum(1 for k in range(i) if last_use[k] >= i)
        if crossing == 1 and last_use[i - 1] >= i:
            cuts.append(i)
    return cuts


def frozen_cut(backbone: keras.Model, inference_only: bool) -> int | None:
    """The highest cut point below every trainable layer (and, without inference mode, every random layer)."""
    layers = _operations(backbone)
    limit = len(layers)
    for i, layer in enumerate(layers[1:], start=1):
        random_in_training = not inference_only and any(name in type(layer).__name__ for name in STOCHASTIC)
        if (getattr(layer, "trainable", False) and getattr(layer, "weights", None)) or random_in_training:
            limit = i
            break
    usable = [i for i in cut_points(backbone) if i <= limit]
    return max(usable) if usable else None


# Images per forward pass of the frozen part. On 2 cores, 960 flowers12 images at 128 px through MobileNet 1.0
# took 4.8 s in batches of 16 against 7.1 s in 64s (median of 5; MobileNet 0.25: 1.3 s against 1.2 s), with
# bit-identical features (benchmarks/feature_batch.py); the batch is still part of an entry's identity, so a
# change can never mix the two.
FEATURE_BATCH = 16


@dataclass
class Plan:
    kind: str  # "full": the whole backbone is frozen; "prefix": its bottom part is
    cut: str  # name of the last backbone layer in the cached part
    prefix: keras.Model  # raw image -> activations at the cut
    trainer: keras.Model  # activations -> class probabilities (shares every layer with the full model)
    identity: str  # what the features depend on besides the images: architecture, cut, weights, dtype
    dtype: str  # how the activations are stored
    forwards: dict = field(default_factory=dict, repr=False)  # traced forward passes of the prefix (_forward)


def plan(model: keras.Model, feature_dtype: str, augment: bool) -> Plan | None:
    """How to train `model` on cached activations stored as `feature_dtype`, or None when results could change
    (augmented inputs, no frozen part). The frozen part is read from the layers' trainable flags as built."""
    backbone = backbone_of(model)
    if backbone is None or augment:
        return None
    wrapper = next(
        (layer for layer in model.layers if layer is backbone or getattr(layer, "backbone", None) is backbone), None
    )
    inference_only = isinstance(wrapper, InferenceMode)
    cut = frozen_cut(backbone, inference_only)
    if cut is None:
        return None
    layers = model.layers
    at = layers.index(wrapper)
    operations = _operations(backbone)
    boundary = operations[cut - 1].output
    full = cut == len(operations)

    image = keras.Input(shape=model.input_shape[1:], name="image")
    x = image
    for layer in layers[1:at]:  # preprocessing
        x = layer(x)
    prefix = keras.Model(image, keras.Model(backbone.input, boundary, name="frozen_prefix")(x), name="prefix")

    features = keras.Input(shape=tuple(boundary.shape[1:]), name="features")
    y = features
    if not full:
        rest = keras.Model(boundary, backbone.output, name=f"{backbone.name}_rest")
        y = InferenceMode(rest, name="backbone_rest")(y) if inference_only else rest(y)
    for layer in layers[at + 1 :]:  # the head, in order (it is a chain)
        y = layer(y)
    trainer = keras.Model(features, y, name=f"{model.name}_on_features")

    # The prefix always runs with training=False (feature_array), so how the layers above it treat
    # BatchNorm (model.unfrozen_bn) is not part of the key: both settings share the entry.
    identity = cache.digest(
        "features",
        backbone.name,
        model.input_shape,
        operations[cut - 1].name,
        cut,
        feature_dtype,
        keras.mixed_precision.global_policy().name,
        FEATURE_BATCH,
        cache.weights_digest(operations[:cut]),
        cache.versions(),
    )
    return Plan("full" if full else "prefix", operations[cut - 1].name, prefix, trainer, identity, feature_dtype)


def _forward(plan: Plan, image_shape: tuple[int, ...], dtype: np.dtype):
    """The prefix's forward pass as one traced function per plan and image shape: every split (and the
    last, smaller batch) reuses its trace."""
    import tensorflow as tf

    key = (tuple(image_shape), np.dtype(dtype).name)
    if key not in plan.forwards:
        signature = [tf.TensorSpec((None, *image_shape), tf.as_dtype(dtype))]
        plan.forwards[key] = tf.function(
            lambda x: plan.prefix(tf.cast(x, tf.float32), training=False), input_signature=signature
        )
    return plan.forwards[key]


def feature_array(plan: Plan, image_key: str, count: int, images, cache_root: Path) -> tuple[np.ndarray, bool]:
    """The prefix's activations for one split's `count` images, from the cache or computed once in batches.

    `images` is a callable returning the split's uint8 image array, so a cache hit never touches the images.
    """
    shape = tuple(int(d) for d in plan.prefix.output.shape[1:])
    path = cache_root / "features" / f"{cache.digest(plan.identity, image_key)}.npy"

    def fill(out: np.ndarray) -> None:
        rows = Rows(images())  # read from the image cache chunk by chunk, never mapped whole
        forward = _forward(plan, rows.shape[1:], rows.dtype)
        meter = Meter("computing the frozen layers' features for the cache", len(rows))
        for start in range(0, len(rows), FEATURE_BATCH):
            out[start : start + FEATURE_BATCH] = (
                forward(rows.chunk(start, min(start + FEATURE_BATCH, len(rows)))).numpy().astype(out.dtype)
            )
            meter.update(min(FEATURE_BATCH, len(rows) - start))
            stopping.check()  # the entry is a temporary file until it is complete

    return cache.array_entry(path, (count, *shape), plan.dtype, fill)


_HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)


class OnFullModel(keras.callbacks.Callback):
    """Shows a caller's callback the full model while the trainer model fits.

    Keras Tuner's callbacks save and reload weights by the model they are given; the full model holds the
    same trained weights in the layout the tuner's freshly built models have. A stop request is passed on.
    """

    def __init__(self, inner: keras.callbacks.Callback, full: keras.Model):
        super().__init__()
        self.inner, self.full = inner, full
        for hook in _HOOKS:
            setattr(self, hook, self._forward(hook))

    def set_model(self, model):
        super().set_model(model)
        self.inner.set_model(self.full)

    def set_params(self, params):
        super().set_params(params)
        self.inner.set_params(params)

    def _forward(self, hook):
        def call(*args, **kwargs):
            getattr(self.inner, hook)(*args, **kwargs)
            if getattr(self.full, "stop_training", False):
                self.model.stop_training = True

        return call
