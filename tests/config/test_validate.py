"""Validation: one ConfigError naming the key for every value, key or type that is not allowed."""

from __future__ import annotations

import shutil

import pytest

from harness.config.validate import typed, validate
from harness.errors import ConfigError
from tests.helpers import make_cfg, write_images


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["train.learning_rate=-0.1"], "train.learning_rate"),
        (["model.unfreeze=1.5"], "model.unfreeze"),
        (["train.optimizer=adamw2"], "train.optimizer"),
        (["model.backbone=resnet9000"], "model.backbone"),
        (["model.unfrozen_bn=train"], "model.unfrozen_bn"),
        (["model.backbone=xception", "data.image_size=64"], "data.image_size"),
        (["data.image_size=16"], "data.image_size"),
        (["data.aspect_ratio=20"], "data.aspect_ratio"),
        (["data.aspect_ratio=3.0", "data.image_size=48"], "data.aspect_ratio"),
        (["train.batch_size=0"], "train.batch_size"),
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
        (["dataset.near_duplicate_bits=129"], "dataset.near_duplicate_bits"),
        (["dataset.duplicates=ignore"], "dataset.duplicates"),
        (["report.metric=f1"], "report.metric"),
        (["analysis=true", "data.image_size=32", "explain.occlusion_patch=40"], "explain.occlusion_patch"),
        (["explain.occlusion_patch=8", "explain.occlusion_stride=9"], "explain.occlusion_stride"),
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
    "plain, key, allowed",
    [
        ({"train": {"learning_rate": "abc"}}, "train.learning_rate", "a number"),
        ({"train": {"batch_size": 8.5}}, "train.batch_size", "an integer"),
        ({"train": {"seed": True}}, "train.seed", "an integer"),
        ({"data": {"augmentation": {"flip": "maybe"}}}, "data.augmentation.flip", "true or false"),
        ({"sweep": {"values": "abc"}}, "sweep.values", "a list"),
        ({"train": {"lerning_rate": 0.1}}, "train.lerning_rate", "a key of train; did you mean train.learning_rate?"),
        ({"foo": 1}, "foo", "a top-level key"),
        ({"model": {"kind": "scratch", "blocks": 3}}, "model.blocks", "a key of model (known: kind, name, depth"),
        ({"model": {"kind": "transfer", "depth": 3}}, "model.depth", "a key of model (known: kind, name, backbone"),
    ],
)
def test_keys_and_types_are_the_schemas(plain, key, allowed):
    with pytest.raises(ConfigError) as err:
        typed(plain)
    assert err.value.key == key and allowed in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("added", ["+train.lerning_rate=0.1", "+foo=1", "+model.head.size=3"])
def test_keys_added_with_plus_are_rejected_too(added):
    with pytest.raises(ConfigError) as err:
        validate(make_cfg("experiment=quickstart", added))
    assert err.value.key == added[1:].split("=")[0]


def test_a_searched_value_of_the_wrong_type_is_a_config_error_naming_its_key():
    cfg = make_cfg("experiment=quickstart", "tuner=random")
    assert typed({**_plain(cfg), "train": {**_plain(cfg)["train"], "learning_rate": 1}}).train.learning_rate == 1.0
    with pytest.raises(ConfigError, match="data.image_size"):
        typed({**_plain(cfg), "data": {**_plain(cfg)["data"], "image_size": 0.5}})


def _plain(cfg):
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize(
    "entry, key, value",
    [
        ("tuner.space.train.optimizer={type:choice,values:[adam,lion]}", "tuner.space.train.optimizer", "lion"),
        ("+tuner.space.data.image_size={type:choice,values:[16,48]}", "tuner.space.data.image_size", 16),
        ("+tuner.space.model.head.dropout={type:float,min:0.1,max:1.0}", "tuner.space.model.head.dropout", 1.0),
    ],
)
def test_every_value_a_search_may_try_is_checked_before_the_search_starts(entry, key, value):
    with pytest.raises(ConfigError) as err:
        validate(make_cfg("experiment=quickstart", "tuner=random", entry))
    assert err.value.key == key and err.value.value == value


