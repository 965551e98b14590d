"""One complete run in process: presets on mock data, determinism, NaN and failures, the saved model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

import harness.training.fit
from harness.data import sources
from harness.records.record import read_record
from harness.reports.tables import load_table
from harness.training.run import run, run_dir_for
from tests.helpers import FAST, make_cfg

# A small scratch net where what is tested does not depend on the backbone.
SMALL_NET = ["model=scratch", "model.depth=2", "model.filters=8"]


def quick(results_dir, *extra):
    return make_cfg("experiment=quickstart", f"results_dir={results_dir}", *FAST, *extra)


def test_chapter5_preset_runs_in_fast_mode_on_mock_tfds(monkeypatch, results_dir, weights_file):
    monkeypatch.setattr(sources, "network_available", lambda *a, **k: True)
    cfg = make_cfg(
        "experiment=chapter5", f"results_dir={results_dir}", *FAST, f"model.weights={weights_file}", "model.alpha=0.25"
    )
    with tfds.testing.mock_data(num_examples=16):
        record = run(cfg)
    assert record.status == "completed" and record.num_classes == 102
    assert record.test_accuracy is not None and record.num_test == 16
    from harness.records.record import unpack_correct

    assert unpack_correct(record.test_correct, 16).mean() == pytest.approx(record.test_accuracy)
    assert (results_dir / "chapter5_oxford_flowers102_mobilenet" / "baseline" / "record.json").exists()


def test_same_seed_same_numbers_other_seed_other_numbers(results_dir):
    extra = ["train.epochs=2", "train.steps_per_epoch=3", "model=scratch", "model.depth=2"]
    first = run(quick(results_dir, *extra, "run_name=a"))
    second = run(quick(results_dir, *extra, "run_name=b"))
    other = run(quick(results_dir, *extra, "run_name=c", "train.seed=7"))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert first.history[key] == second.history[key]
    assert first.history["loss"] != other.history["loss"]


def test_non_finite_loss_ends_the_run_as_diverged_not_a_crash(monkeypatch, results_dir):
    import keras

    import harness.models.build

    real = harness.models.build.build_model

    def poisoned(*args):  # a model whose output, and so whose loss, is NaN (ReLU would swallow NaN inputs)
        model = real(*args)
        return keras.Model(model.input, keras.layers.Lambda(lambda t: t * float("nan"))(model.output))

    monkeypatch.setattr(harness.models.build, "build_model", poisoned)
    record = run(quick(results_dir, "train.epochs=3"))
    assert record.status == "diverged" and "non-finite" in record.error
    assert record.epochs_run == 1
    saved = json.loads((Path(results_dir) / record.name / "baseline" / "record.json").read_text())
    assert saved["status"] == "diverged" and saved["history"]["loss"] == [None]


def test_an_error_during_training_is_recorded_as_failed(monkeypatch, results_dir):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory, say")

    monkeypatch.setattr(harness.training.fit, "fit", broken)
    record = run(quick(results_dir))
    assert record.status == "failed" and record.error == "RuntimeError: out of memory, say"
    assert json.loads((Path(results_dir) / record.name / "baseline" / "record.json").read_text())["status"] == "failed"


def test_a_stop_requested_while_inputs_are_prepared_ends_the_run_interrupted_before_it_trains(monkeypatch, results_dir):
    import harness.training.run
    from harness.process import stopping
    from harness.training import inputs

    real = inputs.training_inputs

    def then_a_stop(*args):
        prepared = real(*args)
        stopping._state["requested"] = 15  # a SIGTERM (or Ray's cancel) while the caches were built
        return prepared

    monkeypatch.setattr(harness.training.run, "training_inputs", then_a_stop)
    monkeypatch.setattr(harness.training.fit, "fit", lambda *a, **k: pytest.fail("trained after the stop request"))
    try:
        with pytest.raises(stopping.Interrupted):
            run(quick(results_dir, *SMALL_NET))
    finally:
        stopping.reset()
    saved = json.loads(next(Path(results_dir).rglob("record.json")).read_text())
    assert saved["status"] == "interrupted" and saved["error"] == "stopped by SIGTERM"


def test_model_is_saved_only_when_asked(results_dir):
    import keras

    record = run(quick(results_dir, "run_name=nosave", *SMALL_NET))
    assert not (Path(results_dir) / record.name / "nosave" / "model.keras").exists()
    record = run(quick(results_dir, "run_name=save", "train.save_model=true", *SMALL_NET))
    model = keras.saving.load_model(Path(results_dir) / record.name / "save" / "model.keras")
    assert model.predict(np.zeros((1, 32, 32, 3)), verbose=0).shape == (1, 10)


def folder_run(image_folder, results_dir, *extra: str):
    """A small net on the generated folder: 18 training images at batch 4 (5 steps for a pass over them)."""
    common = ["dataset=folder", f"dataset.path={image_folder}", f"results_dir={results_dir}", *SMALL_NET]
    return run(
        make_cfg(*common, "data.image_size=32", "train.batch_size=4", "train.epochs=2", "train.verbose=0", *extra)
    )


def test_a_run_writes_its_data_report_beside_its_record_and_the_table_can_filter_on_it(tmp_path, results_dir):
    from tests.helpers import write_leaking_folder

    record = folder_run(write_leaking_folder(tmp_path / "leaky"), results_dir, "train.epochs=1")
    run_dir = Path(results_dir) / record.name / record.run_name
    assert "| val | train | 1 | 0 |" in (run_dir / "data_report.md").read_text()
    saved = json.loads((run_dir / "record.json").read_text())["dataset"]
    assert saved["shared"] == {"val~train": 1, "test~train": 1, "test~val": 1} and saved["imbalance"] == 1.0
    assert 0 <= record.val_balanced_accuracy <= 1 and 0 <= record.test_macro_f1 <= 1
    row = load_table(results_dir).iloc[0]
    assert (row.imbalance, row.shared_images, row.dropped_images) == (1.0, 3, 0)


@pytest.mark.parametrize("budget, steps", [("full_data", 5), ("subset", 2)])
def test_a_subset_trains_as_many_steps_per_epoch_as_the_whole_split_unless_told_otherwise(
    image_folder, results_dir, budget, steps
):
    # 2 per class is 6 images: a pass over them is 2 steps. A smaller subset must not also be a shorter training
    # run, or "samples per class" measures undertraining.
    record = folder_run(
        image_folder, results_dir, "data.samples_per_class=2", f"train.budget={budget}", f"run_name={budget}"
    )
    assert record.status == "completed" and record.num_train == 6 and record.steps_per_epoch == steps
    assert record.config["train"]["budget"] == budget


def test_the_budget_leaves_a_run_on_the_whole_split_as_it_was(image_folder, results_dir):
    full = folder_run(image_folder, results_dir, "run_name=a")
    subset = folder_run(image_folder, results_dir, "train.budget=subset", "run_name=b")
    assert full.steps_per_epoch == subset.steps_per_epoch == 5 and full.history["loss"] == subset.history["loss"]


def test_a_run_stopped_after_its_second_epoch_records_the_signal_and_the_two_epochs(results_dir):
    """Ctrl-C during epoch 3: the record says SIGINT, and how far the run came (2 epochs, their history)."""
    import signal

    import keras

    from harness.process import stopping
    from harness.training.fit import FitOptions

    class CtrlCInThirdEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                stopping._state["requested"] = signal.SIGINT  # what the handler records

    cfg = quick(results_dir, "train.epochs=5", "train.steps_per_epoch=2", "train.steps_per_execution=1")
    try:
        with pytest.raises(stopping.Interrupted):
            run(cfg, options=FitOptions([CtrlCInThirdEpoch()]))
    finally:
        stopping.reset()
    record = read_record(run_dir_for(cfg))
    assert record.status == "interrupted" and record.error == "stopped by SIGINT"
    assert record.epochs_run >= 2 and record.history["epoch"][:2] == [1, 2] and record.best_val_accuracy is not None
