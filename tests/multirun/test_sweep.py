"""One-knob sweeps: shipped configs expand to their values, run names, real sweeps, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.command import compose_cli
from harness.config.schema import CONF_DIR
from harness.config.validate import validate
from harness.reports.tables import load_table
from tests.helpers import FAST, ROOT, experiment_dir, records, run_cli, sweep_line

DOCUMENTED = {
    "unfreeze": ("model.unfreeze", [0.0, 0.25, 0.5, 0.75, 1.0]),
    "learning_rate": ("train.learning_rate", [0.1, 0.01, 0.001, 0.0001]),
    "optimizer": ("train.optimizer", ["adadelta", "adagrad", "adam", "sgd", "momentum", "rmsprop"]),
    "batch_size": ("train.batch_size", [8, 16, 32, 64, 128]),
    "image_size": ("data.image_size", [96, 128, 160, 224]),
    "aspect_ratio": ("data.aspect_ratio", [0.5, 0.75, 1.0, 1.33, 2.0]),
    "resize_mode": ("data.resize_mode", ["squash", "pad", "crop"]),
    "samples_per_class": ("data.samples_per_class", [1, 2, 3, 5, 10, 20, 50, None]),
    "transfer_vs_scratch": ("model.pretrained", [True, False]),
    "unfrozen_bn": ("model.unfrozen_bn", ["batch", "inference"]),
    "scratch_depth": ("model.depth", [1, 2, 3, 4, 5]),
    "backbone": ("model.backbone", ["mobilenet", "mobilenet_v2", "resnet50", "efficientnet_b0", "densenet121"]),
    "augmentation": ("data.augment", ["none", "flip", "basic", "randaugment", "trivialaugment", "autoaugment"]),
    "mix": ("data.mix", ["none", "mixup", "cutmix"]),
}


def jobs_of(*arguments: str) -> list:
    """The composed config of every job `python -m harness <arguments>` launches, composed by the CLI's own code."""
    command = compose_cli(list(arguments))
    assert command.multirun
    return command.configs


def test_every_shipped_sweep_is_documented_here():
    assert sorted(p.stem for p in (CONF_DIR / "sweep").glob("*.yaml")) == sorted(DOCUMENTED)


@pytest.mark.parametrize("sweep", sorted(DOCUMENTED))
def test_shipped_sweep_expands_to_its_documented_values(sweep):
    key, values = DOCUMENTED[sweep]
    # random weights: every backbone of sweep=backbone takes width 0.25 (ImageNet weights exist at fixed widths)
    jobs = jobs_of("experiment=quickstart", f"sweep={sweep}", "model.weights=null")
    assert [j[key.split(".")[0]][key.split(".")[1]] for j in jobs] == values
    assert len({j.run_name for j in jobs}) == len(values) and len({j.name for j in jobs}) == 1
    assert all(j.run_name.startswith(f"{sweep}=") for j in jobs)
    for job in jobs:
        validate(job)


def test_values_are_overridable_in_one_short_form():
    jobs = jobs_of("experiment=quickstart", "sweep=learning_rate", "sweep.values=[0.05,0.005]")
    assert [j.train.learning_rate for j in jobs] == [0.05, 0.005]
    assert [j.run_name for j in jobs] == ["learning_rate=0.05", "learning_rate=0.005"]


def test_any_key_can_be_swept_with_sweep_knob():
    jobs = jobs_of(
        "experiment=quickstart", "sweep.knob=model.head.dropout", "sweep.values=[0.1,0.3,0.5]", "hydra.mode=MULTIRUN"
    )
    assert [j.model.head.dropout for j in jobs] == [0.1, 0.3, 0.5]
    assert jobs[0].run_name == "head.dropout=0.1"  # the section left out, as in a single run's name


def test_plain_hydra_multirun_syntax_works_too():
    jobs = jobs_of("-m", "experiment=quickstart", "train.optimizer=sgd,adam")
    assert [j.train.optimizer for j in jobs] == ["sgd", "adam"] and jobs[0].sweep.knob == "train.optimizer"


def test_seeds_repeat_every_value():
    jobs = jobs_of("experiment=quickstart", "sweep=learning_rate", "sweep.seeds=2")
    assert len(jobs) == 8 and {j.train.seed for j in jobs} == {42, 43}
    assert "learning_rate=0.1,seed=43" in {j.run_name for j in jobs}


def test_transfer_vs_scratch_keeps_one_experiment_name():
    jobs = jobs_of("experiment=quickstart", "sweep=transfer_vs_scratch")
    assert {j.name for j in jobs} == {"quickstart_transfer_vs_scratch_digits_mobilenet"}
    assert [j.run_name for j in jobs] == ["transfer_vs_scratch=transfer", "transfer_vs_scratch=random_init"]


@pytest.mark.slow
def test_a_bad_value_in_a_sweep_is_rejected_before_anything_runs(tmp_path):
    done = run_cli(
        "experiment=quickstart", "sweep=unfreeze", "sweep.values=[0.5,1.5]", f"results_dir={tmp_path}", timeout=60
    )
    assert done.returncode == 2 and "model.unfreeze=1.5" in done.stderr.strip() and not any(tmp_path.iterdir())


