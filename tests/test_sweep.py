"""One-knob sweeps: shipped configs expand to their values, normalization, reports, export, resume, launchers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from harness import export, report
from harness.config import CONF_DIR, validate
from harness.records import write_record
from harness.results import load_history, load_table
from harness.sweep import expand_jobs
from tests.conftest import FAST, ROOT, run_cli

DOCUMENTED = {
    "unfreeze": ("model.unfreeze", [0.0, 0.25, 0.5, 0.75, 1.0]),
    "learning_rate": ("train.learning_rate", [0.1, 0.01, 0.001, 0.0001]),
    "optimizer": ("train.optimizer", ["adadelta", "adagrad", "adam", "sgd", "momentum", "rmsprop"]),
    "batch_size": ("train.batch_size", [8, 16, 32, 64, 128]),
    "image_size": ("data.image_size", [96, 128, 160, 224]),
    "aspect_ratio": ("data.aspect_ratio", [0.5, 0.75, 1.0, 1.33, 2.0]),
    "resize_mode": ("data.resize_mode", ["squash", "pad", "crop"]),
    "samples_per_class": ("data.samples_per_class", [1, 2, 3, 5, 10, 20, 50, None]),
    "transfer_vs_scratch": ("model.kind", ["transfer", "scratch"]),
    "scratch_depth": ("model.depth", [1, 2, 3, 4, 5]),
    "backbone": ("model.backbone", ["mobilenet", "mobilenet_v2", "resnet50", "efficientnet_b0", "densenet121"]),
}


def jobs_of(*arguments: str) -> list:
    """The composed config of every job `python -m harness <arguments>` launches."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        fixed = [a for a in arguments if "," not in a or "[" in a]
        base = compose("config", overrides=fixed, return_hydra_config=True)
        return [compose("config", overrides=job) for job in expand_jobs(base, list(arguments))]


def test_every_shipped_sweep_is_documented_here():
    assert sorted(p.stem for p in (CONF_DIR / "sweep").glob("*.yaml")) == sorted(DOCUMENTED)


@pytest.mark.parametrize("sweep", sorted(DOCUMENTED))
def test_shipped_sweep_expands_to_its_documented_values(sweep):
    key, values = DOCUMENTED[sweep]
    jobs = jobs_of("experiment=quickstart", f"sweep={sweep}")
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
    jobs = jobs_of("experiment=quickstart", "sweep.knob=model.head.dropout", "sweep.values=[0.1,0.3,0.5]", "hydra.mode=MULTIRUN")
    assert [j.model.head.dropout for j in jobs] == [0.1, 0.3, 0.5]
    assert jobs[0].run_name == "model.head.dropout=0.1"


def test_plain_hydra_multirun_syntax_works_too():
    jobs = jobs_of("experiment=quickstart", "train.optimizer=sgd,adam")
    assert [j.train.optimizer for j in jobs] == ["sgd", "adam"] and jobs[0].sweep.knob == "train.optimizer"


def test_seeds_repeat_every_value():
    jobs = jobs_of("experiment=quickstart", "sweep=learning_rate", "sweep.seeds=2")
    assert len(jobs) == 8 and {j.train.seed for j in jobs} == {42, 43}
    assert "learning_rate=0.1,seed=43" in {j.run_name for j in jobs}


def test_transfer_vs_scratch_keeps_one_experiment_name():
    jobs = jobs_of("experiment=quickstart", "sweep=transfer_vs_scratch")
    assert {j.name for j in jobs} == {"quickstart_transfer_vs_scratch_digits_mobilenet"}
    assert [j.run_name for j in jobs] == ["transfer_vs_scratch=transfer", "transfer_vs_scratch=scratch"]


def test_a_bad_value_in_a_sweep_is_rejected_before_anything_runs(tmp_path):
    done = run_cli("experiment=quickstart", "sweep=unfreeze", "sweep.values=[0.5,1.5]", f"results_dir={tmp_path}", timeout=60)
    assert done.returncode == 2 and "model.unfreeze=1.5" in done.stderr.strip() and not any(tmp_path.iterdir())


# --- normalization and the report on hand-made records --------------------------------------------


def fake_run(exp: Path, run: str, value, best: float | None, status: str = "completed", seed: int = 42, curve=None) -> None:
    curve = curve if curve is not None else ([best / 2, best] if best is not None else [0.1])
    write_record(exp / run, {
        "name": exp.name, "run_name": run, "status": status, "error": None if status == "completed" else "boom",
        "sweep": {"name": "learning_rate", "knob": "train.learning_rate", "value": value, "seed": seed},
        "config": {"dataset": {"name": "d"}, "data": {"image_size": 32}, "model": {"unfreeze": 0.5},
                   "train": {"learning_rate": value, "seed": seed}},
        "best_val_accuracy": best, "final_val_accuracy": curve[-1], "best_epoch": 2, "epochs_run": len(curve),
        "seconds_per_epoch": 1.5, "wall_seconds": 5.0, "test_accuracy": None,
        "history": {"epoch": list(range(1, len(curve) + 1)), "val_accuracy": curve, "seconds": [2.0] * len(curve)},
    })


def test_normalization_ties_diverged_failed_and_seeds(tmp_path):
    exp = tmp_path / "exp"
    fake_run(exp, "lr=0.01,seed=42", 0.01, 0.8)
    fake_run(exp, "lr=0.01,seed=43", 0.01, 0.6, seed=43)
    fake_run(exp, "lr=0.001,seed=42", 0.001, 0.8)  # ties with the best
    fake_run(exp, "lr=0.001,seed=43", 0.001, 0.4, seed=43)
    fake_run(exp, "lr=10", 10.0, 0.95, status="diverged")  # must not become the best
    fake_run(exp, "lr=5", 5.0, None, status="failed")
    table = load_table(exp)
    assert len(table) == 6
    norm = dict(zip(table["run"], table["normalized_accuracy"]))
    assert norm["lr=0.01,seed=42"] == 1.0 and norm["lr=0.001,seed=42"] == 1.0
    assert norm["lr=0.01,seed=43"] == pytest.approx(0.75) and norm["lr=0.001,seed=43"] == pytest.approx(0.5)
    assert np.isnan(norm["lr=10"]) and np.isnan(norm["lr=5"])
    summary = report.value_summary(table).set_index("value")
    assert summary.loc["0.01", "normalized_accuracy_mean"] == pytest.approx(0.875)
    assert summary.loc["0.01", "normalized_accuracy_std"] == pytest.approx(0.125)
    assert summary.loc["10.0", "statuses"] == "diverged"
    history = load_history(exp)
    assert len(history) == 11
    assert history[history["status"] == "completed"]["normalized_val_accuracy"].max() == pytest.approx(1.0)


def test_normalization_is_per_experiment(tmp_path):
    fake_run(tmp_path / "a", "x", 1, 0.5)
    fake_run(tmp_path / "b", "x", 1, 0.9)
    fake_run(tmp_path / "b", "y", 2, 0.45)
    table = load_table(tmp_path)
    assert table.groupby("name")["normalized_accuracy"].max().tolist() == [1.0, 1.0]
    assert table.set_index(["name", "run"]).loc[("b", "y"), "normalized_accuracy"] == pytest.approx(0.5)


def test_report_writes_tables_plot_and_tensorboard_views(tmp_path):
    exp = tmp_path / "exp"
    fake_run(exp, "lr=0.01", 0.01, 0.8)
    fake_run(exp, "lr=0.1", 0.1, 0.3, status="diverged")
    assert report.main([str(exp)]) == 1  # one run did not complete
    assert pd.read_csv(exp / "summary.csv").shape[0] == 2
    assert "| lr=0.1 " in (exp / "summary.md").read_text()
    assert (exp / "normalized_accuracy.png").stat().st_size > 10_000
    from tests.test_run import tb_tags

    assert {"normalized_val_accuracy", "normalized_accuracy"} <= tb_tags(exp / "lr=0.01" / "tb")["normalized"]
    assert "_hparams_/experiment" in tb_tags(exp / "hparams")["."]
    report.write_report(exp)  # a second report replaces the TensorBoard views instead of adding to them
    assert len(list((exp / "lr=0.01" / "tb" / "normalized").iterdir())) == 1


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_round_trips_through_pandas(tmp_path, fmt):
    fake_run(tmp_path / "a", "x", 0.01, 0.5)
    fake_run(tmp_path / "b", "y", "adam", 0.7)  # a string value next to a number: mixed column across experiments
    out = tmp_path / f"table.{fmt}"
    assert export.main([str(tmp_path), "--format", fmt, "--out", str(out)]) == 0
    back = {"csv": pd.read_csv, "json": lambda p: pd.read_json(p, orient="records"), "parquet": pd.read_parquet}[fmt](out)
    table = load_table(tmp_path)
    assert back.shape == table.shape and list(back.columns) == list(table.columns)
    assert back["normalized_accuracy"].tolist() == table["normalized_accuracy"].tolist()
    assert back["run"].tolist() == ["x", "y"]


def test_export_markdown_prints_the_table(tmp_path, capsys):
    fake_run(tmp_path / "a", "x", 0.01, 0.5)
    assert export.main([str(tmp_path), "--format", "markdown", "--columns", "run,status,normalized_accuracy"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [c.strip() for c in lines[0].split("|")[1:4]] == ["run", "status", "normalized_accuracy"]
    assert [c.strip() for c in lines[2].split("|")[1:4]] == ["x", "completed", "1.0000"]


# --- real sweeps -----------------------------------------------------------------------------------


def records(exp: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in exp.glob("*/record.json")}


def test_quickstart_learning_rate_sweep_end_to_end_and_resume(results_dir):
    args = ["experiment=quickstart", "sweep=learning_rate", f"results_dir={results_dir}", *FAST]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    exp = results_dir / "quickstart_learning_rate_digits_mobilenet"
    assert done.stdout.strip().splitlines()[-1] == f"sweep {exp.name}: 4 runs, 4 completed, all completed"
    first = records(exp)
    assert sorted(first) == ["learning_rate=0.0001", "learning_rate=0.001", "learning_rate=0.01", "learning_rate=0.1"]
    assert all(r["status"] == "completed" and r["sweep"]["knob"] == "train.learning_rate" for r in first.values())
    for name in ("summary.csv", "summary.md", "normalized_accuracy.png"):
        assert (exp / name).exists()
    table = load_table(exp)
    assert table["normalized_accuracy"].max() == 1.0 and table["knob"].unique().tolist() == ["learning_rate"]
    again = run_cli(*args)
    assert again.returncode == 0 and again.stdout.count("skipped") + again.stderr.count("skipped") == 4
    assert {k: r["finished_at"] for k, r in records(exp).items()} == {k: r["finished_at"] for k, r in first.items()}


def test_a_run_that_cannot_load_does_not_stop_the_sweep(results_dir):
    done = run_cli("experiment=quickstart", "sweep=samples_per_class", "sweep.values=[2,1000]", f"results_dir={results_dir}", *FAST)
    assert done.returncode == 1
    assert done.stdout.strip().splitlines()[-1].endswith("2 runs, 1 completed, 1 did not complete (failed: 1)")
    table = load_table(results_dir)
    assert table.set_index("value")["status"].to_dict() == {2: "completed", 1000: "failed"}
    assert "data.samples_per_class" in table.set_index("value").loc[1000, "error"]


def test_sweep_killed_with_sigkill_resumes_to_exactly_one_completed_record_per_value(results_dir):
    args = ["experiment=quickstart", "sweep=learning_rate", "sweep.values=[0.01,0.001]",
            f"results_dir={results_dir}", *FAST, "train.epochs=2", "train.steps_per_epoch=null"]
    exp = results_dir / "quickstart_learning_rate_digits_mobilenet"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:  # kill in the middle of the second run
            second = exp / "learning_rate=0.001" / "record.json"
            if second.exists() and json.loads(second.read_text())["status"] == "running":
                time.sleep(1.0)
                break
            time.sleep(0.2)
        else:
            pytest.fail("the second run never started")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    killed = records(exp)
    assert killed["learning_rate=0.01"]["status"] == "completed" and killed["learning_rate=0.001"]["status"] == "running"
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    final = records(exp)
    assert sorted(final) == ["learning_rate=0.001", "learning_rate=0.01"]
    assert all(r["status"] == "completed" for r in final.values())
    assert final["learning_rate=0.01"]["finished_at"] == killed["learning_rate=0.01"]["finished_at"]  # not redone
    assert not list(exp.rglob(".*.tmp")) and len(load_table(exp)) == 2


def test_joblib_launcher_with_two_workers_loses_no_run(results_dir):
    done = run_cli("experiment=quickstart", "sweep=learning_rate", f"results_dir={results_dir}", *FAST,
                   "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    assert done.returncode == 0, done.stderr[-3000:]
    table = load_table(results_dir)
    assert len(table) == 4 and set(table["status"]) == {"completed"}
    assert sorted(table["value"]) == [0.0001, 0.001, 0.01, 0.1]
