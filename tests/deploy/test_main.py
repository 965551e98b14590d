"""python -m harness.deploy: a saved run exported for a device, checked after conversion; bad input refused."""

from __future__ import annotations

import json

import pytest

from harness.deploy.__main__ import main
from harness.records.record import read_record
from harness.training.run import run
from tests.helpers import FAST, make_cfg, write_images


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A tiny saved run (weights=None, 32 px) with a test split: its folder."""
    root = tmp_path_factory.mktemp("deploy")
    folder = root / "shapes"
    for c, name in enumerate(["red", "green", "blue"]):
        write_images(folder / "train" / name, 6, seed=c, color=c)
        write_images(folder / "val" / name, 3, seed=10 + c, color=c)
        write_images(folder / "test" / name, 2, seed=20 + c, color=c)
    cfg = make_cfg(
        "dataset=folder",
        f"dataset.path={folder}",
        *FAST,
        "model.alpha=0.25",
        "model.weights=null",
        "train.save_model=true",
        f"results_dir={root / 'results'}",
        f"cache_dir={root / 'cache'}",
    )
    record = run(cfg)
    return root / "results" / record.name / "baseline"


@pytest.mark.parametrize("quantize", ["none", "float16", "dynamic", "int8"])
def test_each_quantization_is_exported_and_scored_on_the_test_split(saved_run, quantize, capsys):
    assert main([str(saved_run), "--quantize", quantize]) == 0
    folder = saved_run / "deploy" / f"tflite-{quantize}"
    result = json.loads((folder / "deployed.json").read_text())
    assert (folder / "model.tflite").stat().st_size > 0 and result["split"] == "test" and result["images"] == 6
    assert 0 <= result["accuracy"] <= 1 and result["latency_ms_1_thread"] > 0 and result["size_mb"] > 0
    assert result["keras_accuracy"] == read_record(saved_run).test_accuracy  # the same images as the run's test
    if quantize == "none":  # the same float32 arithmetic: the same classes, probabilities to rounding
        assert result["agreement"] == 1.0 and result["max_probability_change"] < 1e-4
    assert f"written: {folder}" in capsys.readouterr().out


def test_a_saved_model_export_and_an_existing_folder_kept_unless_overwrite(saved_run, capsys):
    assert main([str(saved_run), "--to", "saved_model"]) == 0
    assert (saved_run / "deploy" / "saved_model" / "saved_model" / "saved_model.pb").exists()
    assert main([str(saved_run), "--to", "saved_model"]) == 2
    assert "exists: --overwrite replaces it" in capsys.readouterr().err
    assert main([str(saved_run), "--to", "saved_model", "--overwrite"]) == 0
    assert not list((saved_run / "deploy").glob(".staging-*"))  # nothing half-written left behind


def test_what_cannot_be_exported_is_one_line_and_exit_2(saved_run, tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    unsaved = tmp_path / "unsaved"
    unsaved.mkdir()
    (unsaved / "record.json").write_text((saved_run / "record.json").read_text())
    assert main([str(unsaved)]) == 2
    assert "has no model.keras: train it with train.save_model=true" in capsys.readouterr().err
    assert main([str(saved_run), "--to", "saved_model", "--quantize", "int8"]) == 2
    assert "quantization is TFLite's" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        main([str(saved_run), "--quantize", "int4"])
    assert stopped.value.code == 2 and "invalid choice: 'int4'" in capsys.readouterr().err
    assert not (unsaved / "deploy").exists()


def test_a_disk_that_fills_while_writing_leaves_no_export_behind(saved_run, monkeypatch, capsys):
    import errno
    from pathlib import Path

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    assert main([str(saved_run), "--quantize", "dynamic", "--overwrite"]) == 2
    assert "nothing was written" in capsys.readouterr().err
    assert not list((saved_run / "deploy").glob(".staging-*"))
    assert (
        not (saved_run / "deploy" / "tflite-dynamic" / "model.tflite").exists()
        or (saved_run / "deploy" / "tflite-dynamic" / "deployed.json").exists()
    )


def test_a_model_the_converter_refuses_is_one_line_naming_the_op(saved_run, monkeypatch, capsys):
    import tensorflow as tf

    class Refusing:
        def __init__(self, *args, **kwargs):
            self.optimizations, self.target_spec = [], type("Spec", (), {})()

        def convert(self):
            raise RuntimeError(
                "failed to legalize operation\nSome ops are not supported by the native TFLite runtime: tf.ImaginaryOp"
            )

    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_saved_model", staticmethod(lambda path: Refusing()))
    assert main([str(saved_run), "--quantize", "float16", "--overwrite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not convert to tflite (float16)" in err[0] and "tf.ImaginaryOp" in err[0]
    assert not list((saved_run / "deploy").glob(".staging-*"))


def test_int8_calibrates_on_training_images_decoded_for_it_when_the_run_kept_no_cache(saved_run, monkeypatch):
    from harness.storage import cache

    monkeypatch.setattr(cache, "root", lambda *args: None)  # as a run with train.cache=off
    assert main([str(saved_run), "--quantize", "int8", "--overwrite"]) == 0
    result = json.loads((saved_run / "deploy" / "tflite-int8" / "deployed.json").read_text())
    assert result["images"] == 6 and 0 <= result["accuracy"] <= 1
