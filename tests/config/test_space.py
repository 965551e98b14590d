"""The Keras Tuner search space as YAML: every type maps to its hyperparameter; a malformed entry names its key."""

from __future__ import annotations

import keras_tuner as kt
import pytest

from harness.config.space import check_space, declare, searchable, trial_config
from harness.config.validate import validate
from harness.errors import ConfigError
from tests.helpers import make_cfg


def test_every_space_type_maps_to_its_keras_tuner_hyperparameter():
    space = {
        "train.learning_rate": {"type": "float", "min": 1e-4, "max": 1e-1, "sampling": "log"},
        "model.unfreeze": {"type": "float", "min": 0.0, "max": 1.0, "step": 0.25},
        "model.head.units": {"type": "int", "min": 16, "max": 128, "step": 16},
        "train.optimizer": {"type": "choice", "values": ["adam", "sgd"]},
        "data.augmentation.flip": {"type": "bool"},
        "train.batch_size": {"type": "fixed", "value": 32},
    }
    hp = kt.HyperParameters()
    values = declare(hp, space)
    by_name = {p.name: p for p in hp.space}
    assert type(by_name["train.learning_rate"]).__name__ == "Float" and by_name["train.learning_rate"].sampling == "log"
    assert (
        by_name["model.unfreeze"].min_value,
        by_name["model.unfreeze"].max_value,
        by_name["model.unfreeze"].step,
    ) == (0.0, 1.0, 0.25)
    assert type(by_name["model.head.units"]).__name__ == "Int" and by_name["model.head.units"].step == 16
    assert by_name["train.optimizer"].values == ["adam", "sgd"]
    assert type(by_name["data.augmentation.flip"]).__name__ == "Boolean"
    assert type(by_name["train.batch_size"]).__name__ == "Fixed" and values["train.batch_size"] == 32
    assert set(values) == set(space)


def test_a_trial_sets_its_values_on_the_keys_they_name():
    cfg = make_cfg("experiment=quickstart", "tuner=random")
    out = trial_config(cfg, {"train.learning_rate": 0.05, "model.head.units": 128, "data.augment": "autoaugment"})
    assert (out.train.learning_rate, out.model.head.units, out.data.augment) == (0.05, 128, "autoaugment")
    assert cfg.train.learning_rate == 0.001
    validate(out)


def test_default_space_covers_the_chapter_knobs_and_validates():
    cfg = make_cfg("experiment=quickstart", "tuner=bayesian")
    assert {
        "train.learning_rate",
        "train.optimizer",
        "model.unfreeze",
        "model.head.units",
        "model.head.dropout",
        "train.batch_size",
    } <= set(check_space(cfg))
    validate(cfg)
    assert cfg.name == "quickstart_tuner-bayesian_digits_mobilenet" and cfg.tuner.objective == "val_accuracy"


@pytest.mark.parametrize(
    "override, key",
    [
        ("+tuner.space.train.nope={type:float,min:0,max:1}", "tuner.space.train.nope"),
        ("+tuner.space.model.alpha={type:gaussian}", "tuner.space.model.alpha.type"),
        ("tuner.space.train.learning_rate={type:float,min:0.1,max:0.01}", "tuner.space.train.learning_rate.max"),
        (
            "tuner.space.train.learning_rate={type:float,min:0,max:0.1,sampling:log}",
            "tuner.space.train.learning_rate.min",
        ),
        ("tuner.space.train.optimizer={type:choice,values:[]}", "tuner.space.train.optimizer.values"),
        ("tuner.max_trials=0", "tuner.max_trials"),
        (
            "+tuner.space.data.image_size={type:int,min:32,max:64,sampeling:log}",
            "tuner.space.data.image_size.sampeling",
        ),
        ("+tuner.space.data.image_size={type:choice,values:[32],step:2}", "tuner.space.data.image_size.step"),
        (
            "+tuner.space.data.image_size={type:choice,values:[32,48],parent_name:train.optimizer}",
            "tuner.space.data.image_size.parent_values",
        ),
        (
            "+tuner.space.data.image_size={type:choice,values:[32,48],parent_name:train.nope,parent_values:[a]}",
            "tuner.space.data.image_size.parent_name",
        ),
        ("+tuner.space.data.image_size={type:int,min:32,max:64,step:0}", "tuner.space.data.image_size.step"),
        ("+tuner.space.data.image_size={type:int,min:32.5,max:64}", "tuner.space.data.image_size.min"),
        ("+tuner.space.data.image_size={type:int,min:32,max:64,default:100}", "tuner.space.data.image_size.default"),
        (
            "+tuner.space.data.resize_mode={type:choice,values:[squash,pad],default:crop}",
            "tuner.space.data.resize_mode.default",
        ),
        (
            "+tuner.space.data.resize_mode={type:choice,values:[squash,pad],ordered:maybe}",
            "tuner.space.data.resize_mode.ordered",
        ),
        ("tuner.space.train.batch_size={type:choice,values:[16,adam]}", "tuner.space.train.batch_size.values"),
        ("+tuner.space.data.augmentation.flip={type:bool,default:maybe}", "tuner.space.data.augmentation.flip.default"),
        (
            "+tuner.space.data.image_size={type:choice,values:[32,48],parent_name:train.optimizer,parent_values:[lion]}",
            "tuner.space.data.image_size.parent_values",
        ),
        ("+tuner.space.results_dir={type:choice,values:[a,b]}", "tuner.space.results_dir"),
    ],
)
def test_a_malformed_space_is_a_config_error(override, key):
    with pytest.raises(ConfigError) as err:
        validate(make_cfg("experiment=quickstart", "tuner=random", override))
    assert err.value.key == key


