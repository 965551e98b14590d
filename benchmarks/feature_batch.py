"""Which batch size computes a frozen backbone's features fastest, and do batch sizes give the same features?

    python benchmarks/feature_batch.py --dataset-path ../shared/datasets/flowers12 --alpha 1.0
    python benchmarks/feature_batch.py --dataset-path ../shared/datasets/flowers12 --alpha 0.25 \
        --weights ../shared/weights/mobilenet_2_5_128_tf_no_top.h5

The harness computes a cached run's features once (harness.training.features.FEATURE_BATCH images per forward pass);
this times that pass over a folder's first --images images (decoded and resized by the harness, as a run
does) with one traced function per batch size, --repeats times each in turn, and checks each size's features
against those of the largest size, bit for bit. Prints a table; writes JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from sweep_speed import machine  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset-path", required=True)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--weights", help="no-top weights file (default: random init)")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=960)
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "feature_batch.json"))
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from harness.process.quiet import import_tensorflow

    import_tensorflow()
    import keras
    import numpy as np
    import tensorflow as tf
    from hydra import compose, initialize_config_dir

    from harness.config.geometry import geometry
    from harness.config.schema import CONF_DIR
    from harness.data.images import split_images
    from harness.data.sources import load_splits

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):  # the config a run of this folder has
        cfg = compose(
            "config",
            overrides=[
                "dataset=folder",
                f"dataset.path={Path(args.dataset_path).resolve()}",
                f"data.image_size={args.image_size}",
            ],
        )
    geo = geometry(cfg.data)
    splits = load_splits(cfg.dataset, cfg.data, None)
    images = np.concatenate([split_images(s, geo, None) for s in (splits.train, splits.val) if s is not None])[
        : args.images
    ]
    backbone = keras.applications.MobileNet(
        input_shape=geo.shape, include_top=False, alpha=args.alpha, weights=args.weights
    )
    signature = [tf.TensorSpec((None, *images.shape[1:]), tf.uint8)]
    forward = tf.function(lambda x: backbone(tf.cast(x, tf.float32), training=False), input_signature=signature)
    forward(images[:2])  # trace once, outside the timings

    def features(batch: int) -> tuple[np.ndarray, float]:
        started = time.perf_counter()
        out = np.concatenate([forward(images[i : i + batch]).numpy() for i in range(0, len(images), batch)])
        return out, time.perf_counter() - started

    seconds: dict[int, list[float]] = {b: [] for b in args.batches}
    reference, _ = features(max(args.batches))
    identical = {}
    for _ in range(args.repeats):
        for batch in args.batches:
            out, took = features(batch)
            seconds[batch].append(took)
            identical[batch] = bool(np.array_equal(out, reference)) and identical.get(batch, True)
    rows = [
        {
            "batch": b,
            "median_seconds": float(np.median(seconds[b])),
            "seconds": seconds[b],
            "identical_to_largest": identical[b],
        }
        for b in args.batches
    ]
    report = {
        "machine": machine(),
        "dataset": str(Path(args.dataset_path).resolve()),
        "alpha": args.alpha,
        "weights": args.weights,
        "image_size": args.image_size,
        "images": len(images),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"MobileNet {args.alpha:g}, {len(images)} images at {args.image_size} px, {report['machine']['cpus']} CPUs")
    for row in rows:
        print(
            f"batch {row['batch']:>3}: {row['median_seconds']:.2f} s (median of {args.repeats}), "
            f"features identical to batch {max(args.batches)}: {row['identical_to_largest']}"
        )
    print(f"written: {out}")


if __name__ == "__main__":
    main()