@pytest.mark.slow
def test_quickstart_learning_rate_sweep_end_to_end_and_resume(results_dir):
    args = [
        "experiment=quickstart",
        "sweep=learning_rate",
        "sweep.values=[0.01,0.001]",
        f"results_dir={results_dir}",
        *FAST,
    ]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 job(s) ran in 1 worker process(es)" in done.stdout + done.stderr
    exp = experiment_dir(*args)
    assert exp.name.startswith("quickstart_learning_rate_digits_mobilenet-") and "," not in exp.name
    assert sweep_line(done.stdout) == f"sweep {exp.name}: 2 runs, all completed"
    assert "run 1/2 learning_rate=0.01 seed=42" in done.stdout + done.stderr and "ETA" in done.stdout + done.stderr
    assert (
        f"plot: {exp / 'normalized_accuracy.png'}" in done.stdout
        and f"tensorboard --logdir {results_dir}" in done.stdout
    )
    first = records(exp)
    assert sorted(first) == ["learning_rate=0.001", "learning_rate=0.01"]
    assert all(r["status"] == "completed" and r["sweep"]["knob"] == "train.learning_rate" for r in first.values())
    for name in ("summary.csv", "summary.md", "normalized_accuracy.png"):
        assert (exp / name).exists()
    table = load_table(exp)
    assert table["normalized_accuracy"].max() == 1.0 and table["sweep"].unique().tolist() == ["learning_rate"]
    # Resumed: each completed run is skipped before it is dispatched, so no worker is started (or replaced) to
    # say so, and the worker started ahead of the launch is stopped.
    again = run_cli(*args)
    said = again.stdout + again.stderr
    assert again.returncode == 0 and said.count("already completed with this config: skipped") == 2, said[-3000:]
    assert "0 job(s) ran in 0 worker process(es); 2 had completed already" in said
    assert {k: r["finished_at"] for k, r in records(exp).items()} == {k: r["finished_at"] for k, r in first.items()}
    assert records(exp) == first


@pytest.mark.slow
def test_a_run_that_cannot_load_does_not_stop_the_sweep(results_dir):
    done = run_cli(
        "experiment=quickstart", "sweep=samples_per_class", "sweep.values=[2,1000]", f"results_dir={results_dir}", *FAST
    )
    assert done.returncode == 1
    assert sweep_line(done.stdout).endswith("2 runs, 1 completed, 1 did not complete (failed: 1)")
    table = load_table(results_dir)
    assert table.set_index("value")["status"].to_dict() == {2: "completed", 1000: "failed"}
    assert "data.samples_per_class" in table.set_index("value").loc[1000, "error"]


def test_fixed_overrides_name_another_experiment_and_a_plain_multirun_its_own():
    base = experiment_dir("experiment=quickstart", "sweep=learning_rate").name
    other = experiment_dir(
        "experiment=quickstart", "sweep=learning_rate", "train.epochs=3", "train.epochs=2", "model.head.dropout=0.50"
    ).name
    same = experiment_dir(
        "experiment=quickstart", "sweep=learning_rate", "model.head.dropout=0.5", "train.epochs=2"
    ).name
    assert base == "quickstart_learning_rate_digits_mobilenet" and other.startswith(f"{base}-") and other == same
    plain = compose_cli(["experiment=quickstart", "-m", "train.optimizer=sgd,adam"])
    assert {c.name for c in plain.configs} == {"quickstart_optimizer_digits_mobilenet"}
    assert [c.run_name for c in plain.configs] == ["optimizer=sgd", "optimizer=adam"]
    grid = compose_cli(["experiment=quickstart", "-m", "train.optimizer=sgd,adam", "train.learning_rate=0.1,0.01"])
    assert {c.name for c in grid.configs} == {"quickstart_optimizer+learning_rate_digits_mobilenet"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return not (state.exists() and state.read_text().split(")")[-1].split()[0] == "Z")  # a zombie is gone


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal is Linux's")
def test_sweep_killed_with_sigkill_leaves_no_worker_and_resumes_to_exactly_one_completed_record_per_value(results_dir):
    args = [
        "experiment=quickstart",
        "sweep=learning_rate",
        "sweep.values=[0.01,0.001]",
        f"results_dir={results_dir}",
        *FAST,
        "train.steps_per_epoch=60",
        "train.epochs=40",  # the second run, reusing the first's model and traced step, lasts a few seconds
    ]
    exp = experiment_dir(*args)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    worker = None
    try:
        deadline = time.time() + 240
        while worker is None and time.time() < deadline:  # kill in the middle of the second run
            second = exp / "learning_rate=0.001" / "record.json"
            if second.exists() and json.loads(second.read_text())["status"] == "running":
                worker = json.loads(second.read_text())["host"]["pid"]
            time.sleep(0.2)
        assert worker is not None and worker != proc.pid, "the second run never started in a worker"
        time.sleep(1.0)
        proc.kill()  # the main process only, not its group: no handler runs
        proc.wait()
        deadline = time.time() + 20
        while _alive(worker) and time.time() < deadline:
            time.sleep(0.2)
        assert not _alive(worker), "the worker outlived the sweep's main process"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    killed = records(exp)
    assert (
        killed["learning_rate=0.01"]["status"] == "completed" and killed["learning_rate=0.001"]["status"] == "running"
    )
    assert (exp / "learning_rate=0.001" / ".claim").exists()  # the dead worker's claim, taken over by the rerun
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    final = records(exp)
    assert sorted(final) == ["learning_rate=0.001", "learning_rate=0.01"]
    assert all(r["status"] == "completed" for r in final.values())
    assert final["learning_rate=0.01"]["finished_at"] == killed["learning_rate=0.01"]["finished_at"]  # not redone
    assert not list(exp.rglob(".*.tmp")) and len(load_table(exp)) == 2
    assert "left to it" not in done.stderr
