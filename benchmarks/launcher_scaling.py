"""Wall time of one sweep on 1 and 2 Ray workers, beside the isolated launcher with as many workers.

For each worker count W: a local Ray started with W CPUs (`ray start --head --block --num-cpus=W`, stopped
afterwards), the sweep run through `hydra/launcher=harness_ray` on it with a fresh worker process per run (`max_calls: 1`)
and with the preset's worker processes that run up to 8 runs each (`max_calls: 8`), then the same sweep with the
default `isolated` launcher and `hydra.launcher.n_jobs=W`; each from an empty cache and results folder, as a
whole `python -m harness` process. Prints a table and writes JSON.

    python benchmarks/launcher_scaling.py                       # quickstart learning-rate sweep, 4 runs
    python benchmarks/launcher_scaling.py --workers 1,2 -- dataset=folder dataset.path=DIR sweep=learning_rate
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).parent / "ray")
ENV = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32), "TF_CPP_MIN_LOG_LEVEL": "2"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(address: str) -> bool:
    probe = f"import ray; ray.init(address={address!r}); print(len(ray.nodes()))"
    return subprocess.run([sys.executable, "-c", probe], env=ENV, capture_output=True, timeout=60).returncode == 0


def _records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in results.rglob("record.json")]


def timed_sweep(work: Path, label: str, sweep: list[str], launcher: list[str]) -> dict:
    results, cache = work / label / "results", work / label / "cache"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "harness", *sweep, *launcher, f"results_dir={results}", f"cache_dir={cache}"],
        env=ENV,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{label} failed:\n{done.stderr[-3000:]}")
    records = _records(results)
    return {
        "label": label,
        "wall_s": round(wall, 1),
        "runs": len(records),
        "run_s_sum": round(sum(r["total_seconds"] for r in records), 1),
        "best_val_accuracy": sorted(round(r["best_val_accuracy"], 4) for r in records),
    }


def on_ray(work: Path, workers: int, sweep: list[str], max_calls: int) -> dict:
    port, temp = _port(), tempfile.mkdtemp(prefix="ray", dir="/tmp")
    head = subprocess.Popen(
        [
            RAY,
            "start",
            "--head",
            "--block",
            f"--port={port}",
            f"--num-cpus={workers}",
            "--node-ip-address=127.0.0.1",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        address = f"127.0.0.1:{port}"
        deadline = time.time() + 120
        while not _ready(address):
            if time.time() > deadline:
                raise SystemExit("the local Ray never came up")
            time.sleep(1)
        return timed_sweep(
            work,
            f"ray_{workers}_max_calls_{max_calls}",
            sweep,
            [
                "hydra/launcher=harness_ray",
                f"hydra.launcher.ray.init.address={address}",
                f"hydra.launcher.ray.remote.max_calls={max_calls}",
            ],
        )
    finally:
        head.terminate()
        head.wait(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=lambda s: [int(w) for w in s.split(",")], default=[1, 2])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "launcher_scaling.json")
    parser.add_argument(
        "sweep",
        nargs="*",
        default=["experiment=quickstart", "sweep=learning_rate", "train.verbose=0"],
        help="the sweep's overrides (after --)",
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            for max_calls, launcher in ((1, "ray, a process per run"), (8, "ray, a process per 8 runs (preset)")):
                rows.append(
                    {**on_ray(Path(tmp), workers, args.sweep, max_calls), "launcher": launcher, "workers": workers}
                )
                print(json.dumps(rows[-1]), flush=True)
            isolated = timed_sweep(Path(tmp), f"isolated_{workers}", args.sweep, [f"hydra.launcher.n_jobs={workers}"])
            rows.append({**isolated, "launcher": "isolated", "workers": workers})
            print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"sweep": args.sweep, "cpus": os.cpu_count(), "rows": rows}, indent=2))
    first = {r["launcher"]: r["wall_s"] for r in rows if r["workers"] == args.workers[0]}
    print(
        "\n| launcher | workers | wall | vs its first | runs' own time, summed | best val accuracy |\n|---|---|---|---|---|---|"
    )
    for r in rows:
        print(
            f"| {r['launcher']} | {r['workers']} | {r['wall_s']} s | {first[r['launcher']] / r['wall_s']:.2f}x | "
            f"{r['run_s_sum']} s | {r['best_val_accuracy']} |"
        )


if __name__ == "__main__":
    main()
