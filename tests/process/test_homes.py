"""Keras's and matplotlib's own files go to the cache folder: a run writes nothing under $HOME and warns of
nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.process.homes import cache_folder, tool_homes
from tests.helpers import FAST, ROOT


def test_the_cache_folder_is_the_command_lines_then_the_environments_then_the_default(monkeypatch, tmp_path):
    monkeypatch.delenv("HARNESS_CACHE_DIR", raising=False)
    assert cache_folder(["experiment=quickstart", f"cache_dir={tmp_path}"]) == tmp_path
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "env"))
    assert cache_folder(["experiment=quickstart"]) == tmp_path / "env"


def test_tool_homes_are_set_only_where_the_user_has_not(monkeypatch, tmp_path):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mine"))
    base = tool_homes([f"cache_dir={tmp_path / 'cache'}"])
    assert os.environ["KERAS_HOME"] == str(tmp_path / "cache" / "tools" / "keras") == str(base / "keras")
    assert os.environ["MPLCONFIGDIR"] == str(tmp_path / "mine")
    assert list(tmp_path.iterdir()) == []  # made by Keras and matplotlib when they write, not before


def test_a_cache_dir_that_does_not_resolve_yet_names_no_folder(monkeypatch, tmp_path):
    """`cache_dir=${oc.env:UNSET}` is refused by the config's check a moment later: it must not have made a
    folder of that name in the working directory first."""
    monkeypatch.delenv("HARNESS_CACHE_DIR", raising=False)
    monkeypatch.delenv("HARNESS_UNSET", raising=False)
    monkeypatch.setenv("SCRATCH_FOR_TEST", str(tmp_path / "scratch"))
    assert cache_folder(["cache_dir=${oc.env:SCRATCH_FOR_TEST}/cache"]) == tmp_path / "scratch" / "cache"
    assert cache_folder(["cache_dir=${oc.env:HARNESS_UNSET}"]) == cache_folder([])
    assert cache_folder(["cache_dir=${results_dir}/cache"]) == cache_folder([])


@pytest.mark.slow
def test_a_run_with_analysis_writes_nothing_under_home(tmp_path):
    """(A read-only $HOME would prove less here: these machines run as root, who writes there anyway.)"""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_HOME", "MPLCONFIGDIR", "HARNESS_CACHE_DIR")}
    env.update(HOME=str(home), TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, "-m", "harness", "experiment=quickstart", *FAST, "analysis=true"]
        + [f"results_dir={tmp_path / 'results'}", f"cache_dir={tmp_path / 'cache'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert list(home.iterdir()) == [], list(home.rglob("*"))
    assert (tmp_path / "cache" / "tools" / "keras").is_dir()
    said = done.stdout + done.stderr  # the harness logs to stdout, Python's warnings go to stderr
    assert "not writable" not in said and "keras.json" not in said
