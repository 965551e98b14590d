"""Names for people: what an experiment folder and a run folder are called.

An experiment folder reads as what it is, `<preset>_<sweep, study or search>_<dataset>_<backbone>`, plus a
short hash of the command line's other fixed overrides when there are any (`-3f9a2c1d`): a sweep over
another baseline is another experiment, and the name never carries a file path or a list of every
override. A run inside it is named by what it varies: `learning_rate=0.01` (`,seed=43`) in a sweep, its
overrides (`epochs=3,learning_rate=0.01`, a file by its file name) or `baseline` for a single run. The
full overrides live in every record and HParams session; `name=` and `run_name=` set the names outright.

Folders named by earlier versions (every override comma-joined) are found by `legacy_*`, so a command
whose runs sit under the old name is told how to move them instead of starting again beside them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from harness.config.identity import HOW_NOT_WHAT, canonical

# Config sections whose command-line overrides change what a run computes, and so its folder's name.
LABELLED_SECTIONS = ("dataset", "data", "model", "train")
# In the experiment's name already, or not what a run computes.
UNLABELLED = {"dataset.path", "dataset.name", "model.name", *HOW_NOT_WHAT}
# A search's settings that change which trials it runs (max_trials may grow on resume; the rest say how it runs).
TUNER_UNNAMED = {"tuner.max_trials", "tuner.overwrite", "tuner.isolate", "tuner.max_consecutive_failed_trials"}
HASH_LENGTH = 8
_ABSENT = object()


def hydra_value(value: Any) -> str:
    """A Python value as Hydra override syntax."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if re.fullmatch(r"[\w./\-+]+", text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def key_of(argument: str) -> str:
    return argument.split("=", 1)[0].lstrip("+~")


def is_sweep(argument: str) -> bool:
    return OverridesParser.create().parse_override(argument).is_sweep_override()


def folder_safe(label: str, limit: int = 120) -> str:
    """A label as one folder name: odd characters become `_`; a long one is cut and keeps a hash of the whole."""
    label = re.sub(r"[^\w.,=+\-~]", "_", label)
    if len(label) <= limit:
        return label
    return f"{label[: limit - 9]}~{hashlib.sha256(label.encode()).hexdigest()[:8]}"


def short_key(key: str, config: DictConfig) -> str:
    """`train.learning_rate` -> `learning_rate`, unless another section has that key too (`train.seed`, `data.seed`)."""
    section, _, rest = key.partition(".")
    clash = any(
        OmegaConf.select(config, f"{other}.{rest}", default=_ABSENT) is not _ABSENT
        for other in LABELLED_SECTIONS
        if other != section
    )
    return key if clash else rest


def shown_value(text: str) -> str:
    """A value as a folder name shows it: a file path by its file name."""
    text = text.strip("'\"")
    return Path(text).name or text if "/" in text else text


def _hyperparameter_overrides(arguments: Iterable[str]) -> list[str]:
    """The fixed overrides of what a run computes (not sweeps, not names or output places)."""
    return [
        a
        for a in arguments
        if "." in key_of(a)
        and key_of(a).split(".")[0] in LABELLED_SECTIONS
        and key_of(a) not in UNLABELLED
        and not is_sweep(a)
    ]


def override_label(arguments: Iterable[str], config: DictConfig) -> str:
    """A single run's folder name from its command line's hyperparameter overrides ('' for none):
    `train.learning_rate=0.01 train.epochs=3` -> `epochs=3,learning_rate=0.01`; a file path by its file name."""
    parts: dict[str, str] = {}  # a key given twice keeps its last value, as Hydra does
    for argument in _hyperparameter_overrides(arguments):
        short = short_key(key_of(argument), config)
        parts[short] = f"~{short}" if argument.startswith("~") else f"{short}={shown_value(argument.split('=', 1)[1])}"
    return folder_safe(",".join(sorted(parts.values())))


def _identity_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=canonical)
    return canonical(value)


def overrides_hash(arguments: Iterable[str], tuner: bool = False) -> str:
    """A short hash of the fixed overrides that change what runs compute ('' for none): the same overrides in
    any order, spelled `0.010` or `0.01`, give the same hash; a key given twice counts with its last value.
    For a search, its own settings that change which trials it runs count too."""
    parser = OverridesParser.create()
    chosen = list(_hyperparameter_overrides(arguments))
    if tuner:
        chosen += [a for a in arguments if key_of(a).startswith("tuner.") and key_of(a) not in TUNER_UNNAMED]
    fixed: dict[str, str] = {}
    for argument in chosen:
        override = parser.parse_override(argument)
        value = None if override.is_delete() else override.value()
        fixed[key_of(argument)] = ("~" if override.is_delete() else "") + _identity_text(value)
    if not fixed:
        return ""
    blob = json.dumps(fixed, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:HASH_LENGTH]


def experiment_name(base: str, arguments: Iterable[str], tuner: bool = False) -> str:
    """The folder of a sweep, study or search: its default name (`base`), and a hash of the other fixed overrides."""
    digest = overrides_hash(list(arguments), tuner)
    return f"{base}-{digest}" if digest else base


def legacy_label(arguments: Iterable[str], config: DictConfig) -> str:
    """The label earlier versions (0.1.x) gave the same overrides: every value whole, paths with `_` for `/`."""
    parts: dict[str, str] = {}
    for argument in _hyperparameter_overrides(arguments):
        short = short_key(key_of(argument), config)
        parts[short] = (
            f"~{short}" if argument.startswith("~") else f"{short}={argument.split('=', 1)[1].strip(chr(39))}"
        )
    return folder_safe(",".join(sorted(parts.values())))


def legacy_experiment_name(base: str, arguments: Iterable[str], config: DictConfig) -> str:
    """The folder earlier versions (0.1.x) gave a sweep or study: its default name, a comma, every fixed override."""
    label = legacy_label(arguments, config)
    return f"{base},{label}" if label else base


def trial_number(trial_id: str) -> int:
    """The number a search prints for a trial (Keras Tuner's "Running Trial #3" is trial id 2)."""
    return int(trial_id) + 1


def trial_folder(trial_id: str, execution: int | None = None) -> str:
    """`trial=003`: numbered as the search prints trials, padded so folders and tables sort in order."""
    return f"trial={trial_number(trial_id):03d}" + (f",exec={execution}" if execution is not None else "")
