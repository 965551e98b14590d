"""The keras.applications backbones the harness knows, as data (importable without TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass


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
