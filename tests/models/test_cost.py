"""Inference cost: MACs counted from the layer graph (a net counted by hand, MobileNet's published figures),
parameters and size, and latency measured after warm-up."""

from __future__ import annotations

import keras
import pytest

from harness.models.cost import counts, layer_macs, measure


def test_a_small_net_has_the_macs_counted_by_hand():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 8*8 outputs * 4 filters * 3*3*3 = 6912
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 4*4 * 4 channels * 3*3 = 576
    x = keras.layers.SeparableConv2D(6, 3, padding="same")(x)  # 4*4 * (4*3*3 + 4*6) = 960
    x = keras.layers.BatchNormalization()(x)  # none: not a multiply-accumulate layer
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5)(x)  # 6 * 5 = 30
    model = keras.Model(inputs, outputs)
    assert layer_macs(model) == 6912 + 576 + 960 + 30
    nested = keras.Model(inputs, keras.layers.Dense(2)(model(inputs)))  # a backbone inside a model counts too
    assert layer_macs(nested) == 6912 + 576 + 960 + 30 + 10


def test_mobilenets_have_their_published_multiply_adds_at_224_px():
    v1 = counts(keras.applications.MobileNet(weights=None, input_shape=(224, 224, 3)), (224, 224))
    assert v1.macs == pytest.approx(569e6, rel=0.01)  # Howard et al. 2017, table 8
    assert v1.total_params == pytest.approx(4.2e6, rel=0.02) and v1.weights_mb == pytest.approx(17.0, rel=0.01)
    v2 = counts(keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3)), (224, 224))
    assert v2.macs == pytest.approx(300e6, rel=0.01)  # Sandler et al. 2018, table 3


def test_latency_is_measured_after_warm_up_with_enough_repeats():
    model = keras.applications.MobileNet(weights=None, input_shape=(32, 32, 3), alpha=0.25, classes=3)
    cost = measure(model, (32, 32, 3))
    assert 0 < cost.latency_ms <= cost.latency_p90_ms and cost.images_per_second > 0
    assert cost.repeats >= 30 and cost.threads >= 1 and cost.cpu and cost.seconds > 0
    assert cost.input_size == [32, 32] and cost.macs > 0
    unmeasured = measure(model, (32, 32, 3), latency=False)
    assert unmeasured.latency_ms is None and unmeasured.macs == cost.macs
