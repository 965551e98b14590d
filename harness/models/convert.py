"""A trained model in the formats a device runs: a TensorFlow SavedModel, or TFLite through TensorFlow's converter
(float32, float16 weights, dynamic-range or full-integer quantization), and the converted model run with LiteRT's
interpreter (`ai-edge-litert`, the deploy extra) so that what conversion costs in accuracy is measured before
shipping.

Every model goes through Keras's own `model.export` (a SavedModel with a `serve` signature) and, for TFLite,
`tf.lite.TFLiteConverter.from_saved_model`. Full-integer quantization is calibrated on training images, never
test images; its input and output stay float32 (raw 0..255 pixels in, probabilities out, as model.keras).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

TARGETS = ("tflite", "saved_model")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
CALIBRATION_IMAGES = 200  # int8's representative dataset: enough for stable ranges, seconds to run


class ConversionError(Exception):
    """The converter refused the model (an op without a TFLite kernel, say): its first lines say which."""


def saved_model(model, out_dir: Path) -> Path:
    """Keras's export of the model's inference function (signature `serve`) into out_dir."""
    model.export(str(out_dir), format="tf_saved_model", verbose=False)
    return out_dir


def _calibration(images: np.ndarray) -> Iterator[list[np.ndarray]]:
    for image in images[:CALIBRATION_IMAGES]:
        yield [image[None].astype(np.float32)]


def tflite(model, quantize: str, calibration: np.ndarray | None = None) -> bytes:
    """The model as a TFLite flatbuffer. `calibration`: training images (uint8) for int8."""
    import tensorflow as tf

    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize={quantize!r}: one of {', '.join(QUANTIZATIONS)}")
    with tempfile.TemporaryDirectory(prefix="harness-export-") as tmp:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model(model, Path(tmp) / "saved_model")))
        if quantize != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if quantize == "int8":
            if calibration is None or not len(calibration):
                raise ValueError("int8 needs training images to calibrate on")
            converter.representative_dataset = lambda: _calibration(calibration)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        try:
            return converter.convert()
        except Exception as exc:  # the converter's own error types are internal; its message names the op
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            named = [line for line in lines if "op" in line.lower() and ("not" in line or "unsupported" in line)]
            raise ConversionError((named or lines or [type(exc).__name__])[0][:300]) from exc


def interpreter(flatbuffer: bytes, threads: int | None = None):
    """LiteRT's interpreter on the model, tensors allocated."""
    from ai_edge_litert.interpreter import Interpreter

    lite = Interpreter(model_content=flatbuffer, num_threads=threads)
    lite.allocate_tensors()
    return lite


def predict(lite, images: np.ndarray) -> np.ndarray:
    """Probabilities for each image, one at a time (the interpreter's input is one image)."""
    entry, exit_ = lite.get_input_details()[0], lite.get_output_details()[0]
    out = []
    for image in images:
        lite.set_tensor(entry["index"], image[None].astype(entry["dtype"]))
        lite.invoke()
        out.append(lite.get_tensor(exit_["index"])[0].astype(np.float32))
    return np.asarray(out)


def latency_ms(lite, shape: tuple[int, ...], repeats: int = 50, warmup: int = 5) -> tuple[float, float]:
    """(median, 90th percentile) ms per image at batch 1."""
    entry = lite.get_input_details()[0]
    image = np.random.default_rng(0).uniform(0, 255, (1, *shape)).astype(entry["dtype"])
    seconds = []
    for k in range(warmup + repeats):
        started = time.perf_counter()
        lite.set_tensor(entry["index"], image)
        lite.invoke()
        if k >= warmup:
            seconds.append(time.perf_counter() - started)
    return float(np.median(seconds) * 1000), float(np.percentile(seconds, 90) * 1000)


def size_mb(path: Path) -> float:
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 1e6, 4)


def replace_folder(staged: Path, target: Path) -> None:
    """Move a fully written folder into place (a rename on one filesystem: never half there)."""
    if target.exists():
        shutil.rmtree(target)
    staged.rename(target)
