"""Keras Tuner searches: trials recorded like runs, resume, failures, distributed chief/workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.config.identity import config_hash
from harness.config.naming import trial_folder
from harness.config.validate import validate
from harness.multirun.search import search
from harness.records.record import SweepIdentity
from harness.reports.tables import load_table
from tests.helpers import FAST, ROOT, experiment_dir, fake_run, make_cfg, run_cli, tb_tags

SCRATCH = ["experiment=quickstart", "model=scratch", "model.depth=2", "model.filters=8", *FAST]


SCRATCH_SPACE = "+tuner.space={train:{learning_rate:{type:float,min:0.001,max:0.1,sampling:log}},model:{head:{units:{type:choice,values:[16,32]}}}}"


def trials(exp: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in exp.glob("trial=*/record.json")}


@pytest.mark.slow
def test_random_search_from_the_command_line_records_trials_and_retrains_the_best(results_dir):
    args = ["experiment=quickstart", "tuner=random", "tuner.max_trials=2", f"results_dir={results_dir}", *FAST]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    exp = experiment_dir(*args)
    assert exp.name.startswith("quickstart_tuner-random_digits_mobilenet-") and (exp / "search" / ".hydra").is_dir()
    recorded = trials(exp)
    assert len(recorded) == 2 and all(r["status"] == "completed" for r in recorded.values())
    table = load_table(exp)
    assert set(table["sweep"]) == {"tuner"} and table["normalized_accuracy"].max() == 1.0
    assert {"train.learning_rate", "model.unfreeze", "train.batch_size"} <= set(table.columns)
    assert all("_hparams_/session_start_info" in tb_tags(exp / run / "tb")["."] for run in recorded)
    assert "_hparams_/experiment" in tb_tags(results_dir / "_hparams")["."]
    assert sorted(recorded) == ["trial=001", "trial=002"]  # numbered as Keras Tuner prints them
    best = exp / "experiment" / "best.yaml"
    assert "retrain" in done.stdout.lower() and best.exists()
    assert "trial 1/2 · " in done.stdout + done.stderr and "trial 2/2 · " in done.stdout + done.stderr
    # The preset retrains exactly the best trial's config, beside the search, under a name tied to it.
    retrain = make_cfg("experiment=best", searchpath=exp)
    best_number = int(best.read_text().split("Best trial #")[1].split()[0])
    assert config_hash(retrain) == recorded[f"trial={best_number:03d}"]["config_hash"]
    assert retrain.name == f"{exp.name}_best" and Path(retrain.results_dir) == results_dir.resolve()


def search_in_process(results_dir, *overrides):
    # A whole new space replaces the default one: ~tuner.space +tuner.space={...}
    overrides = (
        [o for o in overrides if not o.startswith("+tuner.space")]
        + ["~tuner.space"]
        + [o for o in overrides if o.startswith("+tuner.space")]
    )
    cfg = make_cfg(*SCRATCH, f"results_dir={results_dir}", "tuner.isolate=false", *overrides)
    validate(cfg)
    exp = Path(cfg.results_dir) / cfg.name
    return search(cfg, exp), exp


def test_a_resumed_search_does_not_redo_finished_trials(results_dir):
    _, exp = search_in_process(results_dir, "tuner=random", "tuner.max_trials=2", SCRATCH_SPACE)
    first = {k: r["finished_at"] for k, r in trials(exp).items()}
    summary, _ = search_in_process(results_dir, "tuner=random", "tuner.max_trials=3", SCRATCH_SPACE)
    second = {k: r["finished_at"] for k, r in trials(exp).items()}
    assert len(first) == 2 and len(second) == 3
    assert all(second[k] == v for k, v in first.items())
    summary, _ = search_in_process(
        results_dir, "tuner=random", "tuner.max_trials=2", SCRATCH_SPACE, "tuner.overwrite=true"
    )
    assert len(trials(exp)) == 2 and summary["runs"] == 2


@pytest.mark.slow
def test_hyperband_continues_a_trial_in_its_own_folder_with_one_history_one_process_per_trial(results_dir, capfd):
    summary, exp = search_in_process(
        results_dir, "tuner=hyperband", "tuner.max_epochs=3", "tuner.factor=3", "tuner.isolate=true", SCRATCH_SPACE
    )
    recorded = trials(exp)
    assert len(recorded) >= 2 and summary["completed"] == len(recorded)
    assert len({r["host"]["pid"] for r in recorded.values()}) == len(recorded)  # every trial in its own process
    continued = [r for r in recorded.values() if len(r["sweep"]["trial_ids"]) > 1]
    assert continued, "no bracket continued a trial"
    for record in continued:  # one trial, one history, epochs counted across its brackets
        assert record["history"]["epoch"] == list(range(1, record["epochs_run"] + 1)) and record["epochs_run"] == 3
        assert record["config"]["train"]["epochs"] == 3 and record["best_epoch"] in record["history"]["epoch"]
    ids = [i for r in recorded.values() for i in r["sweep"]["trial_ids"]]
    assert len(ids) == len(set(ids)) == summary["trials"]  # every Keras Tuner trial in exactly one record
    table = load_table(exp)
    assert len(table) == len(recorded) and table["label"].is_unique  # a continuation is never a repeat
    best = yaml.safe_load((exp / "experiment" / "best.yaml").read_text())
    assert best["train"]["epochs"] == recorded[summary["best_run"]]["config"]["train"]["epochs"]
    ranked = capfd.readouterr().out.split("scored runs by val_accuracy:\n")[1].split("best trial #")[0].splitlines()
    shown = [line.split()[0] for line in ranked]
    assert len(shown) == len(set(shown)) and set(shown) <= set(recorded)  # each folder once, by its own name


def test_hyperband_sets_each_trials_epochs_itself_so_train_epochs_is_refused():
    from harness.command import compose_cli
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="train.epochs='5' is not allowed: unset: tuner=hyperband"):
        compose_cli(["experiment=quickstart", "tuner=hyperband", "train.epochs=5"])
    with pytest.raises(ConfigError, match="tuner.space.train.epochs"):
        validate(
            make_cfg("experiment=quickstart", "tuner=hyperband", "+tuner.space.train.epochs={type:int,min:1,max:3}")
        )


def test_a_search_refuses_to_resume_another_configs_trials_and_resumes_its_own(results_dir):
    from harness.errors import UserError

    _, exp = search_in_process(results_dir, "tuner=random", "tuner.max_trials=1", SCRATCH_SPACE)
    with pytest.raises(UserError, match=r"holds a search over another config \(train.epochs: 1 there, 2 here\)"):
        search_in_process(results_dir, "tuner=random", "tuner.max_trials=1", SCRATCH_SPACE, "train.epochs=2")
    summary, _ = search_in_process(results_dir, "tuner=random", "tuner.max_trials=2", SCRATCH_SPACE)
    assert summary["trials_before"] == 1 and len(trials(exp)) == 2


def test_each_execution_of_a_trial_has_its_own_seed(results_dir):
    summary, exp = search_in_process(
        results_dir, "tuner=random", "tuner.max_trials=1", "tuner.executions_per_trial=2", SCRATCH_SPACE
    )
    seeds = sorted(r["config"]["train"]["seed"] for r in trials(exp).values())
    assert seeds == [42, 43]


def test_failed_trials_are_recorded_never_best_and_do_not_stop_bayesian_search(results_dir):
    # Every value is valid with some other, but a deep net on a small input is not (an input smaller than
    # 2**depth): those combinations fail in build().
    space = (
        "+tuner.space={train:{learning_rate:{type:float,min:0.001,max:0.1,sampling:log}},"
        "model:{depth:{type:choice,values:[5,2]}},data:{image_size:{type:choice,values:[32,8,12,16,20]}}}"
    )
    summary, exp = search_in_process(
        results_dir,
        "tuner=bayesian",
        "tuner.max_trials=5",
        "tuner.num_initial_points=3",
        "tuner.max_consecutive_failed_trials=5",
        space,
    )
    recorded = trials(exp)
    failed = [r for r in recorded.values() if r["status"] == "failed"]
    completed = [r for r in recorded.values() if r["status"] == "completed"]
    too_small = lambda r: r["config"]["data"]["image_size"] < 2 ** r["config"]["model"]["depth"]  # noqa: E731
    assert failed and completed, {k: r["status"] for k, r in recorded.items()}
    assert all(too_small(r) and "data.image_size" in r["error"] for r in failed)
    assert not any(too_small(r) for r in completed)
    assert len(recorded) == 5, "the search went on after its failures"
    assert recorded[trial_folder(summary["best_trial"])]["status"] == "completed"


def test_a_diverged_trial_is_a_failed_trial_and_recorded(monkeypatch, results_dir):
    import keras

    import harness.models.build

    real = harness.models.build.build_model

    def poisoned(*args):
        model = real(*args)
        return keras.Model(model.input, keras.layers.Lambda(lambda t: t * float("nan"))(model.output))

    monkeypatch.setattr(harness.models.build, "build_model", poisoned)
    # Every trial fails: Keras Tuner gives up after max_consecutive_failed_trials; what ran is still reported.
    summary, _ = search_in_process(
        results_dir, "tuner=random", "tuner.max_trials=3", "tuner.max_consecutive_failed_trials=2", SCRATCH_SPACE
    )
    assert "consecutive failures" in summary["stopped"] and summary["completed"] == 0 and "best_trial" not in summary
    recorded = trials(Path(results_dir) / make_cfg(*SCRATCH, "tuner=random", "~tuner.space", SCRATCH_SPACE).name)
    assert len(recorded) == 2 and {r["status"] for r in recorded.values()} == {"diverged"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_distributed_search_on_loopback_runs_every_trial_once(results_dir):
    port = str(free_port())
    args = [
        sys.executable,
        "-m",
        "harness",
        *SCRATCH,
        "tuner=random",
        "tuner.max_trials=4",
        "~tuner.space",
        SCRATCH_SPACE,
        f"results_dir={results_dir}",
    ]
    base = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "KERASTUNER_ORACLE_IP": "127.0.0.1",
        "KERASTUNER_ORACLE_PORT": port,
    }
    procs = [
        subprocess.Popen(
            args,
            cwd=ROOT,
            env={**base, "KERASTUNER_TUNER_ID": role},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for role in ("chief", "tuner0", "tuner1")
    ]
    outputs = [p.communicate(timeout=400)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(o[-2000:] for o in outputs)
    exp = experiment_dir(*args[3:])
    recorded = trials(exp)
    assert len(recorded) == 4 and all(r["status"] == "completed" for r in recorded.values())
    by_worker = [o.count("completed: best val accuracy") for o in outputs]
    assert by_worker[0] == 0 and sum(by_worker) == 4  # the chief only serves the oracle
    assert (exp / "experiment" / "best.yaml").exists() and len(load_table(exp)) == 4


@pytest.mark.slow
def test_a_search_run_again_with_other_epochs_is_another_search(results_dir):
    args = [*SCRATCH, "tuner=random", "tuner.max_trials=1", "~tuner.space", SCRATCH_SPACE, f"results_dir={results_dir}"]
    first, second = run_cli(*args), run_cli(*args, "train.epochs=2")
    assert first.returncode == 0 and second.returncode == 0, second.stderr[-2000:]
    searches = sorted(p.parent for p in results_dir.glob("*/search.json"))
    assert len(searches) == 2 and all(len(trials(s)) == 1 for s in searches)
    assert {r["config"]["train"]["epochs"] for s in searches for r in trials(s).values()} == {1, 2}


@pytest.mark.parametrize(
    "addition, key",
    [
        ("hydra:\n  callbacks:\n    copy:\n      _target_: shutil.copyfile\n", ": hydra"),
        ("train:\n  optimizer: ${oc.env:HOME}\n", ": train.optimizer"),
        ("model:\n  _target_: os.system\n", ": model._target_"),
    ],
)
def test_a_best_trial_preset_is_read_as_data_before_the_retrain_command_composes_it(tmp_path, addition, key, capsys):
    from harness.__main__ import preflight

    exp = tmp_path / "search"
    (exp / "experiment").mkdir(parents=True)
    (exp / "search.json").write_text("{}")
    preset = "# @package _global_\ndefaults:\n- override /dataset: digits\npreset: best\nname: s_best\ntrain:\n  learning_rate: 0.01\n"
    (exp / "experiment" / "best.yaml").write_text(preset)
    assert preflight(["--config-dir", str(exp), "experiment=best"]).configs[0].train.learning_rate == 0.01
    (exp / "experiment" / "best.yaml").write_text(preset.replace("train:\n  learning_rate: 0.01\n", "") + addition)
    with pytest.raises(SystemExit) as done:
        preflight(["--config-dir", str(exp), "experiment=best"])
    line = capsys.readouterr().err.strip()
    assert done.value.code == 2 and line.count("\n") == 0 and f"best.yaml{key}=" in line and "as values" in line


def test_the_best_trials_are_listed_by_folder_and_a_continued_one_says_where_it_went(tmp_path):
    from types import SimpleNamespace

    from harness.multirun.search import top_trials

    exp = tmp_path / "search"
    for folder, ids in (("trial=001", ["0", "2"]), ("trial=002", ["1"])):
        fake_run(exp, folder, 0.01, 0.9, sweep=SweepIdentity("tuner", None, int(ids[0]) + 1, 42, {}, None, ids))

    def trial(trial_id, score, **extra):
        values = {"train.learning_rate": 0.01, **extra}
        return SimpleNamespace(trial_id=trial_id, score=score, hyperparameters=SimpleNamespace(values=values))

    ranked = [trial("2", 0.9, **{"tuner/epochs": 3, "tuner/trial_id": "0"}), trial("1", 0.8), trial("0", 0.7)]
    lines = top_trials(ranked, exp, "val_accuracy").splitlines()
    assert lines[0] == "best 2 of 2 scored runs by val_accuracy:"
    assert lines[1].split()[:2] == ["trial=001", "0.9000"] and "learning_rate=0.01" in lines[1]
    assert "Hyperband continued it to 3 epochs as trial #3, which has no folder of its own" in lines[1]
    assert lines[2].split()[:2] == ["trial=002", "0.8000"] and "Hyperband" not in lines[2]
