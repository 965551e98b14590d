"""The command line: a run end to end, and one line with exit status 2 (nothing written) for bad input."""

from __future__ import annotations

import json

import pytest

from tests.helpers import FAST, run_cli, tb_tags

RECORD_FIELDS = {
    "status", "error", "config", "config_hash", "history", "best_val_accuracy", "final_val_accuracy", "best_epoch",
    "epochs_run", "test_accuracy", "num_train", "num_val", "trainable_params", "total_params", "wall_seconds",
    "seconds_per_epoch", "versions", "git",
}

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "args, expected",
    [
        (["train.learning_rate=-0.1"], "train.learning_rate=-0.1"),
        (["dataset=nope"], "dataset='nope' is not allowed: one of beans"),
        (["train.lr=0.1"], "train.lr"),
        (["model.unfreeze=1.5"], "model.unfreeze=1.5"),
    ],
)
def test_cli_rejects_bad_input_with_one_line_exit_2_and_no_files(tmp_path, args, expected):
    results = tmp_path / "results"
    done = run_cli("experiment=quickstart", f"results_dir={results}", *args, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr and not results.exists()


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
