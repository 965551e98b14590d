"""The typed config: one dataclass per config group, registered in Hydra's ConfigStore; every knob declared once.

Each field is a `knob`: its type (the annotation), default, one-line doc, allowed values (a range or a list
of choices) and its other properties (whether it is part of a run's identity, which searches use or ignore it) in
one place. OmegaConf enforces the types while composing (`train.seed=abc` fails,
`train.learning_rate=1` becomes 1.0), harness.config.validate checks every range and choice read from here,
and docs/configuration.md is generated from here (`python docs/generate.py`). The YAML files in conf/ are
presets over these schemas and hold only what differs from them. Imports no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from harness.config.backbones import BACKBONES

# An installed wheel carries the configs as harness/conf; a checkout keeps them at its top (conf/, with
# experiments/ as its `experiment` group), which is also where an editable install finds them.
_PACKAGE = Path(__file__).resolve().parent.parent
CONF_DIR = _PACKAGE / "conf" if (_PACKAGE / "conf").is_dir() else _PACKAGE.parent / "conf"

AUGMENT_POLICIES = ("none", "flip", "basic", "randaugment", "trivialaugment", "autoaugment")
OPTIMIZERS = ("adam", "sgd", "momentum", "rmsprop", "adagrad", "adadelta", "adamax", "nadam")
ALGORITHMS = ("random", "hyperband", "bayesian", "autokeras", "optuna")
# What a tuner=optuna search may optimize: a curve's best (val_accuracy, val_loss) or the record's cost.
OPTUNA_OBJECTIVES = ("val_accuracy", "val_loss", "latency_ms", "macs", "weights_mb", "total_params")
# What a run logs per epoch that a search can optimize (val_loss and loss are minimized, the rest maximized).
OBJECTIVES = ("val_accuracy", "val_loss", "accuracy", "loss")


@dataclass(frozen=True)
class Allowed:
    """A knob's allowed values: a range (`low`/`high`, open or closed, null allowed where the type is Optional) or
    a list of `choices`."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Properties:
    """What else is declared with a knob.

    identity: part of a run's identity (its config hash, folder name, HParams columns). A knob that changes
    neither the numbers a run computes nor what it leaves in its folder is not (train.verbose, train.cache), so
    a run that differs only there counts as done.
    used_by: the searches (tuner.algorithm) that read a tuner setting; set for another it is refused, since the
    search would ignore it. required: those searches need a value.
    ignored_by: the searches that do not apply a baseline knob (AutoKeras trains its own head and optimizer):
    refused there unless it keeps its default, and left out of their trials' records.
    """

    identity: bool = True
    used_by: tuple[str, ...] = ()
    required: bool = False
    ignored_by: tuple[str, ...] = ()


def knob(
    default: Any = MISSING,
    doc: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    choices: tuple = (),
    identity: bool = True,
    used_by: tuple[str, ...] = (),
    required: bool = False,
    ignored_by: tuple[str, ...] = (),
) -> Any:
    """A config field with its default, its one-line doc, the values it allows (checked by harness.config.validate)
    and its Properties."""
    meta = {
        "doc": doc,
        "allowed": Allowed(low, high, low_open, high_open, tuple(choices)),
        "properties": Properties(identity, tuple(used_by), required, tuple(ignored_by)),
    }
    return (
        field(default_factory=factory, metadata=meta) if factory is not None else field(default=default, metadata=meta)
    )


def properties(f: dataclasses.Field) -> Properties:
    return f.metadata.get("properties", Properties())


def knobs(schema: type, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field]]:
    """(dotted key, field) of every knob of `schema`, the knobs of the dataclasses inside it included."""
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        key = f"{prefix}{f.name}"
        yield key, f
        if dataclasses.is_dataclass(hints[f.name]):
            yield from knobs(hints[f.name], f"{key}.")


_knob = knob


