"""A sweep and a study as SLURM jobs through Hydra's submitit launcher, on a real (one-node) SLURM cluster.

    bash benchmarks/slurm_one_node.sh          # as root on Debian: slurmctld, slurmd, slurmdbd (sacct); or any cluster
    python benchmarks/slurm_check.py [--partition P] [-- extra harness overrides]

`hydra/launcher=submitit_slurm` submits every run as a task of one job array (sbatch), which SLURM schedules;
submitit polls `sacct` until each task is done. Checked here:

1. A quickstart learning-rate sweep: every run completed once, each in its own SLURM job (the record keeps
   `host.slurm_job_id`, sacct says COMPLETED), the image cache built by one and hit by the other, the summary
   written, no claim or lock left.
2. A two-experiment mini study: the shared baseline trained once and copied once, the report written.
3. `scancel` of a job whose run is training: SLURM sends SIGTERM, then SIGKILL after KillWait; the run records
   itself `interrupted` before that, the job returns, the command reports the sweep and exits 1 without a
   traceback; the same command again trains only that run, with one set of TensorBoard events.
4. The time limit: `--signal=USR2@signal_delay_s` warns the job before it; the run records itself interrupted,
   naming the time limit.
5. Keras Tuner's distributed mode as one job (`examples/slurm_search.sbatch`, 2 tasks on 2 CPUs): task 0 serves
   the oracle, the other runs the trials; every trial once, recorded, the chief's report written.

Prints each check and writes JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shared_mount_check import check, leftovers, records

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.reports.tables import load_table  # noqa: E402

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
QUICK = ["experiment=quickstart", "data.image_size=32", "train.batch_size=8", "train.verbose=0"]
MINI = """\
# @package _global_
study:
  name: mini
  seeds: 1
  experiments:
    learning_rate: {knob: train.learning_rate, values: [0.1, 0.001]}
    optimizer: {knob: train.optimizer, values: [adam]}
dataset:
  test_fraction: 0.2
hydra:
  mode: MULTIRUN
"""


def slurm_args(partition: str | None, timeout_min: int = 10) -> list[str]:
    args = [
        "hydra/launcher=submitit_slurm",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=3",
        f"hydra.launcher.timeout_min={timeout_min}",
    ]
    return args + ([f"hydra.launcher.partition={partition}"] if partition else [])


def sweep_args(work: Path) -> list[str]:
    return [
        *QUICK,
        "sweep=learning_rate",
        "sweep.values=[0.01,0.001]",
        "train.epochs=2",
        "train.steps_per_epoch=40",
        f"results_dir={work / 'sweep'}",
        f"cache_dir={work / 'cache'}",
    ]


def cancelled_args(work: Path) -> list[str]:
    """Two runs of about a minute each: long enough to cancel one while it trains."""
    return [
        *QUICK,
        "sweep=learning_rate",
        "sweep.values=[0.01,0.001]",
        "train.epochs=15",
        "train.steps_per_epoch=40",
        "train.patience=null",
        f"results_dir={work / 'cancelled'}",
        f"cache_dir={work / 'cache'}",
    ]


def time_limit_args(work: Path) -> list[str]:
    return [
        *QUICK,
        "sweep=learning_rate",
        "sweep.values=[0.01]",
        "train.epochs=500",
        "train.patience=null",
        f"results_dir={work / 'time_limit'}",
        f"cache_dir={work / 'cache'}",
    ]


TASKS = 2  # the chief and one worker: 2 CPUs on this one node (a task more and SLURM waits for a second node)


def search_args(work: Path) -> list[str]:
    """A 4-trial random search over a tiny scratch CNN's learning rate and head width."""
    return [
        "experiment=quickstart",
        "model=scratch",
        "model.depth=2",
        "model.filters=8",
        "train.epochs=2",
        "train.steps_per_epoch=10",
        "train.verbose=0",
        "tuner=random",
        "tuner.max_trials=4",
        "~tuner.space",
        "+tuner.space={train:{learning_rate:{type:float,min:0.001,max:0.1,sampling:log}},"
        "model:{head:{units:{type:choice,values:[16,32]}}}}",
        f"results_dir={work / 'search'}",
        f"cache_dir={work / 'cache'}",
    ]


def harness(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=1800
    )


def sacct_states(job_ids: list[str]) -> dict[str, str]:
    done = subprocess.run(
        ["sacct", "-n", "-X", "--parsable2", "-o", "JobID,State", "-j", ",".join(job_ids)],
        capture_output=True,
        text=True,
    )
    return dict(line.split("|")[:2] for line in done.stdout.splitlines() if "|" in line)


