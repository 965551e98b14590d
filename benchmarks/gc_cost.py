"""What Python's garbage collector costs a run, with and without TensorFlow's import frozen out of it.

    python benchmarks/gc_cost.py --dataset-path ../shared/datasets/flowers12 \
        --weights ../shared/weights/mobilenet_2_5_128_tf_no_top.h5 --alpha 0.25    # about 4 min on 2 cores

Each side is a fresh process that runs the same runs one after another through `harness.training.run.run`, as a
sweep's worker does (one intra-op thread, as with `hydra.launcher.threads_per_worker=1`): the chapter5
baseline on cached features, then the optimizer, learning rate and unfreeze values below. `frozen` is the
harness as it is (`harness.process.quiet.import_tensorflow` freezes what the import allocated: `harness.process.heap`);
`unfrozen` calls `gc.unfreeze()` right after that import. Prints each run's time inside collections (from
`gc.callbacks`), its wall time and whether its loss history equals the other side's; writes JSON (--out).
The first process also builds the feature cache, which the timed runs then share (its own run is not timed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = ("train.optimizer=sgd", "train.learning_rate=0.01", "train.optimizer=rmsprop", "model.unfreeze=0.66")


def child(args: argparse.Namespace) -> None:
    import gc

    from harness.process.quiet import import_tensorflow

    import_tensorflow()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    if args.side == "unfrozen":
        gc.unfreeze()
    from harness.command import compose_cli
    from harness.training.run import run

    spent, started = [0.0], [0.0]

    def timed(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - started[0]

    gc.callbacks.append(timed)
    base = [
        "dataset=folder",
        f"dataset.path={Path(args.dataset_path).resolve()}",
        f"model.alpha={args.alpha}",
        f"model.weights={Path(args.weights).resolve() if args.weights else 'null'}",
        "train.epochs=20",
        "train.patience=10",
        "dataset.test_fraction=0.2",
        "train.verbose=0",
        f"cache_dir={args.work / 'cache'}",
    ]
    out = []
    for i, override in enumerate(RUNS if not args.warm else RUNS[:1]):
        cfg = compose_cli([*base, override, f"results_dir={args.work / args.side}", f"run_name=r{i}"]).configs[0]
        spent[0], t = 0.0, time.perf_counter()
        record = run(cfg)
        out.append(
            {
                "run": override,
                "gc_seconds": spent[0],
                "wall_seconds": time.perf_counter() - t,
                "compiled": record.cache.get("compiled"),
                "loss": record.history["loss"],
            }
        )
    print(json.dumps(out))


def _side(args: argparse.Namespace, side: str, warm: bool = False) -> list[dict]:
    cmd = (
        [
            sys.executable,
            __file__,
            "--child",
            side,
            "--dataset-path",
            args.dataset_path,
            "--alpha",
            str(args.alpha),
            "--work",
            str(args.work),
        ]
        + (["--weights", args.weights] if args.weights else [])
        + (["--warm"] if warm else [])
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"{side} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset-path", required=True)
    parser.add_argument("--weights")
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gc_cost"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gc_cost.json"))
    parser.add_argument("--child", choices=["frozen", "unfrozen"], dest="side")
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        return child(args)
    _side(args, "frozen", warm=True)  # builds the feature cache
    sides = {side: _side(args, side) for side in ("unfrozen", "frozen")}
    for a, b in zip(sides["unfrozen"], sides["frozen"]):
        print(
            f"{a['run']:<28} gc {a['gc_seconds']:.2f} s unfrozen, {b['gc_seconds']:.2f} s frozen; wall {a['wall_seconds']:.1f} "
            f"vs {b['wall_seconds']:.1f} s; same losses: {a['loss'] == b['loss']}"
        )
    total = {side: sum(r["gc_seconds"] for r in runs) for side, runs in sides.items()}
    print(f"in collections: {total['unfrozen']:.2f} s unfrozen, {total['frozen']:.2f} s frozen over {len(RUNS)} runs")
    Path(args.out).write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count()},
                "dataset": args.dataset_path,
                "alpha": args.alpha,
                "weights": args.weights,
                "runs": sides,
                "total_gc_seconds": total,
            },
            indent=1,
        )
    )
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