@dataclass
class DatasetSplits:
    train: Optional[str] = knob("train", "the split trained on (a TFDS split name, or the folder under dataset.path)")
    val: Optional[str] = knob(None, "the split that chooses the epoch; null: carved from train (seeded, stratified)")
    test: Optional[str] = knob(None, "the split nothing chose; null: carved from train when dataset.test_fraction > 0")


@dataclass
class DatasetConfig:
    source: str = knob("tfds", "where the images come from", choices=("tfds", "folder", "digits"))
    name: str = knob(
        MISSING, "the dataset's name: a TFDS name, or the folder's own name; part of the experiment's name"
    )
    data_dir: Optional[str] = knob(None, "a local TFDS store (TFDS's default when null)")
    path: Optional[str] = knob(
        None, "source=folder: a folder of train/<class>/* and val/<class>/* (test/ optional), or <class>/*"
    )
    splits: DatasetSplits = knob(factory=DatasetSplits, doc="the source's own split names")
    val_fraction: float = knob(
        0.1,
        "the fraction of train carved for val where the source has no val split",
        low=0,
        high=1,
        low_open=True,
        high_open=True,
    )
    test_fraction: float = knob(
        0.1,
        "the fraction of train carved for test where the source has no test split (0: none)",
        low=0,
        high=1,
        high_open=True,
    )
    unmatched_classes: str = knob(
        "error",
        "source=folder: split folders naming other classes are an error; drop keeps the "
        "classes every split has and lists the others in the record",
        choices=("error", "drop"),
    )
    duplicates: str = knob(
        "warn",
        "copies of one image across splits (exact, or near: see near_duplicate_bits), which inflate val/test "
        "accuracy: warn says so (data_report.md, one console line); drop leaves them out of the later split "
        "(val's copies of train, test's of train or val) and lists them; error refuses; off does not look. "
        "Carving val/test keeps copies together in any case",
        choices=("warn", "drop", "error", "off"),
    )
    near_duplicate_bits: int = knob(
        40,
        "near copies: 256-bit perceptual hashes that differ in at most this many bits (0: equal hashes). 40 finds "
        "resized and re-encoded copies and 9 in 10 crops of 2 % a side; no two distinct photos of flowers12 or "
        "chest_xray come within 46",
        low=0,
        high=128,
    )


@dataclass
class Augmentation:
    flip: bool = knob(True, "augment=basic: random horizontal flip")
    brightness: float = knob(
        0.2, "augment=basic: largest brightness shift, a fraction of the value range", low=0, high=1
    )
    contrast: float = knob(0.2, "augment=basic: largest contrast factor change", low=0, high=1)
    rotation: float = knob(0.0, "augment=basic: largest rotation, a fraction of a full turn (0: off)", low=0, high=1)
    shift: float = knob(
        0.0, "augment=basic: largest translation, a fraction of height and width (0: off)", low=0, high=1
    )
    zoom: float = knob(0.0, "augment=basic: largest zoom in or out, a fraction (0: off)", low=0, high=0.9)
    layers: int = knob(2, "augment=randaugment: operations per image (RandAugment's N)", low=1, high=10)
    magnitude: int = knob(
        9,
        "augment=randaugment: magnitude bin of every operation, 0..30 (RandAugment's M, torchvision's scale)",
        low=0,
        high=30,
    )


