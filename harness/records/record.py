"""The run record: one typed `RunRecord` per run, stored as record.json (atomically) and read back typed.

Everything that reads results (pandas tables, reports, TensorBoard HParams, resume) reads these files,
so any process on any machine can write them and nothing needs a server.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import MISSING, asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Optional

from harness.config.identity import HOW_NOT_WHAT, HYPERPARAMETER_SECTIONS, flatten
from harness.storage.atomic import read_text, write_atomic

RECORD = "record.json"


class Status(str, Enum):
    """Where a run stands. A `str` enum: it is stored in record.json as its value and compares equal to it."""

    RUNNING = "running"  # written as it starts: a killed run keeps it, so it is re-run and never counted as done
    COMPLETED = "completed"
    DIVERGED = "diverged"  # the loss stopped being finite
    FAILED = "failed"  # training raised, the run could not start, or its disk filled
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM: re-run on resume
    PRUNED = "pruned"  # a search's pruner ended it early (tuner=optuna): a trial done, its epochs kept, never ranked

    __hash__ = str.__hash__  # a key of a dict of plain status strings finds it (Enum hashes its name on Python 3.10)

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        """The run came to an end of its own (completed, diverged, failed or pruned): a search counts it as a trial done.
        Running and interrupted runs are not finished: whoever resumes trains them again."""
        return self in (Status.COMPLETED, Status.DIVERGED, Status.FAILED, Status.PRUNED)

    @property
    def scored(self) -> bool:
        """Its accuracies are a result to rank: only a completed run's are."""
        return self is Status.COMPLETED


STATUSES = tuple(s.value for s in Status)
INCOMPLETE = tuple(s.value for s in Status if not s.scored)
# Per-epoch series every run records (besides `epoch`, 1-based), in this order.
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")


@dataclass
class SweepIdentity:
    """Where a run sits in its experiment: the sweep's name, the knob (config key) it varies, the value, the seed.
    A search's trial has the name `tuner` and no knob: it varies the keys of its `hyperparameters`."""

    name: Optional[str] = None
    knob: Optional[str] = None
    value: Any = None
    seed: Optional[int] = None
    hyperparameters: Optional[dict[str, Any]] = None  # a tuner trial's searched values
    baseline: Optional[bool] = None  # whether the value is the baseline's own (None outside a sweep)
    trial_ids: Optional[list[str]] = (
        None  # Keras Tuner's ids of the trials this run's history spans (Hyperband's brackets)
    )


@dataclass
class Cost:
    """A record's `cost`: what the trained model costs per image. Latency fields are empty when
    cost.latency=false or the run did not complete."""

    total_params: int
    trainable_params: int
    macs: int  # multiply-accumulates per image at input_size
    weights_mb: float  # every weight as float32, as model.keras stores it (MB = 10^6 bytes)
    input_size: list[int]  # height, width
    latency_ms: Optional[float] = None  # median ms per call at batch 1
    latency_p90_ms: Optional[float] = None
    images_per_second: Optional[float] = None  # at batch 32
    repeats: Optional[int] = None  # timed calls at batch 1
    threads: Optional[int] = None  # TensorFlow's intra-op threads (all cores where unset)
    cpu: Optional[str] = None  # host.cpu: where the latency was measured
    seconds: Optional[float] = None  # what measuring took


@dataclass
class DatasetReport:
    """A record's `dataset`: what the data held, found before training (harness.data.inspection). Copies are
    counted in the later split (val's with train, test's with train or val); near includes exact."""

    images: dict[str, dict[str, int]]  # split -> class -> images, as trained and scored
    imbalance: Optional[float] = None  # the training split's largest class over its smallest
    image_sizes: dict[str, Any] = field(default_factory=dict)  # width, height, aspect: min, median, max
    skipped: dict[str, int] = field(default_factory=dict)  # why -> files left out
    duplicates: str = "off"  # the policy: warn | drop | error | off (not checked)
    near_duplicate_bits: Optional[int] = None
    shared: dict[str, int] = field(default_factory=dict)  # "val~train": images of val with a copy in train
    shared_exact: dict[str, int] = field(default_factory=dict)  # ... of them, with an exact copy
    within: dict[str, int] = field(default_factory=dict)  # split -> images that copy another of the same split
    conflicting_labels: int = 0  # groups of copies labelled with more than one class
    dropped: list[str] = field(default_factory=list)  # left out of val/test (dataset.duplicates=drop)
    examples: list[list[str]] = field(default_factory=list)  # a few copies across splits: [later, earlier]


