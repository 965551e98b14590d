"""tuner=autokeras: AutoKeras's search on the harness's data, offline, within its trial and time budgets,
every trial a record, resumed after a kill, the exported model scored again after reloading."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from harness.config.validate import validate
from harness.errors import ConfigError
from harness.records.record import HISTORY_KEYS
from tests.helpers import (
    NEEDS_AUTOML,
    ROOT,
    experiment_dir,
    fake_run,
    make_cfg,
    records,
    run_cli,
    tb_tags,
    write_images,
)

TINY = ["experiment=quickstart", "tuner=autokeras", "data.image_size=32", "train.verbose=0", "model.alpha=0.25"]


def test_autokeras_takes_its_budgets_and_no_keras_tuner_space():
    validate(make_cfg(*TINY, "tuner.max_seconds=60"))
    with pytest.raises(ConfigError, match="tuner=autokeras searches AutoKeras's own space"):
        validate(make_cfg(*TINY, "+tuner.space={train:{learning_rate:{type:float,min:0.001,max:0.1}}}"))
    with pytest.raises(ConfigError, match=r"only autokeras and optuna do\)"):
        validate(make_cfg("experiment=quickstart", "tuner=random", "tuner.max_seconds=60"))


@pytest.mark.parametrize(
    "override, key, default",
    [
        ("data.augment=flip", "data.augment", "none"),
        ("data.mix=mixup", "data.mix", "none"),
        ("model.head.units=32", "model.head.units", "64"),
        ("train.fine_tune.enabled=true", "train.fine_tune.enabled", "false"),
        ("train.steps_per_epoch=2", "train.steps_per_epoch", "null"),
    ],
)
def test_a_knob_autokeras_does_not_apply_is_refused_unless_at_its_default(override, key, default):
    """AutoKeras trains its own head on un-augmented arrays in one phase: a record that said otherwise would lie."""
    with pytest.raises(
        ConfigError,
        match=rf"^config error: {re.escape(key)}=.* is not allowed: only its default \({default}\), as tuner=autokeras does not apply it$",
    ):
        validate(make_cfg(*TINY, override))
    validate(make_cfg("experiment=quickstart", override))  # a harness run applies it


def test_a_trials_record_leaves_out_what_autokeras_does_not_apply():
    from harness.multirun.automl import trial_config

    config = trial_config(make_cfg(*TINY), "trial=001", {"learning_rate": 0.01, "harness_backbone/unfreeze": 0.66})
    assert config["train"]["learning_rate"] == 0.01 and config["model"]["unfreeze"] == 0.66
    assert not {"augment", "mix", "augmentation"} & set(config["data"]) and "head" not in config["model"]
    assert "fine_tune" not in config["train"] and config["data"]["image_size"] == 32


@pytest.mark.parametrize(
    "exported, trial, agrees", [(0.9, 0.9, True), (0.9, 0.95, True), (0.5, 0.905, False), (0.9, None, False)]
)
def test_an_exported_model_must_score_as_its_trial_within_two_images(exported, trial, agrees):
    """40 test images: 0.9 against 0.95 is two images apart (ties at 0.5 may fall either way); 0.5 against 0.905
    is the two-class bug's sixteen, an error the command reports with exit status 1."""
    from harness.multirun.automl import _against_trial
    from harness.records.record import RunRecord, SweepIdentity

    record = None
    if trial is not None:
        record = RunRecord.from_dict(
            {"name": "e", "run_name": "trial=001", "status": "completed", "test_accuracy": trial}
        )
        record.sweep = SweepIdentity()
    found = _against_trial({"split": "test", "images": 40, "accuracy_exported": exported}, record)
    assert found == {"accuracy_trial": trial, "agrees_with_trial": agrees}


def test_without_autokeras_the_search_says_how_to_install_it(monkeypatch):
    from harness.errors import UserError
    from harness.multirun import automl

    monkeypatch.setitem(sys.modules, "autokeras", None)
    with pytest.raises(UserError, match=r"pip install 'tl-harness\[automl\]'"):
        automl.autokeras()


@NEEDS_AUTOML
def test_the_stock_head_still_cannot_build_on_this_keras():
    """The reason for automl.classification_head: when this fails, AutoKeras builds its head again and the
    subclass can go."""
    import autokeras as ak
    import keras_tuner as kt

    from harness.multirun.automl import classification_head

    def build(head_class):
        head = head_class(num_classes=3)
        head.shape = np.array((1, 3))[1:]  # as AutoKeras sets it: numpy integers
        import keras

        return head.build(kt.HyperParameters(), keras.Input((4,)))

    with pytest.raises(ValueError, match="positive integer"):
        build(ak.ClassificationHead)
    assert build(classification_head()).shape == (None, 3)