@dataclass
class DataConfig:
    image_size: int = knob(128, "network input side in pixels (height = width at aspect_ratio 1)", low=8, high=2048)
    aspect_ratio: float = knob(
        1.0, "width / height of the network input, at about image_size² pixels (2.0 at 128: 91x181)", low=0.1, high=10
    )
    resize_mode: str = knob(
        "squash",
        "how images are fitted: squash (stretch), pad (letterbox), crop (cover, centre crop)",
        choices=("squash", "pad", "crop"),
    )
    samples_per_class: Optional[int] = knob(
        None,
        "a seeded, stratified subset of the training split with this many images per class (val untouched); null: all",
        low=1,
    )
    augment: str = knob(
        "none",
        "the augmentation policy of training images, drawn per image: none, flip, basic (data.augmentation's"
        " ranges), randaugment (N, M), trivialaugment (TrivialAugmentWide), autoaugment (the ImageNet policy)",
        choices=AUGMENT_POLICIES,
        ignored_by=("autokeras",),
    )
    augmentation: Augmentation = knob(
        factory=Augmentation, doc="the settings of data.augment's policies", ignored_by=("autokeras",)
    )
    mix: str = knob(
        "none",
        "mix pairs of training images and their labels (soft labels; the loss follows): mixup or cutmix",
        choices=("none", "mixup", "cutmix"),
        ignored_by=("autokeras",),
    )
    mix_alpha: float = knob(
        0.2,
        "data.mix's weight is drawn from Beta(alpha, alpha)",
        low=0,
        low_open=True,
        high=100,
        ignored_by=("autokeras",),
    )
    shuffle_buffer: int = knob(1024, "elements in the training shuffle buffer", low=1)
    memory_mb: int = knob(
        512,
        "memory a run may spend holding its inputs (cached images or frozen-layer features; train, then val, then"
        " test; an array held costs twice its size); the rest stream from disk a batch at a time (with"
        " train.cache=off: decoded again each epoch). The same numbers either way; 0 streams every one",
        low=0,
        identity=False,
    )
    seed: int = knob(
        0,
        "carving val/test and the samples_per_class subset: fixed across train.seed, so every seed sees the same split",
        low=0,
    )


@dataclass
class Head:
    units: int = knob(64, "units of the dense layer between pooling and the classifier", low=1, high=65536)
    dropout: float = knob(0.3, "dropout before the classifier", low=0, high=1, high_open=True)


@dataclass
class TransferModel:
    kind: str = knob("transfer", "transfer: a keras.applications backbone and a head", choices=("transfer",))
    name: str = knob("${.backbone}", "the model's name in the experiment's name")
    backbone: str = knob(
        "mobilenet", "a keras.applications backbone, with its own preprocess_input", choices=tuple(BACKBONES)
    )
    alpha: float = knob(
        1.0, "width multiplier (MobileNet family; ignored by backbones without one)", low=0, high=4, low_open=True
    )
    weights: Optional[str] = knob("imagenet", "imagenet, null (random init) or the path of a no-top weights file")
    unfreeze: float = knob(
        0.33, "fraction of backbone layers, counted from the top, that train (0: frozen, 1: all)", low=0, high=1
    )
    # A flag, so that a baseline's model.weights=FILE on the command line cannot turn "from scratch" back into transfer.
    pretrained: bool = knob(
        True,
        "false: random weights and every layer trained, whatever weights and unfreeze say (the "
        "chapter's from scratch, model=random_init)",
    )
    head: Head = knob(
        factory=Head, doc="global average pooling, Dense(units, relu), Dropout, softmax", ignored_by=("autokeras",)
    )
    # 0.9, not the backbone's 0.99: a short run's few hundred steps must move the stored statistics that evaluation
    # uses (at 0.99 and 160 steps a fifth of each is still ImageNet's).
    bn_momentum: Optional[float] = knob(
        0.9, "BatchNormalization momentum of the backbone (null: its own, 0.99)", low=0, high=1, high_open=True
    )
    unfrozen_bn: str = knob(
        "batch",
        "the unfrozen BatchNormalization layers in training: batch (batch statistics, as "
        "tf.keras 2) or inference (keep ImageNet's, the Keras fine-tuning guide)",
        choices=("batch", "inference"),
    )


