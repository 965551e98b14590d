"""Where a folder's first read goes: the scan's decoding (with, where the code does it, the images fitted for the
image cache), writing cache entries, and the search for copies, under cProfile, from a fresh cache.

    python benchmarks/scan_profile.py --folder /tmp/scale/folder_100000 --before <checkout> --out ...

Each code runs in its own process (`--before`: a git worktree of an earlier commit, first), so both are timed the
same way; cProfile adds its own cost to the Python side, so the stages are for comparing, the totals not for quoting
against un-profiled runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = {  # a stage: the functions whose cumulative time it is
    "decoding": ("_probe_chunk",),
    "entry_writes": ("<built-in method posix.pwrite>",),
    "copy_search": ("near_pairs",),
    "all": ("load_splits",),
}


def profiled(folder: str, cache: str) -> dict:
    """In this process: load_splits of the folder under cProfile, seconds per stage."""
    import cProfile
    import pstats

    import keras  # noqa: F401  (a training process has it; its import is not the scan's cost)

    from harness.command import compose_cli
    from harness.training.run import load_data

    cfg = compose_cli(["dataset=folder", f"dataset.path={folder}", f"cache_dir={cache}", "model.alpha=0.25"]).configs[0]
    profile = cProfile.Profile()
    profile.runcall(load_data, cfg)
    found = {name: ct for (_, _, name), (_, _, _, ct, _) in pstats.Stats(profile).stats.items()}
    return {stage: round(max(found.get(f, 0.0) for f in names), 1) for stage, names in STAGES.items()}


def measure(folder: Path, checkout: Path) -> dict:
    cache = tempfile.mkdtemp(prefix="scan-profile-")
    try:
        code = f"import json, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import scan_profile; "
        code += f"print(json.dumps(scan_profile.profiled({str(folder)!r}, {cache!r})))"
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(checkout)}
        done = subprocess.run([sys.executable, "-c", code], cwd=checkout, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--before", type=Path, help="a checkout of earlier code, profiled first")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sweep_speed import stamp

    report: dict = {**stamp("scan_profile"), "folder": str(args.folder), "rows": []}
    for checkout in [c for c in (args.before, ROOT) if c is not None]:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True)
        row = {"code": commit.stdout.strip(), **{f"{k}_s": v for k, v in measure(args.folder, checkout).items()}}
        report["rows"].append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
