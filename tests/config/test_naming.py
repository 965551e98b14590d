"""Names for people: an experiment folder is its preset, sweep/study/search, dataset and backbone plus a short
hash of the other overrides, never a file path; a run is named by its value; folders named by 0.1 are found."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from harness.command import compose_cli, hydra_argv, moved
from harness.config.naming import experiment_name, override_label, overrides_hash
from tests.helpers import experiment_dir, make_cfg, run_cli, single_run_dir, write_bare_record

WEIGHTS = "model.weights=/data/shared weights/mobilenet_2_5_128_tf_no_top.h5"


def test_an_experiment_is_named_for_what_it_is_plus_a_hash_of_the_other_overrides():
    plain = experiment_dir("experiment=quickstart", "sweep=learning_rate")
    changed = experiment_dir(
        "experiment=quickstart", "sweep=learning_rate", "model.alpha=0.5", "train.epochs=5", WEIGHTS
    )
    assert plain.name == "quickstart_learning_rate_digits_mobilenet"
    prefix, _, digest = changed.name.rpartition("-")
    assert prefix == plain.name and len(digest) == 8 and "/" not in changed.name and "," not in changed.name


def test_the_hash_depends_on_what_the_overrides_set_not_how_they_are_written():
    assert overrides_hash(["train.learning_rate=0.010", "train.epochs=3"]) == overrides_hash(
        ["train.epochs=3", "train.learning_rate=0.01"]
    )
    assert overrides_hash(["train.epochs=3", "train.epochs=5"]) == overrides_hash(["train.epochs=5"])
    assert overrides_hash(["train.epochs=3"]) != overrides_hash(["train.epochs=4"])
    assert (
        overrides_hash(["results_dir=x", "overwrite=true", "train.learning_rate=0.1,0.01"]) == ""
    )  # not identity, or swept
    assert experiment_name("base", []) == "base"


def test_a_run_is_named_by_its_value_and_a_file_by_its_file_name():
    assert (
        override_label([WEIGHTS, "model.alpha=0.25"], make_cfg()) == "alpha=0.25,weights=mobilenet_2_5_128_tf_no_top.h5"
    )
    assert single_run_dir("experiment=quickstart").name == "baseline"
    command = compose_cli(["experiment=quickstart", "-m", "model.weights=/a/b/one.h5,/a/c/two.h5"])
    assert [c.run_name for c in command.configs] == ["weights=one.h5", "weights=two.h5"]


def test_the_run_with_the_baselines_value_is_marked_in_its_record():
    from harness.multirun.sweep import sweep_identity

    configs = compose_cli(["experiment=quickstart", "sweep=learning_rate"]).configs
    marked = {c.run_name: sweep_identity(c).baseline for c in configs}
    assert marked == {
        "learning_rate=0.1": False,
        "learning_rate=0.01": False,
        "learning_rate=0.001": True,
        "learning_rate=0.0001": False,
    }


def test_name_sets_the_experiments_name_outright():
    assert (
        experiment_dir("experiment=quickstart", "sweep=learning_rate", "train.epochs=3", "name=lr_check").name
        == "lr_check"
    )


def test_a_search_is_named_by_its_whole_config_and_keeps_its_hydra_files_in_search():
    args = ["experiment=quickstart", "tuner=random", "train.epochs=3"]
    other = ["experiment=quickstart", "tuner=random", "train.epochs=5"]
    assert experiment_dir(*args) != experiment_dir(*other)
    assert experiment_dir(*args) == experiment_dir(*args, "tuner.max_trials=20")  # a resumed search may raise it
    assert experiment_dir(*args) != experiment_dir(*args, "tuner.space.train.batch_size={type:choice,values:[8,16]}")
    command = compose_cli(args)
    hydra_argv(args, command)
    assert command.configs[0].run_name == "search"


def _old_record(run_dir: Path) -> None:
    write_bare_record(run_dir)


@pytest.mark.parametrize(
    "args, old",
    [
        (
            ["sweep=learning_rate", "train.epochs=3", WEIGHTS],
            "quickstart_learning_rate_digits_mobilenet,epochs=3,weights=_data_shared_weights_mobilenet_2_5_128_tf_no_top.h5",
        ),
        (
            ["train.epochs=3", WEIGHTS],
            "quickstart_digits_mobilenet/epochs=3,weights=_data_shared_weights_mobilenet_2_5_128_tf_no_top.h5",
        ),
    ],
)
def test_runs_in_a_folder_named_by_0_1_are_found_and_the_command_says_how_to_move_them(tmp_path, args, old):
    argv = ["experiment=quickstart", f"results_dir={tmp_path}", *args]
    command = compose_cli(argv)
    hydra_argv(argv, command)
    assert command.legacy == old and moved(command) is None  # nothing there: nothing to say
    _old_record(tmp_path / old / ("learning_rate=0.1" if "sweep=" in args[0] else ""))
    message, status = moved(command)
    assert (
        status == 2
        and message.startswith(f"results error: {tmp_path / old} holds these runs")
        and f"mv {shlex.quote(str(tmp_path / old))} " in message
    )


@pytest.mark.slow
def test_the_cli_stops_before_anything_runs_when_the_runs_sit_under_the_old_name(tmp_path):
    old = tmp_path / "quickstart_learning_rate_digits_mobilenet,epochs=3"
    _old_record(old / "learning_rate=0.1")
    done = run_cli(
        "experiment=quickstart", "sweep=learning_rate", "train.epochs=3", f"results_dir={tmp_path}", timeout=60
    )
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "mv " in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [old.name]
