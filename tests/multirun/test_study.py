"""Studies: `study=<name>` expands to every experiment's values x seeds exactly once, in one multirun; runs
shared between experiments are trained once; a killed study resumes with only what is missing; the
report says which knobs matter and whether each finding holds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from harness.command import compose_cli
from harness.config.identity import canonical, config_hash
from tests.helpers import FAST, ROOT, TEST_CONF, run_cli, tb_tags

TINY = [*FAST, "train.epochs=2", "train.steps_per_epoch=3"]


def test_chapter5_expands_every_experiment_value_and_seed_exactly_once():
    command = compose_cli(["experiment=quickstart", "study=chapter5"])
    spec = command.configs[0].study
    jobs = Counter((c.sweep.name, canonical(c.sweep.knob and _value(c)), c.train.seed) for c in command.configs)
    assert set(jobs.values()) == {1}  # nothing twice
    for name, experiment in spec.experiments.items():
        values = {canonical(v) for v in experiment["values"]} | {
            canonical(_baseline(command.configs[0], experiment.knob))
        }
        got = {(v, s) for (e, v, s) in jobs if e == name}
        assert got == {(v, s) for v in values for s in (42, 43, 44)}, name
    assert {c.name for c in command.configs} == {f"quickstart_chapter5_digits_mobilenet/{e}" for e in spec.experiments}
    assert {c.dataset.test_fraction for c in command.configs} == {0.2}


def _value(cfg):
    return _baseline(cfg, cfg.sweep.knob)


def _baseline(cfg, knob):
    if knob != "model":
        return OmegaConf.select(cfg, knob)
    return "random_init" if cfg.model.get("pretrained") is False else cfg.model.kind  # the model group's option


def test_the_baselines_own_value_is_added_to_an_experiment_that_lacks_it():
    command = compose_cli(["experiment=quickstart", "study=chapter5", "model.unfreeze=0.5", "study.seeds=1"])
    unfreeze = sorted(c.model.unfreeze for c in command.configs if c.sweep.name == "unfreeze")
    assert unfreeze == [0.0, 0.33, 0.5, 0.66, 1.0]


def test_the_baseline_run_is_one_config_shared_by_every_experiment():
    command = compose_cli(["experiment=quickstart", "study=chapter5", "study.seeds=1"])
    by_hash = Counter(config_hash(c) for c in command.configs)
    experiments = len(compose_cli(["study=chapter5"]).configs[0].study.experiments)
    assert by_hash.most_common(1)[0][1] == experiments  # the baseline, once per experiment
    assert len(by_hash) == len(command.configs) - (experiments - 1)


def test_the_planned_runs_are_where_each_job_of_the_study_will_sit():
    from hydra import compose, initialize_config_dir

    from harness.config.schema import CONF_DIR
    from harness.multirun.study import study_jobs
    from harness.multirun.sweep import run_paths

    args = ["experiment=quickstart", "study=chapter5", "study.seeds=1"]
    configs = compose_cli(args).configs
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        folder, jobs = study_jobs(compose("config", overrides=args, return_hydra_config=True), args)
    assert run_paths(jobs, folder) == [f"{c.name.split('/', 1)[1]}/{c.run_name}" for c in configs]
    assert len(set(run_paths(jobs, folder))) == len(configs)  # every run once


def test_a_study_composes_every_job_as_hydra_would():
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from harness.config.schema import CONF_DIR
    from harness.multirun.study import study_jobs

    args = ["experiment=quickstart", "study=chapter5", "study.seeds=1", "train.epochs=2"]
    fast = compose_cli(args).configs
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        jobs = study_jobs(compose("config", overrides=args, return_hydra_config=True), args)[1]
        for cfg, job in zip(fast, jobs):
            assert OmegaConf.to_container(cfg, resolve=True) == OmegaConf.to_container(
                compose("config", overrides=job), resolve=True
            )


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "study.experiments.learning_rate.knob=train.lr",
            "study.experiments.learning_rate.knob='train.lr' is not allowed",
        ),
        ("study.findings.0.worse=[0.5]", "study.findings.0.worse=0.5 is not allowed"),
        ("study.findings.0.test=exceeds", "study.findings.0.test='exceeds' is not allowed: one of beats, within"),
        ("study.seeds=0", "study.seeds=0 is not allowed"),
        ("sweep=learning_rate", "sweep='learning_rate' is not allowed: unset: a study sets each experiment's knob"),
    ],
)
def test_a_bad_study_is_one_line_and_exit_2_before_anything_runs(tmp_path, override, message):
    done = run_cli(
        "--config-dir", str(TEST_CONF), "experiment=quickstart", "study=mini", f"results_dir={tmp_path / 'r'}", override
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and message in done.stderr
    assert not (tmp_path / "r").exists()


def _study_dir(results: Path) -> Path:
    return next(p.parent for p in results.glob("*/study.json"))


@pytest.mark.slow
def test_a_study_runs_end_to_end_copies_shared_runs_and_resumes_after_a_kill(tmp_path):
    results = tmp_path / "results"
    args = ["--config-dir", str(TEST_CONF), "experiment=quickstart", "study=mini", f"results_dir={results}", *TINY]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:  # killed while the third run (learning_rate=0.001, seed 42) trains
        deadline = time.time() + 240
        while time.time() < deadline and not any(
            json.loads(p.read_text())["status"] == "running"
            for p in results.glob("*/learning_rate/learning_rate=0.001,seed=42/record.json")
        ):
            time.sleep(0.2)
        assert time.time() < deadline, "the third run never started"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    study = _study_dir(results)
    before = {p.parent.name: json.loads(p.read_text()) for p in study.glob("*/*/record.json")}
    assert [before[k]["status"] for k in sorted(before)] == ["running", "completed", "completed"]

    done = run_cli(*args, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = pd.read_csv(study / "learning_rate" / "summary.csv")
    assert len(runs) == 4 and set(runs["status"]) == {"completed"}
    for name in ("learning_rate=0.1,seed=42", "learning_rate=0.1,seed=43"):  # finished before the kill: not redone
        assert (
            json.loads((study / "learning_rate" / name / "record.json").read_text())["finished_at"]
            == before[name]["finished_at"]
        )
    copied = json.loads(
        (study / "transfer_vs_scratch" / "transfer_vs_scratch=transfer,seed=42" / "record.json").read_text()
    )
    trained = json.loads((study / "learning_rate" / "learning_rate=0.001,seed=42" / "record.json").read_text())
    assert copied["copied_from"] == "../../learning_rate/learning_rate=0.001,seed=42"
    assert (copied["test_accuracy"], copied["history"]) == (trained["test_accuracy"], trained["history"])
    assert copied["sweep"]["name"] == "transfer_vs_scratch" and copied["sweep"]["value"] == "transfer"
    log = done.stdout + done.stderr
    assert log.count("completed: best val accuracy") == 4  # learning_rate=0.001 (one killed) and scratch
    assert "copied, not trained again" in log

    assert (study / "report.md").exists() and "## Which knobs matter on this data" in (study / "report.md").read_text()
    assert "data:image/png;base64," in (study / "report.html").read_text()
    findings = pd.read_csv(study / "findings.csv")
    assert findings["claim"].tolist() == ["1e-3 beats 1e-1", "transfer within 5% of scratch"]
    assert set(findings["verdict"]) <= {"holds", "does not hold", "inconclusive"} and set(findings["pairs"]) == {2}
    assert set(pd.read_csv(study / "ranking.csv")["experiment"]) == {"learning_rate", "transfer_vs_scratch"}
    assert {"knob_ranking", "findings"} <= tb_tags(study / "_report")["."]
    assert "study " in done.stdout and "report: " in done.stdout
    assert len(list(results.glob("_hparams"))) == 1 and not list(study.glob("_hparams"))  # one HParams experiment

    again = run_cli(*args, timeout=300)  # all done: nothing trains, the report is written again
    assert again.returncode == 0 and "completed: best val accuracy" not in again.stdout + again.stderr
