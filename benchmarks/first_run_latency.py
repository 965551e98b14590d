"""How long a study (or sweep) takes to start its first run: the fixed cost before any training.

    python benchmarks/first_run_latency.py --repeats 2 -- study=chapter5 dataset=folder \
        dataset.path=../shared/datasets/flowers12 model.alpha=0.25 model.weights=null

Starts `python -m harness <overrides>` in a new temporary folder (its own results and cache), reads its log
as it is written, and stops it with Ctrl-C once the first run has started. Prints, per repeat, the seconds
from the start of the command to the launcher's "Launching" line and to the first run's start line; writes
JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from sweep_speed import machine  # noqa: E402

LAUNCHING = re.compile(r"\[HYDRA\] Launching \d+ jobs")
FIRST_RUN = re.compile(r"\[harness\.run\]\[INFO\] - run .*: ")


def once(overrides: list[str], timeout: float) -> dict:
    work = Path(tempfile.mkdtemp(prefix="first_run_"))
    cmd = [
        sys.executable,
        "-m",
        "harness",
        *overrides,
        f"results_dir={work / 'results'}",
        f"cache_dir={work / 'cache'}",
    ]
    started = time.perf_counter()
    seen: dict[str, float] = {}
    with subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            now = time.perf_counter() - started
            if "launching" not in seen and LAUNCHING.search(line):
                seen["launching"] = now
            if FIRST_RUN.search(line):
                seen["first_run"] = now
                break
            if now > timeout:
                break
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"launching_s": seen.get("launching"), "first_run_s": seen.get("first_run"), "work_dir": str(work)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "first_run_latency.json"))
    parser.add_argument("overrides", nargs="+", help="the harness command's overrides (after --)")
    args = parser.parse_args(argv)
    rows = [once(args.overrides, args.timeout) for _ in range(args.repeats)]
    report = {"machine": machine(), "overrides": args.overrides, "rows": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    for row in rows:
        print(f"launching after {row['launching_s']:.1f} s, first run started after {row['first_run_s']:.1f} s")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
