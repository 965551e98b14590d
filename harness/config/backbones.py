"""The keras.applications backbones the harness knows, as data (importable without TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Backbone:
    app: str  # constructor name in keras.applications
    module: str  # keras.applications submodule whose preprocess_input matches the weights
    min_size: int  # smallest input side the architecture accepts
    alphas: tuple[float, ...] = ()  # width multipliers with ImageNet weights; () = no alpha


BACKBONES: dict[str, Backbone] = {
    "mobilenet": Backbone("MobileNet", "mobilenet", 32, (0.25, 0.5, 0.75, 1.0)),
    "mobilenet_v2": Backbone("MobileNetV2", "mobilenet_v2", 32, (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)),
    "mobilenet_v3_small": Backbone("MobileNetV3Small", "mobilenet_v3", 32, (0.75, 1.0)),
    "mobilenet_v3_large": Backbone("MobileNetV3Large", "mobilenet_v3", 32, (0.75, 1.0)),
    "resnet50": Backbone("ResNet50", "resnet", 32),
    "resnet50_v2": Backbone("ResNet50V2", "resnet_v2", 32),
    "vgg16": Backbone("VGG16", "vgg16", 32),
    "xception": Backbone("Xception", "xception", 71),
    "inception_v3": Backbone("InceptionV3", "inception_v3", 75),
    "densenet121": Backbone("DenseNet121", "densenet", 32),
    "efficientnet_b0": Backbone("EfficientNetB0", "efficientnet", 32),
    "efficientnet_v2_b0": Backbone("EfficientNetV2B0", "efficientnet_v2", 32),
    "convnext_tiny": Backbone("ConvNeXtTiny", "convnext", 32),
}


# ImageNet no-top weights that ship with the package (harness/weights/README.md: origin and license), by
# (backbone, alpha): model.weights=imagenet uses them instead of downloading Keras's.
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
BUNDLED = {("mobilenet", 0.25): "mobilenet_2_5_128_tf_no_top.h5"}


def bundled_weights(backbone: str | None, alpha: float | None) -> Path | None:
    """The shipped ImageNet weights file for this backbone and width, or None (Keras downloads its own)."""
    name = BUNDLED.get((str(backbone), float(alpha) if alpha is not None else None))
    path = WEIGHTS_DIR / name if name else None
    return path if path is not None and path.is_file() else None
