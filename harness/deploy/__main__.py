"""Export a run's model for a device and check it after conversion.

    python -m harness.deploy RUN [--to tflite|saved_model] [--quantize none|float16|dynamic|int8] [--overwrite]

RUN is a run folder trained with train.save_model=true (or analysis=true). The converted model goes to
RUN/deploy/<target>-<quantize>/ with deployed.json beside it: the converted model run on the run's test split
(val where it has none) with LiteRT's interpreter, its accuracy, its agreement with the Keras model image by
image, the largest change of a probability, its size and its latency at batch 1 (one thread and all). int8 is
calibrated on training images. A folder that exists is not replaced without --overwrite; a model that does not
convert, or a disk that fills, leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ArgumentParser, UserError
from harness.process.homes import tool_homes

log = logging.getLogger(__name__)


def _parser() -> ArgumentParser:
    from harness.models.convert import QUANTIZATIONS, TARGETS

    parser = ArgumentParser(prog="python -m harness.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run folder with record.json and model.keras")
    parser.add_argument("--to", choices=TARGETS, default="tflite", help="the format (default: tflite)")
    parser.add_argument(
        "--quantize", choices=QUANTIZATIONS, default="none", help="TFLite only: weights or all tensors in fewer bits"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an export that exists")
    return parser


def target_folder(run_dir: Path, to: str, quantize: str) -> Path:
    return run_dir / "deploy" / (to if to == "saved_model" else f"{to}-{quantize}")


def _checked(args) -> tuple[Any, Path]:
    """The run's record and the folder the export goes to, or UserError saying what is wrong."""
    from harness.records.record import RECORD, read_record

    run_dir: Path = args.run
    record = read_record(run_dir) if run_dir.is_dir() else None
    if record is None:
        raise UserError(f"{run_dir} is not a run folder (no readable {RECORD})")
    if not (run_dir / "model.keras").exists():
        raise UserError(f"{run_dir} has no model.keras: train it with train.save_model=true (or analysis=true)")
    if args.to == "saved_model" and args.quantize != "none":
        raise UserError(f"--quantize={args.quantize} is not allowed with --to saved_model: quantization is TFLite's")
    target = target_folder(run_dir, args.to, args.quantize)
    if target.exists() and not args.overwrite:
        raise UserError(f"{target} exists: --overwrite replaces it")
    return record, target


def _images(record) -> tuple[np.ndarray, np.ndarray, str, np.ndarray]:
    """(images, labels, split name) of the run's test split (val without one), and calibration images spread
    over its training split."""
    from omegaconf import OmegaConf

    from harness.config.geometry import geometry
    from harness.data.images import split_images
    from harness.data.sources import load_splits
    from harness.data.splits import Split
    from harness.models.convert import CALIBRATION_IMAGES
    from harness.storage import cache

    cfg = OmegaConf.create(record.config)
    root = cache.root(cfg.cache_dir, cfg.train.cache)
    splits = load_splits(cfg.dataset, cfg.data, root)
    name = "test" if splits.test is not None else "val"
    split, geo = getattr(splits, name), geometry(cfg.data)
    train = splits.train
    chosen = np.linspace(0, len(train) - 1, min(CALIBRATION_IMAGES, len(train))).astype(int)
    # the cached training images where the run cached them; else only the chosen ones decoded, not the whole split
    calibration = (
        np.asarray(split_images(train, geo, root)[chosen])
        if root is not None
        else split_images(Split(train.pool, train.index[chosen]), geo, None)
    )
    return split_images(split, geo, root), np.asarray(split.labels), name, calibration


def _check(flatbuffer: bytes, images: np.ndarray, labels: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    from harness.models import convert
    from harness.training.fit import predicted_classes

    lite = convert.interpreter(flatbuffer, threads=os.cpu_count())
    probabilities = convert.predict(lite, images)
    predicted, expected = predicted_classes(probabilities), predicted_classes(reference)
    one, one_p90 = convert.latency_ms(convert.interpreter(flatbuffer, threads=1), images.shape[1:])
    every, every_p90 = convert.latency_ms(lite, images.shape[1:])
    return {
        "accuracy": float((predicted == labels).mean()),
        "keras_accuracy": float((expected == labels).mean()),
        "agreement": float((predicted == expected).mean()),
        "max_probability_change": float(np.abs(probabilities - reference).max()),
        "latency_ms_1_thread": round(one, 4),
        "latency_p90_ms_1_thread": round(one_p90, 4),
        "latency_ms_all_threads": round(every, 4),
        "latency_p90_ms_all_threads": round(every_p90, 4),
        "threads": os.cpu_count(),
    }


def deploy(args) -> dict[str, Any]:
    import keras

    import harness.models.build  # noqa: F401 - registers the custom layers load_model needs
    from harness.models import convert
    from harness.records.provenance import cpu

    record, target = _checked(args)
    model = keras.saving.load_model(args.run / "model.keras")
    images, labels, split, calibration = _images(record)
    reference = model.predict(images.astype(np.float32), batch_size=64, verbose=0)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        result: dict[str, Any] = {
            "run": str(args.run),
            "to": args.to,
            "quantize": args.quantize,
            "split": split,
            "images": int(len(labels)),
            "cpu": cpu(),
        }
        if args.to == "saved_model":
            convert.saved_model(model, staged / "saved_model")
            result["size_mb"] = convert.size_mb(staged / "saved_model")
        else:
            flatbuffer = convert.tflite(model, args.quantize, calibration if args.quantize == "int8" else None)
            (staged / "model.tflite").write_bytes(flatbuffer)
            result["size_mb"] = convert.size_mb(staged / "model.tflite")
            result.update(_check(flatbuffer, images, labels, reference))
        result["keras_size_mb"] = convert.size_mb(args.run / "model.keras")
        (staged / "deployed.json").write_text(json.dumps(result, indent=2) + "\n")
        convert.replace_folder(staged, target)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    result["folder"] = str(target)
    return result


def main(argv: list[str] | None = None) -> int:
    from harness.models.convert import ConversionError
    from harness.storage.atomic import disk_full, no_space

    args = _parser().parse_args(argv)
    tool_homes([])
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # its INFO "generated new fontManager" is not ours
    try:
        result = deploy(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ConversionError as exc:
        print(f"error: {args.run} does not convert to {args.to} ({args.quantize}): {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if not disk_full(exc):
            raise
        print(f"error: {no_space(args.run / 'deploy')}; nothing was written", file=sys.stderr)
        return 2
    if "accuracy" in result:
        print(
            f"{result['to']} ({result['quantize']}): {result['size_mb']:.2f} MB (model.keras {result['keras_size_mb']:.2f}), "
            f"{result['split']} accuracy {result['accuracy']:.4f} (Keras {result['keras_accuracy']:.4f}), "
            f"agrees with Keras on {result['agreement']:.1%} of {result['images']} images, largest probability "
            f"change {result['max_probability_change']:.3f}; {result['latency_ms_1_thread']:.2f} ms per image on one "
            f"thread, {result['latency_ms_all_threads']:.2f} on {result['threads']} (LiteRT, {result['cpu']})"
        )
    else:
        print(f"{result['to']}: {result['size_mb']:.2f} MB")
    print(f"written: {result['folder']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
