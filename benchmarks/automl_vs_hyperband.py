"""AutoKeras against the harness's Hyperband search at an equal time budget, and against the baseline.

    python benchmarks/automl_vs_hyperband.py --dataset-path ../shared/datasets/flowers12 \
        --weights ../shared/weights/mobilenet_2_5_128_tf_no_top.h5 --out benchmarks/results/automl_vs_hyperband.json

Three commands on the same folder, each a `python -m harness` process with its own empty cache, one after
the other: the baseline (one run of the defaults), `tuner=hyperband` (its search space, `--hyperband-args`),
and `tuner=autokeras` with `tuner.max_seconds` set to the Hyperband command's wall time (AutoKeras's own search
space: the head, optimizer, learning rate and the backbone's unfreeze fraction). For each: wall time, trials,
and the test accuracy of the run the search chose by val accuracy (for AutoKeras also its exported model's,
saved and loaded back). One search each with one seed: differences of a few points are within noise.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))


def harness(work: Path, name: str, overrides: list[str]) -> tuple[float, Path]:
    results = work / name
    command = [sys.executable, "-m", "harness", f"results_dir={results}", *overrides]
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "HARNESS_CACHE_DIR": str(work / f"cache_{name}")}
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    return wall, next(p for p in results.iterdir() if p.is_dir() and not p.name.startswith("_"))


def chosen(exp: Path) -> dict:
    """The completed run with the best val accuracy, and how many runs there were."""
    found = [json.loads(p.read_text()) for p in exp.glob("*/record.json")]
    done = [r for r in found if r.get("status") == "completed" and r.get("best_val_accuracy") is not None]
    best = max(done, key=lambda r: r["best_val_accuracy"])
    return {
        "runs": len(found),
        "completed": len(done),
        "chosen": best["run_name"],
        "best_val_accuracy": best["best_val_accuracy"],
        "test_accuracy": best["test_accuracy"],
        "hyperparameters": (best.get("sweep") or {}).get("hyperparameters"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset-path", type=Path, required=True)
    parser.add_argument("--weights", type=Path, required=True, help="a no-top ImageNet weights file")
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument("--hyperband-args", nargs="*", default=["tuner.max_epochs=9", "tuner.factor=3"])
    parser.add_argument("--autokeras-trials", type=int, default=50, help="its trial budget (the time budget binds)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from sweep_speed import stamp

    data = [
        "dataset=folder",
        f"dataset.path={args.dataset_path.resolve()}",
        "dataset.test_fraction=0.2",
        f"model.alpha={args.alpha}",
        f"model.weights={args.weights.resolve()}",
    ]
    sides = {}
    with tempfile.TemporaryDirectory(prefix="automl-") as tmp:
        work = Path(tmp)
        wall, exp = harness(work, "baseline", data)
        sides["baseline"] = {"wall_seconds": round(wall, 1), **chosen(exp)}
        wall, exp = harness(work, "hyperband", [*data, "tuner=hyperband", *args.hyperband_args])
        sides["hyperband"] = {"wall_seconds": round(wall, 1), "args": args.hyperband_args, **chosen(exp)}
        budget = round(wall)
        ak_args = [f"tuner.max_trials={args.autokeras_trials}", f"tuner.max_seconds={budget}"]
        wall, exp = harness(work, "autokeras", [*data, "tuner=autokeras", *ak_args])
        summary = json.loads((exp / "autokeras.json").read_text())
        sides["autokeras"] = {
            "wall_seconds": round(wall, 1),
            "args": ak_args,
            **chosen(exp),
            "exported": summary.get("exported"),
            "budget": summary.get("budget"),
        }
    report = {**stamp("automl_vs_hyperband"), "dataset": args.dataset_path.name, "sides": sides}
    for name, side in sides.items():
        line = (
            f"{name:10} {side['wall_seconds']:7.1f} s, {side['runs']} run(s), chosen {side['chosen']}: "
            f"val {side['best_val_accuracy']:.4f}, test {side['test_accuracy']:.4f}"
        )
        if side.get("exported"):
            e = side["exported"]
            line += f"; exported {e['accuracy_exported']:.4f}, reloaded {e['accuracy_reloaded']:.4f}"
        print(line)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str))
        print(f"written: {args.out}")


if __name__ == "__main__":
    main()
