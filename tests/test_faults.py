"""Faults as users meet them, on the real command line: Ctrl-C, SIGTERM, two sweeps into one folder, a
results folder that cannot be written. Nothing finished is lost, nothing runs twice, nothing unfinished
looks complete, and no process is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import FAST, experiment_dir, records, run_cli, single_run_dir, start_cli, sweep_line

# Runs long enough (about 5 s of training each) to be caught in the middle.
SLOW_RUN = [*FAST, "train.epochs=2", "train.steps_per_epoch=30"]
# A sweep's later runs reuse the first's model and traced step (about 0.05 s an epoch here): 40 epochs keep the
# second run going for the seconds a test needs to stop it in the middle.
SWEEP = ["experiment=quickstart", "sweep=learning_rate", "sweep.values=[0.01,0.001]", *SLOW_RUN, "train.epochs=40"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _start(*args: str) -> subprocess.Popen:
    return start_cli(*args, env=ENV, new_session=True)


def _wait_for_status(run_dir: Path, status: str, timeout: float = 240) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            record = json.loads((run_dir / "record.json").read_text())
            if record["status"] == status:
                return record
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    pytest.fail(f"{run_dir.name} never reached {status}")


def _gone(pid: int, timeout: float = 20) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
            stat = Path(f"/proc/{pid}/stat")
            if stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_ctrl_c_stops_a_sweep_with_130_keeps_what_finished_reports_it_and_a_rerun_resumes(results_dir):
    three = [a if not a.startswith("sweep.values=") else "sweep.values=[0.01,0.001,0.0001]" for a in SWEEP]
    args = [*three, f"results_dir={results_dir}"]  # stopped during the second run: the third never starts
    exp = experiment_dir(*args)
    proc = _start(*args)
    try:
        worker = _wait_for_status(exp / "learning_rate=0.001", "running")["host"]["pid"]
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err[-3000:]
    assert (
        err.strip().splitlines()[-1] == "stopped by SIGINT: 1 of 3 runs completed; run the same command again to resume"
    )
    assert "Traceback" not in err and _gone(worker)
    stopped = records(exp)
    assert (
        stopped["learning_rate=0.01"]["status"] == "completed"
        and stopped["learning_rate=0.001"]["status"] == "interrupted"
    )
    # the worker heard of the Ctrl-C from its parent, and its record says what the user did
    assert stopped["learning_rate=0.001"]["error"] == "stopped by SIGINT"
    assert sweep_line(out).endswith("3 runs, 1 completed, 1 did not complete (interrupted: 1), 1 not started")
    assert "have no record yet" in (exp / "summary.md").read_text() and not list(exp.glob("*/.claim"))

    again = run_cli(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    final = records(exp)
    assert {r["status"] for r in final.values()} == {"completed"}
    assert final["learning_rate=0.01"]["finished_at"] == stopped["learning_rate=0.01"]["finished_at"]  # not redone


@pytest.mark.slow
def test_sigterm_stops_a_single_run_with_143_and_marks_it_interrupted(results_dir):
    args = ["experiment=quickstart", f"results_dir={results_dir}", *SLOW_RUN, "train.epochs=20"]
    run_dir = single_run_dir(*args)
    proc = _start(*args)
    try:
        _wait_for_status(run_dir, "running")
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("stopped by SIGTERM: run ") and "is interrupted" in err
    record = json.loads((run_dir / "record.json").read_text())
    assert record["status"] == "interrupted" and record["error"] == "stopped by SIGTERM"
    assert not (run_dir / ".claim").exists()


@pytest.mark.slow
def test_two_sweeps_started_together_train_every_run_once_and_both_report_all(results_dir):
    args = [*SWEEP, "train.epochs=1", f"results_dir={results_dir}"]
    exp = experiment_dir(*args)
    first, second = _start(*args), _start(*args)
    outputs = [p.communicate(timeout=400) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs[0][1][-2000:] + outputs[1][1][-2000:]
    logs = "".join(out + err for out, err in outputs)
    assert logs.count("completed: best val accuracy") == 2  # each run trained by one of the two
    assert "left to it" in logs
    for out, _ in outputs:
        assert sweep_line(out).endswith("2 runs, all completed")
    for run in ("learning_rate=0.01", "learning_rate=0.001"):
        assert len(list((exp / run / "tb" / "train").glob("events.out.tfevents.*"))) == 1  # no mixed event files
    assert not list(exp.glob("*/.claim"))


@pytest.mark.slow
def test_a_results_folder_that_cannot_be_written_is_one_line_exit_2_before_any_training(tmp_path):
    for results in ("/proc/harness-results", str(tmp_path / "a-file" / "results")):
        (tmp_path / "a-file").write_text("")
        done = run_cli("experiment=quickstart", f"results_dir={results}", timeout=60)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert (
            done.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"results error: results_dir={results}")
        ), done.stderr


def _interrupted_search(args: list[str], trial_dir: Path) -> tuple[subprocess.Popen, str, int]:
    """A search started, Ctrl-C (SIGINT to its process group) a second after the given trial starts training:
    (the process, its stderr, the trial's pid)."""
    proc = _start(*args)
    try:
        trial = _wait_for_status(trial_dir, "running")["host"]["pid"]
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc, err, trial


@pytest.mark.slow
@pytest.mark.parametrize(
    "tuner, stopped, trials",
    [
        ("random", "trial=002", ["trial=001", "trial=002"]),  # Keras Tuner: one process per trial, numbered from 1
        ("optuna", "trial=001", ["trial=000", "trial=001"]),  # Optuna: retried in the interrupted trial's folder
    ],
)
def test_ctrl_c_stops_a_search_with_130_and_a_rerun_runs_the_interrupted_trial_again(
    results_dir, tuner, stopped, trials
):
    args = ["experiment=quickstart", f"tuner={tuner}", "tuner.max_trials=2", f"results_dir={results_dir}", *SLOW_RUN]
    exp = experiment_dir(*args)
    proc, err, trial = _interrupted_search(args, exp / stopped)
    assert proc.returncode == 130 and "Traceback" not in err, err[-3000:]
    if tuner == "random":
        assert err.strip().splitlines()[-1].startswith(f"stopped by SIGINT: search {exp.name} has 2 trial(s)")
    assert records(exp, "trial=*")[stopped]["status"] == "interrupted" and _gone(trial)
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    found = records(exp, "trial=*")
    assert sorted(found) == trials and {r["status"] for r in found.values()} == {"completed"}
