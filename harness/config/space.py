"""The Keras Tuner search space as plain data: config keys nested like the config, one hyperparameter each.

    tuner.space.train.learning_rate: {type: float, min: 1.0e-4, max: 1.0e-1, sampling: log}

Checked here without TensorFlow (validation) and turned into kt.HyperParameters by `declare`.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from harness.config.identity import flatten
from harness.errors import ConfigError

SAMPLINGS = ("linear", "log", "reverse_log")
CONDITION = ("parent_name", "parent_values")
# The keys each type takes: the arguments of Keras Tuner's hp.Float/Int/Choice/Boolean/Fixed.
KEYS = {
    "float": ("min", "max", "step", "sampling", "default", *CONDITION),
    "int": ("min", "max", "step", "sampling", "default", *CONDITION),
    "choice": ("values", "ordered", "default", *CONDITION),
    "bool": ("default", *CONDITION),
    "fixed": ("value", *CONDITION),
}
TYPES = tuple(KEYS)
# A trial sets its values on keys of these sections; any other key (results_dir, tuner.*) would change nothing it trains.
SEARCHED_SECTIONS = ("dataset", "data", "model", "train")


def _is_entry(node: Any) -> bool:
    return isinstance(node, dict) and "type" in node


def entries(space: DictConfig | dict | None) -> dict[str, Any]:
    """{train: {learning_rate: {type: ...}}} -> {"train.learning_rate": {type: ...}}."""
    plain = OmegaConf.to_container(space, resolve=True) if isinstance(space, DictConfig) else (space or {})
    return flatten(plain, is_leaf=_is_entry) if plain else {}


def _number(value: Any, integer: bool) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if integer else isinstance(value, (int, float)) and value == value


def _check_bounds(where: str, spec: dict) -> None:
    """What Keras Tuner's hp.Float and hp.Int take: min < max (integers for int), a positive step, a sampling it
    knows (log: min > 0), a default inside the range."""
    integer = spec["type"] == "int"
    kind = "integers" if integer else "numbers"
    if not all(_number(spec.get(b), integer) for b in ("min", "max")):
        raise ConfigError(f"{where}.min", spec.get("min"), f"{kind} min < max")
    if spec["min"] >= spec["max"]:
        raise ConfigError(f"{where}.max", spec["max"], f"> min ({spec['min']})")
    if spec.get("sampling", "linear") not in SAMPLINGS:
        raise ConfigError(f"{where}.sampling", spec.get("sampling"), "one of " + ", ".join(SAMPLINGS))
    if spec.get("sampling") in ("log", "reverse_log") and spec["min"] <= 0:
        raise ConfigError(f"{where}.min", spec["min"], "> 0 with log sampling")
    step = spec.get("step")
    if step is not None and (not _number(step, integer) or step <= 0):
        raise ConfigError(f"{where}.step", step, f"{'an integer' if integer else 'a number'} > 0, or no step")
    default = spec.get("default")
    if default is not None and (not _number(default, integer) or not spec["min"] <= default <= spec["max"]):
        raise ConfigError(f"{where}.default", default, f"a value in [{spec['min']}, {spec['max']}]")


def _check_choice(where: str, spec: dict) -> None:
    """What hp.Choice takes: a non-empty list of values of one type, `ordered` true or false, a default among them."""
    values = spec.get("values")
    if not (isinstance(values, list) and values):
        raise ConfigError(f"{where}.values", values, "a non-empty list")
    kinds = {type(v) for v in values}
    if len(kinds) > 1 and kinds != {int, float}:
        raise ConfigError(f"{where}.values", values, "values of one type (all numbers, all text or all true/false)")
    if not all(isinstance(v, (bool, int, float, str)) for v in values):
        raise ConfigError(f"{where}.values", values, "numbers, text or true/false")
    if "ordered" in spec and not isinstance(spec["ordered"], bool):
        raise ConfigError(f"{where}.ordered", spec["ordered"], "true or false")
    if "default" in spec and spec["default"] not in values:
        raise ConfigError(f"{where}.default", spec["default"], f"one of its values ({', '.join(map(str, values))})")


def _takes(spec: dict, value: Any) -> bool:
    """Whether a searched entry can take `value` (for a condition on it)."""
    kind = spec["type"]
    if kind == "choice":
        return value in spec["values"]
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "fixed":
        return value == spec["value"]
    return _number(value, kind == "int") and spec["min"] <= value <= spec["max"]


def _check_condition(where: str, spec: dict, space: dict) -> None:
    if ("parent_name" in spec) != ("parent_values" in spec):
        raise ConfigError(
            f"{where}.parent_values" if "parent_name" in spec else f"{where}.parent_name",
            None,
            "given together: parent_name (a searched key) and parent_values (a list of its values)",
        )
    if "parent_name" not in spec:
        return
    parent = spec["parent_name"]
    if parent not in space or parent == where.removeprefix("tuner.space."):
        raise ConfigError(f"{where}.parent_name", parent, f"another searched key: one of {', '.join(space)}")
    if not isinstance(spec["parent_values"], list) or not spec["parent_values"]:
        raise ConfigError(f"{where}.parent_values", spec["parent_values"], "a non-empty list of the parent's values")
    never = [
        v
        for v in spec["parent_values"]
        if isinstance(space[parent], dict) and "type" in space[parent] and not _takes(space[parent], v)
    ]
    if never:
        raise ConfigError(f"{where}.parent_values", never[0], f"values {parent} can take (this one it never does)")


def check_space(cfg: DictConfig) -> dict[str, dict]:
    """The search space of cfg.tuner as flat entries; ConfigError for an unknown key or a malformed entry."""
    space = entries(cfg.tuner.space)
    if not space:
        raise ConfigError("tuner.space", space, "at least one config key to search")
    for key, spec in space.items():
        where = f"tuner.space.{key}"
        if key.split(".")[0] not in SEARCHED_SECTIONS:
            raise ConfigError(where, spec, f"a key of what a run computes: under {', '.join(SEARCHED_SECTIONS)}")
        if OmegaConf.select(cfg, key, default="__missing__") == "__missing__":
            raise ConfigError(where, spec, f"a key of the composed config ({key} is not one)")
        if not isinstance(spec, dict) or spec.get("type") not in TYPES:
            raise ConfigError(
                f"{where}.type",
                (spec or {}).get("type") if isinstance(spec, dict) else spec,
                "one of " + ", ".join(TYPES),
            )
        kind = spec["type"]
        unknown = sorted(set(spec) - {"type", *KEYS[kind]})
        if unknown:
            raise ConfigError(
                f"{where}.{unknown[0]}", spec[unknown[0]], f"a key of a {kind} entry: one of {', '.join(KEYS[kind])}"
            )
        if kind in ("float", "int"):
            _check_bounds(where, spec)
        elif kind == "choice":
            _check_choice(where, spec)
        elif kind == "bool" and not isinstance(spec.get("default", False), bool):
            raise ConfigError(f"{where}.default", spec["default"], "true or false")
        elif kind == "fixed" and not isinstance(spec.get("value"), (bool, int, float, str)):
            raise ConfigError(
                f"{where}.value", spec.get("value"), "the value to hold fixed: a number, text or true/false"
            )
    for key, spec in space.items():
        _check_condition(f"tuner.space.{key}", spec, space)
    parents_first(space)  # a cycle of conditions is a config error now, not at the first trial
    return space


def _corners(spec: dict) -> list[Any]:
    kind = spec["type"]
    if kind == "choice":
        return list(spec["values"])
    if kind in ("float", "int"):
        return [spec["min"], spec["max"]]
    return [True, False] if kind == "bool" else [spec["value"]]


_BASE = object()  # a searched key left at the base config's value


def check_values(base: DictConfig, space: dict[str, dict], check: Callable[[DictConfig], Any]) -> None:
    """Every choice and both ends of every range are values some trial can run with (with the base
    config's other values, or another searched key's), by `check` (the validator: ConfigError if not).
    Keras Tuner builds its first trial's model in its constructor, so a value no trial can take would
    otherwise surface as a traceback after TensorFlow starts. A value valid only with some others is left
    to the trials: those combinations fail and are recorded."""
    corners = {key: _corners(spec) for key, spec in space.items()}
    for key in space:
        others = [k for k in space if k != key]
        for value in corners[key]:
            first_error = None
            # The base config first (the common case: one check), then the other keys' values, bounded.
            for combo in itertools.islice(itertools.product(*([_BASE, *corners[k]] for k in others)), 256):
                trial = copy.deepcopy(base)
                for k, v in [(key, value), *zip(others, combo)]:
                    if v is not _BASE:
                        OmegaConf.update(trial, k, v, merge=False)
                try:
                    check(trial)
                    break
                except ConfigError as exc:
                    first_error = first_error or exc
            else:
                raise ConfigError(f"tuner.space.{key}", value, f"a value {key} takes: {first_error.allowed}")


def searchable(cfg: DictConfig, space: dict[str, dict]) -> tuple[dict[str, dict], dict[str, str]]:
    """(the entries worth searching on this config, {left-out key: why}). How much of a backbone to
    freeze means nothing when its weights are random (frozen random layers stay random, and their
    BatchNorm statistics never settle: such trials score at chance) or when the model has no backbone."""
    why = {}
    if "model.unfreeze" in space:
        if cfg.model.get("kind") == "scratch":
            why["model.unfreeze"] = "model=scratch has no backbone to freeze"
        elif not cfg.model.get("pretrained", True):
            why["model.unfreeze"] = "model.pretrained=false: a randomly initialized backbone is trained whole"
        elif cfg.model.get("weights") is None:
            why["model.unfreeze"] = "model.weights=null: a randomly initialized backbone is trained whole"
    return {k: v for k, v in space.items() if k not in why}, why


def parents_first(space: dict[str, dict]) -> list[str]:
    """Keras Tuner needs a parent declared before its conditional children."""
    ordered: list[str] = []

    def visit(key: str, seen: tuple[str, ...] = ()) -> None:
        if key in ordered:
            return
        parent = space[key].get("parent_name")
        if parent in seen:
            raise ConfigError(
                f"tuner.space.{key}.parent_name", parent, "a parent that does not depend on this key (a cycle)"
            )
        if parent:
            visit(parent, (*seen, key))
        ordered.append(key)

    for key in space:
        visit(key)
    return ordered


def as_meant(value: Any) -> Any:
    """A drawn value as the space means it: a stepped float is min + k * step, 0.30000000000000004 for 0.3."""
    return float(f"{value:.12g}") if isinstance(value, float) else value


def declare(hp, space: dict[str, dict]) -> dict[str, Any]:
    """Register every entry of the space on `hp` (a kt.HyperParameters); returns the values of the active
    ones (a conditional entry whose parent has another value is left out: the base config's value holds)."""
    values = {}
    for key in parents_first(space):
        spec = dict(space[key])
        kind = spec.pop("type")
        condition = {k: spec.pop(k) for k in CONDITION if k in spec}
        if kind == "float":
            value = hp.Float(key, spec.pop("min"), spec.pop("max"), **spec, **condition)
        elif kind == "int":
            value = hp.Int(key, int(spec.pop("min")), int(spec.pop("max")), **{"step": 1, **spec}, **condition)
        elif kind == "choice":
            value = hp.Choice(key, spec.pop("values"), **spec, **condition)
        elif kind == "bool":
            value = hp.Boolean(key, **spec, **condition)
        else:
            value = hp.Fixed(key, spec["value"], **condition)
        if hp.is_active(key):
            values[key] = as_meant(value)
    return values


def trial_config(cfg: DictConfig, values: dict[str, Any]) -> DictConfig:
    """The base config with a trial's values set on the keys they name (a plain copy: the schema's types still hold
    for what validation checks, and a searched value of another type is the validator's to reject)."""
    out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    for key, value in values.items():
        OmegaConf.update(out, key, value, merge=False)
    return out
