"""The run record: one typed RunRecord, written atomically as JSON every reader can parse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.records.record import (
    RECORD,
    STATUSES,
    RunRecord,
    Status,
    SweepIdentity,
    hyperparameters,
    read_record,
    write_record,
)
from harness.storage.atomic import replacing, write_atomic


def record(**fields) -> RunRecord:
    base = dict(
        name="exp",
        run_name="run",
        status="running",
        config_hash="h",
        config={},
        sweep=SweepIdentity(seed=1),
        started_at="t",
        versions={},
        git={},
        host={},
    )
    return RunRecord(**{**base, **fields})


def test_a_status_outside_the_six_is_refused():
    assert STATUSES == ("running", "completed", "diverged", "failed", "interrupted", "pruned")
    with pytest.raises(ValueError, match="status 'done'"):
        record(status="done")


def test_a_record_round_trips_with_non_finite_numbers_as_null(tmp_path):
    write_record(
        tmp_path, record(status="diverged", history={"loss": [1.0, float("nan")]}, best_val_accuracy=float("inf"))
    )
    back = read_record(tmp_path)
    assert back.status is Status.DIVERGED and back.history["loss"] == [1.0, None] and back.best_val_accuracy is None
    stored = json.loads((tmp_path / RECORD).read_text())
    assert stored["sweep"] == {"name": None, "knob": None, "value": None, "seed": 1}  # no tuner hyperparameters: no key
    assert back.as_dict() == stored


def test_a_record_of_an_older_version_reads_typed_without_what_it_lacks_or_what_is_no_longer_kept(tmp_path):
    old = {
        "name": "e",
        "run_name": "r",
        "status": "completed",
        "best_val_accuracy": 0.5,
        "config": {},
        "sweep": {"knob": "k", "gone": 1},
    }
    (tmp_path / RECORD).write_text(json.dumps({**old, "a_field_of_another_version": 3}))
    back = read_record(tmp_path)
    assert isinstance(back, RunRecord) and back.status.scored and back.sweep.knob == "k"
    assert back.versions == {} and back.config_hash == ""


@pytest.mark.parametrize(
    "status, finished, scored",
    [
        ("running", False, False),
        ("interrupted", False, False),
        ("completed", True, True),
        ("diverged", True, False),
        ("failed", True, False),
    ],
)
def test_a_status_says_whether_the_run_finished_and_whether_it_has_a_score(status, finished, scored):
    """Finished: it came to an end of its own, and a resumed search counts it as done. Interrupted and running
    runs are trained again. Only a completed run's accuracies rank."""
    assert (Status(status).finished, Status(status).scored) == (finished, scored)


def test_an_unreadable_record_reads_as_none(tmp_path):
    assert read_record(tmp_path) is None
    (tmp_path / RECORD).write_text("{half a rec")
    assert read_record(tmp_path) is None


def test_hyperparameters_are_the_data_model_and_train_values_as_dotted_keys():
    config = {
        "dataset": {"name": "d", "path": "/x"},
        "data": {"image_size": 32, "augmentation": {"flip": True}},
        "model": {"unfreeze": 0.5},
        "train": {"learning_rate": 0.1, "verbose": 2},
        "results_dir": "r",
    }
    assert hyperparameters(config) == {
        "dataset.name": "d",
        "data.image_size": 32,
        "data.augmentation.flip": True,
        "model.unfreeze": 0.5,
        "train.learning_rate": 0.1,
    }


def test_a_writer_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "summary.md"
    write_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with replacing(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["summary.md"]


@pytest.mark.parametrize(
    "text",
    [
        "[1, 2]",
        '{"status": "done"}',
        '{"status": "completed", "config": "x"}',
        '{"status": "completed", "history": {"loss": 3}}',
        '"completed"',
    ],
)
def test_valid_json_of_another_shape_is_no_record_and_trips_no_reader(tmp_path, text, caplog):
    from harness.reports.tables import load_table

    (tmp_path / "exp" / "run").mkdir(parents=True)
    (tmp_path / "exp" / "run" / "record.json").write_text(text)
    assert read_record(tmp_path / "exp" / "run") is None and load_table(tmp_path).empty


def test_a_completed_record_without_a_score_is_no_record(tmp_path):
    """It would be skipped as done by every resume and rank as nothing: the run is trained again instead."""
    (tmp_path / "record.json").write_text(
        json.dumps({"status": "completed", "best_val_accuracy": None, "history": {}, "config": {}})
    )
    assert read_record(tmp_path) is None


def test_record_files_are_found_sorted_and_a_folder_that_cannot_be_read_is_passed_over(tmp_path):
    from harness.records.record import record_files

    for run in ("b", "a/x"):
        (tmp_path / run).mkdir(parents=True)
        (tmp_path / run / "record.json").write_text("{}")
    (tmp_path / "link").symlink_to(tmp_path / "a")  # not followed: "a/x" once
    assert record_files(tmp_path) == [tmp_path / "a" / "x" / "record.json", tmp_path / "b" / "record.json"]
    assert record_files(tmp_path / "gone") == []
    assert record_files(Path("/proc")) == []  # its folders come and go while it is walked


def test_a_pruned_run_is_a_trial_done_but_never_a_result_to_rank():
    assert Status.PRUNED.finished and not Status.PRUNED.scored
