"""A search's identity: the config its trials are drawn over, so that a search never resumes another's trials.

Light (no Keras Tuner, no TensorFlow): the CLI reads it before anything runs, every search (harness.multirun.search,
harness.multirun.automl) when it starts.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from harness.config.identity import HOW_NOT_WHAT, HYPERPARAMETER_SECTIONS, config_hash, container, flatten
from harness.config.naming import TUNER_UNNAMED
from harness.errors import UserError
from harness.records.record import read_record
from harness.storage.atomic import read_text, write_atomic

IDENTITY = "search.json"  # in the search's folder: search_identity of the config it was started with


def search_identity(cfg: DictConfig) -> dict[str, Any]:
    """What a search's trials depend on, as flat keys: the baseline (dataset, data, model, train) and the
    search's own settings that change which trials run (not max_trials, which a resume may raise)."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    tuner = {k: v for k, v in plain["tuner"].items() if f"tuner.{k}" not in TUNER_UNNAMED and k != "name"}
    flat = flatten({k: plain[k] for k in ("dataset", *HYPERPARAMETER_SECTIONS)})
    for key in HOW_NOT_WHAT:
        flat.pop(key, None)
    flat.update(flatten({"tuner": tuner}, is_leaf=lambda node: "type" in node))
    return json.loads(json.dumps(flat, default=str))


def differences(mine: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """`key: <theirs> there, <mine> here` for every key whose value differs."""
    keys = sorted(set(mine) | set(theirs), key=str)
    return [
        f"{k}: {theirs.get(k, '(unset)')} there, {mine.get(k, '(unset)')} here"
        for k in keys
        if mine.get(k) != theirs.get(k)
    ]


def _without(config: dict, keys: set[str]) -> dict:
    config = copy.deepcopy(config)
    for key in keys:
        *path, last = key.split(".")
        node = config
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return config


def same_baseline(folder: Path, cfg: DictConfig) -> bool | None:
    """Whether the trials recorded in `folder` ran over this config's baseline (every key but the searched ones
    and train.epochs, which Hyperband sets per trial), None without a trial: how a search made before
    search.json is recognized."""
    from harness.config.space import entries

    varied = set(entries(cfg.tuner.space)) | {"train.epochs"}
    for record_file in sorted(Path(folder).glob("trial=*/record.json")):
        record = read_record(record_file.parent)
        if record and record.config:
            return config_hash(_without(record.config, varied)) == config_hash(_without(container(cfg), varied))
    return None


# What tune.best_overrides_file writes, and all a best-trial preset may hold: the retrain command composes it
# with Hydra, so a `hydra:` section (callbacks are instantiated), a `_target_` or an interpolation (`${oc.env:...}`)
# in a shared results folder would run code or read the environment on the machine that retrains it.
BEST_KEYS = ("defaults", "preset", "results_dir", "name", "dataset", "data", "model", "train")
BEST_GROUPS = ("override /dataset", "override /model")


def _unsafe(node: Any, where: str) -> tuple[str, Any] | None:
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key).startswith("_") and str(key).endswith("_"):
                return f"{where}.{key}", value
            found = _unsafe(value, f"{where}.{key}")
            if found:
                return found
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found = _unsafe(value, f"{where}.{i}")
            if found:
                return found
    elif isinstance(node, str) and "${" in node:
        return where, node
    return None


def check_best_preset(path: Path) -> None:
    """A search's experiment/best.yaml read as data (ConfigError, one line, if it is more than values of the
    config's sections): what lets the printed retrain command be run on a folder someone else wrote."""
    import yaml

    from harness.errors import ConfigError

    try:
        data = yaml.safe_load(read_text(Path(path)))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), None, f"a readable best-trial preset ({str(exc).splitlines()[0]})") from None
    allowed = (
        f"a best-trial preset holds only {', '.join(BEST_KEYS)}, as values (no hydra section, _target_ or ${{...}})"
    )
    if not isinstance(data, dict):
        raise ConfigError(str(path), type(data).__name__, allowed)
    for key in data:
        if key not in BEST_KEYS:
            raise ConfigError(f"{path}: {key}", data[key], allowed)
    for entry in data.get("defaults") or []:
        if not (
            isinstance(entry, dict)
            and len(entry) == 1
            and next(iter(entry)) in BEST_GROUPS
            and isinstance(next(iter(entry.values())), str)
        ):
            raise ConfigError(f"{path}: defaults", entry, allowed)
    found = _unsafe({k: v for k, v in data.items() if k != "defaults"}, str(path) + ":")
    if found:
        raise ConfigError(found[0].replace(":.", ": ", 1), found[1], allowed)


def check_same_search(cfg: DictConfig, exp_dir: Path) -> None:
    """Refuse (UserError, exit 2) to resume a search in `exp_dir` that was made over another config; adopt a
    folder made before searches recorded their config when its trials ran over this baseline."""
    mine, file = search_identity(cfg), exp_dir / IDENTITY
    if file.exists() and not cfg.tuner.overwrite:
        try:
            theirs = json.loads(read_text(file))
        except (OSError, ValueError):
            theirs = None
        if isinstance(theirs, dict) and theirs != mine:
            shown = differences(mine, theirs)
            raise UserError(
                f"results error: {exp_dir} holds a search over another config ({'; '.join(shown[:3])}"
                f"{'; ...' if len(shown) > 3 else ''}); name=... starts a new search beside it, "
                "tuner.overwrite=true replaces it"
            )
    elif (exp_dir / "keras_tuner").is_dir() and not cfg.tuner.overwrite:
        if same_baseline(exp_dir, cfg) is False:
            raise UserError(
                f"results error: {exp_dir} holds a search made over another baseline by an earlier version; "
                "name=... starts a new search beside it, tuner.overwrite=true replaces it"
            )
    exp_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(file, json.dumps(mine, indent=1, sort_keys=True))
