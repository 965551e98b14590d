"""The Keras Tuner search space as plain data: config keys nested like the config, one hyperparameter each.

    tuner.space.train.learning_rate: {type: float, min: 1.0e-4, max: 1.0e-1, sampling: log}

Checked here without TensorFlow (validation) and turned into kt.HyperParameters by `declare`.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from harness.errors import ConfigError
from harness.schema import flatten

TYPES = ("float", "int", "choice", "bool", "fixed")
SAMPLINGS = ("linear", "log", "reverse_log")


def _is_entry(node: Any) -> bool:
    return isinstance(node, dict) and "type" in node


def entries(space: DictConfig | dict | None) -> dict[str, Any]:
    """{train: {learning_rate: {type: ...}}} -> {"train.learning_rate": {type: ...}}."""
    plain = OmegaConf.to_container(space, resolve=True) if isinstance(space, DictConfig) else (space or {})
    return flatten(plain, is_leaf=_is_entry) if plain else {}


def _check_bounds(where: str, spec: dict) -> None:
    if not all(isinstance(spec.get(b), (int, float)) and not isinstance(spec.get(b), bool) for b in ("min", "max")):
        raise ConfigError(f"{where}.min", spec.get("min"), "numbers min < max")
    if spec["min"] >= spec["max"]:
        raise ConfigError(f"{where}.max", spec["max"], f"> min ({spec['min']})")
    if spec.get("sampling", "linear") not in SAMPLINGS:
        raise ConfigError(f"{where}.sampling", spec.get("sampling"), "one of " + ", ".join(SAMPLINGS))
    if spec.get("sampling") in ("log", "reverse_log") and spec["min"] <= 0:
        raise ConfigError(f"{where}.min", spec["min"], "> 0 with log sampling")


def check_space(cfg: DictConfig) -> dict[str, dict]:
    """The search space of cfg.tuner as flat entries; ConfigError for an unknown key or a malformed entry."""
    space = entries(cfg.tuner.space)
    if not space:
        raise ConfigError("tuner.space", space, "at least one config key to search")
    for key, spec in space.items():
        where = f"tuner.space.{key}"
        if OmegaConf.select(cfg, key, default="__missing__") == "__missing__":
            raise ConfigError(where, spec, f"a key of the composed config ({key} is not one)")
        if not isinstance(spec, dict) or spec.get("type") not in TYPES:
            raise ConfigError(f"{where}.type", (spec or {}).get("type") if isinstance(spec, dict) else spec, "one of " + ", ".join(TYPES))
        kind = spec["type"]
        if kind in ("float", "int"):
            _check_bounds(where, spec)
        elif kind == "choice" and not (isinstance(spec.get("values"), list) and spec["values"]):
            raise ConfigError(f"{where}.values", spec.get("values"), "a non-empty list")
        elif kind == "fixed" and "value" not in spec:
            raise ConfigError(f"{where}.value", None, "the value to hold fixed")
    return space


def declare(hp, space: dict[str, dict]) -> dict[str, Any]:
    """Register every entry of the space on `hp` (a kt.HyperParameters); returns the values chosen."""
    values = {}
    for key, spec in space.items():
        kind = spec["type"]
        if kind == "float":
            values[key] = hp.Float(key, spec["min"], spec["max"], step=spec.get("step"), sampling=spec.get("sampling", "linear"))
        elif kind == "int":
            values[key] = hp.Int(key, int(spec["min"]), int(spec["max"]), step=spec.get("step") or 1, sampling=spec.get("sampling", "linear"))
        elif kind == "choice":
            values[key] = hp.Choice(key, spec["values"])
        elif kind == "bool":
            values[key] = hp.Boolean(key)
        else:
            values[key] = hp.Fixed(key, spec["value"])
    return values


def trial_config(cfg: DictConfig, values: dict[str, Any]) -> DictConfig:
    """The base config with a trial's values set on the keys they name (a plain copy: the schema's types still hold
    for what validation checks, and a searched value of another type is the validator's to reject)."""
    out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    for key, value in values.items():
        OmegaConf.update(out, key, value, merge=False)
    return out
