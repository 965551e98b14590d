"""Keras Tuner's random and Bayesian searches against Optuna's TPE at an equal budget of trials, each search
repeated with 3 seeds, and what Optuna's median pruner saves.

    python benchmarks/search_compare.py --dataset-path ../shared/datasets/flowers12 \
        --weights ../shared/weights/mobilenet_2_5_128_tf_no_top.h5 --out benchmarks/results/search_compare.json

Every search is one `python -m harness ... tuner=...` process with its own results folder (a shared cache, so the
folder scan and the image cache are built once for all): MobileNet alpha 0.25 with the weights file, its backbone
frozen (model.unfreeze=0: every trial trains the head on cached features), 96 px, 20 % of train carved once for
test, `--trials` trials of a head-and-optimizer space (learning rate, optimizer, units, dropout). `train.seed`
seeds the search (Keras Tuner's oracle, Optuna's sampler) and every trial's model. Per search: the best val
accuracy found, the test accuracy of that trial (test chose nothing), and the wall time. Printed and written:
each algorithm's mean and spread over its seeds, and the paired difference to random search with its 95 %
interval; for the pruner, the wall time saved at the best val accuracy it reached.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SPACE = (
    "+tuner.space={train:{learning_rate:{type:float,min:0.0001,max:0.1,sampling:log},"
    "optimizer:{type:choice,values:[adam,sgd,rmsprop]}},"
    "model:{head:{units:{type:choice,values:[32,64,128,256]},dropout:{type:float,min:0.0,max:0.5,step:0.1}}}}"
)
SEARCHES = {
    "random (Keras Tuner)": ["tuner=random"],
    "bayesian (Keras Tuner)": ["tuner=bayesian", "tuner.num_initial_points=3"],
    "tpe (Optuna)": ["tuner=optuna", "tuner.sampler=tpe"],
    "tpe + median pruner (Optuna)": ["tuner=optuna", "tuner.sampler=tpe", "tuner.pruner=median"],
}


def one_search(work: Path, label: str, seed: int, args: argparse.Namespace) -> dict:
    from harness.records.record import Status
    from harness.reports.tables import load_table

    results = work / "results" / f"{label.split()[0]}{'_pruned' if 'pruner' in label else ''}_{seed}"
    command = [
        sys.executable,
        "-m",
        "harness",
        "dataset=folder",
        f"dataset.path={args.dataset_path.resolve()}",
        "dataset.test_fraction=0.2",
        "model.alpha=0.25",
        f"model.weights={args.weights.resolve()}",
        "model.unfreeze=0",
        "data.image_size=96",
        f"train.epochs={args.epochs}",
        "train.verbose=0",
        f"train.seed={seed}",
        *SEARCHES[label],
        f"tuner.max_trials={args.trials}",
        "~tuner.space",
        SPACE,
        f"results_dir={results}",
    ]
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "HARNESS_CACHE_DIR": str(work / "cache")}
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{label} seed {seed} failed:\n{done.stderr[-3000:]}")
    table = load_table(results)
    trials = table[table["sweep"] == "tuner"]
    completed = trials[trials["status"] == Status.COMPLETED]
    best = completed.loc[completed["best_val_accuracy"].idxmax()]
    found = {
        "search": label,
        "seed": seed,
        "trials": len(trials),
        "pruned": int((trials["status"] == "pruned").sum()),
        "best_val_accuracy": float(best["best_val_accuracy"]),
        "its_test_accuracy": float(best["test_accuracy"]),
        "best_run": str(best["run"]),
        "wall_seconds": round(wall, 1),
        "epochs": int(trials["epochs_run"].sum()),
    }
    print(found, flush=True)
    return found


def main() -> None:
    from sweep_speed import machine

    from harness.reports.compare import paired

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset-path", type=Path, required=True)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="search-compare-") as tmp:
        for seed in range(args.seeds):
            for label in SEARCHES:  # seed by seed, so a slow minute of the machine falls on every search
                runs.append(one_search(Path(tmp), label, seed, args))
    by = {label: [r for r in runs if r["search"] == label] for label in SEARCHES}
    summary = {}
    for label, mine in by.items():
        summary[label] = {
            m: paired([r[m] for r in mine]).__dict__ for m in ("best_val_accuracy", "its_test_accuracy", "wall_seconds")
        }
        if label != "random (Keras Tuner)":
            base = by["random (Keras Tuner)"]
            summary[label]["test_minus_random"] = paired(
                [a["its_test_accuracy"] - b["its_test_accuracy"] for a, b in zip(mine, base)]
            ).__dict__
            summary[label]["val_minus_random"] = paired(
                [a["best_val_accuracy"] - b["best_val_accuracy"] for a, b in zip(mine, base)]
            ).__dict__
    tpe, pruned = by["tpe (Optuna)"], by["tpe + median pruner (Optuna)"]
    summary["pruning"] = {
        "wall_ratio": paired([p["wall_seconds"] / t["wall_seconds"] for p, t in zip(pruned, tpe)]).__dict__,
        "epochs_ratio": paired([p["epochs"] / t["epochs"] for p, t in zip(pruned, tpe)]).__dict__,
        "val_difference": paired(
            [p["best_val_accuracy"] - t["best_val_accuracy"] for p, t in zip(pruned, tpe)]
        ).__dict__,
    }
    result = {
        "command": "python benchmarks/search_compare.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "trials": args.trials,
        "epochs": args.epochs,
        "runs": runs,
        "summary": summary,
    }
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written: {args.out}")


if __name__ == "__main__":
    main()
