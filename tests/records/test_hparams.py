"""One HParams experiment per results folder: TensorBoard's own backend, asked as its frontend asks,
shows a typed column for every swept knob and tuner hyperparameter of a sweep, a search and a single
run side by side, Seed, Sweep and Value first, and no column empty for every row; past a page of sessions,
every one where the console says."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.records.hparams import FOLDER, columns, tensorboard_command, write_hparams_experiment, write_session
from harness.records.record import SweepIdentity, read_record, session_hparams, write_record
from harness.records.tensorboard import hparam_values, write_scalars
from tests.helpers import post_json, tensorboard_server, write_bare_record

BASE = {
    "dataset": {"name": "digits"},
    "data": {"image_size": 48},
    "model": {"backbone": "mobilenet", "head": {"units": 64}, "unfreeze": 1.0},
    "train": {"optimizer": "adam", "learning_rate": 0.001, "seed": 42, "steps_per_epoch": None},
}


def _run(run_dir: Path, identity: SweepIdentity, best: float, **changes) -> None:
    config = json.loads(json.dumps(BASE))
    for key, value in changes.items():
        section, _, leaf = key.partition("__")
        node = config[section]
        *parents, last = leaf.split("__")
        for parent in parents:
            node = node[parent]
        node[last] = value
    write_bare_record(
        run_dir, config_hash=run_dir.name, config=config, sweep=identity, best_val_accuracy=best, num_classes=10
    )
    write_session(run_dir / "tb", read_record(run_dir))
    write_scalars(run_dir / "tb", {"best_val_accuracy": best})


def mixed_results(root: Path) -> Path:
    """A learning-rate sweep, a two-trial tuner search and a single run in one results folder."""
    sweep = root / "quickstart_learning_rate_digits_mobilenet"
    for lr, best in ((0.1, 0.4), (0.01, 0.8), (0.001, 0.6)):
        _run(
            sweep / f"learning_rate={lr}",
            SweepIdentity("learning_rate", "train.learning_rate", lr, 42),
            best,
            train__learning_rate=lr,
        )
    search = root / "quickstart_random_digits_mobilenet"
    for trial, (units, optimizer) in enumerate(((32, "sgd"), (128, "adam"))):
        searched = {"model.head.units": units, "train.optimizer": optimizer}
        _run(
            search / f"trial={trial + 1:03d}",
            SweepIdentity("tuner", None, trial + 1, 42, searched),
            0.5 + trial / 10,
            model__head__units=units,
            train__optimizer=optimizer,
        )
    _run(root / "quickstart_digits_mobilenet" / "baseline", SweepIdentity(seed=42), 0.55)
    write_hparams_experiment(root)
    return root


def test_sessions_carry_sweep_value_status_and_typed_hyperparameters(tmp_path):
    _run(
        tmp_path / "exp" / "learning_rate=0.1",
        SweepIdentity("learning_rate", "train.learning_rate", 0.1, 42),
        0.5,
        train__learning_rate=0.1,
    )
    session = hparam_values(session_hparams(read_record(tmp_path / "exp" / "learning_rate=0.1")))
    assert session["Sweep"] == "learning_rate" and session["Value"] == "0.1" and session["status"] == "completed"
    assert session["train.learning_rate"] == 0.1 and session["Seed"] == 42 and "train.seed" not in session
    assert "train.steps_per_epoch" not in session  # null: an empty cell, not the text "null"


def test_columns_are_sweep_value_first_then_what_differs(tmp_path):
    mixed_results(tmp_path)
    sessions = [hparam_values(session_hparams(read_record(p.parent))) for p in tmp_path.glob("*/*/record.json")]
    found = columns(sessions)
    assert found[:3] == ["Seed", "Sweep", "Value"]
    assert {"train.learning_rate", "train.optimizer", "model.head.units"} <= set(found)
    assert "data.image_size" not in found  # the same in every run
    assert (tmp_path / FOLDER).is_dir() and len(list((tmp_path / FOLDER).iterdir())) == 1
    write_hparams_experiment(tmp_path)  # rewritten, never a second experiment
    assert len(list((tmp_path / FOLDER).iterdir())) == 1


def test_tensorboard_command_quotes_the_folder():
    assert tensorboard_command("my results") == "tensorboard --logdir 'my results'"


@pytest.fixture
def tensorboard(tmp_path):
    """TensorBoard's own server on a mixed results folder; yields its base URL."""

    def ready(url: str) -> bool:
        return bool(post_json(f"{url}/data/plugin/hparams/experiment", {"experimentName": ""}).get("hparamInfos"))

    with tensorboard_server(mixed_results(tmp_path / "results"), ready) as url:
        yield url


