"""A record's life, the same for every kind of run: a harness run, a search's trial (Keras Tuner's or
AutoKeras's), a study's copied twin and a run that could not start.

    begin (running) -> finish (status, history and its summary, test results, times) -> publish

`begin` is the one place a record is made and `finish` the one place it ends; `publish` writes what TensorBoard
shows of an ended record (its HParams session, its summary scalars) and record.json. No other module sets a
record's fields: a caller hands its facts (cache use, memory, analysis) to these functions.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from harness.config.identity import config_hash
from harness.records import provenance, tensorboard
from harness.records.hparams import write_session
from harness.records.record import RunRecord, Status, SweepIdentity, pack_correct, read_record, write_record


def completed_record(run_dir: Path, cfg: DictConfig | dict) -> RunRecord | None:
    """The run's record if it already completed with exactly this config (what a resumed sweep skips)."""
    record = read_record(run_dir)
    if record and record.status.scored and record.config_hash == config_hash(cfg):
        return record
    return None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def begin(
    cfg: DictConfig | dict,
    sweep: SweepIdentity,
    overrides: list[str] | None = None,
    *,
    status: Status = Status.RUNNING,
    **facts: Any,
) -> RunRecord:
    """A new record: identity, status, the resolved config and what produced it, plus what the caller knows
    of the run already (its data's counts, its model's size)."""
    config = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    made = dict(
        name=config["name"],
        run_name=config["run_name"],
        status=status,
        config_hash=config_hash(config),
        config=config,
        sweep=sweep,
        overrides=list(overrides or []),
        started_at=now(),
        versions=provenance.versions(),
        git=provenance.git_state(),
        host=provenance.host(),
    )
    return RunRecord(**{**made, **facts})


def summarize(history: dict[str, list]) -> dict[str, Any]:
    """Best/final val accuracy, best epoch (as the history numbers it: a run continued from epoch k counts on
    from k + 1) and steady-state seconds per epoch."""
    val = np.asarray(history.get("val_accuracy", []), dtype=float)
    seconds = np.asarray(history.get("seconds", []), dtype=float)
    finite = np.isfinite(val)
    out = {"best_val_accuracy": None, "final_val_accuracy": None, "best_epoch": None, "seconds_per_epoch": None}
    if finite.any():
        best = int(np.nanargmax(np.where(finite, val, -np.inf)))
        epochs = history.get("epoch") or range(1, len(val) + 1)
        out.update(best_val_accuracy=float(val[best]), best_epoch=int(epochs[best]))
        out["final_val_accuracy"] = float(val[-1]) if finite[-1] else None
    if len(seconds):
        # The first epoch also traces the graph and fills the cache; later ones show the real pace.
        out["seconds_per_epoch"] = float(seconds[1:].mean() if len(seconds) > 1 else seconds[0])
    return out


def finish(
    record: RunRecord,
    status: Status,
    error: str | None = None,
    *,
    history: dict[str, list] | None = None,
    test_correct: Any = None,
    continues: RunRecord | None = None,
    **facts: Any,
) -> RunRecord:
    """The record ended: its status and error, its per-epoch history and the summary of it, which test images
    it got right (a bool per image, packed), when it finished, and the caller's other facts (test accuracy,
    seconds, memory, ...). `continues` is the earlier record this run trained on from (Hyperband's next
    bracket): the two become one history, its epochs and time both runs'."""
    history = dict(history if history is not None else record.history)
    epochs = len(history.get("epoch") or history.get("val_accuracy") or [])
    started_at, wall = record.started_at, facts.pop("wall_seconds", record.wall_seconds)
    if continues is not None:
        history = {key: list(continues.history.get(key) or []) + list(values) for key, values in history.items()}
        epochs += continues.epochs_run
        started_at = continues.started_at or started_at
        if wall is not None:
            wall += continues.wall_seconds or 0.0
    if test_correct is not None and not isinstance(test_correct, str):
        test_correct = pack_correct(test_correct)
    return dataclasses.replace(
        record,
        status=Status(status),
        error=error,
        history=history,
        epochs_run=epochs,
        started_at=started_at,
        finished_at=now(),
        wall_seconds=wall,
        **({"test_correct": test_correct} if test_correct is not None else {}),
        **summarize(history),
        **facts,
    )


def analysed(record: RunRecord, analysis: dict[str, Any]) -> RunRecord:
    """A completed record with what looking inside its saved model found (analysis=true after the run)."""
    return dataclasses.replace(record, analysis=analysis)


def failed(record: RunRecord, error: str) -> RunRecord:
    """A record whose run ended but whose results could not all be kept (a disk that filled): failed."""
    return dataclasses.replace(record, status=Status.FAILED, error=error, finished_at=record.finished_at or now())


def never_started(
    cfg: DictConfig | dict, sweep: SweepIdentity, error: str, overrides: list[str] | None = None
) -> RunRecord:
    """The record of a run that could not start (a value a sweep cannot load, a trial's invalid combination)."""
    record = begin(cfg, sweep, overrides, status=Status.FAILED, error=error)
    return dataclasses.replace(record, finished_at=record.started_at)


def copied(twin: RunRecord, cfg: DictConfig, sweep: SweepIdentity, overrides: list[str], twin_dir: str) -> RunRecord:
    """A study's run whose config another experiment's run trained: that run's results under this run's name
    and sweep value, saying where they came from."""
    return dataclasses.replace(
        twin, name=cfg.name, run_name=cfg.run_name, sweep=sweep, overrides=list(overrides), copied_from=twin_dir
    )


def publish_events(run_dir: Path, record: RunRecord) -> None:
    """What TensorBoard shows of an ended record (its HParams session, its summary scalars) beside Keras's
    per-epoch curves in run_dir/tb."""
    log_dir = Path(run_dir) / "tb"
    write_session(log_dir, record)
    tensorboard.write_scalars(
        log_dir,
        {
            "best_val_accuracy": record.best_val_accuracy,
            "test_accuracy": record.test_accuracy,
            "val_balanced_accuracy": record.val_balanced_accuracy,
            "test_balanced_accuracy": record.test_balanced_accuracy,
            **cost_scalars(record),
        },
    )


def cost_scalars(record: RunRecord) -> dict[str, float | None]:
    """The record's inference cost as TensorBoard scalars (and HParams metrics): ms per image, MMACs, MB."""
    cost = record.cost
    if cost is None:
        return {}
    return {
        "latency_ms": cost.latency_ms,
        "macs_millions": cost.macs / 1e6 if cost.macs is not None else None,
        "weights_mb": cost.weights_mb,
    }


def publish(run_dir: Path, record: RunRecord) -> Path:
    """An ended record's TensorBoard session and scalars, then record.json."""
    publish_events(run_dir, record)
    return write_record(run_dir, record)
