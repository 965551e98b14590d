"""What a command line asks for: flags apart from overrides, every job's config, a single run's name after
its overrides, and whether the results folder already holds the run (same config: skip; another: refuse)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.command import compose_cli, hydra_argv, occupied, single_run_name, split_argv, unwritable
from harness.config.identity import config_hash
from tests.helpers import write_bare_record


def test_flags_go_before_the_overrides_wherever_they_were_given():
    argv = ["experiment=quickstart", "-m", "train.optimizer=sgd,adam", "--config-dir", "mine"]
    parts = split_argv(argv)
    assert parts.flags == ["-m", "--config-dir", "mine"] and parts.overrides == [
        "experiment=quickstart",
        "train.optimizer=sgd,adam",
    ]
    assert parts.multirun and parts.search == [f"hydra.searchpath=[file://{Path('mine').resolve()}]"]
    assert hydra_argv(argv, compose_cli(["experiment=quickstart", "-m", "train.optimizer=sgd,adam"])) == [
        "-m",
        "--config-dir",
        "mine",
        "experiment=quickstart",
        "train.optimizer=sgd,adam",
    ]


def test_a_single_run_is_named_after_its_overrides_last_value_winning():
    def named(*args):
        command = compose_cli(list(args))
        return single_run_name(list(args), command)[-1], command.configs[0].run_name

    assert named("experiment=quickstart")[1] == "baseline"
    assert named("experiment=quickstart", "train.learning_rate=0.01")[1] == "learning_rate=0.01"
    assert (
        named("experiment=quickstart", "train.epochs=3", "train.seed=7", "data.seed=1", "train.epochs=2")[1]
        == "data.seed=1,epochs=2,train.seed=7"
    )  # sorted; a key both train and data have keeps its section
    assert (
        named("experiment=quickstart", "results_dir=elsewhere", "analysis=true")[1] == "baseline"
    )  # not what it computes
    assert named("experiment=quickstart", "train.learning_rate=0.01", "run_name=mine")[1] == "mine"


def _recorded(cfg, config_hash_value, status="completed"):
    write_bare_record(Path(cfg.results_dir) / cfg.name / cfg.run_name, status=status, config_hash=config_hash_value)


def test_a_folder_holding_a_run_is_skipped_if_the_same_and_refused_if_different(tmp_path):
    command = compose_cli(["experiment=quickstart", f"results_dir={tmp_path}"])
    assert occupied(command) is None
    cfg = command.configs[0]
    _recorded(cfg, config_hash(cfg))
    message, status = occupied(command)
    assert status == 0 and message.startswith("already completed with this config:")
    _recorded(cfg, "another config")
    message, status = occupied(command)
    assert status == 2 and "holds a run of a different config" in message and "overwrite=true" in message
    assert occupied(compose_cli(["experiment=quickstart", f"results_dir={tmp_path}", "overwrite=true"])) is None


def test_a_results_folder_that_cannot_be_written_is_named_before_anything_runs(tmp_path):
    from harness.command import unwritable

    assert unwritable({str(tmp_path / "new" / "results")}) is None and not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("")
    assert "is a file" in unwritable({str(tmp_path / "file" / "results")})
    assert "is not writable" in unwritable({"/proc/harness-results"})  # refused even to root
    assert "MB free (at least" in unwritable({str(tmp_path)}, min_free_mb=1e15)


def test_an_empty_results_or_cache_dir_and_names_too_long_for_the_disk_are_config_errors():
    import pytest

    from harness.config.validate import validate
    from harness.errors import ConfigError
    from tests.helpers import make_cfg

    for override, key in (
        ("results_dir=", "results_dir"),
        ("cache_dir=", "cache_dir"),
        (f"name={'x' * 256}", "name"),
        (f"run_name={'y' * 300}", "run_name"),
        (f"results_dir=/{'z/' * 2100}", "results_dir"),
    ):
        with pytest.raises(ConfigError) as err:
            validate(make_cfg("experiment=quickstart", override))
        assert err.value.key == key, override
    validate(make_cfg("experiment=quickstart", "cache_dir=", "train.cache=off"))  # no cache, no folder needed


def test_a_file_where_the_results_tree_needs_a_folder_and_a_cache_dir_that_cannot_be_written_are_found_first(tmp_path):
    from harness.command import in_the_way

    command = compose_cli(["experiment=quickstart", f"results_dir={tmp_path}"])
    assert in_the_way(command) is None
    (tmp_path / command.configs[0].name).write_text("not a folder")
    assert in_the_way(command).startswith(f"results error: {tmp_path / command.configs[0].name} is a file")
    (tmp_path / "cache_file").write_text("")
    assert unwritable({str(tmp_path / "cache_file")}, 0, "cache_dir").startswith("cache error: cache_dir=")
    assert "is not writable" in unwritable({"/proc/harness-cache"}, 0, "cache_dir")


def test_a_single_run_another_live_process_trains_is_refused_before_hydra_writes_into_its_folder(tmp_path):
    import subprocess
    import sys

    from harness.command import running_elsewhere
    from harness.storage import claims

    command = compose_cli(["experiment=quickstart", f"results_dir={tmp_path}"])
    cfg = command.configs[0]
    run_dir = tmp_path / cfg.name / cfg.run_name
    assert running_elsewhere(command) is None
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        run_dir.mkdir(parents=True)
        (run_dir / claims.CLAIM).write_text(
            json.dumps({"pid": other.pid, "host": claims.me().host, "started": claims._process_start(other.pid)})
        )
        assert (
            running_elsewhere(command)
            == f"run {cfg.name}/baseline is already running (pid {other.pid} on {claims.me().host}): wait for it to finish"
        )
    finally:
        other.kill()
        other.wait()
    assert running_elsewhere(command) is None  # its owner is gone: the run is free
