"""The typed config: the baseline and presets compose, types are the schema's, and a run's identity."""

from __future__ import annotations

import pytest

from harness.config.geometry import geometry, target_hw
from harness.config.identity import config_hash
from harness.config.validate import validate
from tests.helpers import ROOT, make_cfg

PRESETS = sorted(p.stem for p in (ROOT / "experiments").glob("*.yaml"))
TFDS_DATASETS = [
    "oxford_flowers102",
    "cats_vs_dogs",
    "colorectal_histology",
    "tf_flowers",
    "beans",
    "stanford_dogs",
    "rock_paper_scissors",
]


def test_default_composition_is_the_chapter_baseline():
    cfg = make_cfg()
    assert cfg.dataset.name == "oxford_flowers102" and cfg.dataset.source == "tfds"
    assert (cfg.model.kind, cfg.model.backbone, cfg.model.weights, cfg.model.unfreeze) == (
        "transfer",
        "mobilenet",
        "imagenet",
        0.33,
    )
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


def test_quickstart_needs_nothing_from_the_network_and_transfers_imagenet_weights_that_ship_with_the_package():
    from harness.config.backbones import bundled_weights
    from harness.config.reachable import unreachable

    cfg = make_cfg("experiment=quickstart")
    assert cfg.dataset.source == "digits" and cfg.model.weights == "imagenet"
    assert bundled_weights(cfg.model.backbone, cfg.model.alpha).name == "mobilenet_2_5_128_tf_no_top.h5"
    assert unreachable([cfg], online=lambda: False) is None


@pytest.mark.parametrize("name", TFDS_DATASETS)
def test_tfds_datasets_are_selectable_by_name(name):
    cfg = make_cfg(f"dataset={name}", "dataset.data_dir=/some/store")
    validate(cfg)
    assert cfg.dataset.source == "tfds" and cfg.dataset.name == name and cfg.dataset.data_dir == "/some/store"


def test_folder_dataset_is_named_after_its_directory(image_folder):
    cfg = make_cfg("dataset=folder", f"dataset.path={image_folder}")
    assert cfg.dataset.name == "shapes"
    validate(cfg)


def test_target_geometry_keeps_the_pixel_count():
    assert target_hw(128, 1.0) == (128, 128)
    for ratio in (0.5, 0.75, 1.33, 2.0):
        h, w = target_hw(128, ratio)
        assert abs(w / h - ratio) < 0.02 and abs(h * w / 128**2 - 1) < 0.02


def test_config_hash_ignores_where_output_goes_but_not_what_runs():
    a = make_cfg("experiment=quickstart")
    assert config_hash(a) == config_hash(make_cfg("experiment=quickstart", "results_dir=/elsewhere", "run_name=x"))
    assert config_hash(a) != config_hash(make_cfg("experiment=quickstart", "train.learning_rate=0.01"))


def test_values_take_the_schemas_types_when_composed():
    cfg = make_cfg("train.learning_rate=1", "train.patience=null", "data.aspect_ratio=2")
    assert cfg.train.learning_rate == 1.0 and isinstance(cfg.train.learning_rate, float)
    assert cfg.train.patience is None and isinstance(cfg.data.aspect_ratio, float)
    validate(cfg)


def test_each_model_kind_has_its_own_keys():
    assert "backbone" in make_cfg("model=transfer").model and "depth" not in make_cfg("model=transfer").model
    assert "depth" in make_cfg("model=scratch").model


def test_a_transfer_preset_composes_with_a_scratch_model():
    # experiment=quickstart sets the backbone; sweep=transfer_vs_scratch swaps in model=scratch under it.
    cfg = make_cfg("experiment=quickstart", "model=scratch")
    validate(cfg)
    assert cfg.model.kind == "scratch" and cfg.model.depth == 3 and cfg.model.bn_momentum == 0.9


def test_the_input_geometry_is_computed_from_the_data_section():
    geo = geometry(make_cfg("data.image_size=64", "data.aspect_ratio=2.0", "data.resize_mode=pad").data)
    assert geo == (45, 91, "pad") and geo.shape == (45, 91, 3)
