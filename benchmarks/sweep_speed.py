"""How much faster is a harness sweep than the same sweep written as plain Keras? Measured, not estimated.

    python benchmarks/sweep_speed.py --dataset-path ../shared/datasets/flowers12 \
        --accuracy-weights ../shared/weights/mobilenet_2_5_128_tf_no_top.h5

Every side runs as its own whole process (start-up, TensorFlow import, data loading included), one after
the other on the same machine and data:
  1. learning-rate sweep (4 values, frozen MobileNet, 20 epochs, no early stopping): plain Keras vs
     `python -m harness sweep=learning_rate`, wall-time ratio and best val accuracy of each; with
     --accuracy-weights the same comparison again with real ImageNet weights (--accuracy-alpha), since a
     frozen random-init backbone only gives chance accuracy;
  2. unfreeze sweep (0, 0.25, 0.5): the same;
  3. one uncached run (train.cache=off) against one plain run: steady-state seconds per epoch;
  4. peak resident memory of each run of a 10-run harness sweep.
The harness starts from an empty cache directory, so building its caches is part of its time.
Prints a table and writes everything as JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from harness.records import provenance  # imports no TensorFlow

ROOT = Path(__file__).resolve().parent.parent
LEARNING_RATES = [0.1, 0.01, 0.001, 0.0001]
UNFREEZE = [0.0, 0.25, 0.5]
MEMORY_RATES = [0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001, 0.00005]
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


# --- the plain Keras baseline: what a practitioner writes without the harness ---------------------------


def _list_images(root: Path, class_names: list[str]) -> tuple[list[str], list[int]]:
    files, labels = [], []
    for label, name in enumerate(class_names):
        for f in sorted((root / name).iterdir()):
            if f.suffix.lower() in IMAGE_EXTENSIONS:
                files.append(str(f))
                labels.append(label)
    return files, labels


def _baseline_data(path: Path, size: int, batch: int, seed: int):
    import numpy as np
    import tensorflow as tf

    train_root = path / "train" if (path / "train").is_dir() else path
    class_names = sorted(d.name for d in train_root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files, labels = _list_images(train_root, class_names)
    if (path / "val").is_dir():
        val_files, val_labels = _list_images(path / "val", class_names)
    else:  # one folder of classes: hold out 20 %, seeded
        order = np.random.default_rng(seed).permutation(len(files))
        cut = int(0.8 * len(files))
        val_files, val_labels = [files[i] for i in order[cut:]], [labels[i] for i in order[cut:]]
        files, labels = [files[i] for i in order[:cut]], [labels[i] for i in order[:cut]]

    def load(f, y):
        image = tf.io.decode_image(tf.io.read_file(f), channels=3, expand_animations=False)
        return tf.image.resize(image, (size, size)), y

    def dataset(fs, ys, training):
        ds = tf.data.Dataset.from_tensor_slices((fs, ys)).map(load, num_parallel_calls=tf.data.AUTOTUNE).cache()
        if training:
            ds = ds.shuffle(len(fs), seed=seed)
        return ds.batch(batch).prefetch(tf.data.AUTOTUNE)

    return dataset(files, labels, True), dataset(val_files, val_labels, False), len(class_names)


def _baseline_model(size: int, alpha: float, weights: str | None, unfreeze: float, num_classes: int):
    import keras

    base = keras.applications.MobileNet(include_top=False, weights=weights, input_shape=(size, size, 3), alpha=alpha)
    layers = base.layers[1:]
    count = int(round(unfreeze * len(layers)))
    base.trainable = count > 0
    for i, layer in enumerate(layers):
        layer.trainable = i >= len(layers) - count
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)  # MobileNet's preprocess_input
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    x = keras.layers.Dropout(0.3)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def baseline_main(args: argparse.Namespace) -> None:
    """Child process: one plain Keras run per value, results as JSON on the last stdout line."""
    import keras
    import numpy as np

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    train, val, num_classes = _baseline_data(Path(args.dataset_path), args.image_size, args.batch_size, args.seed)
    runs = []
    for value in args.values:
        keras.utils.set_random_seed(args.seed)
        lr = value if args.knob == "learning_rate" else args.learning_rate
        unfreeze = value if args.knob == "unfreeze" else 0.0
        model = _baseline_model(args.image_size, args.alpha, args.weights, unfreeze, num_classes)
        model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
        timer = EpochTimes()
        timer.times = []
        history = model.fit(train, validation_data=val, epochs=args.epochs, callbacks=[timer], verbose=0)
        val_acc = history.history["val_accuracy"]
        runs.append(
            {
                "value": value,
                "best_val_accuracy": float(np.max(val_acc)),
                "seconds_per_epoch": float(np.mean(timer.times[1:])) if len(timer.times) > 1 else timer.times[0],
            }
        )
    print(json.dumps({"runs": runs, "peak_rss_mb": _peak_rss_mb()}))


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the parent: time each side as a whole process ------------------------------------------------------


def _timed(cmd: list[str], log: Path, checkout: Path = ROOT) -> tuple[float, str]:
    """Run `cmd` in `checkout` (its code first on the path): wall seconds and its output."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **({"PYTHONPATH": str(checkout)} if checkout != ROOT else {})}
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n  see {log}")
    return seconds, proc.stdout


