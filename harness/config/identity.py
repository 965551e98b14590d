"""A run's identity: the hash of its resolved config minus where output goes, and values as text that compare
equal however they were stored."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Sections whose values decide what a run computes: its hyperparameters, its identity, its HParams columns.
HYPERPARAMETER_SECTIONS = ("data", "model", "train")
# Keys that say where output goes or how runs were generated, not what a run computes.
NOT_IDENTITY = (
    "hydra",
    "results_dir",
    "cache_dir",
    "analysis",
    "name",
    "run_name",
    "overwrite",
    "sweep",
    "tuner",
    "preset",
    "study",
)
# Knobs of the hyperparameter sections that say how a run is shown or where it holds its data, not what it computes.
HOW_NOT_WHAT = ("train.verbose", "data.memory_mb")


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
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)


def config_hash(cfg: DictConfig | dict) -> str:
    """Identity of a run: the hash of its resolved config, minus keys that only say where output goes."""
    data = {k: v for k, v in container(cfg).items() if k not in NOT_IDENTITY}
    for key in HOW_NOT_WHAT:
        section, name = key.split(".")
        data.get(section, {}).pop(name, None)
    blob = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