@dataclass
class RunRecord:
    """record.json. Made and ended only by harness.records.lifecycle, for every kind of run."""

    name: str
    run_name: str
    status: str
    config_hash: str
    config: dict[str, Any]
    sweep: SweepIdentity
    started_at: str
    versions: dict[str, Any]
    git: dict[str, Any]
    host: dict[str, Any]
    error: Optional[str] = None
    overrides: list[str] = field(default_factory=list)
    finished_at: Optional[str] = None
    num_classes: Optional[int] = None
    class_names: list[str] = field(default_factory=list)
    num_train: Optional[int] = None
    num_val: Optional[int] = None
    num_test: int = 0
    skipped_files: int = 0
    skipped_paths: list[str] = field(default_factory=list)  # every file a folder dataset could not read
    data_notes: list[str] = field(default_factory=list)
    input_shape: Optional[list[int]] = None
    steps_per_epoch: Optional[int] = None  # optimizer steps in an epoch (train.budget: a subset's epoch may cycle it)
    trainable_params: Optional[int] = None
    total_params: Optional[int] = None
    feature_cache: str = "none"  # none | full | prefix
    cache: dict[str, Any] = field(default_factory=dict)
    history: dict[str, list] = field(default_factory=dict)
    epochs_run: int = 0
    best_val_accuracy: Optional[float] = None
    final_val_accuracy: Optional[float] = None
    best_epoch: Optional[int] = None
    seconds_per_epoch: Optional[float] = None
    test_accuracy: Optional[float] = None
    test_loss: Optional[float] = None
    test_balanced_accuracy: Optional[float] = None  # mean recall over the test split's classes
    test_macro_f1: Optional[float] = None
    val_balanced_accuracy: Optional[float] = None  # the kept model's (the best epoch's) on val
    val_macro_f1: Optional[float] = None
    test_correct: Optional[str] = None  # which test images it got right, in split order: pack_correct's hex
    wall_seconds: Optional[float] = None  # data, model, training and test: what the run itself took
    total_seconds: Optional[float] = (
        None  # plus the TensorBoard/model/analysis finish, and the process's start-up for its first run
    )
    memory: dict[str, Any] = field(default_factory=dict)
    analysis: Optional[dict[str, Any]] = None
    copied_from: Optional[str] = None  # a study's run with the config of a run trained in another experiment: that run
    cost: Optional[Cost] = None  # what the trained model costs per image (harness.models.cost); None before 0.4
    dataset: Optional[DatasetReport] = None  # the data report (harness.data.inspection); None in older records

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {STATUSES}")
        self.status = Status(self.status)
        if isinstance(self.sweep, dict):
            self.sweep = SweepIdentity(**_known(self.sweep, SweepIdentity))
        if isinstance(self.cost, dict):
            self.cost = Cost(**_known(self.cost, Cost))
        if isinstance(self.dataset, dict):
            self.dataset = DatasetReport(**_known(self.dataset, DatasetReport))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """A record as record.json holds it, typed; keys of other versions left out, and a required field an
        older version did not write filled with its type's empty value."""
        fields = _known(data, cls)
        for name, f in cls.__dataclass_fields__.items():
            if name not in fields and f.default is MISSING and f.default_factory is MISSING:
                fields[name] = {} if "dict" in str(f.type) or name == "sweep" else ""
        return cls(**fields)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for optional in ("hyperparameters", "baseline", "trial_ids"):
            if out["sweep"][optional] is None:
                del out["sweep"][optional]
        return out


def pack_correct(correct) -> str:
    """Right/wrong per test image as hex, one bit each (10,000 images: 2,500 characters)."""
    import numpy as np

    return np.packbits(np.asarray(correct, dtype=bool)).tobytes().hex()


def unpack_correct(text: str, images: int):
    """pack_correct's bits back as a bool array of `images` entries."""
    import numpy as np

    return np.unpackbits(np.frombuffer(bytes.fromhex(text), dtype=np.uint8))[:images].astype(bool)


def hyperparameters(config: dict[str, Any]) -> dict[str, Any]:
    """A run's hyperparameters as flat dotted keys: the dataset's name and every data/model/train value."""
    flat: dict[str, Any] = {"dataset.name": (config.get("dataset") or {}).get("name")}
    for section in HYPERPARAMETER_SECTIONS:
        flat.update(flatten(config.get(section) or {}, section))
    for key in HOW_NOT_WHAT:
        flat.pop(key, None)
    return flat