def run_baseline(
    args, knob: str, values: list[float], alpha: float, weights: str | None, epochs: int, work: Path
) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "baseline",
        "--dataset-path",
        args.dataset_path,
        "--knob",
        knob,
        "--values",
        *map(str, values),
        "--alpha",
        str(alpha),
        "--epochs",
        str(epochs),
        "--image-size",
        str(args.image_size),
        "--batch-size",
        str(args.batch_size),
        "--seed",
        str(args.seed),
    ]
    if weights:
        cmd += ["--weights", weights]
    seconds, out = _timed(cmd, work / f"baseline_{knob}_{alpha}_{len(values)}x{epochs}.log")
    result = json.loads(out.strip().splitlines()[-1])
    return {"seconds": seconds, **result, "best_val_accuracy": max(r["best_val_accuracy"] for r in result["runs"])}


def run_harness(
    args, overrides: list[str], alpha: float, weights: str | None, epochs: int, work: Path, tag: str
) -> dict:
    results = work / f"results_{tag}"
    cmd = [
        sys.executable,
        "-m",
        "harness",
        "dataset=folder",
        f"dataset.path={Path(args.dataset_path).resolve()}",
        f"model.alpha={alpha}",
        f"model.weights={weights or 'null'}",
        "model.unfreeze=0",
        f"data.image_size={args.image_size}",
        f"train.batch_size={args.batch_size}",
        f"train.epochs={epochs}",
        "train.patience=null",
        f"train.seed={args.seed}",
        "train.verbose=0",
        f"results_dir={results}",
        f"cache_dir={work / f'cache_{tag}'}",
        *args.harness_args,
        *overrides,
    ]
    seconds, _ = _timed(cmd, work / f"harness_{tag}.log")
    records = sorted(
        (json.loads(p.read_text()) for p in results.glob("*/*/record.json")), key=lambda r: r["started_at"]
    )
    runs = [
        {
            "value": r["sweep"]["value"],
            "status": r["status"],
            "best_val_accuracy": r["best_val_accuracy"],
            "seconds_per_epoch": r["seconds_per_epoch"],
            "feature_cache": r.get("feature_cache"),
            "peak_rss_mb": r["memory"]["peak_rss_mb"],
            "pid": r["host"]["pid"],
            "wall_seconds": r["wall_seconds"],
        }
        for r in records
    ]
    best = max((r["best_val_accuracy"] for r in runs if r["best_val_accuracy"] is not None), default=None)
    return {"seconds": seconds, "runs": runs, "best_val_accuracy": best}


