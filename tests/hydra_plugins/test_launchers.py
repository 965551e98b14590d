"""Hydra's Ray and submitit launchers run the harness's sweeps and studies: every run once, every record in
one results folder, the study's report written, the image cache built by one run and hit by the others."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from harness.reports.tables import load_table
from tests.helpers import NEEDS_RAY, NEEDS_SLURM, ROOT, TEST_CONF

# Every layer trained (no frozen prefix to cache features of): each run reads the image cache the first one built.
QUICK = ["experiment=quickstart", "model.unfreeze=1.0", "train.epochs=1", "train.steps_per_epoch=2", "train.verbose=0"]
SWEEP = [*QUICK, "sweep=learning_rate", "sweep.values=[0.01,0.001]"]
RAY = str(Path(sys.executable).parent / "ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive_nodes(address: str, env: dict) -> int:
    probe = f"import ray; ray.init(address={address!r}); print(sum(n['Alive'] for n in ray.nodes()))"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    return int(done.stdout.split()[-1]) if done.returncode == 0 and done.stdout.split() else 0


def _wait_for_nodes(address: str, env: dict, count: int, deadline: float) -> None:
    while _alive_nodes(address, env) < count:
        assert time.time() < deadline, f"the Ray cluster at {address} never had {count} node(s)"
        time.sleep(1)


@pytest.fixture
def ray_cluster(tmp_path):
    """A head node and a worker node on loopback, one CPU each (so the two runs at a time land one on each),
    as `ray start --block` processes: terminating them stops every process of the cluster."""
    # Token auth, as the README tells users to run a cluster: every node and driver gets the mode and the token
    # (Ray >= 2.59 turns it on for a head that finds ~/.ray/auth_token and then refuses nodes that do not say so).
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_DEDUP_LOGS": "0",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's socket paths must stay under 107 characters
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    logs = (tmp_path / "ray_head.log").open("w"), (tmp_path / "ray_worker.log").open("w")
    nodes = [
        subprocess.Popen(
            [RAY, "start", "--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}", *common],
            env=env,
            cwd=temp,
            stdout=logs[0],
            stderr=subprocess.STDOUT,
        )
    ]
    try:
        deadline = time.time() + 120
        _wait_for_nodes(address, env, 1, deadline)
        nodes.append(
            subprocess.Popen(
                [RAY, "start", f"--address={address}", *common],
                env=env,
                cwd=temp,
                stdout=logs[1],
                stderr=subprocess.STDOUT,
            )
        )
        _wait_for_nodes(address, env, 2, deadline)
        yield address, env
    finally:
        for node in reversed(nodes):
            node.terminate()
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait()
        for log in logs:
            log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _harness(args: list[str], env: dict, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _records(folder: Path) -> dict[str, dict]:
    return {str(p.parent.relative_to(folder)): json.loads(p.read_text()) for p in folder.rglob("record.json")}


def _assert_each_run_once_and_cache_built_once(results: Path, expected_runs: int, trained: int) -> dict[str, dict]:
    records = _records(results)
    assert len(records) == expected_runs and {r["status"] for r in records.values()} == {"completed"}
    own = [r for r in records.values() if not r.get("copied_from")]
    assert len(own) == trained, sorted(records)
    assert len({r["host"]["pid"] for r in own}) == trained, "each trained run in its own process"
    assert sorted(r["cache"]["images"]["train"] for r in own) == ["built"] + ["hit"] * (trained - 1)
    assert not list(results.rglob("*.building")) and not list(results.rglob(".claim")), "no lock or claim left behind"
    table = load_table(results)
    assert len(table) == expected_runs
    return records


def _study(tmp_path: Path, launcher: list[str], env: dict) -> None:
    results = tmp_path / "study_results"
    done = _harness(
        [
            "--config-dir",
            str(TEST_CONF),
            *QUICK,
            # The shared mini study, one seed, its two experiments sharing their baseline run: 3 jobs, 2 trained.
            "study=mini",
            "study.seeds=1",
            "study.experiments.transfer_vs_scratch.values=[transfer]",
            "study.findings=[]",
            *launcher,
            f"results_dir={results}",
            f"cache_dir={tmp_path / 'study_cache'}",
        ],
        env,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    records = _assert_each_run_once_and_cache_built_once(results, expected_runs=3, trained=2)
    copied = [(name, r["copied_from"]) for name, r in records.items() if r.get("copied_from")]
    assert len(copied) == 1, "the shared baseline is trained once"
    assert {copied[0][0].split("/")[-2], copied[0][1].split("/")[-2]} == {"learning_rate", "transfer_vs_scratch"}
    study = next(p.parent for p in results.glob("*/study.json"))
    assert "## Which knobs matter on this data" in (study / "report.md").read_text()


@pytest.mark.slow
@NEEDS_RAY
def test_a_sweep_and_a_study_run_on_a_ray_cluster(tmp_path, ray_cluster):
    address, env = ray_cluster
    ray = ["hydra/launcher=harness_ray", f"hydra.launcher.ray.init.address={address}"]
    results = tmp_path / "results"
    # Relative paths mean the command's working directory, not the one the nodes were started in
    done = _harness([*SWEEP, *ray, "results_dir=results", "cache_dir=cache"], env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    _assert_each_run_once_and_cache_built_once(results, expected_runs=2, trained=2)
    log = done.stdout + done.stderr
    # Ray forwards each run's log to this driver (twice here, where both nodes' log monitors read one folder)
    assert all(f"/learning_rate={v} completed: best val accuracy" in log for v in ("0.01", "0.001"))
    assert "Connected to Ray cluster" in log
    assert "summary: " in done.stdout

    _study(tmp_path, ray, env)
    _a_killed_run_is_retried_once(tmp_path, ray, env)
    _ctrl_c_cancels_the_runs_on_the_cluster(tmp_path, ray, env)
    assert _alive_nodes(address, env) == 2, "the cluster outlives the commands it served"


def _start_and_wait_for_a_running_run(results: Path, args: list[str], env: dict) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline:
        running = [r for r in _records(results).values() if r["status"] == "running"]
        if running:
            return proc, running[0]
        time.sleep(0.5)
    proc.kill()
    raise AssertionError("no run started")


def _ctrl_c_cancels_the_runs_on_the_cluster(tmp_path: Path, launcher: list[str], env: dict) -> None:
    """Ctrl-C on the command: the runs on the cluster are cancelled; each running one stops after its current
    steps and records itself interrupted before the command exits; their processes end, none completes, no claim
    is left, and the command says how to resume."""
    results = tmp_path / "stopped"
    args = [
        *QUICK,
        "train.epochs=20",
        "train.steps_per_epoch=40",
        "sweep=learning_rate",
        "sweep.values=[0.01,0.001,0.0001]",
        *launcher,
        f"results_dir={results}",
        f"cache_dir={tmp_path / 'stopped_cache'}",
    ]
    proc, record = _start_and_wait_for_a_running_run(results, args, env)
    started = time.time()
    proc.send_signal(2)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130 and time.time() - started < 60, out[-3000:]
    assert "stopped by SIGINT: 0 of 3 runs completed; run the same command again to resume" in out
    records = _records(results).values()
    assert {r["status"] for r in records} == {"interrupted"}, [(r["run_name"], r["status"]) for r in records]
    assert record["run_name"] in {r["run_name"] for r in records}
    assert not list(results.rglob(".claim")), "a cancelled run's claim is released, not left to go stale"
    deadline = time.time() + 30
    while any(_alive(r["host"]["pid"]) for r in records) and time.time() < deadline:
        time.sleep(0.5)
    assert not any(_alive(r["host"]["pid"]) for r in records), "no run's process is left behind"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _a_killed_run_is_retried_once(tmp_path: Path, launcher: list[str], env: dict) -> None:
    """SIGKILL to the process training a run: Ray retries the task, the retry takes over the dead process's
    claim and trains the run; the other run is not disturbed."""
    results = tmp_path / "killed"
    args = [
        *QUICK,
        "train.epochs=2",
        "train.steps_per_epoch=20",
        "sweep=learning_rate",
        "sweep.values=[0.01,0.001]",
        *launcher,
        f"results_dir={results}",
        f"cache_dir={tmp_path / 'killed_cache'}",
    ]
    proc, record = _start_and_wait_for_a_running_run(results, args, env)
    os.kill(record["host"]["pid"], 9)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    records = _records(results)
    assert {r["status"] for r in records.values()} == {"completed"} and len(records) == 2
    retried = next(r for r in records.values() if r["run_name"] == record["run_name"])
    assert retried["host"]["pid"] != record["host"]["pid"] and "will be retried" in out


@pytest.mark.slow
@NEEDS_SLURM
def test_a_sweep_and_a_study_run_as_submitit_jobs(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    submitit = ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"]
    results = tmp_path / "results"
    done = _harness([*SWEEP, *submitit, f"results_dir={results}", f"cache_dir={tmp_path / 'cache'}"], env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    _assert_each_run_once_and_cache_built_once(results, expected_runs=2, trained=2)
    assert "summary: " in done.stdout

    _study(tmp_path, submitit, env)


@pytest.mark.slow
@NEEDS_SLURM
def test_a_submitit_job_stopped_by_sigterm_records_its_run_interrupted(tmp_path):
    """SIGTERM is how SLURM's scancel, preemption and time limit stop a job (SIGKILL follows after the cluster's
    KillWait): the run stops at its next stop point and records itself interrupted, the job returns, and the
    command reports the sweep and exits 1, with no traceback and no claim left. (Checked on a real one-node
    SLURM cluster by benchmarks/slurm_check.py.)"""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    results = tmp_path / "results"
    args = [
        *QUICK,
        "train.epochs=100",
        "train.steps_per_epoch=20",
        "train.patience=null",
        "sweep=learning_rate",
        "sweep.values=[0.01]",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10",
        f"results_dir={results}",
        f"cache_dir={tmp_path / 'cache'}",
    ]
    proc, record = _start_and_wait_for_a_running_run(results, args, env)
    stopped_at = time.time()
    os.kill(record["host"]["pid"], 15)
    out, _ = proc.communicate(timeout=300)
    stopped = next(iter(_records(results).values()))
    assert stopped["status"] == "interrupted" and stopped["error"] == "stopped by SIGTERM", out[-3000:]
    assert time.time() - stopped_at < 60, "within a cluster's KillWait of a few tens of seconds"
    assert proc.returncode == 1 and "1 did not complete (interrupted: 1)" in out and "Traceback" not in out, out[-3000:]
    assert not list(results.rglob(".claim"))


def _launcher(*overrides: str):
    from hydra import compose, initialize_config_dir

    from harness.config.schema import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=["experiment=quickstart", *overrides], return_hydra_config=True).hydra


@NEEDS_RAY
def test_the_ray_preset_joins_a_running_cluster_and_replaces_worker_processes():
    hydra_cfg = _launcher("hydra/launcher=harness_ray", "hydra.launcher.ray.init.address=auto")
    launcher = hydra_cfg.launcher
    assert launcher._target_ == "hydra_plugins.harness_ray_launcher.harness_ray_launcher.HarnessRayLauncher"
    assert launcher.ray.init.address == "auto" and "object_store_memory" not in launcher.ray.init  # hydra#2893
    assert launcher.ray.remote.max_calls == 8 and launcher.ray.remote.num_cpus == 1


def test_a_launcher_whose_plugin_is_not_installed_is_one_line_naming_the_extra(monkeypatch):
    from harness import command

    assert command.launcher_missing("harness_ray") is None and command.launcher_missing("isolated") is None
    monkeypatch.setitem(command.LAUNCHER_PLUGINS, "harness_ray", ("ray_absent", "ray"))
    assert str(command.launcher_missing("harness_ray")) == (
        "config error: hydra/launcher='harness_ray' is not allowed: its plugin is not installed (pip install \"tl-harness[ray]\")"
    )


class _Cluster:
    """Ray's cancel and wait as the stop path sees them: a task ends when a cancel of the kinds it heeds arrives."""

    def __init__(self, heeds: dict[str, set[bool]]):
        self.heeds, self.ended, self.cancels = heeds, set(), []

    def cancel(self, ref: str, force: bool = False) -> None:
        self.cancels.append((ref, force))
        if force in self.heeds[ref]:
            self.ended.add(ref)

    def wait(self, refs: list[str], num_returns: int, timeout: float):
        return [r for r in refs if r in self.ended], [r for r in refs if r not in self.ended]


