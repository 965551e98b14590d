"""Two identical sweeps started at once into one results folder: how much CPU do they use together, against one
sweep alone? Each run is trained once either way; what the second sweep adds is its own fixed cost.

    python benchmarks/concurrent_sweeps.py --before <checkout> --out benchmarks/results/concurrent_sweeps.json

The sweep is `python -m harness experiment=quickstart sweep=learning_rate` (scikit-learn's digits, MobileNet 0.25,
4 runs, 2 workers) on a cache a first, unmeasured sweep built, each measured case into a fresh results folder. CPU
is user + system time of every process the commands started, workers included: this process is their subreaper,
so a worker that outlives its sweep's process is reaped and counted here too. Each repetition runs one sweep
alone, two at once, and the same sweep again on their finished folder; with `--before` the code at that checkout
(a git worktree of an earlier commit) takes its turn in every repetition, each code on its own cache.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ["experiment=quickstart", "sweep=learning_rate", "train.verbose=0"]
PR_SET_CHILD_SUBREAPER = 36


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _reap() -> None:
    """Wait for every descendant left (workers that outlived their sweep), so their CPU is counted."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def sweeps(count: int, results: Path, cache: Path, checkout: Path, fresh: bool = True) -> dict:
    """`count` identical sweeps started together (into a fresh results folder unless not `fresh`): wall seconds,
    CPU seconds of all their processes, and whether every run was recorded once."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "HARNESS_CACHE_DIR": str(cache), "PYTHONPATH": str(checkout)}
    if fresh:
        shutil.rmtree(results, ignore_errors=True)
    cpu, started = _cpu(), time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "harness", *SWEEP, f"results_dir={results}"],
            cwd=checkout,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(count)
    ]
    outputs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - started
    _reap()
    if any(p.returncode for p in procs):
        raise SystemExit("a sweep failed:\n" + "\n".join(o[-2000:] for o in outputs))
    recorded = [json.loads(p.read_text()) for p in results.rglob("record.json")]
    return {
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(_cpu() - cpu, 2),
        "runs": len(recorded),
        "completed": sum(r["status"] == "completed" for r in recorded),
        "trained_by_processes": len({r["host"]["pid"] for r in recorded}),
    }


def measure(checkouts: dict[str, Path], work: Path, repeats: int) -> dict[str, dict]:
    """Each code's cases, the codes taking turns within every repetition (a machine that drifts over minutes moves
    them alike)."""
    cases = {name: {"alone": [], "two_at_once": [], "again": []} for name in checkouts}
    for name, checkout in checkouts.items():  # each code builds its own caches first; not measured
        shutil.rmtree(work / name / "cache", ignore_errors=True)
        sweeps(1, work / name / "warm", work / name / "cache", checkout)
    for i in range(repeats):
        for name, checkout in checkouts.items():
            where, cache = work / name, work / name / "cache"
            cases[name]["alone"].append(sweeps(1, where / f"alone_{i}", cache, checkout))
            cases[name]["two_at_once"].append(sweeps(2, where / f"two_{i}", cache, checkout))
            # the same command on the finished folder: every run skipped, what a sweep costs that trains nothing
            cases[name]["again"].append(sweeps(1, where / f"two_{i}", cache, checkout, fresh=False))
    out = {}
    for name, found in cases.items():
        median = {case: float(np.median([c["cpu_seconds"] for c in runs])) for case, runs in found.items()}
        out[name] = {
            "commit": _commit(checkouts[name]),
            **found,
            "cpu_ratio": round(median["two_at_once"] / median["alone"], 3),
            "cpu_alone_median": median["alone"],
            "cpu_two_median": median["two_at_once"],
            "cpu_again_median": median["again"],
        }
    return out


def _commit(checkout: Path) -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", type=Path, help="a checkout of earlier code, measured the same way")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sweep_speed import stamp

    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    work = args.work or Path(tempfile.mkdtemp(prefix="concurrent-sweeps-"))
    report: dict = {**stamp("concurrent_sweeps"), "sweep": " ".join(SWEEP), "repeats": args.repeats}
    checkouts = {"before": args.before, "after": ROOT} if args.before else {"after": ROOT}
    report.update(measure(checkouts, work, args.repeats))
    for name in checkouts:
        r = report[name]
        print(
            f"{name} ({r['commit']}): one sweep {r['cpu_alone_median']:.1f} CPU s, two at once {r['cpu_two_median']:.1f} "
            f"CPU s: x{r['cpu_ratio']:.2f}; the same sweep again, every run done: {r['cpu_again_median']:.1f} CPU s",
            flush=True,
        )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