@NEEDS_AUTOML
@pytest.mark.slow
def test_a_two_trial_search_records_every_trial_and_scores_the_reloaded_model(tmp_path, weights_file):
    args = [*TINY, f"model.weights={weights_file}", "tuner.max_trials=2", "train.epochs=2", f"results_dir={tmp_path}"]
    done = run_cli(*args, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    exp = experiment_dir(*args)
    runs = records(exp, "trial=*")
    assert sorted(runs) == ["trial=001", "trial=002"]
    for run in runs.values():
        assert run["status"] == "completed" and run["sweep"]["name"] == "tuner" and run["test_accuracy"] is not None
        assert (
            "harness_backbone/unfreeze" in run["sweep"]["hyperparameters"] and len(run["history"]["val_accuracy"]) >= 1
        )
    tags = tb_tags(exp / "trial=001" / "tb")
    assert any("_hparams_" in t for t in tags["."]) and "epoch_accuracy" in tags["validation"]
    summary = json.loads((exp / "autokeras.json").read_text())
    exported = summary["exported"]
    assert exported["accuracy_reloaded"] == exported["accuracy_exported"] and exported["same_prediction"] == 1.0
    assert exported["agrees_with_trial"] and exported["accuracy_trial"] == runs[summary["best_run"]]["test_accuracy"]
    assert (exp / "model.keras").exists() and (exp / "summary.csv").exists()
    assert "best trial #" in done.stdout


@NEEDS_AUTOML
@pytest.mark.slow
def test_the_time_budget_cuts_the_running_trial_short_and_starts_no_other(tmp_path, weights_file):
    args = [
        *TINY,
        f"model.weights={weights_file}",
        "tuner.max_trials=4",
        "tuner.max_seconds=1",
        "train.epochs=50",
        "train.patience=null",
        f"results_dir={tmp_path}",
    ]
    done = run_cli(*args, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    exp = experiment_dir(*args)
    (run,) = records(exp, "trial=*").values()
    assert run["epochs_run"] < 50 and "cut short by tuner.max_seconds" in run["data_notes"]
    assert json.loads((exp / "autokeras.json").read_text())["budget"] == "tuner.max_seconds=1 reached"


@NEEDS_AUTOML
@pytest.mark.slow
def test_a_killed_search_resumes_and_trains_no_finished_trial_again(tmp_path, weights_file):
    args = [*TINY, f"model.weights={weights_file}", "tuner.max_trials=2", "train.epochs=3", f"results_dir={tmp_path}"]
    exp = experiment_dir(*args)
    search = subprocess.Popen(
        [sys.executable, "-m", "harness", *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 300
        while not (exp / "trial=001" / "record.json").exists():
            assert time.monotonic() < deadline and search.poll() is None, "the first trial never finished"
            time.sleep(0.5)
        search.send_signal(signal.SIGKILL)
    finally:
        search.wait(timeout=60)
    first = records(exp, "trial=*")["trial=001"]
    done = run_cli(*args, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = records(exp, "trial=*")
    assert sorted(runs) == ["trial=001", "trial=002"] and all(r["status"] == "completed" for r in runs.values())
    assert runs["trial=001"]["started_at"] == first["started_at"], "the finished trial was not trained again"


@NEEDS_AUTOML
@pytest.mark.slow
def test_a_two_class_search_scores_each_trial_as_keras_evaluates_its_model(tmp_path, weights_file):
    """AutoKeras gives two classes a single sigmoid unit: the trial's test accuracy is Keras's evaluate of the
    exported model on the test split (not argmax over one column, which is class 0 everywhere), and the trial's
    record has a harness run's shape."""
    import autokeras as ak
    import keras

    from harness.multirun.automl import _arrays
    from harness.reports.tables import load_table
    from harness.training.run import load_data

    for c, name in enumerate(("cats", "dogs")):
        write_images(tmp_path / "photos" / name, 40, seed=c, color=c)
    args = [
        *TINY,
        "dataset=folder",
        f"dataset.path={tmp_path / 'photos'}",
        "dataset.test_fraction=0.25",
        f"model.weights={weights_file}",
        "tuner.max_trials=1",
        "train.epochs=2",
        f"results_dir={tmp_path / 'results'}",
        f"cache_dir={tmp_path / 'cache'}",
    ]
    done = run_cli(*args, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    exp = experiment_dir(*args)
    trial = records(exp, "trial=*")["trial=001"]

    cfg = make_cfg(*args)
    arrays = _arrays(cfg, load_data(cfg))
    model = keras.saving.load_model(exp / "model.keras", custom_objects=ak.CUSTOM_OBJECTS)
    assert model.output_shape[-1] == 1, "AutoKeras's two-class head is one sigmoid unit"
    _, accuracy = model.evaluate(arrays["test"].astype(np.float32), arrays["test_labels"], verbose=0)
    assert trial["test_accuracy"] == pytest.approx(accuracy) and trial["num_test"] == len(arrays["test_labels"])
    assert json.loads((exp / "autokeras.json").read_text())["exported"]["accuracy_exported"] == pytest.approx(accuracy)

    fake_run(tmp_path / "other", "baseline", 0.01, 0.5)  # written as every harness run's record is
    run_record = records(tmp_path / "other")["baseline"]
    assert set(trial) == set(run_record) and set(trial["history"]) == {"epoch", *HISTORY_KEYS}
    assert trial["sweep"]["name"] == "tuner" and trial["sweep"]["knob"] is None and trial["total_params"] > 0
    row = load_table(exp).iloc[0]
    assert (
        row["model.unfreeze"] in (0.0, 0.33, 0.66, 1.0) and "data.augment" not in row and "model.head.units" not in row
    )
