"""Validation of a composed config: types and keys against harness.config.schema, then ranges and rules across keys.

Raises ConfigError naming the first key whose value is not allowed (the CLI prints it as one line and
exits 2). Imports no TensorFlow: a bad command line costs a second, and nothing is written.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import re
import typing
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from harness.config.backbones import BACKBONES
from harness.config.folders import class_dirs, count_images, folder_layout, split_classes, unmatched_classes
from harness.config.geometry import target_hw
from harness.config.identity import canonical
from harness.config.schema import (
    OPTUNA_OBJECTIVES,
    Allowed,
    Config,
    CostConfig,
    DataConfig,
    DatasetConfig,
    ExplainConfig,
    Finding,
    ReportConfig,
    ScratchModel,
    StudyConfig,
    SweepConfig,
    TrainConfig,
    TransferModel,
    TunerConfig,
    knobs,
    properties,
)
from harness.config.space import check_space, check_values
from harness.config.weights_file import mismatch
from harness.errors import ConfigError

_ABSENT = object()
_TYPE_WORDS = {
    "Integer": "an integer",
    "Float": "a number",
    "bool": "true or false",
    "String": "a string",
    "ListConfig": "a list such as [a,b]",
}


@functools.cache  # once per process: a study validates every job's config; OmegaConf.merge copies, never changes it
def _schema(model_kind: str, tuner: bool) -> DictConfig:
    base = OmegaConf.structured(Config)
    base.model = OmegaConf.structured(ScratchModel if model_kind == "scratch" else TransferModel)
    base.tuner = OmegaConf.structured(TunerConfig) if tuner else None
    return base


def schema_error(exc: OmegaConfBaseException, value: Any = None) -> ConfigError | None:
    """The ConfigError for OmegaConf's complaint about a key the schema lacks or a value of the wrong type
    (`value`: what the user gave for the key, where OmegaConf does not say)."""
    key = exc.full_key or ""
    if isinstance(exc, (ConfigKeyError, ConfigAttributeError)) and key:
        section, _, name = key.rpartition(".")
        schema = exc.object_type if dataclasses.is_dataclass(exc.object_type) else None
        known = [f.name for f in dataclasses.fields(schema)] if schema else []
        where = f"a key of {section}" if section else "a top-level key"
        close = difflib.get_close_matches(name, known, n=1)
        if close:  # a typo: the key meant, not the whole list
            return ConfigError(key, value, f"{where}; did you mean {section + '.' if section else ''}{close[0]}?")
        return ConfigError(key, value, f"{where}" + (f" (known: {', '.join(known)})" if known else ""))
    if isinstance(exc, ValidationError) and key:
        word = next((w for t, w in _TYPE_WORDS.items() if re.search(rf"\b{t}\b", exc.msg)), "a value of the key's type")
        return ConfigError(key, exc.value, word)
    return None


@functools.cache
def yes_no_keys() -> frozenset[str]:
    """Every yes/no knob's dotted key."""
    found = [
        *knobs(Config),
        *knobs(TransferModel, "model."),
        *knobs(ScratchModel, "model."),
        *knobs(TunerConfig, "tuner."),
    ]
    return frozenset(key for key, f in found if f.type in (bool, "bool"))


