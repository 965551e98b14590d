"""tuner=optuna on a real PostgreSQL server: two workers started with the same command share one study in it.

    python benchmarks/postgres_check.py [--out benchmarks/results/postgres_check.json]

Needs Debian's postgresql package (initdb, pg_ctl; run as root, the server runs as the `postgres` user) and a
PostgreSQL driver for SQLAlchemy in the environment (`pip install psycopg2-binary`). Starts a throwaway server on
loopback at a free port in a temporary folder, creates a database, then checks:

1. Two `python -m harness ... tuner=optuna tuner.storage=postgresql+psycopg2://...` processes started together
   both exit 0, the study in PostgreSQL holds every trial once, each trial has exactly one run folder with a
   completed record, both processes ran trials, and no claim is left.
2. The same command again (the study complete) runs no trial and leaves every record as it was.
3. A URL naming a database that does not exist is refused in one line, exit 2, with nothing written.

Stops the server and removes its folder at the end. Prints each check and writes JSON (--out).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from shared_mount_check import check, leftovers, records, written

ROOT = Path(__file__).resolve().parent.parent
TRIALS = 4
SEARCH = [
    "experiment=quickstart",
    "model=scratch",
    "model.depth=2",
    "model.filters=8",
    "data.image_size=32",
    "train.epochs=2",
    "train.steps_per_epoch=4",
    "train.verbose=0",
    "tuner=optuna",
    f"tuner.max_trials={TRIALS}",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(*command: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *command], capture_output=True, text=True, **kwargs)


def server(folder: Path, port: int) -> str:
    """initdb + pg_ctl start on loopback; returns the server's version line."""
    folder.mkdir(parents=True)
    shutil.chown(folder, "postgres", "postgres")
    made = as_postgres("initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "postgres")
    if made.returncode:
        sys.exit(f"initdb failed: {made.stderr[-2000:]}")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder}"
    started = as_postgres("pg_ctl", "-D", str(folder / "data"), "-o", options, "-l", str(folder / "log"), "-w", "start")
    if started.returncode:
        sys.exit(f"pg_ctl start failed: {started.stderr[-2000:]}")
    created = as_postgres("createdb", "-h", "127.0.0.1", "-p", str(port), "harness")
    if created.returncode:
        sys.exit(f"createdb failed: {created.stderr[-2000:]}")
    return as_postgres("postgres", "--version").stdout.strip()


def harness(*args: str) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "HYDRA_FULL_ERROR": "0"}
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "postgres_check.json"))
    args = parser.parse_args()
    if not (shutil.which("initdb") or Path("/usr/lib/postgresql").is_dir()):
        sys.exit("needs Debian's postgresql package (initdb, pg_ctl)")
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    os.environ["PATH"] = os.pathsep.join([*(str(b) for b in bins), os.environ["PATH"]])
    import optuna

    work = Path(tempfile.mkdtemp(prefix="postgres_check_"))
    os.chmod(work, 0o755)
    port = free_port()
    from sweep_speed import machine

    out = {
        "command": "python benchmarks/postgres_check.py --out benchmarks/results/postgres_check.json",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "checks": [],
    }
    started = time.perf_counter()
    try:
        out["postgres"] = server(work / "pg", port)
        url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/harness"
        results = work / "results"
        command = [*SEARCH, f"results_dir={results}", f"tuner.storage={url}"]
        workers = [harness(*command) for _ in range(2)]
        done = [w.communicate(timeout=900) for w in workers]
        codes = [w.returncode for w in workers]
        check(out, "both workers exit 0", codes == [0, 0], f"{codes}; {done[0][1][-300:]} {done[1][1][-300:]}")
        exp = next(p for p in results.iterdir() if p.is_dir() and not p.name.startswith("_"))
        study = optuna.load_study(study_name=exp.name, storage=url)
        numbers = sorted(t.number for t in study.trials)
        found = records(exp)
        folders = sorted(p for p in found if p.startswith("trial="))
        check(
            out,
            "every trial of the study in PostgreSQL once, each with one run folder",
            folders == [f"trial={n:03d}" for n in numbers] and TRIALS <= len(numbers) <= TRIALS + 1,
            f"study trials {numbers}, folders {folders}",
        )
        states = {str(t.state) for t in study.trials}
        check(
            out,
            "every trial completed, its record completed",
            states == {"TrialState.COMPLETE"} and all(found[f]["status"] == "completed" for f in folders),
            f"{states}",
        )
        pids = {found[f]["host"]["pid"] for f in folders}
        check(out, "both workers ran trials", len(pids) == 2, f"pids {sorted(pids)}")
        check(out, "no claim or lock left", not leftovers(results), ", ".join(leftovers(results)))
        before = {f: found[f]["finished_at"] for f in folders}
        again = harness(*command)
        again.communicate(timeout=900)
        after = {f: r["finished_at"] for f, r in records(exp).items() if f.startswith("trial=")}
        check(out, "the same command again runs nothing", again.returncode == 0 and after == before, "")
        missing = [*SEARCH, f"results_dir={work / 'refused'}", f"tuner.storage={url.rsplit('/', 1)[0]}/nothing"]
        refused = harness(*missing)
        _, stderr = refused.communicate(timeout=300)
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        check(
            out,
            "a database that does not exist: one line, exit 2, nothing written",
            refused.returncode == 2 and len(lines) == 1 and not (work / "refused").exists(),
            lines[-1][:200] if lines else "",
        )
    finally:
        as_postgres("pg_ctl", "-D", str(work / "pg" / "data"), "-m", "fast", "stop")
        shutil.rmtree(work, ignore_errors=True)
    out["seconds"] = time.perf_counter() - started
    return written(out, Path(args.out))


if __name__ == "__main__":
    sys.exit(main())