def phase_sweep(work: Path, slurm: list[str], extra: list[str], out: dict) -> None:
    started = time.perf_counter()
    done = harness([*sweep_args(work), *slurm, *extra], work)
    found = records(work / "sweep")
    jobs = sorted(r["host"].get("slurm_job_id", "") for r in found.values())
    images = sorted(r["cache"]["images"]["train"] for r in found.values())
    out["sweep"] = {"seconds": time.perf_counter() - started, "exit": done.returncode, "slurm_jobs": jobs}
    check(
        out,
        "the sweep exits 0 and writes its summary",
        done.returncode == 0 and "summary: " in done.stdout,
        f"exit {done.returncode}" + ("" if done.returncode == 0 else ": " + done.stderr[-1500:]),
    )
    check(
        out, "2 runs, each completed once", len(found) == 2 and {r["status"] for r in found.values()} == {"completed"}
    )
    states = sacct_states([j for j in jobs if j])
    check(
        out,
        "each run in its own SLURM job, COMPLETED in sacct",
        all(jobs) and len(set(jobs)) == 2 and set(states.values()) == {"COMPLETED"},
        str(states),
    )
    check(out, "the image cache built once, hit by the other", images == ["built", "hit"], str(images))
    check(out, "no claim or lock left", not leftovers(work / "sweep"), str(leftovers(work / "sweep")))
    check(out, "load_table reads the sweep", len(load_table(work / "sweep")) == 2)


def phase_study(work: Path, slurm: list[str], extra: list[str], out: dict) -> None:
    (work / "conf" / "study").mkdir(parents=True)
    (work / "conf" / "study" / "mini.yaml").write_text(MINI)
    results = work / "study"
    started = time.perf_counter()
    done = harness(
        [
            "--config-dir",
            str(work / "conf"),
            *QUICK,
            "train.epochs=2",
            "train.steps_per_epoch=20",
            "study=mini",
            *slurm,
            *extra,
            f"results_dir={results}",
            f"cache_dir={work / 'cache'}",
        ],
        work,
    )
    found = records(results)
    copied = [r for r in found.values() if r.get("copied_from")]
    report = next(results.glob("*/report.md"), None)
    out["study"] = {"seconds": time.perf_counter() - started, "exit": done.returncode}
    check(
        out,
        "the study exits 0, 3 runs completed",
        done.returncode == 0 and len(found) == 3 and {r["status"] for r in found.values()} == {"completed"},
        f"exit {done.returncode}",
    )
    check(out, "the shared baseline trained once, copied once", len(copied) == 1)
    check(
        out,
        "the study report written",
        report is not None and "## Which knobs matter on this data" in report.read_text(),
    )


def _wait_for_running(results: Path, deadline: float) -> dict | None:
    while time.time() < deadline:
        running = [r for r in records(results).values() if r["status"] == "running" and r["host"].get("slurm_job_id")]
        if running:
            return running[0]
        time.sleep(0.5)
    return None


def phase_cancelled(work: Path, slurm: list[str], extra: list[str], out: dict) -> None:
    results, args = work / "cancelled", [*cancelled_args(work), *slurm, *extra]
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=work,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    victim = _wait_for_running(results, time.time() + 600)
    if victim is None:
        proc.kill()
        check(out, "a run started in a SLURM job", False)
        return
    cancelled_at = time.time()
    subprocess.run(["scancel", victim["host"]["slurm_job_id"]], check=True)
    recorded = None
    while time.time() - cancelled_at < 120 and recorded is None:
        now = records(results)[victim["run_name"]]
        recorded = time.time() - cancelled_at if now["status"] != "running" else None
        time.sleep(0.5)
    log, _ = proc.communicate(timeout=1200)
    after = records(results)
    stopped = after[victim["run_name"]]
    other = next(r for name, r in after.items() if name != victim["run_name"])
    check(
        out,
        "scancel: the run records itself interrupted before SIGKILL",
        stopped["status"] == "interrupted" and stopped["error"] == "stopped by SIGTERM",
        f"{stopped['status']} after {recorded or float('nan'):.1f} s",
    )
    check(out, "the other run completes", other["status"] == "completed")
    check(
        out,
        "the command reports the sweep and exits 1, no traceback",
        proc.returncode == 1 and "1 completed, 1 did not complete (interrupted: 1)" in log and "Traceback" not in log,
        f"exit {proc.returncode}",
    )
    check(out, "no claim or lock left", not leftovers(results), str(leftovers(results)))
    again = harness(args, work)
    final = records(results)
    run_dir = results / victim["name"] / victim["run_name"]
    events = sorted(p.name for p in (run_dir / "tb" / "train").glob("events.out.tfevents.*"))
    check(
        out,
        "the same command again trains only the cancelled run",
        again.returncode == 0
        and {r["status"] for r in final.values()} == {"completed"}
        and final[other["run_name"]]["host"] == other["host"]
        and final[victim["run_name"]]["host"]["slurm_job_id"] != victim["host"]["slurm_job_id"],
        f"exit {again.returncode}",
    )
    check(out, "one set of TensorBoard events in the rerun run", len(events) == 1, str(events))
    out["cancelled"] = {
        "seconds_to_record": recorded,
        "first_exit": proc.returncode,
        "second_exit": again.returncode,
        "states": sacct_states([victim["host"]["slurm_job_id"]]),
    }


