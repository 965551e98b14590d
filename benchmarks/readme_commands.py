"""The README's five commands, run as a new user runs them, each timed: the figures the README shows.

    python benchmarks/readme_commands.py --out benchmarks/results/readme_commands.json
    python benchmarks/readme_commands.py --reuse benchmarks/results/readme_commands.json --out ...  # only what changed

Each command runs as `python -m harness ...` in a fresh process, one after the other, in one empty folder (so the
analysis command finds the run that the first one trained), offline, on the bundled digits and weights. Prints
each command's wall time, the line that carries its result and the best val accuracy of each run it recorded;
writes them as JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_speed import stamp  # noqa: E402

COMMANDS = [  # as the README shows them, in its order
    "experiment=quickstart",
    "experiment=quickstart sweep=transfer_vs_scratch",
    "experiment=quickstart study=chapter5",
    "experiment=quickstart tuner=random tuner.max_trials=3",
    "experiment=quickstart overwrite=true analysis=true",
]
# The line of each command's output that says what it found.
RESULT = re.compile(r"^(run .*best val accuracy.*|study .*|sweep .*runs.*|search .*|best .*|analysis.*)$")


def _records(work: Path) -> dict[Path, dict]:
    return {p: json.loads(p.read_text()) for p in work.rglob("record.json")}


def run(args: str, work: Path) -> dict:
    before = {p: r.get("finished_at") for p, r in _records(work).items()}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "harness", *args.split()],
        cwd=work,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    lines = proc.stdout.splitlines()
    said = [line for line in lines if not line.startswith("[")]  # what the user reads, not the log
    printed = [line for line in said if RESULT.match(line)] or said[-2:] or proc.stderr.splitlines()[-2:]
    trained = [r for p, r in _records(work).items() if before.get(p, "?") != r.get("finished_at")]
    accuracies = sorted(round(r["best_val_accuracy"], 4) for r in trained if r.get("best_val_accuracy") is not None)
    return {
        "command": f"harness {args}",
        "exit": proc.returncode,
        "wall_seconds": round(wall, 1),
        "runs_recorded": len(trained),
        "best_val_accuracies": " ".join(map(str, accuracies))
        if len(accuracies) <= 4
        else f"{accuracies[0]}–{accuracies[-1]}",
        "printed": " / ".join(printed[-3:]),
        "reused": False,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--reuse", type=Path, help="an earlier report (same machine): its rows for the same commands")
    args = parser.parse_args()
    earlier = {r["command"]: r for r in json.loads(args.reuse.read_text())["rows"]} if args.reuse else {}
    report = {**stamp("readme_commands"), "rows": []}
    with tempfile.TemporaryDirectory(prefix="readme-commands-") as work:
        for command in COMMANDS:
            reused = earlier.get(f"harness {command}")
            report["rows"].append({**reused, "reused": True} if reused else run(command, Path(work)))
            row = report["rows"][-1]
            print(f"{row['wall_seconds']:>7.1f} s  exit {row['exit']}  {row['command']}\n          {row['printed']}")
            if args.out:
                args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