@dataclass
class ScratchModel:
    kind: str = knob("scratch", "scratch: a plain conv net", choices=("scratch",))
    name: str = knob("scratch", "the model's name in the experiment's name")
    depth: int = knob(3, "conv-BN-ReLU-maxpool blocks; the width doubles each block", low=1, high=8)
    filters: int = knob(32, "filters of the first block", low=1, high=1024)
    head: Head = knob(factory=Head, doc="global average pooling, Dense(units, relu), Dropout, softmax")
    bn_momentum: Optional[float] = knob(
        0.9, "BatchNormalization momentum (statistics are learned within the run)", low=0, high=1, high_open=True
    )
    # Ignored by a scratch net; declared so that a preset written for a transfer model (experiment=quickstart) still
    # composes with model=scratch, as sweep=transfer_vs_scratch does.
    backbone: Optional[str] = knob(None, "ignored by model=scratch")
    alpha: Optional[float] = knob(None, "ignored by model=scratch")
    weights: Optional[str] = knob(None, "ignored by model=scratch")
    unfreeze: Optional[float] = knob(None, "ignored by model=scratch")
    unfrozen_bn: Optional[str] = knob(None, "ignored by model=scratch")


@dataclass
class FineTune:
    enabled: bool = knob(
        False, "two phases: the head with the backbone frozen for train.epochs, then model.unfreeze of it"
    )
    epochs: int = knob(10, "epochs of the second phase", low=1)
    learning_rate: float = knob(1e-5, "learning rate of the second phase", low=0, high=10, low_open=True)


@dataclass
class TrainConfig:
    optimizer: str = knob("adam", "the optimizer (momentum: SGD with momentum 0.9)", choices=OPTIMIZERS)
    learning_rate: float = knob(0.001, "the optimizer's learning rate", low=0, high=10, low_open=True)
    weight_decay: Optional[float] = knob(
        None,
        "decoupled weight decay of every optimizer (AdamW's for adam); null: none",
        low=0,
        high=1,
        low_open=True,
        ignored_by=("autokeras",),
    )
    batch_size: int = knob(32, "images per optimizer step", low=1, high=65536)
    epochs: int = knob(20, "epochs at most", low=1)
    patience: Optional[int] = knob(
        10, "early stopping on val accuracy (min_delta 1e-4, best weights restored); null: never", low=0
    )
    seed: int = knob(42, "weights init, shuffling, dropout, augmentation", low=0, high=2**31 - 1)
    deterministic: bool = knob(
        False,
        "TensorFlow op determinism as well (other numbers; slower with augmentation on GPUs)",
        ignored_by=("autokeras",),
    )
    steps_per_epoch: Optional[int] = knob(
        None,
        "a cap on training batches per epoch (smoke tests); validation covers its split",
        low=1,
        ignored_by=("autokeras",),
    )
    budget: str = knob(
        "full_data",
        "an epoch on a samples_per_class subset: full_data (as many steps as the whole training "
        "split, the subset cycled) or subset (one pass over it)",
        choices=("full_data", "subset"),
        ignored_by=("autokeras",),
    )
    fine_tune: FineTune = knob(factory=FineTune, doc="an optional second phase", ignored_by=("autokeras",))
    steps_per_execution: int = knob(
        32,
        "training steps per compiled call: less per-step Python, the same numbers",
        low=1,
        identity=False,
        ignored_by=("autokeras",),
    )
    jit_compile: bool = knob(False, "XLA compilation (worth it on GPUs)", ignored_by=("autokeras",))
    mixed_precision: bool = knob(
        False,
        "mixed_float16 compute (GPUs with tensor cores; slower on CPU); the softmax stays float32",
        ignored_by=("autokeras",),
    )
    cache: str = knob(
        "auto",
        "auto: reuse decoded images and frozen-backbone activations across runs (cache_dir); off",
        choices=("auto", "off"),
        identity=False,
    )
    feature_dtype: str = knob(
        "float32",
        "cached activations: float32 (the uncached numbers exactly) or float16 (half the size)",
        choices=("float32", "float16"),
        ignored_by=("autokeras",),
    )
    class_weight: str = knob(
        "none",
        "balanced: each class weighs in the loss as if the classes were equal (Keras's class_weight at "
        "n / (classes x count), scikit-learn's 'balanced'); none: every image alike",
        choices=("none", "balanced"),
        ignored_by=("autokeras",),
    )
    save_model: bool = knob(
        False,
        "write model.keras (raw 0..255 pixels in, probabilities out) into the run's folder",
        ignored_by=("autokeras",),
    )
    verbose: int = knob(2, "Keras fit verbosity (2: one line per epoch)", low=0, high=2, identity=False)


