"""The command line: a run end to end, and one line with exit status 2 (nothing written) for bad input."""

from __future__ import annotations

import json

import pytest

from harness.__main__ import preflight
from tests.helpers import FAST, run_cli, single_run_dir, tb_tags

RECORD_FIELDS = {
    "status",
    "error",
    "config",
    "config_hash",
    "history",
    "best_val_accuracy",
    "final_val_accuracy",
    "best_epoch",
    "epochs_run",
    "test_accuracy",
    "num_train",
    "num_val",
    "trainable_params",
    "total_params",
    "wall_seconds",
    "seconds_per_epoch",
    "versions",
    "git",
}


@pytest.mark.slow
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


@pytest.mark.slow
def test_quickstart_runs_from_the_command_line_and_records_everything(results_dir):
    args = ["experiment=quickstart", f"results_dir={results_dir}", *FAST, "train.epochs=2"]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    run_dir = single_run_dir(*args)
    assert run_dir.parent.name == "quickstart_digits_mobilenet" and run_dir.name.startswith("batch_size=8,epochs=2,")
    record = json.loads((run_dir / "record.json").read_text())
    assert RECORD_FIELDS <= set(record)
    assert record["status"] == "completed" and record["epochs_run"] == 2
    assert record["config"]["dataset"]["name"] == "digits" and record["overrides"][0] == "experiment=quickstart"
    assert record["num_val"] == 180 and 0 <= record["best_val_accuracy"] <= 1
    assert record["test_accuracy"] is not None and record["versions"]["tensorflow"]
    assert len(record["history"]["val_accuracy"]) == 2 and record["history"]["learning_rate"] == pytest.approx(
        [0.001, 0.001]
    )
    assert (run_dir / ".hydra" / "config.yaml").exists()
    assert not list(run_dir.glob(".record.json.*"))
    tags = tb_tags(run_dir / "tb")
    assert "_hparams_/session_start_info" in tags["."] and "best_val_accuracy" in tags["."]
    assert {"epoch_accuracy", "epoch_loss", "epoch_learning_rate"} <= tags["train"]
    assert {"epoch_accuracy", "epoch_loss"} <= tags["validation"]
    assert (
        f"results: {run_dir.resolve()}" in done.stdout and f"compare: tensorboard --logdir {results_dir}" in done.stdout
    )
    assert "cuInit" not in done.stderr and "cudart_stub" not in done.stderr  # no TensorFlow start-up noise


@pytest.mark.slow
def test_offline_dataset_download_exits_2_with_the_offline_options(tmp_path, results_dir):
    done = run_cli(
        "experiment=chapter5", f"results_dir={results_dir}", f"dataset.data_dir={tmp_path / 'tfds'}", *FAST, timeout=120
    )
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert (
        "cannot be downloaded" in last
        and "experiment=quickstart" in last
        and "dataset=folder" in last
        and "model.weights=" in last
    )
    assert "Traceback" not in done.stderr and not results_dir.exists()


