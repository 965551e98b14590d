"""One complete run: presets end to end, the record, TensorBoard, determinism, NaN and failures, offline errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from harness import data, train
from harness.run import run
from tests.conftest import FAST, make_cfg, run_cli

RECORD_FIELDS = {
    "status", "error", "config", "config_hash", "history", "best_val_accuracy", "final_val_accuracy", "best_epoch",
    "epochs_run", "test_accuracy", "num_train", "num_val", "trainable_params", "total_params", "wall_seconds",
    "seconds_per_epoch", "versions", "git",
}


def tb_tags(log_dir: Path) -> dict[str, set[str]]:
    """{subdir: tags} of every TensorBoard event file under log_dir (plugin tags included)."""
    import tensorflow as tf

    out: dict[str, set[str]] = {}
    for events in log_dir.rglob("events.out.tfevents.*"):
        tags = out.setdefault(str(events.parent.relative_to(log_dir)), set())
        for raw in tf.data.TFRecordDataset(str(events)):
            event = tf.compat.v1.Event.FromString(raw.numpy())
            tags.update(v.tag for v in event.summary.value)
    return out


def quick(results_dir, *extra):
    return make_cfg("experiment=quickstart", f"results_dir={results_dir}", *FAST, *extra)


def test_quickstart_runs_from_the_command_line_and_records_everything(results_dir):
    done = run_cli("experiment=quickstart", f"results_dir={results_dir}", *FAST, "train.epochs=2")
    assert done.returncode == 0, done.stderr[-2000:]
    run_dir = results_dir / "quickstart_digits_mobilenet" / "baseline"
    record = json.loads((run_dir / "record.json").read_text())
    assert RECORD_FIELDS <= set(record)
    assert record["status"] == "completed" and record["epochs_run"] == 2
    assert record["config"]["dataset"]["name"] == "digits" and record["overrides"][0] == "experiment=quickstart"
    assert record["num_val"] == 180 and 0 <= record["best_val_accuracy"] <= 1
    assert record["test_accuracy"] is not None and record["versions"]["tensorflow"]
    assert len(record["history"]["val_accuracy"]) == 2 and record["history"]["learning_rate"] == pytest.approx([0.001, 0.001])
    assert (run_dir / ".hydra" / "config.yaml").exists()
    assert not list(run_dir.glob(".record.json.*"))
    tags = tb_tags(run_dir / "tb")
    assert "_hparams_/session_start_info" in tags["."] and "best_val_accuracy" in tags["."]
    assert {"epoch_accuracy", "epoch_loss", "epoch_learning_rate"} <= tags["train"]
    assert {"epoch_accuracy", "epoch_loss"} <= tags["validation"]
    assert "quickstart_digits_mobilenet/baseline" in done.stdout + done.stderr


def test_chapter5_preset_runs_in_fast_mode_on_mock_tfds(monkeypatch, results_dir, weights_file):
    monkeypatch.setattr(data, "network_available", lambda *a, **k: True)
    cfg = make_cfg("experiment=chapter5", f"results_dir={results_dir}", *FAST, f"model.weights={weights_file}", "model.alpha=0.25")
    with tfds.testing.mock_data(num_examples=16):
        record = run(cfg)
    assert record["status"] == "completed" and record["num_classes"] == 102
    assert record["test_accuracy"] is not None and record["num_test"] == 16
    assert (results_dir / "chapter5_oxford_flowers102_mobilenet" / "baseline" / "record.json").exists()


def test_offline_dataset_download_exits_2_with_the_offline_options(tmp_path, results_dir):
    done = run_cli("experiment=chapter5", f"results_dir={results_dir}", f"dataset.data_dir={tmp_path / 'tfds'}", *FAST, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert "cannot be downloaded" in last and "experiment=quickstart" in last and "dataset=folder" in last and "model.weights=" in last
    assert "Traceback" not in done.stderr and not results_dir.exists()


def test_offline_imagenet_weights_exit_2_with_the_offline_options(results_dir):
    done = run_cli("experiment=quickstart", f"results_dir={results_dir}", *FAST, "model.weights=imagenet", "data.image_size=128", timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "ImageNet weights" in done.stderr.strip().splitlines()[-1] and "model.weights=<file>" in done.stderr
    assert not results_dir.exists()


def test_same_seed_same_numbers_other_seed_other_numbers(results_dir):
    extra = ["train.epochs=2", "train.steps_per_epoch=3", "model=scratch", "model.depth=2"]
    first = run(quick(results_dir, *extra, "run_name=a"))
    second = run(quick(results_dir, *extra, "run_name=b"))
    other = run(quick(results_dir, *extra, "run_name=c", "train.seed=7"))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert first["history"][key] == second["history"][key]
    assert first["history"]["loss"] != other["history"]["loss"]


def test_non_finite_loss_ends_the_run_as_diverged_not_a_crash(monkeypatch, results_dir):
    import keras

    from harness import models

    real = models.build_model

    def poisoned(*args):  # a model whose output, and so whose loss, is NaN (ReLU would swallow NaN inputs)
        model = real(*args)
        return keras.Model(model.input, keras.layers.Lambda(lambda t: t * float("nan"))(model.output))

    monkeypatch.setattr(models, "build_model", poisoned)
    record = run(quick(results_dir, "train.epochs=3"))
    assert record["status"] == "diverged" and "non-finite" in record["error"]
    assert record["epochs_run"] == 1
    saved = json.loads((Path(results_dir) / record["name"] / "baseline" / "record.json").read_text())
    assert saved["status"] == "diverged" and saved["history"]["loss"] == [None]


def test_an_error_during_training_is_recorded_as_failed(monkeypatch, results_dir):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory, say")

    monkeypatch.setattr(train, "fit", broken)
    record = run(quick(results_dir))
    assert record["status"] == "failed" and record["error"] == "RuntimeError: out of memory, say"
    assert json.loads((Path(results_dir) / record["name"] / "baseline" / "record.json").read_text())["status"] == "failed"


def test_fine_tune_trains_the_head_first_then_the_unfrozen_top(results_dir, weights_file):
    cfg = quick(results_dir, f"model.weights={weights_file}", "model.unfreeze=0.5", "train.fine_tune.enabled=true", "train.fine_tune.epochs=1")
    record = run(cfg)
    assert record["status"] == "completed" and record["epochs_run"] == 2
    assert record["history"]["learning_rate"] == pytest.approx([1e-3, 1e-5])


def test_model_is_saved_only_when_asked(results_dir):
    import keras

    record = run(quick(results_dir, "run_name=nosave"))
    assert not (Path(results_dir) / record["name"] / "nosave" / "model.keras").exists()
    record = run(quick(results_dir, "run_name=save", "train.save_model=true"))
    model = keras.saving.load_model(Path(results_dir) / record["name"] / "save" / "model.keras")
    assert model.predict(np.zeros((1, 32, 32, 3)), verbose=0).shape == (1, 10)


def test_seconds_per_epoch_skips_the_first_epoch_that_traces_the_graph():
    summary = train.summarize({"val_accuracy": [0.2, float("nan"), 0.5, 0.4], "seconds": [9.0, 1.0, 2.0, 3.0]})
    assert summary == {"best_val_accuracy": 0.5, "final_val_accuracy": 0.4, "best_epoch": 3, "seconds_per_epoch": 2.0}