@dataclass
class SweepConfig:
    name: Optional[str] = knob(None, "the sweep's name (conf/sweep/<name>.yaml); part of the experiment's name")
    knob: Optional[str] = knob(None, "the config key (or group) the sweep varies")
    # (the field `knob` now shadows the function in this class body: _knob is the same function)
    values: list[Any] = _knob(factory=list, doc="the knob's values")
    seeds: int = _knob(1, "every value with train.seed, train.seed + 1, ...", low=1)
    baseline: Optional[str] = _knob(
        None, "the baseline's value of the knob as text (set by the sweeper): reports mark its runs"
    )


@dataclass
class TunerConfig:
    name: str = knob(MISSING, "the search's name; part of the experiment's name")
    algorithm: str = knob(
        MISSING,
        "Keras Tuner's algorithm, autokeras: AutoKeras's own search (the automl extra), or optuna: Optuna's samplers and "
        "pruners (the optuna extra)",
        choices=ALGORITHMS,
    )
    objective: str = knob("val_accuracy", "what the search optimizes (a loss is minimized)", choices=OBJECTIVES)
    max_trials: Optional[int] = knob(
        None,
        "trials in all (a resumed search may raise it)",
        low=1,
        used_by=("random", "bayesian", "autokeras", "optuna"),
        required=True,
    )
    max_seconds: Optional[float] = knob(
        None,
        "wall seconds this command may search; then no trial starts and the running one ends at its"
        " next batch (null: no limit)",
        low=0,
        low_open=True,
        used_by=("autokeras", "optuna"),
    )
    executions_per_trial: int = knob(1, "runs of each trial, each with its own seed", low=1)
    max_consecutive_failed_trials: int = knob(3, "Keras Tuner stops after this many failed trials in a row", low=1)
    overwrite: bool = knob(False, "forget this search's trials and start again")
    isolate: bool = knob(True, "every trial in a fresh process (flat memory); false: Keras Tuner's own in-process loop")
    num_initial_points: Optional[int] = knob(
        None, "random trials before the Gaussian process (null: 3 x the hyperparameters)", low=1, used_by=("bayesian",)
    )
    max_epochs: Optional[int] = knob(
        None, "epochs of the longest bracket", low=1, used_by=("hyperband",), required=True
    )
    factor: Optional[int] = knob(
        None, "reduction factor between brackets", low=2, used_by=("hyperband",), required=True
    )
    hyperband_iterations: Optional[int] = knob(
        None, "how many times the whole algorithm runs", low=1, used_by=("hyperband",), required=True
    )
    sampler: Optional[str] = knob(
        None,
        "tuner=optuna: how the next trial's values are drawn (TPE, random, a Gaussian process, NSGA-II for several "
        "objectives)",
        choices=("tpe", "random", "gp", "nsga2"),
        used_by=("optuna",),
        required=True,
    )
    pruner: Optional[str] = knob(
        None,
        "tuner=optuna: what ends an unpromising trial early, from its val accuracy after each epoch",
        choices=("none", "median", "successive_halving", "hyperband"),
        used_by=("optuna",),
        required=True,
    )
    seed: Optional[int] = knob(
        None,
        "tuner=optuna: the sampler's seed, so a search can be repeated with other draws over the same models; null: "
        "train.seed",
        used_by=("optuna",),
    )
    objectives: Optional[list[str]] = knob(
        None,
        "tuner=optuna: what the search optimizes, one or more of "
        + ", ".join(OPTUNA_OBJECTIVES)
        + " (val_accuracy maximized, the rest minimized); null: tuner.objective. Several: a Pareto front "
        "(tuner.sampler=nsga2 or random)",
        used_by=("optuna",),
    )
    storage: Optional[str] = knob(
        None,
        "tuner=optuna: the study's storage, an SQLAlchemy URL (postgresql://..., sqlite:///...); null: a journal file "
        "in the experiment folder (optuna.journal), which several processes on one machine share",
        used_by=("optuna",),
    )
    space: dict[str, Any] = knob(factory=dict, doc="config keys -> Keras Tuner hyperparameters (harness.config.space)")