def test_a_stop_cancels_forces_what_ignores_it_and_never_waits_on_a_task_that_will_not_end(monkeypatch):
    from hydra_plugins.harness_ray_launcher import _core as ray_tasks

    cluster = _Cluster({"queued": {False, True}, "lost": {True}, "stuck": set()})
    monkeypatch.setitem(sys.modules, "ray", cluster)
    assert ray_tasks._cancel(["queued", "lost", "stuck"]) == ["stuck"]
    assert cluster.cancels == [("queued", False), ("lost", False), ("stuck", False), ("lost", True), ("stuck", True)]


def test_a_ray_task_turns_repeated_sigints_into_one_stop_and_gives_the_workers_handlers_back(monkeypatch):
    """Ray cancels a running task by raising SIGINT in it; any further SIGINT (the driver cancelling again)
    must not end the process (as a user's second Ctrl-C would) before the run has recorded itself interrupted."""
    import signal

    from harness.process import stopping

    monkeypatch.setattr(stopping, "_state", {"requested": signal.SIGTERM, "busy": 0, "worker": False})
    before = {s: signal.getsignal(s) for s in stopping.SIGNALS}
    with stopping.in_task():
        assert stopping.requested() is None, "no request carried over from the worker's last job"
        with stopping.training():
            for _ in range(3):
                signal.raise_signal(signal.SIGINT)
            assert stopping.requested() == signal.SIGINT
    assert {s: signal.getsignal(s) for s in stopping.SIGNALS} == before
    assert stopping.requested() is None