@pytest.mark.slow
def test_offline_imagenet_weights_exit_2_with_the_offline_options(results_dir):
    done = run_cli(
        "experiment=quickstart",
        f"results_dir={results_dir}",
        *FAST,
        "model.alpha=0.5",  # no ImageNet file of this width ships with the package: Keras would download one
        "data.image_size=128",
        timeout=120,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "ImageNet weights" in done.stderr.strip().splitlines()[-1] and "model.weights=<file>" in done.stderr
    assert not results_dir.exists()


@pytest.mark.parametrize(
    "args, expected",
    [
        (
            ["+train.lerning_rate=0.1"],
            "config error: train.lerning_rate=0.1 is not allowed: a key of train; did you mean train.learning_rate?",
        ),
        (
            ["+train.zzz=1"],
            "config error: train.zzz=1 is not allowed: a key of train (known: optimizer, learning_rate,",
        ),
        (["+foo=1"], "config error: foo=1 is not allowed: a top-level key"),
        (["train.seed=abc"], "config error: train.seed='abc' is not allowed: an integer"),
        (["sweep=learning_rate", "sweep.seeds=0"], "config error: sweep.seeds=0 is not allowed: an integer >= 1"),
        (["sweep.values=abc"], "config error: sweep.values='abc' is not allowed: a list"),
        (
            ["sweep=learning_rate", "hydra.launcher.n_jobs=abc"],
            "config error: hydra.launcher.n_jobs='abc' is not allowed: an integer",
        ),
        (
            ["sweep=learning_rate", "hydra.launcher.n_jobs=0"],
            "config error: hydra.launcher.n_jobs=0 is not allowed: an integer >= 1",
        ),
        (
            ["sweep=learning_rate", "hydra.launcher.threads_per_worker=0"],
            "config error: hydra.launcher.threads_per_worker=0 is not allowed: null or an integer >= 1",
        ),
        (
            ["tuner=random", "tuner.objective=val_f1"],
            "config error: tuner.objective='val_f1' is not allowed: one of val_accuracy",
        ),
        (["train.learning_rate=[0.1"], "config error: 'train.learning_rate=[0.1' is not a valid override"),
        (["model=nope"], "config error: model='nope' is not allowed: one of random_init, scratch, transfer"),
        (
            ["-m", "train.epochs=range(5,1)"],
            "config error: train.epochs='range(5,1)' is not allowed: a sweep over at least one value",
        ),
        (
            ["cache_dir=${oc.env:HARNESS_NO_SUCH_VARIABLE}"],
            "config error: cache_dir='${oc.env:HARNESS_NO_SUCH_VARIABLE}' is not allowed: a value that resolves (KeyError",
        ),
        (
            ["results_dir=${nope}"],
            "config error: results_dir='${nope}' is not allowed: a value that resolves (Interpolation key 'nope'",
        ),
        (["results_dir="], "config error: results_dir='' is not allowed: a folder path"),
        (
            ["model.head.units=100000"],
            "config error: model.head.units=100000 is not allowed: an integer >= 1 and <= 65536",
        ),
    ],
)
def test_bad_input_is_one_line_naming_the_key_with_exit_status_2(capsys, args, expected):
    with pytest.raises(SystemExit) as done:
        preflight(["experiment=quickstart", *args])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert done.value.code == 2 and len(lines) == 1 and lines[0].startswith(expected), lines


def test_a_typed_value_is_coerced_not_refused():
    single = preflight(["experiment=quickstart", "train.learning_rate=1"])
    assert not single.multirun and single.configs[0].train.learning_rate == 1.0
    jobs = preflight(["experiment=quickstart", "sweep=learning_rate", "sweep.values=[10,0.01]"]).configs
    assert [j.train.learning_rate for j in jobs] == [10.0, 0.01]


@pytest.mark.slow
def test_the_baseline_then_one_knob_leaves_two_records_and_a_rerun_is_skipped(results_dir):
    from harness.reports.tables import load_table

    base = ["experiment=quickstart", f"results_dir={results_dir}", *FAST]
    assert run_cli(*base).returncode == 0
    assert run_cli(*base, "train.learning_rate=0.01").returncode == 0
    again = run_cli(*base)
    assert again.returncode == 0 and "already completed with this config" in again.stdout
    table = load_table(results_dir)
    assert len(table) == 2 and set(table["status"]) == {"completed"} and len(set(table["name"])) == 1
    assert sorted(table["train.learning_rate"]) == [0.001, 0.01]


@pytest.mark.slow
def test_a_class_of_unreadable_files_is_one_line_exit_2_and_nothing_written(tmp_path, results_dir):
    from tests.helpers import write_images

    for split in ("train", "val"):
        write_images(tmp_path / "data" / split / "a", 4, color=0)
        (tmp_path / "data" / split / "b").mkdir(parents=True)
        for i in range(3):
            (tmp_path / "data" / split / "b" / f"{i}.jpg").write_bytes(b"not an image")
    done = run_cli(
        "dataset=folder",
        f"dataset.path={tmp_path / 'data'}",
        "model.weights=null",
        f"results_dir={results_dir}",
        "train.cache=off",
        *FAST,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("config error: dataset.path=") and "class 'b' has none (3 file(s)" in last
    assert "Traceback" not in done.stderr and not results_dir.exists()


@pytest.mark.slow
def test_analysis_of_a_finished_run_uses_its_saved_model_and_never_retrains(results_dir):
    import json

    saved = ["experiment=quickstart", f"results_dir={results_dir}", *FAST, "train.save_model=true"]
    assert run_cli(*saved).returncode == 0
    run_dir = single_run_dir(*saved)
    before = json.loads((run_dir / "record.json").read_text())
    analysed = run_cli(*saved, "analysis=true")
    assert analysed.returncode == 0, analysed.stderr[-2000:]
    after = json.loads((run_dir / "record.json").read_text())
    assert after["finished_at"] == before["finished_at"] and after["analysis"]["images"] == after["num_val"]
    assert (run_dir / "analysis" / "predictions.parquet").exists()
    again = run_cli(*saved, "analysis=true")
    assert again.returncode == 0 and "already completed and analysed" in again.stdout
    # Without a saved model nothing can be analysed short of training again: one line says so, nothing changes.
    plain = ["experiment=quickstart", f"results_dir={results_dir}", *FAST, "train.learning_rate=0.01"]
    assert run_cli(*plain).returncode == 0
    refused = run_cli(*plain, "analysis=true")
    assert refused.returncode == 2 and refused.stderr.strip().count("\n") == 0
    assert "completed without saving its model" in refused.stderr and "overwrite=true analysis=true" in refused.stderr


def test_help_lists_the_options_a_command_line_selects_and_not_the_schemas_they_build_on():
    from harness.__main__ import without_internal_options

    hydra = (
        "harness: ...\n== Configuration groups ==\nCompose your configuration from those groups (group=option)\n\n"
        "data: _data_schema, default\ntuner: _base, _tuner_defaults, autokeras, random\n\n"
        "== Config ==\nOverride anything in the config (foo.bar=value)\n\nname: _x: y\n"
    )
    shown = without_internal_options(hydra)
    assert "data: default\ntuner: autokeras, random\n" in shown
    assert shown.endswith("name: _x: y\n"), "the config itself is printed as it is"
