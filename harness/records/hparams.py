"""One HParams experiment for a whole results folder, so TensorBoard's dashboard stays right on it.

TensorBoard reads one experiment-level HParams summary per logdir and, when a logdir holds several,
takes one arbitrarily (backend_context._find_experiment_tag). So the harness writes exactly one, at
`<results_dir>/_hparams`, rebuilt from every run record under the folder at the end of each command:
a column for every key that varies anywhere (every swept knob, every tuner hyperparameter) with its
real type and domain, `Seed`, `Sweep` and `Value` first. Opened on one experiment's folder instead, TensorBoard
infers the columns from that experiment's sessions, as it does for any logdir without one.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from harness.records.record import RunRecord, read_record, record_files, session_hparams
from harness.records.tensorboard import hparam_values, hparams_experiment, write_events, write_hparams

FOLDER = "_hparams"
ALWAYS = ("Seed", "Sweep", "Value", "status", "dataset.name")  # columns even where nothing differs
METRICS = (
    ("best_val_accuracy", "", "best val accuracy"),
    ("normalized_accuracy", "normalized", "normalized accuracy"),
    ("test_accuracy", "", "test accuracy"),
    ("val_balanced_accuracy", "", "val balanced accuracy"),
    ("test_balanced_accuracy", "", "test balanced accuracy"),
    ("epoch_accuracy", "validation", "val accuracy (last epoch)"),
    ("latency_ms", "", "ms per image (batch 1, this CPU)"),
    ("macs_millions", "", "MMACs per image"),
    ("weights_mb", "", "weights MB"),
)


def write_session(log_dir: Path, record: RunRecord) -> None:
    """A run's HParams session (written once its status is known, so the dashboard can filter on it)."""
    write_hparams(log_dir, hparam_values(session_hparams(record)), trial_id=f"{record.name}/{record.run_name}")


def run_records(results_dir: Path) -> list[tuple[Path, RunRecord]]:
    """(run folder, record) of every run under results_dir (<experiment>/<run>, <study>/<experiment>/<run>)."""
    found = ((p.parent, read_record(p.parent)) for p in record_files(Path(results_dir)))
    return [(d, r) for d, r in found if r is not None]


def records(results_dir: Path) -> list[RunRecord]:
    """Every run record under results_dir."""
    return [r for _, r in run_records(results_dir)]


def declared_metrics(runs: list[tuple[Path, RunRecord]]) -> list[tuple[str, str, str]]:
    """The metrics every completed run has. TensorBoard's parallel-coordinates view draws no session that
    lacks one of the folder's metrics, so one left out by most runs (test accuracy where one run had a test
    split) would empty it; such a metric stays in the records and tables."""
    completed = [(d, r) for d, r in runs if r.status.scored]
    has = {
        "test_accuracy": lambda d, r: r.test_accuracy is not None,
        "val_balanced_accuracy": lambda d, r: r.val_balanced_accuracy is not None,
        "test_balanced_accuracy": lambda d, r: r.test_balanced_accuracy is not None,
        "normalized_accuracy": lambda d, r: (d / "tb" / "normalized").is_dir(),
        "latency_ms": lambda d, r: r.cost is not None and r.cost.latency_ms is not None,
        "macs_millions": lambda d, r: r.cost is not None,
        "weights_mb": lambda d, r: r.cost is not None,
    }
    return [m for m in METRICS if m[0] not in has or (completed and all(has[m[0]](d, r) for d, r in completed))]


def columns(found: list[dict]) -> list[str]:
    """ALWAYS, then every key whose value differs between runs and that every run has. A key null in some runs
    (`data.samples_per_class`, null: all images) is left out: TensorBoard's parallel-coordinates view draws no
    session that lacks one of its columns. Such a knob's values still show, as text, in `Value` of its sweep's runs."""
    keys = sorted({k for s in found for k in s})
    varying = [k for k in keys if all(k in s for s in found) and len({repr(s[k]) for s in found}) > 1]
    return [k for k in ALWAYS if k in keys] + [k for k in varying if k not in ALWAYS]


def write_hparams_experiment(results_dir: Path) -> Path | None:
    """Rewrite results_dir/_hparams from the records there; None when there are none."""
    results_dir = Path(results_dir)
    runs = run_records(results_dir)
    if not runs:
        return None
    found = [hparam_values(session_hparams(r)) for _, r in runs]
    target = results_dir / FOLDER
    shutil.rmtree(target, ignore_errors=True)  # replaced, never a second experiment beside the first
    write_events(target, [(0, hparams_experiment(found, columns(found), declared_metrics(runs)))])
    return target


def tensorboard_command(results_dir: Path | str) -> str:
    """The command that opens TensorBoard on a results folder, with its scalars and this HParams experiment."""
    return f"tensorboard --logdir {shlex.quote(str(results_dir))}"


# TensorBoard's HParams tab lists this many session groups (here: runs) per page until its page size is raised;
# no flag or URL sets it.
HPARAMS_PAGE = 100


def compare_lines(results_dir: Path | str) -> str:
    """`compare: tensorboard --logdir ...`, and where the folder holds more runs than the HParams tab lists on one
    page, how to see them all: a folder of 128 runs otherwise shows 100 in the table and parallel coordinates."""
    runs = len(record_files(Path(results_dir)))
    line = f"compare: {tensorboard_command(results_dir)}"
    if runs <= HPARAMS_PAGE:
        return line
    return (
        f"{line}\nhparams: {runs} runs; TensorBoard's HParams tab shows {HPARAMS_PAGE} per page: set \"Max # of "
        f'session groups per page" (left pane, Paging) to {runs} or more to see every run at once'
    )
