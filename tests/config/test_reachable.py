"""What runs need from outside is checked once before any starts: offline, a sweep, a study or a search over a
TFDS dataset that is not in the local store stops with one line and exit 2, and writes nothing."""

from __future__ import annotations

import sys

import pytest

from harness.command import compose_cli
from harness.config import reachable


def test_a_tfds_dataset_that_is_not_prepared_is_unreachable_offline_only(tmp_path, monkeypatch):
    monkeypatch.setattr(reachable, "keras_cache_has_backbones", lambda: True)
    configs = compose_cli(["sweep=learning_rate", f"dataset.data_dir={tmp_path}"]).configs
    line = reachable.unreachable(configs, online=lambda: False)
    assert (
        line.startswith("offline: dataset 'oxford_flowers102' is not in the local TFDS store")
        and "dataset=folder" in line
    )
    assert reachable.unreachable(configs, online=lambda: True) is None
    assert (
        reachable.unreachable(
            compose_cli(["experiment=quickstart", "sweep=learning_rate"]).configs, online=lambda: False
        )
        is None
    )


def test_imagenet_weights_need_keras_cache_or_the_network(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    configs = compose_cli(["experiment=quickstart", "model.alpha=0.5"]).configs  # no file of this width ships
    assert "ImageNet weights are not in Keras's cache" in reachable.unreachable(configs, online=lambda: False)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mobilenet_2_5_128_tf_no_top.h5").write_bytes(b"")
    assert reachable.unreachable(configs, online=lambda: False) is None


@pytest.mark.parametrize("kind", [["sweep=learning_rate"], ["study=chapter5", "study.seeds=1"], ["tuner=random"]])
def test_offline_a_sweep_study_or_search_stops_before_launching(kind, tmp_path, monkeypatch, capsys):
    from harness import __main__ as cli

    monkeypatch.setattr(reachable, "network_available", lambda *a, **k: False)
    results = tmp_path / "results"
    monkeypatch.setattr(
        sys, "argv", ["harness", *kind, f"dataset.data_dir={tmp_path / 'tfds'}", f"results_dir={results}"]
    )
    with pytest.raises(SystemExit) as done:
        cli.main()
    err = capsys.readouterr().err.strip()
    assert done.value.code == 2 and err.count("\n") == 0 and err.startswith("offline: dataset 'oxford_flowers102'")
    assert not results.exists()