def compare(name: str, plain: dict, harness: dict) -> dict:
    return {
        "name": name,
        "baseline": plain,
        "harness": harness,
        "speedup": plain["seconds"] / harness["seconds"],
        "accuracy_delta_points": 100 * (harness["best_val_accuracy"] - plain["best_val_accuracy"]),
    }


def parsers(doc: str, child_mode: str) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The parent's parser and its hidden child command's (the side that runs plain Keras in its own process)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    child = parser.add_subparsers(dest="mode").add_parser(child_mode, help=argparse.SUPPRESS)
    for p in (parser, child):
        p.add_argument("--dataset-path", required=p is child)
    return parser, child


def add_common_options(parser: argparse.ArgumentParser, out_name: str) -> None:
    """Options every benchmark script here takes: extra harness overrides, where its files go, its JSON."""
    parser.add_argument(
        "--harness-args",
        nargs="*",
        default=[],
        help="extra overrides for every harness command, e.g. hydra.launcher.n_jobs=2",
    )
    parser.add_argument("--work-dir", help="where logs, results and caches go (default: a new temporary folder)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / out_name))


def work_dir(parser: argparse.ArgumentParser, args: argparse.Namespace, prefix: str) -> Path:
    """The parent's folder for logs, results and caches (made here); the parent needs --dataset-path."""
    if not args.dataset_path:
        parser.error("--dataset-path is required")
    work = Path(args.work_dir or tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    return work


def stamp(benchmark: str) -> dict:
    """What every benchmark report opens with: which benchmark, on what machine, when, by which command."""
    return {
        "benchmark": benchmark,
        "machine": machine(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join(sys.argv),
    }


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu": provenance.cpu(),
        "python": platform.python_version(),
    }


def write_report(report: dict, out: Path, print_table) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print_table(report)
    print(f"\nwritten: {out}")


def main(argv: list[str] | None = None) -> None:
    parser, child = parsers(__doc__, "baseline")
    for p in (parser, child):
        p.add_argument("--image-size", type=int, default=128)
        p.add_argument("--batch-size", type=int, default=32)
        p.add_argument("--seed", type=int, default=42)
    child.add_argument("--knob", choices=["learning_rate", "unfreeze"], required=True)
    child.add_argument("--values", type=float, nargs="+", required=True)
    child.add_argument("--alpha", type=float, default=1.0)
    child.add_argument("--weights")
    child.add_argument("--epochs", type=int, default=20)
    child.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--alpha", type=float, default=1.0, help="MobileNet width for the timed sweeps (issue: 1.0)")
    parser.add_argument("--weights", help="weights file for the timed sweeps (default: random init)")
    parser.add_argument("--accuracy-alpha", type=float, default=0.25)
    parser.add_argument("--accuracy-weights", help="ImageNet weights file: repeat the learning-rate comparison with it")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--overhead-epochs", type=int, default=6)
    parser.add_argument("--sections", default="lr,unfreeze,overhead,memory")
    parser.add_argument(
        "--reuse-baseline", help="a previous JSON report: take the plain-Keras side from it (same machine)"
    )
    add_common_options(parser, "sweep_speed.json")
    args = parser.parse_args(argv)
    if args.mode == "baseline":
        return baseline_main(args)
    work = work_dir(parser, args, "sweep_speed_")
    sections = args.sections.split(",")
    report: dict = {
        **stamp("sweep_speed"),
        "dataset": str(Path(args.dataset_path).resolve()),
        "image_size": args.image_size,
        "epochs": args.epochs,
        "alpha": args.alpha,
        "weights": args.weights,
        "work_dir": str(work),
        "comparisons": [],
    }
    report["harness_args"] = args.harness_args
    previous = json.loads(Path(args.reuse_baseline).read_text()) if args.reuse_baseline else None

    def baseline(name, *a):
        if previous:
            for c in previous["comparisons"]:
                if c["name"] == name:
                    return {**c["baseline"], "reused_from": args.reuse_baseline}
        return run_baseline(args, *a)

    def sweep(name, knob, sweep_values, alpha, weights, tag):
        """One comparison: the plain loop over sweep_values against `python -m harness sweep=<knob>`."""
        plain = baseline(name, knob, sweep_values, alpha, weights, args.epochs, work)
        listed = ",".join(map(str, sweep_values))
        ours = run_harness(args, [f"sweep={knob}", f"sweep.values=[{listed}]"], alpha, weights, args.epochs, work, tag)
        report["comparisons"].append(compare(name, plain, ours))

    if "lr" in sections:
        sweep(
            f"learning-rate sweep, MobileNet {args.alpha:g}",
            "learning_rate",
            LEARNING_RATES,
            args.alpha,
            args.weights,
            "lr",
        )
        if args.accuracy_weights:
            sweep(
                f"learning-rate sweep, MobileNet {args.accuracy_alpha:g} ImageNet",
                "learning_rate",
                LEARNING_RATES,
                args.accuracy_alpha,
                args.accuracy_weights,
                "lr_imagenet",
            )
    if "unfreeze" in sections:
        sweep(f"unfreeze sweep, MobileNet {args.alpha:g}", "unfreeze", UNFREEZE, args.alpha, args.weights, "unfreeze")
    if "overhead" in sections:
        plain = run_baseline(args, "learning_rate", [0.001], args.alpha, args.weights, args.overhead_epochs, work)
        ours = run_harness(args, ["train.cache=off"], args.alpha, args.weights, args.overhead_epochs, work, "overhead")
        report["overhead"] = {
            "baseline_seconds_per_epoch": plain["runs"][0]["seconds_per_epoch"],
            "harness_seconds_per_epoch": ours["runs"][0]["seconds_per_epoch"],
            "ratio": ours["runs"][0]["seconds_per_epoch"] / plain["runs"][0]["seconds_per_epoch"],
        }
    if "memory" in sections:
        rates = ",".join(map(str, MEMORY_RATES))
        ours = run_harness(
            args,
            ["sweep=learning_rate", f"sweep.values=[{rates}]"],
            args.alpha,
            args.weights,
            args.epochs,
            work,
            "memory",
        )
        peaks = [r["peak_rss_mb"] for r in ours["runs"]]
        report["memory"] = {
            "peak_rss_mb": peaks,
            "processes": len({r["pid"] for r in ours["runs"]}),
            "seconds": ours["seconds"],
            "run2_to_run10_change": peaks[-1] / peaks[1] - 1 if len(peaks) >= 10 else None,
            "max_over_min_runs_2_to_10": max(peaks[1:]) / min(peaks[1:]) - 1 if len(peaks) > 2 else None,
        }

    write_report(report, Path(args.out), print_table)


def print_table(report: dict) -> None:
    print(
        f"\n{report['machine']['cpus']} CPUs, {report['dataset']}, {report['image_size']} px, {report['epochs']} epochs"
    )
    print(f"{'comparison':<44} {'plain s':>8} {'harness s':>10} {'speedup':>8} {'plain acc':>10} {'harness acc':>12}")
    for c in report["comparisons"]:
        print(
            f"{c['name']:<44} {c['baseline']['seconds']:>8.1f} {c['harness']['seconds']:>10.1f} {c['speedup']:>7.1f}x "
            f"{c['baseline']['best_val_accuracy']:>10.3f} {c['harness']['best_val_accuracy']:>12.3f}"
        )
    if "overhead" in report:
        o = report["overhead"]
        print(
            f"uncached seconds/epoch: plain {o['baseline_seconds_per_epoch']:.3f}, harness {o['harness_seconds_per_epoch']:.3f} "
            f"(ratio {o['ratio']:.3f})"
        )
    if "memory" in report:
        m = report["memory"]
        print(
            f"10-run sweep peak RSS (MiB): {' '.join(f'{p:.0f}' for p in m['peak_rss_mb'])}; "
            f"run 2 -> 10: {m['run2_to_run10_change']:+.1%}; worker processes: {m['processes']}"
        )


if __name__ == "__main__":
    main()