def varied(record: RunRecord) -> tuple[str, str]:
    """What a run varies and to what, as short text: (`learning_rate`, `0.01`) in a sweep, (`tuner`, `trial=003`)
    for a trial (its executions share it; its values are its hyperparameter columns), (`run`, its run name) for
    a single run."""
    sweep = record.sweep
    if sweep.name == "tuner" and isinstance(sweep.value, int):
        return "tuner", f"trial={sweep.value:03d}"
    if sweep.hyperparameters:  # a trial recorded without its number
        return "tuner", searched_text(sweep.hyperparameters)
    if sweep.knob:
        return str(sweep.name or sweep.knob), _short(sweep.value, 12)
    return "run", str(record.run_name)


def searched_text(values: dict[str, Any]) -> str:
    """A trial's searched values in a line: `learning_rate=0.01,units=64`."""
    return ",".join(f"{k.split('.')[-1].split('/')[-1]}={_short(v)}" for k, v in values.items())


def _short(value: Any, digits: int = 4) -> str:
    if value is None:
        return "null"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def session_hparams(record: RunRecord) -> dict[str, Any]:
    """A run's HParams session: `Seed`, `Sweep` and `Value` (what the run varies and to what), its status and
    every other hyperparameter. Capitalized because TensorBoard orders columns by name and shows the first five
    until asked for more: so a value's seeds read as seeds, not as duplicate rows."""
    sweep, value = varied(record)
    values = hyperparameters(record.config or {})
    seed = values.pop("train.seed", None)
    return {"Seed": seed, "Sweep": sweep, "Value": value, "status": str(record.status), **values}


def _clean(value: Any) -> Any:
    """JSON has no NaN/Infinity: store them as null so every reader (pandas, jq, JS) can parse the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _clean(value.item())
    return value


def write_record(run_dir: Path, record: RunRecord) -> Path:
    path = Path(run_dir) / RECORD
    write_atomic(path, json.dumps(_clean(record.as_dict()), indent=2, sort_keys=False))
    return path


def _known(data: dict[str, Any], kind: type) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k in kind.__dataclass_fields__}


# The fields every reader relies on, and the JSON type each must have.
_SHAPE = {"name": str, "run_name": str, "status": str, "config": dict, "sweep": dict, "history": dict}
_warned: set[str] = set()


def well_formed(record: Any) -> bool:
    """Whether JSON read from a record file has a record's shape (not a list, a status it knows, typed fields, and
    a completed run's score: a "completed" record without one would be skipped as done and rank as nothing)."""
    if not isinstance(record, dict) or record.get("status") not in STATUSES:
        return False
    if not all(isinstance(record[k], t) for k, t in _SHAPE.items() if record.get(k) is not None):
        return False
    history = record.get("history") or {}
    if not all(isinstance(v, list) for v in history.values()):
        return False
    return not Status(record["status"]).scored or isinstance(record.get("best_val_accuracy"), (int, float))


def record_files(root: Path) -> list[Path]:
    """Every record.json under root, sorted. A folder that vanishes or cannot be read during the walk (a run
    deleted meanwhile, a process ending under /proc) is passed over, where Path.rglob would raise; links to
    folders are not followed, as rglob does not."""
    found = []
    for folder, _, files in os.walk(root):
        if RECORD in files:
            found.append(Path(folder) / RECORD)
    return sorted(found)


def is_record_file(path: Path) -> bool:
    """Whether a file is a record.json this harness wrote, read quietly (no warning for one that is not)."""
    try:
        return well_formed(json.loads(read_text(Path(path))))
    except (OSError, ValueError):
        return False


def read_record(run_dir: Path) -> RunRecord | None:
    """The run's record, or None when there is none or it is unreadable or not a record's shape (treated as never
    finished: the run is trained again, and nothing that reads results trips over it)."""
    path = Path(run_dir) / RECORD
    try:
        record = json.loads(read_text(path))
    except (OSError, ValueError):
        return None
    if well_formed(record):
        return RunRecord.from_dict(record)
    if str(path) not in _warned:
        _warned.add(str(path))
        logging.getLogger(__name__).warning("%s is not a run record (valid JSON of another shape); it is ignored", path)
    return None