@dataclass
class StudyExperiment:
    knob: str = knob(MISSING, "the config key (or group) this experiment varies")
    values: list[Any] = _knob(factory=list, doc="its values; the baseline's own is added where missing")


@dataclass
class Finding:
    """A checkable claim about one experiment: `better` beats `worse` (paired over seeds), or `better` is
    within `margin` (relative) of `worse`."""

    claim: str = knob(MISSING, "the finding in words, as the report shows it")
    experiment: str = knob(MISSING, "a key of study.experiments")
    test: str = knob(
        "beats", "beats: better > worse; within: better >= (1 - margin) x worse", choices=("beats", "within")
    )
    better: list[Any] = knob(factory=list, doc="values of the experiment's knob")
    worse: list[Any] = knob(factory=list, doc="values of the experiment's knob")
    margin: float = knob(0.05, "within: the relative margin", low=0, high=1, high_open=True)


@dataclass
class StudyConfig:
    name: str = knob(MISSING, "the study's name; part of its folder's name")
    seeds: int = knob(3, "every value with train.seed, train.seed + 1, ... (verdicts need 3)", low=1)
    experiments: dict[str, StudyExperiment] = knob(
        factory=dict, doc="the one-knob experiments, each over this baseline"
    )
    findings: list[Finding] = knob(factory=list, doc="checkable claims, judged on test accuracy paired over seeds")


@dataclass
class CostConfig:
    latency: bool = knob(
        True,
        "time the trained model's inference on this CPU (ms per image at batch 1, images/s at batch 32) when a run "
        "completes; parameters, MACs and size are always recorded",
    )


@dataclass
class ReportConfig:
    metric: str = knob(
        "accuracy",
        "what normalized accuracy, study verdicts and rankings compare: accuracy, or balanced_accuracy (the mean of "
        "per-class recall: a model that favours a large class cannot inflate it; for imbalanced classes)",
        choices=("accuracy", "balanced_accuracy"),
    )
    latency_budget_ms: Optional[float] = knob(
        None,
        "the most accurate run whose median ms per image (batch 1, this CPU) is within this; null: no budget",
        low=0,
        low_open=True,
    )
    size_budget_mb: Optional[float] = knob(
        None, "... and whose weights (MB, float32) are within this; null: no budget", low=0, low_open=True
    )


@dataclass
class ExplainConfig:
    occlusion: bool = knob(
        True,
        "analysis=true: occlusion sensitivity beside Grad-CAM for the images it shows (one prediction per patch "
        "position and image)",
    )
    occlusion_patch: int = knob(16, "the grey patch's side, in pixels of the model's input", low=1)
    occlusion_stride: Optional[int] = knob(
        None, "pixels between patch positions, at most the patch's side; null: the patch's side (no overlap)", low=1
    )