@pytest.mark.slow
def test_tensorboard_shows_every_knob_and_tuner_hyperparameter_typed(tensorboard):
    experiment = post_json(f"{tensorboard}/data/plugin/hparams/experiment", {"experimentName": ""})
    infos = {h["name"]: h for h in experiment["hparamInfos"]}
    # the frontend shows the first five columns until asked for more: the seed is one of them
    assert [h["name"] for h in experiment["hparamInfos"]][:3] == ["Seed", "Sweep", "Value"]
    assert {"train.learning_rate", "train.optimizer", "model.head.units", "status"} <= set(infos)
    assert all(h.get("type", "DATA_TYPE_UNSET") != "DATA_TYPE_UNSET" for h in infos.values())
    assert infos["Seed"]["type"] == "DATA_TYPE_FLOAT64" and infos["Sweep"]["type"] == "DATA_TYPE_STRING"
    assert set(infos["Sweep"]["domainDiscrete"]) == {"learning_rate", "tuner", "run"}
    assert sorted(infos["train.learning_rate"]["domainDiscrete"]) == [0.001, 0.01, 0.1]
    assert set(infos["train.optimizer"]["domainDiscrete"]) == {"adam", "sgd"}
    assert {m["name"]["tag"] for m in experiment["metricInfos"]} >= {"best_val_accuracy"}

    columns = [{"hparam": name, "order": "ORDER_UNSPECIFIED", "includeInResult": True} for name in infos]
    groups = post_json(
        f"{tensorboard}/data/plugin/hparams/session_groups",
        {
            "experimentName": "",
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            "colParams": columns,
            "aggregationType": "AGGREGATION_AVG",
            "startIndex": 0,
            "sliceSize": 100,
        },
    )["sessionGroups"]
    assert len(groups) == 6
    for name in infos:  # no column empty for every row
        assert any(name in g["hparams"] for g in groups), name
    trials = [g for g in groups if g["hparams"]["Sweep"] == "tuner"]
    assert {g["hparams"]["Value"] for g in trials} == {"trial=001", "trial=002"}  # their values in their columns
    best = {
        g["hparams"]["Value"]: g["metricValues"][0]["value"] for g in groups if g["hparams"]["Sweep"] == "learning_rate"
    }
    assert best == pytest.approx({"0.1": 0.4, "0.01": 0.8, "0.001": 0.6})


def test_a_metric_that_not_every_completed_run_has_is_not_declared_for_the_folder(tmp_path):
    # TensorBoard's parallel-coordinates view draws no session lacking one of the folder's metrics: one run
    # with a test split among runs without one would empty it.
    from harness.records.hparams import declared_metrics, run_records

    mixed_results(tmp_path)
    with_test = tmp_path / "quickstart_digits_mobilenet" / "baseline"
    record = read_record(with_test)
    write_record(with_test, dataclasses.replace(record, sweep=SweepIdentity(seed=42), test_accuracy=0.5))
    tags = [m[0] for m in declared_metrics(run_records(tmp_path))]
    assert "test_accuracy" not in tags and "best_val_accuracy" in tags
    assert "normalized_accuracy" not in tags  # no report has normalized these runs yet
    for run_dir, _ in run_records(tmp_path):
        (run_dir / "tb" / "normalized").mkdir()
    assert "normalized_accuracy" in [m[0] for m in declared_metrics(run_records(tmp_path))]


def test_a_stepped_float_is_shown_as_it_was_written():
    assert hparam_values({"model.head.dropout": 0.1 * 3, "lr": 0.008285093})["model.head.dropout"] == 0.3
    assert hparam_values({"lr": 0.008285093})["lr"] == 0.008285093


@pytest.mark.slow
def test_a_folder_past_one_page_of_sessions_says_how_to_see_all_and_tensorboard_then_shows_all(tmp_path):
    from harness.records.hparams import HPARAMS_PAGE, compare_lines

    root = tmp_path / "results"
    sweep = root / "many"
    for k in range(120):
        rate = round(0.001 * (k + 1), 6)
        identity = SweepIdentity("learning_rate", "train.learning_rate", rate, 42)
        _run(sweep / f"learning_rate={rate}", identity, 0.5, train__learning_rate=rate)
    write_hparams_experiment(root)
    lines = compare_lines(root).splitlines()
    assert lines[0] == f"compare: {tensorboard_command(root)}"
    assert lines[1].startswith("hparams: 120 runs;") and '"Max # of session groups per page"' in lines[1]
    assert len(compare_lines(tmp_path / "results" / "many" / "learning_rate=0.001").splitlines()) == 1

    def groups(url: str, page: int) -> dict:
        infos = post_json(f"{url}/data/plugin/hparams/experiment", {"experimentName": ""})["hparamInfos"]
        return post_json(
            f"{url}/data/plugin/hparams/session_groups",
            {
                "experimentName": "",
                "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
                "colParams": [{"hparam": h["name"], "includeInResult": True} for h in infos],
                "startIndex": 0,
                "sliceSize": page,  # the page size the frontend sends: 100 unless the user raises it
            },
        )

    with tensorboard_server(root, lambda url: groups(url, HPARAMS_PAGE).get("totalSize") == 120) as url:
        assert len(groups(url, HPARAMS_PAGE)["sessionGroups"]) == HPARAMS_PAGE  # what the console warns of
        shown = groups(url, 120)["sessionGroups"]  # with the page size the console says
        assert len(shown) == 120 and len({g["hparams"]["Value"] for g in shown}) == 120


def test_a_cost_metric_is_declared_only_where_every_completed_run_has_it(tmp_path):
    from harness.records.hparams import declared_metrics, run_records
    from harness.records.record import Cost, write_record

    mixed_results(tmp_path)
    assert "latency_ms" not in [m[0] for m in declared_metrics(run_records(tmp_path))]  # records before 0.4
    for run_dir, record in run_records(tmp_path):
        write_record(run_dir, dataclasses.replace(record, cost=Cost(1, 1, 100, 0.5, [32, 32], 1.5)))
    assert {"latency_ms", "macs_millions", "weights_mb"} <= {m[0] for m in declared_metrics(run_records(tmp_path))}


def test_balanced_accuracies_are_declared_only_where_every_completed_run_has_them(tmp_path):
    from harness.records.hparams import declared_metrics, run_records

    mixed_results(tmp_path)
    assert "val_balanced_accuracy" not in [m[0] for m in declared_metrics(run_records(tmp_path))]
    for run_dir, record in run_records(tmp_path):
        write_record(run_dir, dataclasses.replace(record, val_balanced_accuracy=0.5))
    declared = {m[0] for m in declared_metrics(run_records(tmp_path))}
    assert "val_balanced_accuracy" in declared and "test_balanced_accuracy" not in declared
