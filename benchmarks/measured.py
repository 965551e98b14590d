"""Regenerates the "Measured" figures of docs/findings.md: the baseline on a real image folder with and without
ImageNet weights, cached vs `train.cache=off` at two unfreeze fractions, the seed spread those differences
should be read against, and the quickstart.

    python benchmarks/measured.py --dataset-path DIR --weights WEIGHTS_no_top.h5 [--out benchmarks/results/measured.json]

Every run is `python -m harness ...` in its own process, with a fresh cache and results folder, so the wall
times include start-up and building the cache. Also measures how far the frozen prefix's activations move
when computed in batches of 64 (as the feature cache does) instead of the training batches of 32.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def harness_run(work: Path, label: str, *overrides: str) -> dict:
    results = work / "results" / label
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "harness", f"results_dir={results}", *overrides],
        capture_output=True,
        text=True,
        env={**os.environ, "HARNESS_CACHE_DIR": str(work / "cache")},
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{label} failed:\n{done.stderr[-3000:]}")
    record = json.loads(next(results.glob("*/*/record.json")).read_text())
    history = record["history"]
    return {
        "label": label,
        "overrides": list(overrides),
        "best_val_accuracy": record["best_val_accuracy"],
        "best_epoch": record["best_epoch"],
        "epochs_run": record["epochs_run"],
        "test_accuracy": record["test_accuracy"],
        "epoch1_loss": history["loss"][0],
        "epoch1_val_accuracy": history["val_accuracy"][0],
        "feature_cache": record["feature_cache"],
        "wall_seconds": round(wall, 1),
        "run_seconds": round(record["wall_seconds"], 1),
    }


def prefix_batch_noise(weights: str, dataset: Path, cut: str = "conv_pw_9_relu") -> float:
    """Max |difference| of a MobileNet prefix's activations on the same images, batch 64 vs batch 32."""
    from PIL import Image

    from harness.process.quiet import import_tensorflow

    import_tensorflow()
    import keras

    files = sorted(p for p in (dataset / "train").rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:128]
    images = np.stack([np.asarray(Image.open(f).convert("RGB").resize((128, 128))) for f in files]).astype("float32")
    backbone = keras.applications.MobileNet(include_top=False, weights=weights, input_shape=(128, 128, 3), alpha=0.25)
    prefix = keras.Model(backbone.input, backbone.get_layer(cut).output)
    x = keras.applications.mobilenet.preprocess_input(images)
    by64 = np.concatenate([prefix(x[i : i + 64], training=False).numpy() for i in range(0, len(x), 64)])
    by32 = np.concatenate([prefix(x[i : i + 32], training=False).numpy() for i in range(0, len(x), 32)])
    return float(np.abs(by64 - by32).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset-path", type=Path, required=True, help="an image folder with train/ and val/")
    parser.add_argument("--weights", required=True, help="MobileNet alpha 0.25 no-top ImageNet weights file")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "measured.json")
    parser.add_argument(
        "--runs",
        type=lambda s: s.split(","),
        help="only these runs (comma-separated labels), merged into --out by label",
    )
    args = parser.parse_args()
    folder = ["dataset=folder", f"dataset.path={args.dataset_path.resolve()}", "model.alpha=0.25"]
    weights = [*folder, f"model.weights={Path(args.weights).resolve()}"]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        plan = [
            ("imagenet", weights),
            ("imagenet_cache_off", [*weights, "train.cache=off"]),
            ("imagenet_seed43", [*weights, "train.seed=43"]),
            ("imagenet_seed44", [*weights, "train.seed=44"]),
            ("imagenet_unfreeze0", [*weights, "model.unfreeze=0"]),
            ("imagenet_unfreeze0_cache_off", [*weights, "model.unfreeze=0", "train.cache=off"]),
            ("random_init", [*folder, "model.weights=null"]),
            ("random_init_bn0.99", [*folder, "model.weights=null", "model.bn_momentum=0.99"]),
            ("quickstart", ["experiment=quickstart"]),
            ("quickstart_deterministic", ["experiment=quickstart", "train.deterministic=true"]),
        ]
        for label, overrides in plan:
            if args.runs and label not in args.runs:
                continue
            runs.append(harness_run(work, label, *overrides))
            print(json.dumps(runs[-1]), flush=True)
    if args.runs and args.out.exists():  # a partial re-measurement replaces only its own rows
        earlier = json.loads(args.out.read_text())
        fresh = {r["label"] for r in runs}
        runs = [r for r in earlier["runs"] if r["label"] not in fresh] + runs
    noise = prefix_batch_noise(str(Path(args.weights).resolve()), args.dataset_path)
    out = {"runs": runs, "prefix_activation_max_abs_diff_batch64_vs_32": noise}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(
        "\n| run | best val acc (epoch) | epochs run | test acc | epoch-1 loss | cache | wall |\n|---|---|---|---|---|---|---|"
    )
    for r in runs:
        print(
            f"| {r['label']} | {r['best_val_accuracy']:.4f} ({r['best_epoch']}) | {r['epochs_run']} | "
            f"{r['test_accuracy'] if r['test_accuracy'] is None else round(r['test_accuracy'], 4)} | "
            f"{r['epoch1_loss']:.4f} | {r['feature_cache']} | {r['wall_seconds']} s |"
        )
    print(f"\nprefix activations, batch 64 vs 32: max |diff| = {noise:.3g}")


if __name__ == "__main__":
    main()
