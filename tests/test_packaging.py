"""The install a user gets: the wheel carries every config, the `harness` command works from any
directory, a user's own presets come from --config-dir, and tab completion answers. (`.ci/run` also
installs the built wheel into a fresh venv and runs a quickstart from a temporary directory.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.command import compose_cli
from tests.helpers import ROOT

HARNESS = Path(sys.executable).with_name("harness")


def shipped_configs() -> set[str]:
    conf = {
        f"harness/conf/{p.relative_to(ROOT / 'conf')}"
        for p in (ROOT / "conf").rglob("*.yaml")
        if "experiment" not in p.parts
    }
    presets = {f"harness/conf/experiment/{p.name}" for p in (ROOT / "experiments").glob("*.yaml")}
    return conf | presets


@pytest.mark.slow
def test_the_wheel_carries_every_config_and_the_console_script(tmp_path):
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ there
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("harness", "hydra_plugins", "conf", "experiments"):
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source), "-w", str(tmp_path)],
        check=True,
        cwd=tmp_path,
        timeout=300,
    )
    wheel = next(tmp_path.glob("tl_harness-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert shipped_configs() <= names
    assert "harness = harness.__main__:main" in entry_points
    assert "hydra_plugins/harness_knob_sweeper/knob_sweeper.py" in names


def harness(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(HARNESS), *args], cwd=cwd, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


@pytest.mark.slow
def test_the_harness_command_works_from_another_directory(tmp_path):
    helped = harness("--help", cwd=tmp_path)
    assert helped.returncode == 0 and helped.stdout.startswith("harness:"), helped.stderr[-2000:]
    assert "tuner: autokeras, bayesian, hyperband, optuna, random" in helped.stdout and "_schema" not in helped.stdout
    shown = harness("experiment=quickstart", "train.learning_rate=0.01", "--cfg", "job", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "run_name: learning_rate=0.01" in shown.stdout and "name: digits" in shown.stdout
    assert not list(tmp_path.iterdir())  # showing a config writes nothing


def test_a_users_own_presets_and_sweeps_come_from_config_dir(tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "sweep").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - quickstart\n  - _self_\npreset: mine\ntrain:\n  epochs: 2\n"
    )
    (tmp_path / "sweep" / "dropout.yaml").write_text(
        "# @package _global_\nsweep:\n  name: dropout\n  knob: model.head.dropout\n  values: [0.1, 0.5]\nhydra:\n  mode: MULTIRUN\n"
    )
    command = compose_cli(["--config-dir", str(tmp_path), "experiment=mine", "sweep=dropout"])
    assert command.multirun and [c.model.head.dropout for c in command.configs] == [0.1, 0.5]
    assert {c.name for c in command.configs} == {"mine_dropout_digits_mobilenet"} and command.configs[
        0
    ].train.epochs == 2


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="bash completion needs bash")
def test_tab_completion_for_the_harness_command(tmp_path):
    script = f"""
    export PATH={HARNESS.parent}:$PATH
    eval "$(harness --shell-completion install=bash)"
    COMP_LINE="harness experiment=q"; COMP_POINT=${{#COMP_LINE}}; COMP_WORDS=(harness experiment=q); COMP_CWORD=1
    hydra_bash_completion
    printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "experiment=quickstart" in done.stdout.split(), done.stdout + done.stderr[-2000:]
