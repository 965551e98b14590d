"""Composition and validation: the baseline, the presets, and one clear line (exit 2) for every bad value."""

from __future__ import annotations


import pytest

from harness.config import config_hash, target_hw, validate
from harness.errors import ConfigError
from tests.conftest import ROOT, make_cfg, run_cli

PRESETS = sorted(p.stem for p in (ROOT / "experiments").glob("*.yaml"))
TFDS_DATASETS = ["oxford_flowers102", "cats_vs_dogs", "colorectal_histology", "tf_flowers", "beans", "stanford_dogs", "rock_paper_scissors"]


def test_default_composition_is_the_chapter_baseline():
    cfg = make_cfg()
    assert cfg.dataset.name == "oxford_flowers102" and cfg.dataset.source == "tfds"
    assert (cfg.model.kind, cfg.model.backbone, cfg.model.weights, cfg.model.unfreeze) == ("transfer", "mobilenet", "imagenet", 0.33)
    assert (cfg.data.image_size, cfg.train.optimizer, cfg.train.learning_rate) == (128, "adam", 0.001)
    assert cfg.train.patience == 10 and cfg.train.epochs == 20 and cfg.train.batch_size == 32
    assert cfg.name == "baseline_oxford_flowers102_mobilenet"
    validate(cfg)


def test_chapter5_preset_equals_the_default_baseline_apart_from_its_name():
    base, chapter = make_cfg(), make_cfg("experiment=chapter5")
    assert chapter.name == "chapter5_oxford_flowers102_mobilenet"
    for section in ("dataset", "data", "model", "train"):
        assert base[section] == chapter[section]


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_and_validates(preset):
    cfg = make_cfg(f"experiment={preset}")
    validate(cfg)
    assert cfg.preset == preset


def test_quickstart_needs_nothing_from_the_network():
    cfg = make_cfg("experiment=quickstart")
    assert cfg.dataset.source == "digits" and cfg.model.weights is None


@pytest.mark.parametrize("name", TFDS_DATASETS)
def test_tfds_datasets_are_selectable_by_name(name):
    cfg = make_cfg(f"dataset={name}", "dataset.data_dir=/some/store")
    validate(cfg)
    assert cfg.dataset.source == "tfds" and cfg.dataset.name == name and cfg.dataset.data_dir == "/some/store"


def test_folder_dataset_is_named_after_its_directory(image_folder):
    cfg = make_cfg("dataset=folder", f"dataset.path={image_folder}")
    assert cfg.dataset.name == "shapes"
    validate(cfg)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["train.learning_rate=-0.1"], "train.learning_rate"),
        (["train.learning_rate=abc"], "train.learning_rate"),
        (["model.unfreeze=1.5"], "model.unfreeze"),
        (["train.optimizer=adamw2"], "train.optimizer"),
        (["model.backbone=resnet9000"], "model.backbone"),
        (["model.backbone=xception", "data.image_size=64"], "data.image_size"),
        (["data.image_size=16"], "data.image_size"),
        (["data.aspect_ratio=20"], "data.aspect_ratio"),
        (["data.aspect_ratio=3.0", "data.image_size=48"], "data.aspect_ratio"),
        (["train.batch_size=0"], "train.batch_size"),
        (["train.batch_size=8.5"], "train.batch_size"),
        (["data.resize_mode=stretch"], "data.resize_mode"),
        (["data.samples_per_class=0"], "data.samples_per_class"),
        (["model.alpha=0.3"], "model.alpha"),
        (["model.weights=/no/such/file.h5"], "model.weights"),
        (["model.head.dropout=1.0"], "model.head.dropout"),
        (["train.patience=-1"], "train.patience"),
        (["dataset.val_fraction=0"], "dataset.val_fraction"),
        (["model=scratch", "model.depth=0"], "model.depth"),
        (["model=scratch", "train.fine_tune.enabled=true"], "train.fine_tune.enabled"),
        (["dataset=folder"], "dataset.path"),
        (["dataset=folder", "dataset.path=/no/such/dir"], "dataset.path"),
        (["data.augment=maybe"], "data.augment"),
    ],
)
def test_bad_values_name_the_key(overrides, key):
    with pytest.raises(ConfigError) as err:
        validate(make_cfg(*overrides))
    assert err.value.key == key
    message = str(err.value)
    assert "\n" not in message and key in message


def test_samples_per_class_larger_than_the_smallest_class_is_rejected(image_folder):
    cfg = make_cfg("dataset=folder", f"dataset.path={image_folder}", "data.samples_per_class=7")
    with pytest.raises(ConfigError, match="at most 6"):
        validate(cfg)


def test_folder_with_fewer_than_two_classes_is_rejected(tmp_path, image_folder):
    lonely = tmp_path / "lonely"
    (lonely / "only").mkdir(parents=True)
    (image_folder / "train" / "red").rename(lonely / "only" / "red")
    with pytest.raises(ConfigError, match="at least 2 class folders"):
        validate(make_cfg("dataset=folder", f"dataset.path={lonely}"))


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


def test_target_geometry_keeps_the_pixel_count():
    assert target_hw(128, 1.0) == (128, 128)
    for ratio in (0.5, 0.75, 1.33, 2.0):
        h, w = target_hw(128, ratio)
        assert abs(w / h - ratio) < 0.02 and abs(h * w / 128**2 - 1) < 0.02


def test_config_hash_ignores_where_output_goes_but_not_what_runs():
    a = make_cfg("experiment=quickstart")
    assert config_hash(a) == config_hash(make_cfg("experiment=quickstart", "results_dir=/elsewhere", "run_name=x"))
    assert config_hash(a) != config_hash(make_cfg("experiment=quickstart", "train.learning_rate=0.01"))
