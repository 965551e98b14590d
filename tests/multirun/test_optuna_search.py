"""tuner=optuna: Optuna's samplers and pruners over the harness's space, each trial an ordinary run with its record;
pruned trials recorded as such; resume; several objectives; what is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config.validate import validate
from harness.errors import ConfigError
from harness.reports.tables import load_table
from tests.helpers import FAST, make_cfg, tb_tags

optuna = pytest.importorskip("optuna")  # the optuna extra, in dev: CI has it

from harness.multirun import optuna_search  # noqa: E402

SCRATCH = ["experiment=quickstart", "model=scratch", "model.depth=2", "model.filters=8", *FAST]
SPACE = "+tuner.space={train:{learning_rate:{type:float,min:0.001,max:0.1,sampling:log}},model:{head:{units:{type:choice,values:[16,32]}}}}"


def optuna_cfg(results_dir, *overrides):
    cfg = make_cfg(*SCRATCH, "tuner=optuna", f"results_dir={results_dir}", "~tuner.space", SPACE, *overrides)
    validate(cfg)
    return cfg, Path(cfg.results_dir) / cfg.name


def dashboard(journal: Path) -> dict:
    """optuna-dashboard started on the journal file, on loopback: its first study as its API serves it."""
    import shutil
    import subprocess
    import sys
    import time

    from tests.helpers import _free_port, get_json

    port = _free_port()
    # the extra's console script: beside this Python (a venv used without activating it), or on PATH
    beside = Path(sys.executable).parent / "optuna-dashboard"
    command = str(beside) if beside.exists() else shutil.which("optuna-dashboard") or "optuna-dashboard"
    server = subprocess.Popen(
        [command, str(journal), "--port", str(port), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                get_json(f"http://127.0.0.1:{port}/api/studies")
                break
            except OSError:
                time.sleep(0.2)
        study = get_json(f"http://127.0.0.1:{port}/api/studies")["study_summaries"][0]["study_id"]
        return get_json(f"http://127.0.0.1:{port}/api/studies/{study}?after=0")
    finally:
        server.terminate()
        server.wait(timeout=30)


def records(exp: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in exp.glob("trial=*/record.json")}


def test_a_tpe_search_records_every_trial_as_a_run_and_resumes_without_redoing_them(results_dir):
    cfg, exp = optuna_cfg(results_dir, "tuner.max_trials=3")
    summary = optuna_search.search(cfg, exp)
    found = records(exp)
    assert sorted(found) == ["trial=000", "trial=001", "trial=002"]
    assert all(r["status"] == "completed" and r["sweep"]["name"] == "tuner" for r in found.values())
    assert {r["sweep"]["hyperparameters"]["model.head.units"] for r in found.values()} <= {16, 32}
    table = load_table(exp)
    assert len(table) == 3 and {"train.learning_rate", "model.head.units"} <= set(table.columns)
    assert all("_hparams_/session_start_info" in tb_tags(exp / run / "tb")["."] for run in found)
    assert (
        summary["completed"] == 3 and (exp / "experiment" / "best.yaml").exists() and (exp / "optuna.journal").exists()
    )
    study = optuna.load_study(study_name=exp.name, storage=optuna_search.storage(cfg, exp))
    assert study.best_trial.value == max(r["best_val_accuracy"] for r in found.values())
    before = {run: r["finished_at"] for run, r in found.items()}
    optuna_search.search(cfg, exp)  # the same command again: nothing left to run
    assert {run: r["finished_at"] for run, r in records(exp).items()} == before
    # optuna-dashboard reads the journal as it is, over its HTTP API (what its pages draw from)
    shown = dashboard(exp / optuna_search.JOURNAL)
    assert [t["state"] for t in shown["trials"]] == ["Complete"] * 3 and shown["name"] == exp.name


def test_a_pruned_trial_is_recorded_as_pruned_with_the_epochs_it_ran_and_never_wins(results_dir, monkeypatch):
    cfg, exp = optuna_cfg(results_dir, "tuner.max_trials=2", "tuner.pruner=median", "train.epochs=3")
    monkeypatch.setattr(optuna_search, "make_pruner", lambda cfg: optuna.pruners.ThresholdPruner(lower=2.0))
    summary = optuna_search.search(cfg, exp)
    found = records(exp)
    assert {r["status"] for r in found.values()} == {"pruned"}
    assert all(
        r["epochs_run"] == 1 and "pruned by tuner.pruner=median after epoch 1" in r["error"] for r in found.values()
    )
    assert "best_trial" not in summary and not (exp / "experiment" / "best.yaml").exists()
    study = optuna.load_study(study_name=exp.name, storage=optuna_search.storage(cfg, exp))
    assert {t.state for t in study.trials} == {optuna.trial.TrialState.PRUNED}


def test_two_objectives_give_a_pareto_front_of_trials(results_dir):
    cfg, exp = optuna_cfg(
        results_dir, "tuner.max_trials=3", "tuner.sampler=nsga2", "tuner.objectives=[val_accuracy,total_params]"
    )
    summary = optuna_search.search(cfg, exp)
    front = summary["front"]
    assert front and set(front) <= {0, 1, 2}
    found = records(exp)
    params = {int(run.split("=")[1]): (r["best_val_accuracy"], r["cost"]["total_params"]) for run, r in found.items()}
    for a in front:  # no trial of the front is beaten on both objectives by another
        assert not any(params[b][0] > params[a][0] and params[b][1] < params[a][1] for b in params)


def test_a_trial_left_running_by_a_dead_process_is_tried_again_with_its_values(results_dir, monkeypatch):
    cfg, exp = optuna_cfg(results_dir, "tuner.max_trials=2")
    exp.mkdir(parents=True)
    study = optuna.create_study(study_name=exp.name, storage=optuna_search.storage(cfg, exp), direction="maximize")
    orphan = study.ask()
    values = optuna_search.suggest(orphan, optuna_search.searchable(cfg, optuna_search.check_space(cfg))[0])
    monkeypatch.setattr(optuna_search, "STARTING_S", 0.0)
    optuna_search.search(cfg, exp)
    trials = optuna.load_study(study_name=exp.name, storage=optuna_search.storage(cfg, exp)).trials
    assert trials[0].state == optuna.trial.TrialState.FAIL
    assert trials[1].user_attrs[optuna_search.RETRIED] == 0 and trials[1].params == trials[0].params
    assert {k: optuna_search.as_meant(v) for k, v in trials[1].params.items()} == values
    assert sorted(records(exp)) == ["trial=000", "trial=002"]  # the retry ran in the dead trial's folder, then one more
    assert (exp / "optuna_trials.csv").read_text().count("\n") == 4  # Optuna's table of the study: 3 trials


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["tuner.sampler=cmaes"], "tuner.sampler"),
        (["tuner.pruner=patient"], "tuner.pruner"),
        (["tuner.max_seconds=0"], "tuner.max_seconds"),
        (["tuner.objectives=[val_accuracy,latency_ms]"], "tuner.sampler"),
        (["tuner.objectives=[val_accuracy,speed]"], "tuner.objectives"),
        (["tuner.sampler=nsga2", "tuner.pruner=median", "tuner.objectives=[val_accuracy,macs]"], "tuner.pruner"),
        (["tuner.storage=not a url"], "tuner.storage"),
        (["tuner.executions_per_trial=2"], "tuner.executions_per_trial"),
        (
            ["tuner.space.train.learning_rate={type:float,min:0.001,max:0.1,sampling:reverse_log}"],
            "tuner.space.train.learning_rate.sampling",
        ),
    ],
)
def test_what_optuna_cannot_do_is_refused_naming_the_key(overrides, key):
    with pytest.raises(ConfigError) as refused:
        validate(make_cfg("experiment=quickstart", "tuner=optuna", *overrides))
    assert refused.value.key == key and "\n" not in str(refused.value)


def test_a_storage_that_cannot_be_opened_is_refused_before_anything_is_written(results_dir):
    cfg, exp = optuna_cfg(results_dir, "tuner.max_trials=1", "tuner.storage=postgresql://nobody@127.0.0.1:9/nothing")
    with pytest.raises(ConfigError, match="tuner.storage"):
        optuna_search.search(cfg, exp)
    assert not Path(results_dir).exists()


def test_a_stop_request_records_the_trial_interrupted_and_queues_its_values_again(results_dir, monkeypatch):
    from harness.process import stopping

    cfg, exp = optuna_cfg(results_dir, "tuner.max_trials=2")
    real = optuna_search.run

    def stopped(*args, **kwargs):  # Ctrl-C as the trial's run starts
        raise stopping.Interrupted(2)

    monkeypatch.setattr(optuna_search, "run", stopped)
    with pytest.raises(stopping.Interrupted):
        optuna_search.search(cfg, exp)
    trials = optuna.load_study(study_name=exp.name, storage=optuna_search.storage(cfg, exp)).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.WAITING]
    monkeypatch.setattr(optuna_search, "run", real)
    optuna_search.search(cfg, exp)  # resumed: the queued values first, then one more
    trials = optuna.load_study(study_name=exp.name, storage=optuna_search.storage(cfg, exp)).trials
    assert trials[1].params == trials[0].params and trials[1].state == optuna.trial.TrialState.COMPLETE
    assert len([t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]) == 2


@pytest.mark.slow
def test_two_processes_started_with_the_same_command_share_one_study_and_split_its_trials(results_dir):
    from tests.helpers import experiment_dir, start_cli

    args = [*SCRATCH, "tuner=optuna", "tuner.max_trials=6", f"results_dir={results_dir}", "~tuner.space", SPACE]
    workers = [start_cli(*args) for _ in range(2)]
    outputs = [w.communicate(timeout=600) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    exp = experiment_dir(*args)
    found = records(exp)
    study = optuna.load_study(study_name=exp.name, storage=optuna_search.storage(make_cfg(*args), exp))
    numbers = sorted(t.number for t in study.trials)
    assert sorted(found) == [f"trial={n:03d}" for n in numbers]  # one folder, one run, per trial of the study
    assert (
        6 <= len(found) <= 7
    )  # a trial each process starts as the sixth ends may overshoot by one, as Optuna's MaxTrialsCallback
    assert all(r["status"] == "completed" for r in found.values())
    assert len({r["host"]["pid"] for r in found.values()}) == 2  # both processes ran trials


def test_a_storage_whose_tables_another_worker_is_creating_is_opened_again(results_dir, monkeypatch):
    cfg, exp = optuna_cfg(results_dir, "tuner.max_trials=1", "tuner.storage=sqlite:///" + str(results_dir / "s.db"))
    real, tries = optuna.storages.RDBStorage, []

    def racing(url, *args, **kwargs):  # what PostgreSQL says to the second of two workers creating the tables
        tries.append(url)
        if len(tries) == 1:
            raise RuntimeError('duplicate key value violates unique constraint "pg_type_typname_nsp_index"')
        return real(url, *args, **kwargs)

    results_dir.mkdir(parents=True)
    monkeypatch.setattr(optuna.storages, "RDBStorage", racing)
    monkeypatch.setattr(optuna_search.time, "sleep", lambda s: None)
    assert optuna_search.storage(cfg, exp) is not None and len(tries) == 2