@dataclass
class Config:
    dataset: DatasetConfig = knob(factory=DatasetConfig, doc="where the images come from (the dataset group)")
    data: DataConfig = knob(factory=DataConfig, doc="how images become network inputs")
    model: Any = knob(MISSING, "a TransferModel or a ScratchModel (the model group)")
    train: TrainConfig = knob(factory=TrainConfig, doc="how the model trains")
    sweep: SweepConfig = knob(factory=SweepConfig, doc="a one-knob sweep (the sweep group)", identity=False)
    # A TunerConfig, checked by harness.config.validate: left untyped while composing so that `~tuner.space
    # +tuner.space={...}` can replace the whole search space (a dataclass field cannot be deleted).
    tuner: Any = knob(None, "a Keras Tuner search (the tuner group)", identity=False)
    study: Optional[StudyConfig] = knob(
        None, "one-knob experiments over this baseline, several seeds, one report (the study group)", identity=False
    )
    cost: CostConfig = knob(
        factory=CostConfig, doc="what measuring a trained model's inference cost does", identity=False
    )
    report: ReportConfig = knob(
        factory=ReportConfig, doc="what an experiment's report answers: the best run within a budget", identity=False
    )
    explain: ExplainConfig = knob(
        factory=ExplainConfig, doc="what analysis=true shows of why the model decides", identity=False
    )
    preset: str = knob("baseline", "the experiment preset's name; part of the experiment's name", identity=False)
    results_dir: str = knob("results", "output root: <results_dir>/<name>/<run_name>/", identity=False)
    name: str = knob(
        MISSING,
        "the experiment's folder under results_dir: the preset, the sweep, study or search, the dataset "
        "and the model, and a short hash of the other overrides",
        identity=False,
    )
    run_name: str = knob(
        "baseline", "the run's folder in the experiment: a sweep's value, a single run's overrides", identity=False
    )
    overwrite: bool = knob(
        False, "re-run a run whose folder already holds a record (otherwise a completed one is skipped)", identity=False
    )
    analysis: bool = knob(
        False,
        "save the model and look inside the run at its end (a finished one: from its saved model)",
        identity=False,
    )
    cache_dir: Optional[str] = knob(
        None,
        "the cache shared by every run ($HARNESS_CACHE_DIR or ~/.cache/tl-harness); safe to delete",
        identity=False,
    )


# The schema of each config group (the group files in conf/ start from these) and of the sections without a group.
GROUPS: dict[str, type] = {"dataset": DatasetConfig, "data": DataConfig, "model": TransferModel, "train": TrainConfig}
SCHEMAS: dict[str, type] = {
    "": Config,
    **GROUPS,
    "model (model=scratch)": ScratchModel,
    "sweep": SweepConfig,
    "tuner": TunerConfig,
    "study": StudyConfig,
    "cost": CostConfig,
    "report": ReportConfig,
    "explain": ExplainConfig,
}


def register() -> None:
    """Put the schemas in Hydra's ConfigStore: conf/config.yaml and each group's presets build on them."""
    store = ConfigStore.instance()
    store.store(name="config_schema", node=Config)
    store.store(group="dataset", name="_dataset_schema", node=DatasetConfig)
    store.store(group="data", name="_data_schema", node=DataConfig)
    store.store(group="model", name="_transfer_schema", node=TransferModel)
    store.store(group="model", name="_scratch_schema", node=ScratchModel)
    store.store(group="train", name="_train_schema", node=TrainConfig)
    # The tuner's defaults as a plain node, not a typed one: `~tuner.space +tuner.space={...}` replaces the whole
    # space, which a dataclass field would not allow. harness.config.validate types the tuner section afterwards.
    store.store(group="tuner", name="_tuner_defaults", node=OmegaConf.to_container(OmegaConf.structured(TunerConfig)))


def _path_name(path: Any) -> str:
    """dataset.name's default: the folder's name (a path that cannot be resolved is dataset.path's to report)."""
    if path in (None, "", "???"):
        return "folder"
    try:
        return Path(str(path)).resolve().name
    except (OSError, RuntimeError):  # a symlink loop
        return Path(str(path)).name or "folder"


def _join_name(*parts: Any) -> str:
    return "_".join(str(p) for p in parts if p not in (None, ""))


for _name, _fn in {"path_name": _path_name, "join_name": _join_name}.items():
    if not OmegaConf.has_resolver(_name):
        OmegaConf.register_new_resolver(_name, _fn)
register()
