"""A run's identity: the hash of its resolved config minus the knobs declared `identity=False` (where output goes,
how the run is shown or run: harness.config.schema.Properties), and values as text that compare equal however
they were stored."""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from harness.config.schema import Config, ScratchModel, TransferModel, knobs, properties

# Sections whose values decide what a run computes: its hyperparameters, its identity, its HParams columns.
HYPERPARAMETER_SECTIONS = ("data", "model", "train")


def _not_identity() -> tuple[tuple[str, ...], tuple[str, ...]]:
    every = [*knobs(Config), *knobs(TransferModel, "model."), *knobs(ScratchModel, "model.")]
    keys = sorted({key for key, f in every if not properties(f).identity})
    return tuple(k for k in keys if "." not in k), tuple(k for k in keys if "." in k)


# Top-level keys that say where output goes or how runs were generated, not what a run computes (and Hydra's own).
# Knobs of the hyperparameter sections that say how a run is shown or run, or where it holds its data.
_TOP, HOW_NOT_WHAT = _not_identity()
NOT_IDENTITY = ("hydra", *_TOP)


def flatten(node: Any, prefix: str = "", is_leaf: Callable[[Any], bool] = lambda _: False) -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}. A dict for which `is_leaf` is true is kept whole."""
    if isinstance(node, dict) and not is_leaf(node):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key), is_leaf))
        return out
    return {prefix: node}


def canonical(value: Any) -> str:
    """A knob value as text that compares equal however it was stored: 32, 32.0 -> '32'; None, NaN -> 'null'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"{float(value):g}"
    return str(value)


def container(cfg: DictConfig | dict) -> dict:
    """A config as plain data of its own: changing it changes neither `cfg` nor anything inside it."""
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else copy.deepcopy(dict(cfg))


def config_hash(cfg: DictConfig | dict) -> str:
    """Identity of a run: the hash of its resolved config, minus keys that only say where output goes."""
    data = {k: v for k, v in container(cfg).items() if k not in NOT_IDENTITY}
    for key in HOW_NOT_WHAT:
        *path, name = key.split(".")
        node = data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(name, None)
    blob = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