def phase_time_limit(work: Path, partition: str | None, extra: list[str], out: dict) -> None:
    results = work / "time_limit"
    started = time.perf_counter()
    done = harness(
        [*time_limit_args(work), *slurm_args(partition, timeout_min=1), "hydra.launcher.signal_delay_s=25", *extra],
        work,
    )
    found = list(records(results).values())
    out["time_limit"] = {
        "seconds": time.perf_counter() - started,
        "exit": done.returncode,
        "error": found[0].get("error") if found else None,
    }
    check(
        out,
        "the time limit's warning: the run records itself interrupted, naming the limit",
        len(found) == 1 and found[0]["status"] == "interrupted" and "time limit" in (found[0].get("error") or ""),
        str(out["time_limit"]["error"]),
    )
    check(
        out,
        "... and the command exits 1, no traceback",
        done.returncode == 1 and "Traceback" not in done.stdout + done.stderr,
    )


def phase_search(work: Path, partition: str | None, extra: list[str], out: dict) -> None:
    script = ROOT / "examples" / "slurm_search.sbatch"
    where = [f"--partition={partition}"] if partition else []
    started = time.perf_counter()
    done = subprocess.run(
        [
            "sbatch",
            "--wait",
            f"--ntasks={TASKS}",
            "--cpus-per-task=1",
            "--mem-per-cpu=3G",
            *where,
            f"--output={work / 'search-%j.log'}",
            str(script),
            *search_args(work),
            *extra,
        ],
        cwd=work,
        env={**ENV, "PYTHON": sys.executable, "KERASTUNER_ORACLE_PORT": "8765"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = "".join(p.read_text() for p in work.glob("search-*.log"))
    found = [r for p in (work / "search").glob("*/trial=*/record.json") for r in [json.loads(p.read_text())]]
    by_task = sorted(r["host"]["pid"] for r in found)
    out["search"] = {"seconds": time.perf_counter() - started, "exit": done.returncode, "trials": len(found)}
    check(out, "the search job exits 0", done.returncode == 0, done.stdout.strip() + done.stderr[-1500:])
    check(
        out,
        "4 trials, each completed once, by the worker tasks",
        len(found) == 4
        and {r["status"] for r in found} == {"completed"}
        and len(set(by_task)) == TASKS - 1
        and log.count("completed: best val accuracy") == 4,
        f"trial processes {by_task}",
    )
    check(out, "the chief's report written", any((work / "search").glob("*/experiment/best.yaml")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partition", help="the SLURM partition (default: the cluster's default)")
    parser.add_argument("--work-dir", help="a folder every node sees (default: a new temporary folder here)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "slurm_check.json"))
    parser.add_argument(
        "--only",
        nargs="+",
        choices=("sweep", "study", "cancelled", "time_limit", "search"),
        help="these checks only (default: all)",
    )
    parser.add_argument("extra", nargs="*", help="more harness overrides, after --")
    args = parser.parse_args()
    if not all(shutil.which(tool) for tool in ("sbatch", "sacct", "scancel", "sinfo")):
        sys.exit(
            "needs a SLURM cluster's client commands (sbatch, sacct, scancel, sinfo): benchmarks/slurm_one_node.sh"
        )
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="slurm_check_")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    version = subprocess.run(["sinfo", "--version"], capture_output=True, text=True).stdout.strip()
    nodes = subprocess.run(["sinfo", "-h", "-o", "%N %c %m"], capture_output=True, text=True).stdout.strip()
    out = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "slurm": version,
        "nodes": nodes,
        "work_dir": str(work),
        "checks": [],
    }
    slurm = slurm_args(args.partition)
    started = time.perf_counter()
    phases = {
        "sweep": lambda: phase_sweep(work, slurm, args.extra, out),
        "study": lambda: phase_study(work, slurm, args.extra, out),
        "cancelled": lambda: phase_cancelled(work, slurm, args.extra, out),
        "time_limit": lambda: phase_time_limit(work, args.partition, args.extra, out),
        "search": lambda: phase_search(work, args.partition, args.extra, out),
    }
    for name in args.only or phases:
        phases[name]()
    out["seconds"] = time.perf_counter() - started
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    failed = [c["check"] for c in out["checks"] if not c["ok"]]
    print(
        f"{len(out['checks']) - len(failed)} of {len(out['checks'])} checks passed in {out['seconds']:.0f} s; "
        f"JSON in {args.out}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