def yes_no(overrides: list[str]) -> None:
    """A yes/no knob on the command line takes true or false (any case): OmegaConf would read 2, 1, yes or on as
    true, and a typo would turn a run's behaviour on. ConfigError, one line, otherwise."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    keys, parser = yes_no_keys(), OverridesParser.create()
    for text in overrides:
        try:
            override = parser.parse_override(text)
        except Exception:  # not an override Hydra can parse: Hydra's own one-line error follows
            continue
        key = override.key_or_group.lstrip("+~")
        if key not in keys or override.is_delete():
            continue
        values = list(override.sweep_iterator()) if override.is_sweep_override() else [override.value()]
        for value in values:
            if not isinstance(value, bool):
                raise ConfigError(key, value, "true or false (not 1/0 or yes/no)")


def typed(data: dict[str, Any]) -> DictConfig:
    """A plain config as an instance of the schema (its model section by kind); ConfigError on a key it lacks or a wrong type."""
    data = {k: v for k, v in data.items() if k != "hydra"}
    kind = data["model"].get("kind") if isinstance(data.get("model"), dict) else None
    try:
        return OmegaConf.merge(_schema(str(kind), data.get("tuner") is not None), data)
    except (ConfigKeyError, ValidationError) as exc:
        value = OmegaConf.select(OmegaConf.create(data), exc.full_key or "", default=None)
        raise (schema_error(exc, value) or ConfigError(exc.full_key or "?", value, str(exc.msg))) from None


def _get(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key, throw_on_missing=False, default=None)


def _allowed_words(allowed: Allowed, integer: bool, nullable: bool) -> str:
    if allowed.choices:
        return "one of " + ", ".join(map(str, allowed.choices))
    lo = "" if allowed.low is None else f"{'>' if allowed.low_open else '>='} {allowed.low:g}"
    hi = "" if allowed.high is None else f"{'<' if allowed.high_open else '<='} {allowed.high:g}"
    words = f"{'an integer' if integer else 'a number'} {' and '.join(x for x in (lo, hi) if x)}".strip()
    return words + (" or null" if nullable else "")


def _outside(value: Any, allowed: Allowed) -> bool:
    if allowed.choices:
        return value not in allowed.choices
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return True
    low, high = allowed.low, allowed.high
    return (low is not None and (value < low or (allowed.low_open and value == low))) or (
        high is not None and (value > high or (allowed.high_open and value == high))
    )


def declared(schema: type, node: DictConfig | None, prefix: str) -> None:
    """Every field of `schema` (and of the dataclasses inside it) holds a value its declaration allows: the one
    place ranges and choices are checked, read from the schema's `knob` declarations. ConfigError on the first
    that does not."""
    if node is None:
        return
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        key, value = f"{prefix}{f.name}", _get(node, f.name)
        kind = hints[f.name]
        optional = typing.get_origin(kind) is typing.Union and type(None) in typing.get_args(kind)
        target = next(a for a in typing.get_args(kind) if a is not type(None)) if optional else kind
        if dataclasses.is_dataclass(target):
            declared(target, value, f"{key}.")
            continue
        allowed = f.metadata.get("allowed")
        if allowed is None or (allowed.low is None and allowed.high is None and not allowed.choices):
            continue
        if value is None and optional:
            continue
        if _outside(value, allowed):
            raise ConfigError(key, value, _allowed_words(allowed, target is int, optional))


def _dataset(cfg: DictConfig) -> None:
    """Rules across the dataset's keys, and whether its source is there (a TFDS name, an image folder)."""
    name = _get(cfg, "dataset.name")
    if not name:
        raise ConfigError("dataset.name", name, "a non-empty dataset name")
    val_fraction, test_fraction = _get(cfg, "dataset.val_fraction"), _get(cfg, "dataset.test_fraction")
    if val_fraction + test_fraction >= 1:
        raise ConfigError("dataset.test_fraction", test_fraction, f"< 1 - dataset.val_fraction ({1 - val_fraction:g})")
    if _get(cfg, "dataset.source") == "folder":
        _folder(cfg)
    elif _get(cfg, "dataset.source") == "tfds":
        _tfds_name(name, _get(cfg, "dataset.data_dir"))


