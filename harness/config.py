"""The composed config: resolvers, validation and identity. Imports no TensorFlow, so a typo costs a second."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
from pathlib import Path
from typing import Any, Iterable

from omegaconf import DictConfig, OmegaConf

from harness.backbones import BACKBONES
from harness.errors import ConfigError

OPTIMIZERS = ("adam", "sgd", "momentum", "rmsprop", "adagrad", "adadelta", "adamax", "nadam")
RESIZE_MODES = ("squash", "pad", "crop")
SOURCES = ("tfds", "folder", "digits")
MODEL_KINDS = ("transfer", "scratch")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def _path_name(path: Any) -> str:
    return Path(str(path)).resolve().name if path not in (None, "", "???") else "folder"


def _join_name(*parts: Any) -> str:
    return "_".join(str(p) for p in parts if p not in (None, ""))


for _name, _fn in {"path_name": _path_name, "join_name": _join_name}.items():
    if not OmegaConf.has_resolver(_name):
        OmegaConf.register_new_resolver(_name, _fn)


def target_hw(image_size: int, aspect_ratio: float) -> tuple[int, int]:
    """Network input (height, width): width/height = aspect_ratio at about image_size**2 pixels."""
    root = math.sqrt(aspect_ratio)
    return max(1, round(image_size / root)), max(1, round(image_size * root))


def config_hash(cfg: DictConfig | dict) -> str:
    """Identity of a run: the hash of its resolved config, minus keys that only say where output goes."""
    data = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    # `sweep`/`tuner` only say how runs were generated (the values are in their own keys); `preset` is a label.
    data = {k: v for k, v in data.items() if k not in ("hydra", "results_dir", "cache_dir", "analysis", "name", "run_name", "sweep", "tuner", "preset")}
    data.get("train", {}).pop("verbose", None)
    blob = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --- validation -------------------------------------------------------------------------------


def _get(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key, throw_on_missing=False, default=None)


def _number(cfg, key, *, low=None, high=None, low_open=False, high_open=False, integer=False, nullable=False):
    value = _get(cfg, key)
    if value is None and nullable:
        return None
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, numbers.Integral if integer else numbers.Real) and not isinstance(value, bool)
    lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
    hi = "" if high is None else f"{'<' if high_open else '<='} {high}"
    allowed = f"{kind} {' and '.join(x for x in (lo, hi) if x)}".strip() + (" or null" if nullable else "")
    if not ok_type or (isinstance(value, float) and math.isnan(value)):
        raise ConfigError(key, value, allowed)
    if low is not None and (value < low or (low_open and value == low)):
        raise ConfigError(key, value, allowed)
    if high is not None and (value > high or (high_open and value == high)):
        raise ConfigError(key, value, allowed)
    return value


def _choice(cfg, key, choices: Iterable[str]):
    value = _get(cfg, key)
    choices = list(choices)
    if value not in choices:
        raise ConfigError(key, value, "one of " + ", ".join(choices))
    return value


def _bool(cfg, key):
    value = _get(cfg, key)
    if not isinstance(value, bool):
        raise ConfigError(key, value, "true or false")
    return value


def class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def count_images(class_dir: Path) -> int:
    return sum(1 for f in class_dir.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)


def folder_layout(path: Path) -> tuple[Path, dict[str, Path]]:
    """The train root of a folder dataset and its optional split folders ({'val': ..., 'test': ...})."""
    if (path / "train").is_dir():
        return path / "train", {s: path / s for s in ("val", "test") if (path / s).is_dir()}
    return path, {}


def _validate_dataset(cfg: DictConfig) -> None:
    source = _choice(cfg, "dataset.source", SOURCES)
    name = _get(cfg, "dataset.name")
    if not isinstance(name, str) or not name:
        raise ConfigError("dataset.name", name, "a non-empty dataset name")
    val_fraction = _number(cfg, "dataset.val_fraction", low=0, high=1, low_open=True, high_open=True)
    test_fraction = _number(cfg, "dataset.test_fraction", low=0, high=1, high_open=True)
    if val_fraction + test_fraction >= 1:
        raise ConfigError("dataset.test_fraction", test_fraction, f"< 1 - dataset.val_fraction ({1 - val_fraction:g})")
    if source != "folder":
        return
    raw = _get(cfg, "dataset.path")
    path = Path(str(raw)).expanduser() if raw else None
    if path is None or not path.is_dir():
        raise ConfigError("dataset.path", raw, "an existing directory with train/<class>/ and val/<class>/ or <class>/ folders")
    train_root, _ = folder_layout(path)
    classes = [d for d in class_dirs(train_root) if count_images(d) > 0]
    if len(classes) < 2:
        raise ConfigError("dataset.path", raw, f"at least 2 class folders with images in {train_root} (found {len(classes)})")
    spc = _get(cfg, "data.samples_per_class")
    if spc is not None:
        smallest = min(classes, key=count_images)
        # Carving val from a single folder leaves fewer than the folder holds; data.py checks that case exactly.
        if isinstance(spc, int) and spc > count_images(smallest):
            raise ConfigError(
                "data.samples_per_class", spc, f"at most {count_images(smallest)} (class {smallest.name!r} has that many)"
            )


def _validate_model(cfg: DictConfig) -> int:
    """Checks model.*; returns the smallest input side the model accepts."""
    kind = _choice(cfg, "model.kind", MODEL_KINDS)
    _number(cfg, "model.head.units", low=1, integer=True)
    _number(cfg, "model.head.dropout", low=0, high=1, high_open=True)
    _number(cfg, "model.bn_momentum", low=0, high=1, high_open=True, nullable=True)
    if kind == "scratch":
        depth = _number(cfg, "model.depth", low=1, high=8, integer=True)
        _number(cfg, "model.filters", low=1, high=1024, integer=True)
        return 2**depth
    backbone = _choice(cfg, "model.backbone", BACKBONES)
    spec = BACKBONES[backbone]
    weights = _get(cfg, "model.weights")
    if weights not in (None, "imagenet") and not (isinstance(weights, str) and Path(weights).expanduser().is_file()):
        raise ConfigError("model.weights", weights, "imagenet, null, or the path of an existing weights file")
    alpha = _number(cfg, "model.alpha", low=0, high=4, low_open=True)
    if spec.alphas and weights == "imagenet" and alpha not in spec.alphas:
        allowed = ", ".join(f"{a:g}" for a in spec.alphas)
        raise ConfigError("model.alpha", alpha, f"one of {allowed} for {backbone} with ImageNet weights")
    _number(cfg, "model.unfreeze", low=0, high=1)
    return spec.min_size


def _validate_tuner(cfg: DictConfig) -> None:
    algorithm = _choice(cfg, "tuner.algorithm", ("random", "hyperband", "bayesian"))
    objective = _get(cfg, "tuner.objective")
    if not isinstance(objective, str) or not objective:
        raise ConfigError("tuner.objective", objective, "a metric name such as val_accuracy or val_loss")
    _number(cfg, "tuner.executions_per_trial", low=1, integer=True)
    _number(cfg, "tuner.max_consecutive_failed_trials", low=1, integer=True)
    _bool(cfg, "tuner.overwrite")
    _bool(cfg, "tuner.isolate")
    if algorithm == "hyperband":
        _number(cfg, "tuner.max_epochs", low=1, integer=True)
        _number(cfg, "tuner.factor", low=2, integer=True)
        _number(cfg, "tuner.hyperband_iterations", low=1, integer=True)
    else:
        _number(cfg, "tuner.max_trials", low=1, integer=True)
    if algorithm == "bayesian":
        _number(cfg, "tuner.num_initial_points", low=1, integer=True, nullable=True)
    from harness.tune import check_space  # noqa: PLC0415 - tune imports this module

    check_space(cfg)


def _missing_keys(node: DictConfig, prefix: str = "") -> list[str]:
    """Keys whose value is ??? (mandatory, unset), without resolving interpolations that point at them."""
    out = []
    for key in node.keys():
        full = f"{prefix}{key}"
        if OmegaConf.is_interpolation(node, key):
            continue
        if OmegaConf.is_missing(node, key):
            out.append(full)
        elif isinstance(node[key], DictConfig):
            out.extend(_missing_keys(node[key], full + "."))
    return out


def validate(cfg: DictConfig) -> DictConfig:
    """Raises ConfigError naming the first key whose value is not allowed; returns cfg unchanged otherwise."""
    missing = _missing_keys(cfg)
    if missing:
        raise ConfigError(missing[0], "???", f"a value (set it on the command line: {missing[0]}=...)")
    try:
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except Exception as exc:  # missing mandatory value or a broken interpolation
        key = getattr(exc, "full_key", None) or "?"
        raise ConfigError(key, "???", f"a value (set it on the command line: {key}=...)") from None
    _validate_dataset(cfg)
    min_side = _validate_model(cfg)

    size = _number(cfg, "data.image_size", low=8, high=2048, integer=True)
    ratio = _number(cfg, "data.aspect_ratio", low=0.1, high=10)
    h, w = target_hw(size, ratio)
    if min(h, w) < min_side:
        what = f"{_get(cfg, 'model.backbone')}" if _get(cfg, "model.kind") == "transfer" else "the scratch net's depth"
        key = "data.image_size" if ratio == 1 else "data.aspect_ratio"
        raise ConfigError(key, size if ratio == 1 else ratio, f"an input of at least {min_side}x{min_side} px for {what} (got {h}x{w})")
    _choice(cfg, "data.resize_mode", RESIZE_MODES)
    _number(cfg, "data.samples_per_class", low=1, integer=True, nullable=True)
    _bool(cfg, "data.augment")
    for key in ("brightness", "contrast", "rotation", "shift", "zoom"):
        _number(cfg, f"data.augmentation.{key}", low=0, high=1)
    _bool(cfg, "data.augmentation.flip")
    _number(cfg, "data.shuffle_buffer", low=1, integer=True)
    _number(cfg, "data.seed", low=0, integer=True)

    _choice(cfg, "train.optimizer", OPTIMIZERS)
    _number(cfg, "train.learning_rate", low=0, high=10, low_open=True)
    _number(cfg, "train.batch_size", low=1, high=65536, integer=True)
    _number(cfg, "train.epochs", low=1, integer=True)
    _number(cfg, "train.patience", low=0, integer=True, nullable=True)
    _number(cfg, "train.seed", low=0, high=2**31 - 1, integer=True)
    _number(cfg, "train.steps_per_epoch", low=1, integer=True, nullable=True)
    _number(cfg, "train.steps_per_execution", low=1, integer=True)
    for key in ("deterministic", "jit_compile", "mixed_precision", "save_model", "fine_tune.enabled"):
        _bool(cfg, f"train.{key}")
    _bool(cfg, "analysis")
    _choice(cfg, "train.cache", ("auto", "off"))
    _choice(cfg, "train.feature_dtype", ("float16", "float32"))
    cache_dir = _get(cfg, "cache_dir")
    if _get(cfg, "train.cache") == "auto" and (not isinstance(cache_dir, str) or not cache_dir):
        raise ConfigError("cache_dir", cache_dir, "a directory path (or train.cache=off)")
    if _get(cfg, "train.fine_tune.enabled"):
        if _get(cfg, "model.kind") != "transfer":
            raise ConfigError("train.fine_tune.enabled", True, "false for model=scratch (nothing to fine-tune)")
        _number(cfg, "train.fine_tune.epochs", low=1, integer=True)
        _number(cfg, "train.fine_tune.learning_rate", low=0, high=10, low_open=True)

    if _get(cfg, "tuner") is not None:
        _validate_tuner(cfg)

    for key in ("name", "run_name"):
        value = _get(cfg, key)
        if not isinstance(value, str) or not value or os.sep in value or value in (".", ".."):
            raise ConfigError(key, value, "a non-empty folder name without path separators")
    return cfg
