"""What a trained model costs to run: parameters, multiply-accumulates per image, size, and latency on this CPU.

MACs are counted from the Keras layer graph (every Conv2D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose and
Dense layer, nested models included, from its kernel and its output shape at the run's input size). TensorFlow's
graph profiler (`tf.compat.v1.profiler`) was the first choice, but it has no count for depthwise convolutions,
which are MobileNet's second kind of layer: it gives MobileNet 1.0 at 224 px 574 M Conv2D MACs and nothing for the
rest, where the layer count gives the paper's 569 M (MobileNetV2: 301 M for the paper's 300 M). Pooling,
normalization, activations and additions are not multiply-accumulates and are not counted, as in the papers.

Latency is a proxy for the device a model will run on, not that device: measured in the process that trained,
on this CPU with TensorFlow's threads, through a traced `tf.function` of the model (raw pixels in,
probabilities out, as model.keras is used).
"""

from __future__ import annotations

import os
import time

import numpy as np

from harness.records.record import Cost

# Timing until both are reached (or MAX_SECONDS): enough calls that a repeat of the whole measurement lands
# within a few percent of the first on an idle machine (benchmarks/inference_cost.py measures how close).
MIN_REPEATS, MIN_SECONDS, MAX_SECONDS, WARMUP = 30, 0.5, 5.0, 2
BATCH = 32


def layer_macs(layer) -> int:
    """Multiply-accumulates one call of a layer does per image (0 for a layer that does none)."""
    import keras

    if isinstance(layer, keras.Model):
        return sum(layer_macs(inner) for inner in layer.layers)
    if not isinstance(layer, keras.layers.Layer) or not layer.built:
        return 0
    out = layer.output.shape
    spatial = int(np.prod([d for d in out[1:-1]])) if len(out) > 2 else 1
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        channels = layer.input.shape[-1]
        return int(np.prod(layer.kernel_size)) * channels * layer.depth_multiplier * spatial
    if isinstance(layer, keras.layers.SeparableConv2D):
        channels = layer.input.shape[-1]
        depthwise = int(np.prod(layer.kernel_size)) * channels * layer.depth_multiplier
        return (depthwise + channels * layer.depth_multiplier * layer.filters) * spatial
    if isinstance(layer, keras.layers.Conv2DTranspose):
        inputs = int(np.prod(layer.input.shape[1:-1]))
        return int(np.prod(layer.kernel_size)) * layer.input.shape[-1] * layer.filters * inputs
    if isinstance(layer, keras.layers.Conv2D):
        per_output = int(np.prod(layer.kernel_size)) * (layer.input.shape[-1] // layer.groups)
        return per_output * layer.filters * spatial
    if isinstance(layer, keras.layers.Dense):
        return layer.input.shape[-1] * layer.units * spatial
    return 0


def counts(model, input_size: tuple[int, int]) -> Cost:
    """What a model costs without running it: parameters, MACs per image, float32 size."""
    from harness.models.build import count_params

    trainable, total = count_params(model)
    return Cost(
        total_params=total,
        trainable_params=trainable,
        macs=layer_macs(model),
        weights_mb=round(total * 4 / 1e6, 4),
        input_size=[int(input_size[0]), int(input_size[1])],
    )


def _timed(call, batch) -> float:
    started = time.perf_counter()
    np.asarray(call(batch))  # the result on the host: the whole call, not its dispatch
    return time.perf_counter() - started


def timings(call, batch, min_repeats: int = MIN_REPEATS, min_seconds: float = MIN_SECONDS) -> np.ndarray:
    """Seconds per call after WARMUP calls, repeated until min_repeats calls and min_seconds have passed (or
    MAX_SECONDS)."""
    for _ in range(WARMUP):
        _timed(call, batch)
    seconds: list[float] = []
    started = time.perf_counter()
    while len(seconds) < min_repeats or time.perf_counter() - started < min_seconds:
        seconds.append(_timed(call, batch))
        if time.perf_counter() - started > MAX_SECONDS and len(seconds) >= 5:
            break
    return np.asarray(seconds)


# Latency depends on the architecture and input size, not on the trained values of the weights: runs of one model
# in one process (a learning-rate sweep's, a seed's) are timed once and share the figures.
_TIMED: dict[str, tuple[float, float, float, int]] = {}


def architecture_key(model, input_shape: tuple[int, ...]) -> str:
    """What a model's latency depends on: its layers' config (not their weights) and the input shape."""
    import hashlib
    import json

    from harness.records.provenance import cpu

    text = json.dumps([model.to_json(), list(input_shape), threads(), cpu()], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def threads() -> int:
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1


def measure(model, input_shape: tuple[int, int, int], latency: bool = True, reuse: bool = True) -> Cost:
    """The model's counts and, with `latency`, its median and 90th-percentile ms per image at batch 1 and
    images per second at batch BATCH, on random raw pixels, labelled with this CPU. With `reuse`, a model of an
    architecture this process has timed already gets those figures."""
    import tensorflow as tf

    from harness.records.provenance import cpu

    started = time.perf_counter()
    cost = counts(model, input_shape[:2])
    if not latency:
        return cost
    key = architecture_key(model, input_shape)
    if key not in _TIMED or not reuse:
        # one trace for both batch sizes
        signature = [tf.TensorSpec([None, *input_shape], tf.float32)]
        call = tf.function(lambda x: model(x, training=False), input_signature=signature)
        rng = np.random.default_rng(0)
        one = tf.constant(rng.uniform(0, 255, (1, *input_shape)).astype("float32"))
        many = tf.constant(rng.uniform(0, 255, (BATCH, *input_shape)).astype("float32"))
        single = timings(call, one)
        batched = timings(call, many, min_repeats=5, min_seconds=MIN_SECONDS / 2)
        _TIMED[key] = (
            round(float(np.median(single)) * 1000, 4),
            round(float(np.percentile(single, 90)) * 1000, 4),
            round(BATCH / float(np.median(batched)), 2),
            len(single),
        )
    cost.latency_ms, cost.latency_p90_ms, cost.images_per_second, cost.repeats = _TIMED[key]
    cost.threads, cost.cpu = threads(), cpu()
    cost.seconds = round(time.perf_counter() - started, 3)
    return cost
