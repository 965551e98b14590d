"""A user's config folder is read as data before Hydra composes it: a preset sets values, group options and
hydra.mode, and nothing that decides where a run writes, what it logs to or what runs at its end."""

from __future__ import annotations

import pytest

from harness.__main__ import preflight
from harness.config.presets import check_config_dir
from harness.config.validate import yes_no_keys
from harness.errors import UserError

GOOD = "# @package _global_\ndefaults:\n  - quickstart\n  - _self_\npreset: mine\ntrain:\n  save_model: true\n"


def _folder(tmp_path, body: str, name: str = "experiment/mine.yaml"):
    folder = tmp_path / "conf"
    (folder / "experiment").mkdir(parents=True)
    (folder / "experiment" / "good.yaml").write_text(GOOD)
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(body)
    return folder


@pytest.mark.parametrize(
    "body, named",
    [
        ("hydra:\n  run:\n    dir: /tmp/elsewhere\n", "hydra.run"),
        ("hydra:\n  sweep:\n    dir: /tmp/elsewhere\n", "hydra.sweep"),
        ("hydra:\n  job_logging:\n    handlers:\n      file:\n        filename: /tmp/x.log\n", "hydra.job_logging"),
        ("hydra:\n  callbacks:\n    x:\n      _target_: os.system\n", "hydra.callbacks"),
        ("model:\n  head:\n    _target_: os.system\n", "model.head._target_"),
        ("x: !!python/object/apply:os.system [echo]\n", "not a readable YAML preset"),
        ("defaults:\n  - override hydra/job_logging: mine\n", "defaults"),
        ("overwrite: 2\n", "overwrite=2"),
        ("train:\n  save_model: yes\n", "train.save_model='yes'"),
        ("analysis: on\n", "analysis='on'"),
    ],
)
def test_a_preset_that_does_more_than_set_values_is_refused_in_one_line_naming_file_and_key(tmp_path, body, named):
    folder = _folder(tmp_path, "# @package _global_\n" + body)
    with pytest.raises(UserError) as refused:
        check_config_dir(folder, set(yes_no_keys()))
    message = str(refused.value)
    assert "\n" not in message and str(folder / "experiment" / "mine.yaml") in message and named in message


def test_the_command_refuses_before_anything_is_written(tmp_path, capsys):
    folder = _folder(
        tmp_path, f"# @package _global_\ndefaults:\n  - quickstart\nhydra:\n  run:\n    dir: {tmp_path}/x\n"
    )
    with pytest.raises(SystemExit) as stopped:
        preflight(["--config-dir", str(folder), "experiment=mine", f"results_dir={tmp_path}/results"])
    assert stopped.value.code == 2 and "hydra.run" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "results").exists()


def test_a_primary_config_or_hydras_own_group_in_a_config_folder_is_refused(tmp_path):
    with pytest.raises(UserError, match="would replace the harness's config"):
        check_config_dir(_folder(tmp_path / "a", "a: 1\n", "config.yaml"), set(yes_no_keys()))
    with pytest.raises(UserError, match="Hydra's own config"):
        check_config_dir(_folder(tmp_path / "b", "version: 1\n", "hydra/job_logging/mine.yaml"), set(yes_no_keys()))


def test_values_group_options_launchers_and_a_multirun_mode_are_what_a_preset_may_set(tmp_path):
    sweep = (
        "# @package _global_\ndefaults:\n  - override /hydra/launcher: basic\nsweep:\n  name: mine\n"
        "  knob: train.learning_rate\n  values: [0.1, 0.01]\ndataset:\n  path: ${oc.env:HOME}\nhydra:\n  mode: MULTIRUN\n"
    )
    folder = _folder(tmp_path, sweep, "sweep/mine.yaml")
    (folder / "dataset").mkdir()
    (folder / "dataset" / "mine.yaml").write_text("defaults:\n  - folder\n  - _self_\nshuffle_files: false\n")
    (folder / "run" / ".hydra").mkdir(parents=True)  # what Hydra writes into a run: not a preset
    (folder / "run" / ".hydra" / "hydra.yaml").write_text("hydra:\n  run:\n    dir: /anywhere\n")
    check_config_dir(folder, set(yes_no_keys()))
    assert preflight(["--config-dir", str(folder), "experiment=good"]) is not None
