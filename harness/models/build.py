"""Models: a keras.applications backbone (pretrained, or random weights trained whole) + unfreeze + head,
or a plain conv net from scratch.

Every model takes float images in 0..255 and does its own preprocessing, so a saved model is usable on
raw pixels and the data pipeline does not depend on the backbone.
"""

from __future__ import annotations

import importlib

import keras
import numpy as np
from omegaconf import DictConfig

from harness.config.backbones import BACKBONES, bundled_weights
from harness.errors import OFFLINE_HINT, UserError


@keras.saving.register_keras_serializable(package="harness")
class PreprocessInput(keras.layers.Layer):
    """The backbone's own keras.applications preprocess_input, as a layer (saved with the model)."""

    def __init__(self, backbone: str, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self._fn = importlib.import_module(f"keras.applications.{BACKBONES[backbone].module}").preprocess_input

    def call(self, inputs):
        return self._fn(inputs)

    def get_config(self):
        return {**super().get_config(), "backbone": self.backbone}


@keras.saving.register_keras_serializable(package="harness")
class InferenceMode(keras.layers.Layer):
    """Runs the wrapped backbone with training=False, whatever the outer call says.

    The fine-tuning guidance is to call the base model with training=False, but Keras 3 functional
    models replace a recorded training=False by the training flag of the outer call
    (keras.src.models.functional.operation_fn), so BatchNormalization would update its statistics
    during fit. Passing the flag inside a layer's own call is the way that keeps.
    """

    def __init__(self, backbone: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone

    def call(self, inputs):
        return self.backbone(inputs, training=False)

    def get_config(self):
        return {**super().get_config(), "backbone": keras.saving.serialize_keras_object(self.backbone)}

    @classmethod
    def from_config(cls, config):
        return cls(backbone=keras.saving.deserialize_keras_object(config.pop("backbone")), **config)


def build_backbone(model_cfg: DictConfig, input_shape: tuple[int, int, int]) -> keras.Model:
    spec = BACKBONES[model_cfg.backbone]
    constructor = getattr(keras.applications, spec.app)
    weights = model_cfg.weights
    if weights == "imagenet":  # the shipped file where there is one: the same values, no download
        weights = str(bundled_weights(model_cfg.backbone, model_cfg.alpha) or weights)
    kwargs = {"include_top": False, "weights": weights, "input_shape": input_shape}
    if spec.alphas:
        kwargs["alpha"] = model_cfg.alpha
    if spec.module == "mobilenet_v3":  # V3 and EfficientNet rescale inside; keep it out so preprocess is ours
        kwargs["include_preprocessing"] = False
    try:
        return constructor(**kwargs)
    except Exception as exc:
        if model_cfg.weights == "imagenet" and "URL fetch failure" in str(exc):
            raise UserError(
                f"ImageNet weights for {model_cfg.backbone} are not cached and cannot be downloaded (no network); {OFFLINE_HINT}"
            ) from None
        if isinstance(model_cfg.weights, str) and model_cfg.weights != "imagenet":
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(
                f"model.weights={model_cfg.weights!r} does not fit {model_cfg.backbone} (alpha {model_cfg.alpha}): "
                f"{first[:200]}{'...' if len(first) > 200 else ''}"
            ) from None
        raise


def set_unfreeze(backbone: keras.Model, fraction: float) -> int:
    """Make the top `fraction` of the backbone's layers trainable; returns how many layers that is.

    The parent must stay trainable: a non-trainable parent hides every child's weights from the
    optimizer, the classic bug where only the head trains whatever the layer flags say.
    """
    layers = [layer for layer in backbone.layers if not isinstance(layer, keras.layers.InputLayer)]
    count = int(round(fraction * len(layers)))
    backbone.trainable = True  # resets every child to trainable; the loop below decides
    for i, layer in enumerate(layers):
        layer.trainable = i >= len(layers) - count
    return count


def _head(x, head: DictConfig, num_classes: int):
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(head.units, activation="relu", name="head_dense")(x)
    x = keras.layers.Dropout(head.dropout, name="head_dropout")(x)
    # float32 output keeps the softmax stable under mixed precision.
    return keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)


def as_built(model_cfg: DictConfig) -> DictConfig:
    """The transfer section as the model is built: `pretrained: false` means random weights, all layers trained."""
    if model_cfg.get("pretrained", True):
        return model_cfg
    built = model_cfg.copy()
    built.weights, built.unfreeze = None, 1.0
    return built


def build_transfer(model_cfg: DictConfig, num_classes: int, input_shape: tuple[int, int, int]) -> keras.Model:
    name = f"{model_cfg.backbone}_{'transfer' if model_cfg.get('pretrained', True) else 'random_init'}"
    inputs = keras.Input(shape=input_shape, name="image")
    x = transfer_features(inputs, model_cfg)
    return keras.Model(inputs, _head(x, model_cfg.head, num_classes), name=name)


def transfer_features(inputs, model_cfg: DictConfig):
    """The backbone's feature map of `inputs` (0..255 images) as the transfer section builds it: its own
    preprocessing, weights, BatchNorm mode and momentum, and model.unfreeze of its layers trainable."""
    model_cfg = as_built(model_cfg)
    input_shape = tuple(inputs.shape[1:])
    x = PreprocessInput(model_cfg.backbone, name="preprocess")(inputs)
    backbone = build_backbone(model_cfg, input_shape)
    # unfrozen_bn=inference: training=False keeps BatchNormalization in inference mode even when its layer is
    # unfrozen, so small batches cannot wreck the ImageNet statistics. Otherwise Keras decides per layer
    # (batch statistics where `training and trainable`). A randomly initialised backbone has no statistics
    # worth keeping: its BN layers must learn them.
    keep_statistics = model_cfg.weights is not None and model_cfg.get("unfrozen_bn", "batch") == "inference"
    x = InferenceMode(backbone, name="backbone")(x) if keep_statistics else backbone(x)
    set_unfreeze(backbone, model_cfg.unfreeze)
    if model_cfg.bn_momentum is not None:
        for layer in backbone.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = model_cfg.bn_momentum
    return x


def build_scratch(model_cfg: DictConfig, num_classes: int, input_shape: tuple[int, int, int]) -> keras.Model:
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Rescaling(1 / 255, name="preprocess")(inputs)
    for block in range(model_cfg.depth):
        filters = min(model_cfg.filters * 2**block, 1024)
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{block}_conv")(x)
        x = keras.layers.BatchNormalization(momentum=model_cfg.bn_momentum or 0.99, name=f"block{block}_bn")(x)
        x = keras.layers.ReLU(name=f"block{block}_relu")(x)
        x = keras.layers.MaxPooling2D(name=f"block{block}_pool")(x)
    return keras.Model(inputs, _head(x, model_cfg.head, num_classes), name="scratch")


def set_precision(mixed_precision: bool) -> str:
    """Set Keras's dtype policy for the model about to be built and trained; returns its name. Keras reads it when
    layers are created, so it is set for every model (an in-process sweep or tuner must not inherit the previous
    run's policy)."""
    name = "mixed_float16" if mixed_precision else "float32"
    keras.mixed_precision.set_global_policy(name)
    return name


def build_model(
    model_cfg: DictConfig, num_classes: int, input_shape: tuple[int, int, int], mixed_precision: bool = False
) -> keras.Model:
    """The `model` section as a Keras model on `input_shape` images (0..255 floats) with `num_classes` outputs."""
    set_precision(mixed_precision)
    if model_cfg.kind == "transfer":
        return build_transfer(model_cfg, num_classes, input_shape)
    return build_scratch(model_cfg, num_classes, input_shape)


def backbone_of(model: keras.Model) -> keras.Model | None:
    """The keras.applications sub-model of a transfer model (None for scratch nets)."""
    for layer in model.layers:
        if isinstance(layer, InferenceMode):
            return layer.backbone
        if isinstance(layer, keras.Model):
            return layer
    return None


class FrozenBackbone:
    """Within `with FrozenBackbone(backbone):` every backbone layer is frozen; on exit each gets back the flag
    it had, so a phase that trains only the head never needs to know how much of the backbone was unfrozen."""

    def __init__(self, backbone: keras.Model | None):
        self.backbone = backbone
        self.flags: list[tuple[keras.layers.Layer, bool]] = []

    def __enter__(self) -> FrozenBackbone:
        if self.backbone is not None:
            self.flags = [(layer, layer.trainable) for layer in self.backbone.layers]
            for layer, _ in self.flags:
                layer.trainable = False
        return self

    def __exit__(self, *exc) -> None:
        for layer, flag in self.flags:
            layer.trainable = flag


def count_params(model: keras.Model) -> tuple[int, int]:
    """(trainable, total) parameter counts, from the weights the optimizer will actually see."""
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    total = sum(int(np.prod(w.shape)) for w in model.weights)
    return trainable, total
