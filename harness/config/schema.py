"""The typed config: one dataclass per config group, registered in Hydra's ConfigStore.

The YAML files in conf/ are presets over these schemas (each starts from one in its defaults list), so
OmegaConf enforces types when a config is composed (`train.seed=abc` fails, `train.learning_rate=1`
becomes 1.0) and a key's type, default and meaning live here. Ranges and rules across keys are in
harness.validate. Imports no TensorFlow, so a typo costs a second.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

# An installed wheel carries the configs as harness/conf; a checkout keeps them at its top (conf/, with
# experiments/ as its `experiment` group), which is also where an editable install finds them.
_PACKAGE = Path(__file__).resolve().parent.parent
CONF_DIR = _PACKAGE / "conf" if (_PACKAGE / "conf").is_dir() else _PACKAGE.parent / "conf"

OPTIMIZERS = ("adam", "sgd", "momentum", "rmsprop", "adagrad", "adadelta", "adamax", "nadam")
RESIZE_MODES = ("squash", "pad", "crop")
SOURCES = ("tfds", "folder", "digits")
MODEL_KINDS = ("transfer", "scratch")
UNFROZEN_BN = ("batch", "inference")
BUDGETS = ("full_data", "subset")
UNMATCHED = ("error", "drop")
ALGORITHMS = ("random", "hyperband", "bayesian")
FINDING_TESTS = ("beats", "within")
# Sections whose values decide what a run computes: its hyperparameters, its identity, its HParams columns.
HYPERPARAMETER_SECTIONS = ("data", "model", "train")
# Keys that say where output goes or how runs were generated, not what a run computes.
NOT_IDENTITY = ("hydra", "results_dir", "cache_dir", "analysis", "name", "run_name", "overwrite", "sweep", "tuner", "preset", "study")


@dataclass
class DatasetSplits:
    train: Optional[str] = "train"
    val: Optional[str] = None  # null: carved from train (seeded, stratified)
    test: Optional[str] = None


@dataclass
class DatasetConfig:
    source: str = "tfds"  # tfds | folder | digits
    name: str = MISSING
    data_dir: Optional[str] = None  # a local TFDS store
    path: Optional[str] = None  # the image folder of source=folder
    splits: DatasetSplits = field(default_factory=DatasetSplits)
    val_fraction: float = 0.1  # carved from train when there is no val split
    test_fraction: float = 0.1  # carved from train when there is no test split (0 = none)
    # source=folder: train/, val/ and test/ must name the same classes (error); drop: keep the classes all of them
    # have and leave the others out, listed in the record
    unmatched_classes: str = "error"


@dataclass
class Augmentation:
    flip: bool = True
    brightness: float = 0.2
    contrast: float = 0.2
    rotation: float = 0.0
    shift: float = 0.0
    zoom: float = 0.0


@dataclass
class DataConfig:
    image_size: int = 128  # network input side in pixels at aspect_ratio 1
    aspect_ratio: float = 1.0  # width / height of the network input, at about image_size**2 pixels
    resize_mode: str = "squash"  # squash | pad | crop
    samples_per_class: Optional[int] = None  # null = all training images
    augment: bool = False
    augmentation: Augmentation = field(default_factory=Augmentation)
    shuffle_buffer: int = 1024
    seed: int = 0  # carving val/test and the samples_per_class subset (fixed across train seeds)


@dataclass
class Head:
    units: int = 64
    dropout: float = 0.3


@dataclass
class TransferModel:
    kind: str = "transfer"
    name: str = "${.backbone}"
    backbone: str = "mobilenet"  # a key of harness.backbones.BACKBONES
    alpha: float = 1.0  # width multiplier (MobileNet family; ignored by backbones without one)
    weights: Optional[str] = "imagenet"  # imagenet | null (random init) | a weights file
    unfreeze: float = 0.33  # fraction of backbone layers, counted from the top, that train
    # false: the same architecture from random weights with every layer trained, whatever weights and
    # unfreeze say (the chapter's "from scratch"; a flag, so the baseline's weights override cannot undo it)
    pretrained: bool = True
    head: Head = field(default_factory=Head)
    # 0.9, not the backbone's 0.99: a short run's few hundred steps must move the stored statistics that
    # evaluation uses (at 0.99 and 160 steps a fifth of each is still ImageNet's). null = the backbone's own.
    bn_momentum: Optional[float] = 0.9
    # what the unfrozen BatchNormalization layers of a pretrained backbone do in training: "batch" normalizes
    # with batch statistics and updates the moving ones (tf.keras 2, which the chapter used), "inference" keeps
    # their ImageNet statistics (the Keras fine-tuning guide). Frozen layers are in inference mode either way.
    unfrozen_bn: str = "batch"


@dataclass
class ScratchModel:
    kind: str = "scratch"
    name: str = "scratch"
    depth: int = 3  # conv-bn-relu-maxpool blocks; width doubles each block
    filters: int = 32
    head: Head = field(default_factory=Head)
    bn_momentum: Optional[float] = 0.9
    # Ignored by a scratch net. Declared so that a preset written for a transfer model (experiment=quickstart)
    # still composes with model=scratch, as sweep=transfer_vs_scratch does.
    backbone: Optional[str] = None
    alpha: Optional[float] = None
    weights: Optional[str] = None
    unfreeze: Optional[float] = None
    unfrozen_bn: Optional[str] = None


@dataclass
class FineTune:
    enabled: bool = False  # train the head with the backbone frozen first, then the unfrozen top
    epochs: int = 10
    learning_rate: float = 1e-5


@dataclass
class TrainConfig:
    optimizer: str = "adam"
    learning_rate: float = 0.001
    batch_size: int = 32
    epochs: int = 20
    patience: Optional[int] = 10  # early stopping on val_accuracy; null = never stop early
    seed: int = 42
    deterministic: bool = False
    steps_per_epoch: Optional[int] = None
    # full_data: an epoch on a data.samples_per_class subset has as many optimizer steps as one on the whole
    # training split (the subset cycled, reshuffled each pass), so every data size gets the same training and a
    # smaller subset is not also a shorter run; subset: one pass over the subset per epoch.
    budget: str = "full_data"
    fine_tune: FineTune = field(default_factory=FineTune)
    steps_per_execution: int = 32
    jit_compile: bool = False
    mixed_precision: bool = False
    cache: str = "auto"  # auto | off
    feature_dtype: str = "float32"  # float32 | float16
    save_model: bool = False
    verbose: int = 2


@dataclass
class SweepConfig:
    name: Optional[str] = None  # the sweep's name (conf/sweep/<name>.yaml); part of the experiment's name
    knob: Optional[str] = None  # the config key (or group) the sweep varies
    values: list[Any] = field(default_factory=list)
    seeds: int = 1  # repeat every value with train.seed, train.seed+1, ...
    baseline: Optional[str] = None  # the baseline's value of the knob as text (set by the sweeper): reports mark its runs


@dataclass
class TunerConfig:
    name: str = MISSING
    algorithm: str = MISSING  # random | hyperband | bayesian
    objective: str = "val_accuracy"
    max_trials: Optional[int] = None  # random, bayesian (their presets set 10); null for hyperband
    executions_per_trial: int = 1
    max_consecutive_failed_trials: int = 3
    overwrite: bool = False
    isolate: bool = True  # every trial in a fresh process
    num_initial_points: Optional[int] = None  # bayesian
    max_epochs: Optional[int] = None  # hyperband (its preset sets 20)
    factor: Optional[int] = None  # hyperband (3)
    hyperband_iterations: Optional[int] = None  # hyperband (1)
    space: dict[str, Any] = field(default_factory=dict)  # harness.space: config keys -> hyperparameters


@dataclass
class StudyExperiment:
    knob: str = MISSING  # the config key (or group) this experiment varies
    values: list[Any] = field(default_factory=list)  # the baseline's own value is added when missing


@dataclass
class Finding:
    """A checkable claim about one experiment: `better` beats `worse` (paired over seeds), or `better` is
    within `margin` (relative) of `worse`."""

    claim: str = MISSING  # the finding in words, as the report shows it
    experiment: str = MISSING  # a key of study.experiments
    test: str = "beats"  # beats | within
    better: list[Any] = field(default_factory=list)  # values of the experiment's knob
    worse: list[Any] = field(default_factory=list)
    margin: float = 0.05  # within: better >= (1 - margin) * worse


@dataclass
class StudyConfig:
    name: str = MISSING  # part of the study folder's default name
    seeds: int = 3  # every value with train.seed, train.seed+1, ...
    experiments: dict[str, StudyExperiment] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


@dataclass
class Config:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: Any = MISSING  # TransferModel or ScratchModel, from the model group
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    # A TunerConfig, checked by harness.validate: left untyped while composing so that `~tuner.space
    # +tuner.space={...}` can replace the whole search space (a dataclass field cannot be deleted).
    tuner: Any = None
    study: Optional[StudyConfig] = None  # a study from conf/study/: one-knob experiments over this baseline
    preset: str = "baseline"
    results_dir: str = "results"
    name: str = MISSING
    run_name: str = "baseline"  # a single run's default: its command line's overrides (harness.sweep.override_label)
    overwrite: bool = False  # re-run a run whose folder already holds a record (same config or not)
    analysis: bool = False
    cache_dir: Optional[str] = None


def register() -> None:
    """Put the schemas in Hydra's ConfigStore: conf/config.yaml and each group's presets build on them."""
    store = ConfigStore.instance()
    store.store(name="config_schema", node=Config)
    store.store(group="dataset", name="_dataset_schema", node=DatasetConfig)
    store.store(group="data", name="_data_schema", node=DataConfig)
    store.store(group="model", name="_transfer_schema", node=TransferModel)
    store.store(group="model", name="_scratch_schema", node=ScratchModel)
    store.store(group="train", name="_train_schema", node=TrainConfig)


def _path_name(path: Any) -> str:
    return Path(str(path)).resolve().name if path not in (None, "", "???") else "folder"


def _join_name(*parts: Any) -> str:
    return "_".join(str(p) for p in parts if p not in (None, ""))


for _name, _fn in {"path_name": _path_name, "join_name": _join_name}.items():
    if not OmegaConf.has_resolver(_name):
        OmegaConf.register_new_resolver(_name, _fn)
register()


class Geometry(NamedTuple):
    """The network input: height and width in pixels and how images are fitted to it."""

    height: int
    width: int
    resize_mode: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.height, self.width, 3


def target_hw(image_size: int, aspect_ratio: float) -> tuple[int, int]:
    """Network input (height, width): width/height = aspect_ratio at about image_size**2 pixels."""
    root = math.sqrt(aspect_ratio)
    return max(1, round(image_size / root)), max(1, round(image_size * root))


def geometry(data: DictConfig) -> Geometry:
    """The input geometry of a `data` section: the one place image_size and aspect_ratio become pixels."""
    return Geometry(*target_hw(data.image_size, data.aspect_ratio), data.resize_mode)


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
    data.get("train", {}).pop("verbose", None)
    blob = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