@pytest.mark.parametrize(
    "kwargs, alpha, expected",
    [({"top": True}, 0.25, "classifier top"), ({}, 0.5, "fits model.alpha=0.25"), (None, 0.25, "not HDF5")],
)
def test_a_weights_file_for_another_model_is_refused_naming_model_weights(tmp_path, kwargs, alpha, expected):
    from tests.helpers import write_weights_file

    path = tmp_path / "w.h5"
    if kwargs is None:
        path.write_text("not a weights file")
    else:
        write_weights_file(path, **kwargs)
    with pytest.raises(ConfigError) as err:
        validate(make_cfg("experiment=quickstart", f"model.weights={path}", f"model.alpha={alpha}"))
    assert err.value.key == "model.weights" and expected in str(err.value)


def test_an_unknown_tfds_name_is_refused_without_tensorflow(tmp_path):
    with pytest.raises(ConfigError) as err:
        validate(make_cfg("dataset=beans", "dataset.name=no_such_dataset", f"dataset.data_dir={tmp_path}"))
    assert err.value.key == "dataset.name"
    (tmp_path / "my_prepared").mkdir()  # TFDS loads a prepared dataset from its store without a builder
    validate(make_cfg("dataset=beans", "dataset.name=my_prepared", f"dataset.data_dir={tmp_path}"))


@pytest.mark.parametrize(
    "change, said",
    [
        (lambda root: write_images(root / "val" / "purple", 2, color=1), "val/ has 'purple' that train/ lacks"),
        (lambda root: shutil.rmtree(root / "val" / "green"), "val/ lacks 'green'"),
        (lambda root: write_images(root / "test" / "purple", 2, color=1), "test/ has 'purple' that train/ lacks"),
        (
            lambda root: [(root / "val" / c).rename(root / "val" / f"{c}s") for c in ("red", "green", "blue")],
            "val/ (blues, greens, reds) and train/ (blue, green, red) share no class",
        ),
    ],
)
def test_split_folders_that_name_other_classes_are_one_line_unless_dropping_is_asked_for(image_folder, change, said):
    change(image_folder)
    with pytest.raises(ConfigError) as err:
        validate(make_cfg("dataset=folder", f"dataset.path={image_folder}"))
    assert (
        err.value.key == "dataset.path"
        and said in str(err.value)
        and "dataset.unmatched_classes=drop" in str(err.value)
    )
    validate(make_cfg("dataset=folder", f"dataset.path={image_folder}", "dataset.unmatched_classes=drop"))


def test_dropping_unmatched_classes_keeps_those_every_split_has_and_says_which(image_folder):
    from tests.helpers import splits_of

    write_images(image_folder / "val" / "purple", 2, color=1)
    shutil.rmtree(image_folder / "test" / "green")
    splits = splits_of(make_cfg("dataset=folder", f"dataset.path={image_folder}", "dataset.unmatched_classes=drop"))
    assert splits.class_names == ["blue", "red"] and len(splits.val) == 6
    assert any("dropped class(es) not in every split" in n and "green, purple" in n for n in splits.notes)


@pytest.mark.parametrize(
    "override", ["overwrite=2", "analysis=yes", "train.save_model=1", "cost.latency=on", "train.deterministic=0"]
)
def test_a_yes_no_knob_takes_only_true_or_false(override):
    from harness.command import compose_cli

    key, value = override.split("=")
    with pytest.raises(ConfigError, match=rf"{key}=.*is not allowed: true or false \(not 1/0 or yes/no\)"):
        compose_cli(["experiment=quickstart", override])


def test_true_and_false_in_any_case_and_in_a_sweep_are_yes_no():
    from harness.command import compose_cli
    from harness.config.validate import yes_no

    yes_no(["overwrite=true", "analysis=False", "train.fine_tune.enabled=TRUE", "train.save_model=true,false"])
    with pytest.raises(ConfigError, match="train.save_model=2"):
        yes_no(["train.save_model=true,2"])
    assert compose_cli(["experiment=quickstart", "overwrite=True"]).configs[0].overwrite is True


def test_a_symlink_loop_as_dataset_path_and_an_unreadable_weights_file_name_their_own_keys(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ConfigError, match=r"^config error: dataset\.path="):
        validate(make_cfg("dataset=folder", f"dataset.path={tmp_path / 'a'}"))
    with pytest.raises(ConfigError, match=r"^config error: model\.weights='/proc/self/mem'.*a readable weights file"):
        validate(make_cfg("experiment=quickstart", "model.weights=/proc/self/mem"))
