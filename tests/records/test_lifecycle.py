"""A record's life, the same for every kind of run: begun running with its config and provenance, finished once
with its status, history and summary, published with what TensorBoard shows of it."""

from __future__ import annotations

import numpy as np
import pytest

from harness.config.identity import config_hash
from harness.records import lifecycle
from harness.records.record import RunRecord, Status, SweepIdentity, read_record, unpack_correct
from tests.helpers import make_cfg, tb_tags


def _history(*val: float) -> dict[str, list]:
    n = len(val)
    return {"epoch": list(range(1, n + 1)), "val_accuracy": list(val), "seconds": [9.0] + [2.0] * (n - 1)}


def test_a_record_begins_running_with_its_config_identity_and_provenance():
    cfg = make_cfg("experiment=quickstart")
    record = lifecycle.begin(cfg, SweepIdentity(seed=42), ["train.epochs=5"], num_classes=10)
    assert record.status is Status.RUNNING and record.config_hash == config_hash(cfg) and record.num_classes == 10
    assert record.config["train"]["verbose"] == 2, "the hash leaves verbose out; the record keeps all of it"
    assert record.versions["tl-harness"] and record.host["cpus"] and record.overrides == ["train.epochs=5"]


def test_the_summary_is_taken_over_the_history_and_skips_the_epoch_that_traces():
    summary = lifecycle.summarize({"val_accuracy": [0.2, float("nan"), 0.5, 0.4], "seconds": [9.0, 1.0, 2.0, 3.0]})
    assert summary == {"best_val_accuracy": 0.5, "final_val_accuracy": 0.4, "best_epoch": 3, "seconds_per_epoch": 2.0}


def test_a_record_finishes_with_its_history_summary_and_test_images():
    begun = lifecycle.begin(make_cfg("experiment=quickstart"), SweepIdentity(seed=42))
    done = lifecycle.finish(
        begun,
        Status.COMPLETED,
        history=_history(0.5, 0.7),
        test_correct=np.array([True, False, True]),
        test_accuracy=2 / 3,
    )
    assert begun.status is Status.RUNNING, "the record begun is left as it was"
    assert done.status.scored and done.epochs_run == 2 and done.best_val_accuracy == 0.7 and done.best_epoch == 2
    assert list(unpack_correct(done.test_correct, 3)) == [True, False, True] and done.finished_at


def test_a_continued_run_holds_both_parts_as_one_history():
    """Hyperband's next bracket trains a trial's model on: one record, its epochs and time both parts'."""
    cfg = make_cfg("experiment=quickstart")
    first = lifecycle.finish(
        lifecycle.begin(cfg, SweepIdentity(seed=42)), Status.COMPLETED, history=_history(0.5, 0.6), wall_seconds=10.0
    )
    second = lifecycle.begin(cfg, SweepIdentity(seed=42))
    history = {"epoch": [3, 4], "val_accuracy": [0.8, 0.7], "seconds": [2.0, 2.0]}
    both = lifecycle.finish(second, Status.COMPLETED, history=history, wall_seconds=4.0, continues=first)
    assert both.history["epoch"] == [1, 2, 3, 4] and both.epochs_run == 4 and both.best_epoch == 3
    assert both.wall_seconds == 14.0 and both.started_at == first.started_at


def test_an_interrupted_run_says_how_far_it_came():
    begun = lifecycle.begin(make_cfg("experiment=quickstart"), SweepIdentity(seed=42))
    stopped = lifecycle.finish(begun, Status.INTERRUPTED, "stopped by SIGINT", history=_history(0.5, 0.6, 0.7))
    assert not stopped.status.finished and stopped.epochs_run == 3 and stopped.error == "stopped by SIGINT"


def test_a_run_that_could_not_start_is_failed_and_finished_at_once():
    record = lifecycle.never_started(make_cfg("experiment=quickstart"), SweepIdentity(seed=1), "no such file")
    assert record.status is Status.FAILED and record.status.finished and record.finished_at == record.started_at


def test_a_copied_twin_keeps_the_results_under_its_own_name_and_sweep():
    cfg = make_cfg("experiment=quickstart")
    twin = lifecycle.finish(lifecycle.begin(cfg, SweepIdentity(seed=42)), Status.COMPLETED, history=_history(0.9))
    here = make_cfg("experiment=quickstart", "run_name=copy")
    copy = lifecycle.copied(twin, here, SweepIdentity("optimizer", "train.optimizer", "adam", 42), [], "../../a/b")
    assert (copy.run_name, copy.sweep.name, copy.copied_from) == ("copy", "optimizer", "../../a/b")
    assert (copy.history, copy.best_val_accuracy, copy.config_hash) == (twin.history, 0.9, twin.config_hash)


def test_publishing_writes_the_session_the_summary_scalars_and_the_record(tmp_path):
    record = lifecycle.finish(
        lifecycle.begin(make_cfg("experiment=quickstart"), SweepIdentity(seed=42)),
        Status.COMPLETED,
        history=_history(0.5),
        test_accuracy=0.4,
    )
    lifecycle.publish(tmp_path, record)
    assert isinstance(read_record(tmp_path), RunRecord) and read_record(tmp_path).test_accuracy == pytest.approx(0.4)
    assert {"best_val_accuracy", "test_accuracy"} <= tb_tags(tmp_path / "tb")["."]
    assert any("_hparams_" in tag for tag in tb_tags(tmp_path / "tb")["."])