def _tfds_name(name: str, data_dir: str | None) -> None:
    """A name TFDS has a builder for, or one prepared in the store it reads (TFDS loads those without one).
    tensorflow_datasets imports TensorFlow lazily: listing its builders does not."""
    import tensorflow_datasets as tfds

    base = re.split(r"[:/]", name, maxsplit=1)[0]
    if base in tfds.list_builders(with_community_datasets=False):
        return
    store = Path(data_dir or os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")).expanduser()
    if not (store / base).is_dir():
        raise ConfigError(
            "dataset.name", name, f"a TensorFlow Datasets name (tfds.list_builders()) or one prepared in {store}"
        )


def _folder(cfg: DictConfig) -> None:
    raw = _get(cfg, "dataset.path")
    path = Path(str(raw)).expanduser() if raw else None
    if path is None or not path.is_dir():
        raise ConfigError(
            "dataset.path", raw, "an existing directory with train/<class>/ and val/<class>/ or <class>/ folders"
        )
    train_root, _ = folder_layout(path)
    differ = unmatched_classes(split_classes(path))
    if differ and _get(cfg, "dataset.unmatched_classes") == "error":
        raise ConfigError(
            "dataset.path",
            raw,
            f"split folders that name the same classes: {differ} "
            "(dataset.unmatched_classes=drop keeps only the classes every split has)",
        )
    classes = [d for d in class_dirs(train_root) if count_images(d) > 0]
    if len(classes) < 2:
        raise ConfigError(
            "dataset.path", raw, f"at least 2 class folders with images in {train_root} (found {len(classes)})"
        )
    spc = _get(cfg, "data.samples_per_class")
    smallest = min(classes, key=count_images)
    # Carving val from a single folder leaves fewer than the folder holds; harness.data checks that case exactly.
    if spc is not None and spc > count_images(smallest):
        raise ConfigError(
            "data.samples_per_class", spc, f"at most {count_images(smallest)} (class {smallest.name!r} has that many)"
        )


def _model(cfg: DictConfig) -> int:
    """Rules across the model's keys and its weights file; returns the smallest input side the model accepts."""
    if _get(cfg, "model.kind") == "scratch":
        return 2 ** _get(cfg, "model.depth")
    backbone, alpha = _get(cfg, "model.backbone"), _get(cfg, "model.alpha")
    spec = BACKBONES[backbone]
    weights = _get(cfg, "model.weights")
    if weights not in (None, "imagenet") and not Path(weights).expanduser().is_file():
        raise ConfigError("model.weights", weights, "imagenet, null, or the path of an existing weights file")
    wrong = mismatch(weights, backbone, alpha) if weights not in (None, "imagenet") else None
    if wrong:
        raise ConfigError("model.weights", weights, wrong)
    if spec.alphas and weights == "imagenet" and alpha not in spec.alphas:
        raise ConfigError(
            "model.alpha",
            alpha,
            f"one of {', '.join(f'{a:g}' for a in spec.alphas)} for {backbone} with ImageNet weights",
        )
    return spec.min_size


def _data(cfg: DictConfig, min_side: int) -> None:
    """The input the data section makes is one the model accepts."""
    size, ratio = _get(cfg, "data.image_size"), _get(cfg, "data.aspect_ratio")
    h, w = target_hw(size, ratio)
    if min(h, w) < min_side:
        what = _get(cfg, "model.backbone") if _get(cfg, "model.kind") == "transfer" else "the scratch net's depth"
        key = "data.image_size" if ratio == 1 else "data.aspect_ratio"
        raise ConfigError(
            key,
            size if ratio == 1 else ratio,
            f"an input of at least {min_side}x{min_side} px for {what} (got {h}x{w})",
        )


def _train(cfg: DictConfig) -> None:
    if _get(cfg, "train.cache") == "auto" and not _get(cfg, "cache_dir"):
        raise ConfigError("cache_dir", _get(cfg, "cache_dir"), "a directory path (or train.cache=off)")
    if _get(cfg, "train.fine_tune.enabled") and _get(cfg, "model.kind") != "transfer":
        raise ConfigError("train.fine_tune.enabled", True, "false for model=scratch (nothing to fine-tune)")


def _explain(cfg: DictConfig) -> None:
    """Occlusion's patch fits the input it slides over, and its positions leave no pixel uncovered."""
    patch, stride = _get(cfg, "explain.occlusion_patch"), _get(cfg, "explain.occlusion_stride")
    if stride is not None and stride > patch:
        raise ConfigError("explain.occlusion_stride", stride, f"at most explain.occlusion_patch ({patch}) or null")
    if _get(cfg, "analysis") and _get(cfg, "explain.occlusion"):
        h, w = target_hw(_get(cfg, "data.image_size"), _get(cfg, "data.aspect_ratio"))
        if patch > min(h, w):
            raise ConfigError(
                "explain.occlusion_patch",
                patch,
                f"at most the input's shorter side, {min(h, w)} px (data.image_size, data.aspect_ratio); or "
                f"explain.occlusion=false",
            )


def _listed(words: tuple[str, ...]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _tuner(cfg: DictConfig) -> None:
    algorithm = _get(cfg, "tuner.algorithm")
    for key, f in knobs(TunerConfig, "tuner."):
        users, value = properties(f).used_by, _get(cfg, key)
        if not users:
            continue
        verb = "does" if len(users) == 1 else "do"
        if algorithm not in users and value is not None:  # the search would silently ignore it
            raise ConfigError(key, value, f"unset: tuner={algorithm} does not use it (only {_listed(users)} {verb})")
        if algorithm in users and value is None and properties(f).required:
            raise ConfigError(key, value, f"a value: tuner={algorithm} needs it")
    _applied_by(cfg, algorithm)
    if algorithm == "autokeras":
        if not _get(cfg, "tuner.space"):
            return
        raise ConfigError(
            "tuner.space",
            ", ".join(check_space(cfg)),
            "unset: tuner=autokeras searches AutoKeras's own space (the head, optimizer, learning rate) and the "
            "backbone's unfreeze fraction",
        )
    if algorithm == "optuna":
        _optuna(cfg)
    if algorithm == "hyperband" and "train.epochs" in check_space(cfg):
        raise ConfigError(
            "tuner.space.train.epochs",
            check_space(cfg)["train.epochs"],
            "unset: tuner=hyperband gives each trial the epochs of its bracket (tuner.max_epochs, tuner.factor)",
        )
    plain = OmegaConf.to_container(cfg, resolve=True)
    check_values(OmegaConf.create({**plain, "tuner": None}), check_space(cfg), validate)


def _optuna(cfg: DictConfig) -> None:
    """What tuner=optuna takes beyond the schema: objectives it knows (several only with a sampler that keeps a
    Pareto front), a storage URL SQLAlchemy can parse, one execution per trial, a space Optuna can draw from."""
    objectives = _get(cfg, "tuner.objectives")
    if objectives is not None:
        unknown = [o for o in objectives if o not in OPTUNA_OBJECTIVES]
        if not objectives or unknown or len(set(objectives)) != len(objectives):
            raise ConfigError(
                "tuner.objectives", list(objectives), f"a list of distinct names among {', '.join(OPTUNA_OBJECTIVES)}"
            )
        if len(objectives) > 1 and _get(cfg, "tuner.sampler") not in ("nsga2", "random"):
            raise ConfigError(
                "tuner.sampler",
                _get(cfg, "tuner.sampler"),
                f"nsga2 or random for {len(objectives)} objectives (tuner.sampler={_get(cfg, 'tuner.sampler')} "
                "optimizes one)",
            )
    if len(objectives or [None]) > 1 and _get(cfg, "tuner.pruner") != "none":
        raise ConfigError(
            "tuner.pruner", _get(cfg, "tuner.pruner"), "none with several objectives (Optuna prunes on one)"
        )
    for key, spec in check_space(cfg).items():
        if spec.get("sampling") == "log" and spec.get("step"):
            raise ConfigError(f"tuner.space.{key}.step", spec["step"], "unset with sampling: log (Optuna takes one)")
    storage = _get(cfg, "tuner.storage")
    if storage is not None:
        try:
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError
        except ImportError:  # without the optuna extra: the search says what to install
            return
        try:
            make_url(str(storage))
        except ArgumentError:
            raise ConfigError(
                "tuner.storage", storage, "an SQLAlchemy URL (postgresql://user@host/db, sqlite:///path) or null"
            ) from None
    if _get(cfg, "tuner.executions_per_trial") != 1:
        raise ConfigError(
            "tuner.executions_per_trial", _get(cfg, "tuner.executions_per_trial"), "1: tuner=optuna runs a trial once"
        )
    for key, spec in check_space(cfg).items():
        if spec.get("sampling") == "reverse_log":
            raise ConfigError(
                f"tuner.space.{key}.sampling", "reverse_log", "linear or log: tuner=optuna has no reverse_log"
            )


def ignored_knobs(algorithm: str, model_kind: str = "transfer") -> dict[str, Any]:
    """Every knob a search does not apply, declared `ignored_by` on itself or on its section (model.head), with its
    default."""
    model = ScratchModel if model_kind == "scratch" else TransferModel
    found = [*knobs(Config), *knobs(model, "model.")]
    ignored = [key for key, f in found if algorithm in properties(f).ignored_by]
    sections = [key for key, f in found if f.default_factory is not dataclasses.MISSING]
    return {
        key: f.default
        for key, f in found
        if key not in sections and any(key == i or key.startswith(f"{i}.") for i in ignored)
    }


def _applied_by(cfg: DictConfig, algorithm: str) -> None:
    """A knob the search would not apply is refused unless it keeps its default, so no record claims it."""
    for key, default in ignored_knobs(algorithm, str(_get(cfg, "model.kind"))).items():
        value = _get(cfg, key)
        if value != default:
            raise ConfigError(
                key, value, f"only its default ({canonical(default)}), as tuner={algorithm} does not apply it"
            )


def _missing_keys(node: DictConfig, prefix: str = "") -> list[str]:
    """Keys whose value is ??? (mandatory, unset), without resolving interpolations that point at them."""
    out = []
    for key in node.keys():
        if OmegaConf.is_interpolation(node, key):
            continue
        if OmegaConf.is_missing(node, key):
            out.append(f"{prefix}{key}")
        elif isinstance(node[key], DictConfig):
            out.extend(_missing_keys(node[key], f"{prefix}{key}."))
    return out


def _resolved(cfg: DictConfig) -> dict[str, Any]:
    missing = _missing_keys(cfg)
    if missing:
        raise ConfigError(missing[0], "???", f"a value (set it on the command line: {missing[0]}=...)")
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as exc:  # a broken interpolation, or one that points at a missing value
        key = exc.full_key or "?"
        raw: Any = OmegaConf.to_container(cfg, resolve=False)
        for part in key.split("."):
            raw = raw.get(part) if isinstance(raw, dict) else None
        reason = str(exc).splitlines()[0].strip() if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            key, raw, f"a value that resolves ({reason}); set it on the command line: {key}=..."
        ) from None


def validate(cfg: DictConfig) -> DictConfig:
    """Raises ConfigError naming the first key whose value is not allowed; returns cfg unchanged otherwise.

    Every key's type, range and choices come from its declaration in harness.config.schema; what follows are
    the rules that span several keys, and the things a value names (a folder, a weights file, a TFDS name)."""
    checked = typed(_resolved(cfg))
    model = ScratchModel if checked.model.kind == "scratch" else TransferModel
    for schema, section in (
        (DatasetConfig, "dataset"),
        (DataConfig, "data"),
        (model, "model"),
        (TrainConfig, "train"),
        (SweepConfig, "sweep"),
        (TunerConfig, "tuner"),
        (StudyConfig, "study"),
        (CostConfig, "cost"),
        (ReportConfig, "report"),
        (ExplainConfig, "explain"),
    ):
        declared(schema, checked.get(section), f"{section}.")
    _dataset(checked)
    _data(checked, _model(checked))
    _train(checked)
    _explain(checked)
    if checked.tuner is not None:
        _tuner(checked)
    if checked.study is not None:
        _study(checked)
    run_name = _get(checked, "run_name")
    if not run_name or os.sep in run_name or run_name in (".", ".."):
        raise ConfigError("run_name", run_name, "a non-empty folder name without path separators")
    name = _get(checked, "name") or ""
    if not name or name.startswith(os.sep) or any(part in ("", ".", "..") for part in name.split(os.sep)):
        raise ConfigError("name", name or None, "a folder name, or <study>/<experiment>, without empty, . or .. parts")
    _places(checked)
    return cfg


NAME_MAX = 255  # bytes in one file name (ext4, xfs, tmpfs, NFS)
PATH_MAX = 4096  # bytes in a path (Linux)


def _places(cfg: DictConfig) -> None:
    """results_dir and cache_dir name folders, and every folder a run writes has a name the filesystem takes."""
    for key in ("results_dir", "cache_dir"):
        value = _get(cfg, key)
        if key == "results_dir" or _get(cfg, "train.cache") == "auto":
            if not value or not str(value).strip():
                raise ConfigError(
                    key, value, "a folder path (an empty value would write under the current or root folder)"
                )
    run_dir = (
        Path(str(_get(cfg, "results_dir"))).expanduser().absolute()
        / str(_get(cfg, "name"))
        / str(_get(cfg, "run_name"))
    )
    for part in run_dir.parts:
        if len(part.encode()) > NAME_MAX:
            key = (
                "run_name"
                if part == _get(cfg, "run_name")
                else "name"
                if part in str(_get(cfg, "name")).split(os.sep)
                else "results_dir"
            )
            raise ConfigError(
                key, part[:40] + "...", f"folder names of at most {NAME_MAX} bytes (this one has {len(part.encode())})"
            )
    if len(str(run_dir).encode()) > PATH_MAX - NAME_MAX:  # room for the files a run writes in its folder
        raise ConfigError(
            "results_dir", _get(cfg, "results_dir"), f"a shorter path: its runs' folders would exceed {PATH_MAX} bytes"
        )


def _study(cfg: DictConfig) -> None:
    """A study's own keys: each experiment's knob and values, each finding's experiment and values."""
    if _get(cfg, "tuner") is not None:
        raise ConfigError(
            "tuner", cfg.tuner.name, "unset: a study runs one-knob experiments, not a search (drop tuner=...)"
        )
    experiments = cfg.study.experiments
    if not experiments:
        raise ConfigError("study.experiments", {}, "at least one experiment: {knob: <config key>, values: [...]}")
    for name, experiment in experiments.items():
        if os.sep in name or name in (".", "..") or OmegaConf.select(cfg, experiment.knob, default=_ABSENT) is _ABSENT:
            raise ConfigError(
                f"study.experiments.{name}.knob",
                experiment.knob,
                "a config key or group, e.g. train.learning_rate, in an experiment whose name is a folder name",
            )
        if not experiment["values"]:
            raise ConfigError(
                f"study.experiments.{name}.values", [], f"a non-empty list of values for {experiment.knob}"
            )
    for i, finding in enumerate(cfg.study.findings):
        key = f"study.findings.{i}"
        declared(Finding, finding, f"{key}.")
        if finding.experiment not in experiments:
            raise ConfigError(f"{key}.experiment", finding.experiment, "one of " + ", ".join(experiments))
        known = {canonical(v) for v in experiments[finding.experiment]["values"]}
        for side in ("better", "worse"):
            unknown = [v for v in finding[side] if canonical(v) not in known] if finding[side] else [[]]
            if unknown:
                raise ConfigError(
                    f"{key}.{side}",
                    unknown[0],
                    f"values of study.experiments.{finding.experiment}.values ({', '.join(sorted(known))})",
                )
