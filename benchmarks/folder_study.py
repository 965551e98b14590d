"""A study written as YAML, run on a folder as a user would (one `python -m harness` process, its own cache),
and its findings read back: what the study benchmarks (samples_per_class.py, augment_study.py) share."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path


def run_study(work: Path, name: str, yaml: str, results: Path, overrides: list[str], reuse: bool = False):
    """Write conf/study/<name>.yaml under `work`, run the study into `results` (HARNESS_CACHE_DIR under `work`).
    Returns (its folder, wall seconds or None when `reuse` found it done, the command with `work` as <work>)."""
    conf = work / "conf" / "study"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / f"{name}.yaml").write_text(yaml)
    command = [
        sys.executable,
        "-m",
        "harness",
        "--config-dir",
        str(work / "conf"),
        f"study={name}",
        f"results_dir={results}",
        *overrides,
    ]
    wall = None
    if reuse and results.is_dir():
        print(f"reusing the study in {results} (its runs as they finished; no wall time)")
    else:
        started = time.perf_counter()
        done = subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, "HARNESS_CACHE_DIR": str(work / "cache")}
        )
        wall = round(time.perf_counter() - started, 1)
        if done.returncode != 0:
            raise SystemExit(f"study {name} failed:\n{done.stderr[-3000:]}")
    shown = " ".join(command[1:]).replace(str(work), "<work>")
    return next(p for p in results.iterdir() if p.is_dir() and not p.name.startswith("_")), wall, shown


def findings(tables: dict) -> list[dict]:
    """The study's findings as JSON rows: claim, paired difference with its interval, pairs, verdict, as shown."""
    return [
        {
            "claim": f.claim,
            "difference": f.difference,
            "low": f.low,
            "high": f.high,
            "pairs": int(f.pairs),
            "verdict": f.verdict,
            "shown": f.shown,
        }
        for f in tables["findings"].itertuples()
    ]


def add_study_options(parser: argparse.ArgumentParser) -> None:
    """The options every folder study benchmark takes."""
    parser.add_argument("--dataset-path", type=Path, required=True)
    parser.add_argument("--weights", type=Path, required=True, help="a no-top ImageNet weights file")
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--harness-args", nargs="*", default=[], help="more overrides for the study")
    parser.add_argument("--out", type=Path)
