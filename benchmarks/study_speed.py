"""How much faster is one seed of a study through the harness than the same runs written as plain Keras?

    python benchmarks/study_speed.py --dataset-path ../shared/datasets/flowers12 \
        --weights ../shared/weights/mobilenet_2_5_128_tf_no_top.h5 --alpha 0.25

The plain side is what a practitioner writes without the harness: for each experiment of the study, a loop
over its values (the baseline's value included, as a one-knob sweep run by hand has it), one `model.fit`
per run on a `tf.data` pipeline decoded and cached in memory for that run, early stopping on val accuracy
with the best weights restored, then test accuracy. The harness side is
`python -m harness study=<study> study.seeds=1 ...` from an empty cache directory. Each side is one whole
process (start-up, TensorFlow import and data loading included), one after the other on the same machine
and data, with the same split sizes (20 % of train carved for test, seeded). Prints wall times, the ratio,
and both sides' test accuracy per run; writes everything as JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from sweep_speed import (
    IMAGE_EXTENSIONS,
    _peak_rss_mb,
    _timed,
    add_common_options,
    machine,
    parsers,
    work_dir,
    write_report,
)

ROOT = Path(__file__).resolve().parent.parent
# The harness's default baseline (conf/model/transfer.yaml, conf/data, conf/train): each experiment varies
# one of these and keeps the others.
BASELINE = {
    "model": "transfer",
    "model.unfreeze": 0.33,
    "train.learning_rate": 0.001,
    "train.optimizer": "adam",
    "train.batch_size": 32,
    "data.image_size": 128,
    "data.aspect_ratio": 1.0,
    "data.samples_per_class": None,
    "model.unfrozen_bn": "batch",
    "model.bn_momentum": 0.9,
    "data.augment": "none",
}


def plain_runs(study: Path) -> list[dict]:
    """Every run one seed of the study makes when each experiment is swept by hand: [{experiment, value, config}]."""
    experiments = OmegaConf.to_container(OmegaConf.load(study))["study"]["experiments"]
    runs = []
    for name, experiment in experiments.items():
        values = list(experiment["values"])
        if BASELINE[experiment["knob"]] not in values:
            values.append(BASELINE[experiment["knob"]])
        for value in values:
            runs.append({"experiment": name, "value": value, "config": {**BASELINE, experiment["knob"]: value}})
    return runs


# --- the plain Keras side ---------------------------------------------------------------------------------


def _split(path: Path, seed: int, test_fraction: float):
    import numpy as np

    train_root = path / "train" if (path / "train").is_dir() else path
    classes = sorted(d.name for d in train_root.iterdir() if d.is_dir() and not d.name.startswith("."))

    def listed(root: Path) -> dict[int, list[str]]:
        return {
            k: sorted(str(f) for f in (root / c).iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
            for k, c in enumerate(classes)
        }

    rng = np.random.default_rng(seed)
    train, test = {}, {}
    for k, files in listed(train_root).items():  # stratified: the same fraction of every class
        order = rng.permutation(len(files))
        cut = int(round(test_fraction * len(files)))
        test[k] = [files[i] for i in order[:cut]]
        train[k] = [files[i] for i in order[cut:]]
    val = listed(path / "val") if (path / "val").is_dir() else {k: [] for k in train}
    return classes, train, val, test


def _dataset(
    by_class: dict[int, list[str]], hw: tuple[int, int], batch: int, seed: int, training: bool, augment: str = "none"
):
    import tensorflow as tf

    files = [f for k in sorted(by_class) for f in by_class[k]]
    labels = [k for k in sorted(by_class) for _ in by_class[k]]

    def load(f, y):
        image = tf.io.decode_image(tf.io.read_file(f), channels=3, expand_animations=False)
        return tf.image.resize(image, hw), y

    ds = tf.data.Dataset.from_tensor_slices((files, labels)).map(load, num_parallel_calls=tf.data.AUTOTUNE).cache()
    if training:
        ds = ds.shuffle(len(files), seed=seed)
    ds = ds.batch(batch)
    if training and augment != "none":
        # Keras has no AutoAugment; a plain script would import a library's policies. This one imports the
        # harness's, so both sides pay the same for augmentation and the comparison stays about the rest.
        from omegaconf import OmegaConf

        from harness.config.schema import Augmentation
        from harness.data.augment import augmenting

        ds = augmenting(ds, augment, OmegaConf.structured(Augmentation), "none", 0.2, seed)
    return ds.prefetch(tf.data.AUTOTUNE)


def _model(config: dict, hw: tuple[int, int], alpha: float, weights: str | None, num_classes: int):
    import keras

    pretrained = config["model"] == "transfer"
    base = keras.applications.MobileNet(
        include_top=False, weights=weights if pretrained else None, input_shape=(*hw, 3), alpha=alpha
    )
    layers = base.layers[1:]
    count = int(round((config["model.unfreeze"] if pretrained else 1.0) * len(layers)))
    for i, layer in enumerate(layers):
        layer.trainable = i >= len(layers) - count
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = config["model.bn_momentum"]
    inputs = keras.Input((*hw, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)  # MobileNet's preprocess_input
    # A Keras 3 functional model passes the outer call's training flag over this one: unfrozen BN layers use
    # batch statistics (model.unfrozen_bn=batch), as in the chapter's Keras.
    x = base(x, training=False) if pretrained else base(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    x = keras.layers.Dropout(0.3)(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def plain_main(args: argparse.Namespace) -> None:
    """Child process: every run of the study, one model.fit each; results as JSON on the last stdout line."""
    import keras
    import numpy as np

    classes, train, val, test = _split(Path(args.dataset_path), args.data_seed, args.test_fraction)
    results = []
    for run in plain_runs(Path(args.study)):
        c = run["config"]
        size, ratio = c["data.image_size"], c["data.aspect_ratio"]
        hw = (round(size / math.sqrt(ratio)), round(size * math.sqrt(ratio)))
        subset = train
        if c["data.samples_per_class"] is not None:
            rng, n = np.random.default_rng(args.data_seed), c["data.samples_per_class"]
            subset = {
                k: [f[i] for i in sorted(rng.choice(len(f), min(n, len(f)), replace=False))] for k, f in train.items()
            }
        keras.utils.set_random_seed(args.seed)
        batch = c["train.batch_size"]
        model = _model(c, hw, args.alpha, args.weights, len(classes))
        optimizer = keras.optimizers.get(
            {"class_name": c["train.optimizer"], "config": {"learning_rate": c["train.learning_rate"]}}
        )
        model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
        stop = keras.callbacks.EarlyStopping("val_accuracy", patience=args.patience, restore_best_weights=True)
        history = model.fit(
            _dataset(subset, hw, batch, args.seed, True, c["data.augment"]),
            epochs=args.epochs,
            callbacks=[stop],
            validation_data=_dataset(val, hw, batch, args.seed, False),
            verbose=0,
        )
        _, test_accuracy = model.evaluate(_dataset(test, hw, batch, args.seed, False), verbose=0)
        results.append(
            {
                **run,
                "best_val_accuracy": float(max(history.history["val_accuracy"])),
                "test_accuracy": float(test_accuracy),
                "epochs_run": len(history.history["loss"]),
            }
        )
        print(f"plain {run['experiment']}={run['value']}: test {test_accuracy:.3f}", file=sys.stderr, flush=True)
    print(json.dumps({"runs": results, "peak_rss_mb": _peak_rss_mb()}))


# --- the parent -------------------------------------------------------------------------------------------


def run_plain(args: argparse.Namespace, work: Path) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "plain",
        "--dataset-path",
        args.dataset_path,
        "--study",
        args.study,
        "--alpha",
        str(args.alpha),
        "--epochs",
        str(args.epochs),
        "--patience",
        str(args.patience),
        "--seed",
        str(args.seed),
        "--data-seed",
        str(args.data_seed),
        "--test-fraction",
        str(args.test_fraction),
    ]
    if args.weights:
        cmd += ["--weights", args.weights]
    seconds, out = _timed(cmd, work / "plain.log")
    return {"seconds": seconds, **json.loads(out.strip().splitlines()[-1])}


def run_harness(args: argparse.Namespace, work: Path, checkout: Path = ROOT) -> dict:
    """The study through `python -m harness` with the code at `checkout`, from an empty cache."""
    work.mkdir(parents=True, exist_ok=True)
    results = work / "results"
    cmd = [
        sys.executable,
        "-m",
        "harness",
        f"study={Path(args.study).stem}",
        "study.seeds=1",
        "dataset=folder",
        f"dataset.path={Path(args.dataset_path).resolve()}",
        f"model.alpha={args.alpha}",
        f"model.weights={Path(args.weights).resolve() if args.weights else 'null'}",
        f"train.epochs={args.epochs}",
        f"train.patience={args.patience}",
        f"train.seed={args.seed}",
        f"data.seed={args.data_seed}",
        f"dataset.test_fraction={args.test_fraction}",
        "train.verbose=0",
        f"results_dir={results}",
        f"cache_dir={work / 'cache'}",
        *args.harness_args,
    ]
    seconds, _ = _timed(cmd, work / "harness.log", checkout)
    records = [json.loads(p.read_text()) for p in results.glob("*/*/*/record.json")]
    return {**summary(records), "seconds": seconds, "profile": profile(records)}


def summary(records: list[dict]) -> dict:
    """Each run of a study, as the table prints it."""
    runs = [
        {
            "experiment": r["sweep"]["name"],
            "value": r["sweep"]["value"],
            "status": r["status"],
            "test_accuracy": r["test_accuracy"],
            "best_val_accuracy": r["best_val_accuracy"],
            "copied": r.get("copied_from") is not None,
            "compiled": (r.get("cache") or {}).get("compiled"),
            "feature_cache": r.get("feature_cache"),
            "wall_seconds": r["wall_seconds"],
            "epochs_run": r.get("epochs_run"),
            "seconds_per_epoch": r.get("seconds_per_epoch"),
        }
        for r in records
    ]
    return {"runs": sorted(runs, key=lambda r: (r["experiment"], str(r["value"])))}


def profile(records: list[dict]) -> dict:
    """Where the trained runs' time went, summed over them (worker-seconds), from what each record says: reading
    the folder, building the model, the image and feature caches, the first epoch's excess over the later ones
    (tracing), the epochs at steady speed, predicting val and test, the rest of the run (compiling or taking a kept
    compiled model, the input pipelines, the record's start), and what follows it (saving, analysis, the cost
    measurement, TensorBoard; and a worker's start-up for its first run). Records written before the model and
    prediction stages were timed count them in the rest. Copied runs cost only their copy and are counted apart."""
    trained = [r for r in records if not r.get("copied_from") and r.get("wall_seconds") is not None]
    timed = ("data", "model", "images", "features")
    totals = dict.fromkeys(
        (*timed, "first_epoch_excess", "steady_epochs", "predictions", "rest_of_run", "after_run"), 0.0
    )
    for r in trained:
        cached = (r.get("cache") or {}).get("seconds") or {}
        epochs = (r.get("history") or {}).get("seconds") or []
        excess = max(0.0, epochs[0] - float(np.median(epochs[1:]))) if len(epochs) > 1 else 0.0
        for stage in timed:
            totals[stage] += cached.get(stage, 0.0)
        totals["first_epoch_excess"] += excess
        totals["steady_epochs"] += sum(epochs) - excess
        totals["predictions"] += cached.get("predictions", 0.0)
        staged = sum(cached.get(k, 0.0) for k in (*timed, "predictions"))
        totals["rest_of_run"] += r["wall_seconds"] - staged - sum(epochs)
        totals["after_run"] += (r.get("total_seconds") or r["wall_seconds"]) - r["wall_seconds"]
    untimed = [
        k
        for k in ("model", "predictions")
        if not any(k in ((r.get("cache") or {}).get("seconds") or {}) for r in trained)
    ]
    return {
        "trained_runs": len(trained),
        "copied_runs": len(records) - len(trained),
        "seconds": {k: None if k in untimed else round(v, 1) for k, v in totals.items()},
        "total_seconds": round(sum(totals.values()), 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser, child = parsers(__doc__, "plain")
    for p in (parser, child):
        p.add_argument("--study", default=str(ROOT / "conf" / "study" / "chapter5.yaml"))
        p.add_argument("--alpha", type=float, default=0.25)
        p.add_argument("--weights", help="ImageNet no-top weights file for MobileNet at --alpha (default: random init)")
        p.add_argument("--epochs", type=int, default=20)
        p.add_argument("--patience", type=int, default=10)
        p.add_argument("--seed", type=int, default=42)
        p.add_argument("--data-seed", type=int, default=0)
        p.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--sides", default="plain,harness")
    parser.add_argument("--before", type=Path, help="a checkout of earlier code: its harness side too (profile, ratio)")
    add_common_options(parser, "study_speed.json")
    args = parser.parse_args(argv)
    if args.mode == "plain":
        return plain_main(args)
    work = work_dir(parser, args, "study_speed_")
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join(sys.argv),
        "machine": machine(),
        "dataset": str(Path(args.dataset_path).resolve()),
        "study": args.study,
        "alpha": args.alpha,
        "weights": args.weights,
        "epochs": args.epochs,
        "patience": args.patience,
        "harness_args": args.harness_args,
        "work_dir": str(work),
    }
    sides = args.sides.split(",")
    if args.before:  # the earlier code's harness side first, for the profile before and after
        report["harness_before"] = run_harness(args, work / "before", args.before)
        report["harness_before"]["commit"] = _commit(args.before)
    if "harness" in sides:
        report["harness"] = run_harness(args, work)
    if "plain" in sides:
        report["plain"] = run_plain(args, work)
    if "harness" in sides and "plain" in sides:
        report["speedup"] = report["plain"]["seconds"] / report["harness"]["seconds"]
    write_report(report, Path(args.out), print_table)


def _commit(checkout: Path) -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True)
    return done.stdout.strip()


def _test(run: dict) -> str:
    return f"{run['test_accuracy']:.3f}" if run.get("test_accuracy") is not None else "-"


def print_table(report: dict) -> None:
    print(
        f"\n{report['machine']['cpus']} CPUs, {report['dataset']}, MobileNet {report['alpha']:g}, "
        f"{report['epochs']} epochs (patience {report['patience']}), one seed"
    )
    plain = {(r["experiment"], str(r["value"])): r for r in report.get("plain", {}).get("runs", [])}
    ours = {(r["experiment"], str(r["value"])): r for r in report.get("harness", {}).get("runs", [])}
    print(f"{'experiment=value':<36} {'plain test':>10} {'harness test':>13}  harness run")
    for key in sorted(set(plain) | set(ours)):
        p, h = plain.get(key, {}), ours.get(key, {})
        how = "copied" if h.get("copied") else f"{h.get('feature_cache')}, {h.get('compiled')}" if h else ""
        print(f"{'='.join(key):<36} {_test(p):>10} {_test(h):>13}  {how}")
    for side in ("plain", "harness_before", "harness"):
        if side in report:
            print(f"{side}: {report[side]['seconds']:.1f} s for {len(report[side]['runs'])} runs")
    for side in ("harness_before", "harness"):
        if side in report:
            p = report[side]["profile"]
            print(f"{side} profile ({p['trained_runs']} trained runs, worker-seconds): {p['seconds']}")
    if "speedup" in report:
        print(f"speedup: {report['speedup']:.2f}x")


if __name__ == "__main__":
    main()
