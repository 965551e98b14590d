"""The Keras Tuner search space as YAML: every type maps to its hyperparameter; a malformed entry names its key."""

from __future__ import annotations

import keras_tuner as kt
import pytest

from harness import space as tune
from harness.errors import ConfigError
from harness.validate import validate
from tests.helpers import make_cfg


def test_every_space_type_maps_to_its_keras_tuner_hyperparameter():
    space = {
        "train.learning_rate": {"type": "float", "min": 1e-4, "max": 1e-1, "sampling": "log"},
        "model.unfreeze": {"type": "float", "min": 0.0, "max": 1.0, "step": 0.25},
        "model.head.units": {"type": "int", "min": 16, "max": 128, "step": 16},
        "train.optimizer": {"type": "choice", "values": ["adam", "sgd"]},
        "data.augment": {"type": "bool"},
        "train.batch_size": {"type": "fixed", "value": 32},
    }
    hp = kt.HyperParameters()
    values = tune.declare(hp, space)
    by_name = {p.name: p for p in hp.space}
    assert type(by_name["train.learning_rate"]).__name__ == "Float" and by_name["train.learning_rate"].sampling == "log"
    assert (by_name["model.unfreeze"].min_value, by_name["model.unfreeze"].max_value, by_name["model.unfreeze"].step) == (0.0, 1.0, 0.25)
    assert type(by_name["model.head.units"]).__name__ == "Int" and by_name["model.head.units"].step == 16
    assert by_name["train.optimizer"].values == ["adam", "sgd"]
    assert type(by_name["data.augment"]).__name__ == "Boolean"
    assert type(by_name["train.batch_size"]).__name__ == "Fixed" and values["train.batch_size"] == 32
    assert set(values) == set(space)


def test_a_trial_sets_its_values_on_the_keys_they_name():
    cfg = make_cfg("experiment=quickstart", "tuner=random")
    out = tune.trial_config(cfg, {"train.learning_rate": 0.05, "model.head.units": 128, "data.augment": True})
    assert (out.train.learning_rate, out.model.head.units, out.data.augment) == (0.05, 128, True)
    assert cfg.train.learning_rate == 0.001
    validate(out)


def test_default_space_covers_the_chapter_knobs_and_validates():
    cfg = make_cfg("experiment=quickstart", "tuner=bayesian")
    assert {"train.learning_rate", "train.optimizer", "model.unfreeze", "model.head.units", "model.head.dropout", "train.batch_size"} <= set(tune.check_space(cfg))
    validate(cfg)
    assert cfg.name == "quickstart_tuner-bayesian_digits_mobilenet" and cfg.tuner.objective == "val_accuracy"


@pytest.mark.parametrize(
    "override, key",
    [
        ("+tuner.space.train.nope={type:float,min:0,max:1}", "tuner.space.train.nope"),
        ("+tuner.space.model.alpha={type:gaussian}", "tuner.space.model.alpha.type"),
        ("tuner.space.train.learning_rate={type:float,min:0.1,max:0.01}", "tuner.space.train.learning_rate.max"),
        ("tuner.space.train.learning_rate={type:float,min:0,max:0.1,sampling:log}", "tuner.space.train.learning_rate.min"),
        ("tuner.space.train.optimizer={type:choice,values:[]}", "tuner.space.train.optimizer.values"),
        ("tuner.max_trials=0", "tuner.max_trials"),
    ],
)
def test_a_malformed_space_is_a_config_error(override, key):
    with pytest.raises(ConfigError) as err:
        validate(make_cfg("experiment=quickstart", "tuner=random", override))
    assert err.value.key == key