def test_a_typo_in_an_entry_names_the_key_and_what_is_allowed():
    with pytest.raises(ConfigError) as err:
        validate(
            make_cfg(
                "experiment=quickstart",
                "tuner=random",
                "+tuner.space.data.image_size={type:int,min:32,max:64,sampeling:log}",
            )
        )
    assert "one of min, max, step, sampling, default, parent_name, parent_values" in str(err.value)


def test_default_ordered_and_conditional_entries_are_keras_tuners_own():
    space = {
        "train.learning_rate": {
            "type": "float",
            "min": 1e-4,
            "max": 1e-1,
            "sampling": "log",
            "default": 1e-3,
            "parent_name": "train.optimizer",
            "parent_values": ["adam"],
        },
        "train.optimizer": {"type": "choice", "values": ["sgd", "adam"], "default": "sgd"},
        "model.head.units": {"type": "choice", "values": [32, 64, 128], "ordered": True},
    }
    hp = kt.HyperParameters()
    values = declare(hp, space)  # the parent is declared first although it comes second
    assert values == {"train.optimizer": "sgd", "model.head.units": 32}  # learning_rate inactive under sgd
    by_name = {p.name: p for p in hp.space}
    assert by_name["model.head.units"].ordered and by_name["train.learning_rate"].default == 1e-3
    active = kt.HyperParameters()
    active.values["train.optimizer"] = "adam"
    assert declare(active, space)["train.learning_rate"] == 1e-3


@pytest.mark.parametrize(
    "tuner, setting",
    [
        ("hyperband", "+tuner.max_trials=5"),
        ("random", "+tuner.max_epochs=5"),
        ("random", "+tuner.num_initial_points=2"),
    ],
)
def test_a_setting_the_chosen_tuner_ignores_is_rejected_not_dropped(tuner, setting):
    with pytest.raises(ConfigError) as err:
        validate(make_cfg("experiment=quickstart", f"tuner={tuner}", setting))
    assert err.value.key == setting.lstrip("+").split("=")[0] and f"tuner={tuner} does not use it" in str(err.value)


def test_freezing_a_random_backbone_is_not_searched_and_says_why():
    cfg = make_cfg("experiment=quickstart", "tuner=random", "model.weights=null")
    space, left_out = searchable(cfg, check_space(cfg))
    assert "model.unfreeze" not in space and "randomly initialized" in left_out["model.unfreeze"]
    cfg = make_cfg("experiment=quickstart", "tuner=random", "model.weights=imagenet")
    assert "model.unfreeze" in searchable(cfg, check_space(cfg))[0]
    cfg = make_cfg("experiment=quickstart", "tuner=random", "model=random_init", "model.weights=imagenet")
    assert "model.pretrained=false" in searchable(cfg, check_space(cfg))[1]["model.unfreeze"]


def test_a_stepped_float_is_the_value_the_space_means():
    hp = kt.HyperParameters()
    space = {"model.head.dropout": {"type": "float", "min": 0.0, "max": 0.5, "step": 0.1}}
    declare(hp, space)
    hp.values["model.head.dropout"] = 0.1 * 3  # what Keras Tuner draws for the fourth step
    assert declare(hp, space)["model.head.dropout"] == 0.3


def test_a_cycle_of_conditions_is_a_config_error_before_any_trial():
    cycle = (
        "~tuner.space",
        "+tuner.space={train:{optimizer:{type:choice,values:[adam,sgd],parent_name:train.batch_size,"
        "parent_values:[16]},batch_size:{type:choice,values:[16,32],parent_name:train.optimizer,parent_values:[adam]}}}",
    )
    with pytest.raises(ConfigError) as err:
        validate(make_cfg("experiment=quickstart", "tuner=random", *cycle))
    assert "a cycle" in str(err.value)
