"""One job of the command line, as every launcher runs it: the Hydra task function and a run's life around
`harness.training.run.run`.

    claim the run's folder -> skip it if it completed with this config (or analyse its saved model)
    -> copy a study twin's results, or train -> record a failure that kept it from starting -> release the claim

A search (tuner=...) is one job too: Keras Tuner's or AutoKeras's, each trial a run with its own record.
`harness.__main__` composes and checks the command line, then hands Hydra this module's `task`.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

from omegaconf import DictConfig

from harness.config.identity import config_hash
from harness.errors import UserError
from harness.multirun.study import copy_twin, find_twin
from harness.multirun.sweep import sweep_identity
from harness.process import stopping
from harness.process.quiet import import_tensorflow
from harness.records import lifecycle
from harness.records.hparams import compare_lines, write_hparams_experiment
from harness.records.record import RunRecord, Status, write_record
from harness.storage import cache, claims
from harness.storage.atomic import disk_full, no_space
from harness.training.run import Unrecorded, record_failure, run

log = logging.getLogger("harness")


def task(cfg: DictConfig) -> None:
    """Hydra's task function: one job, stopped cleanly by Ctrl-C or a scheduler's SIGTERM."""
    with stopping.in_scheduled_job():
        _job(cfg)


def discard_run_dir(run_dir: Path, results_dir: Path) -> None:
    """Remove what Hydra created for a run that never started (it holds no record)."""
    if not run_dir.exists() or (run_dir / "record.json").exists():
        return
    logging.shutdown()
    shutil.rmtree(run_dir, ignore_errors=True)
    parent = run_dir.parent
    results = results_dir.resolve()
    while parent.resolve() != results and results in parent.resolve().parents and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent
    if results.exists() and not any(results.iterdir()):
        results.rmdir()


def _job(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    overrides = list(hydra_cfg.overrides.task)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    identity = sweep_identity(cfg, dict(hydra_cfg.runtime.choices))
    if stopping.requested() is not None:  # an in-process launcher's later jobs after Ctrl-C
        return
    import_tensorflow()  # a no-op here after the first; quiet in a process another launcher started (Ray, submitit)
    if cfg.get("tuner") is not None:
        _search(cfg, run_dir, dict(hydra_cfg.runtime.choices))
        return
    owner = claims.claim(run_dir)
    if owner is not None:
        if multirun:  # another sweep into the same folder runs it: this one goes on with the rest
            log.info("run %s/%s is being run by %s: left to it", cfg.name, cfg.run_name, owner.describe())
            return
        print(
            f"run {cfg.name}/{cfg.run_name} is already running ({owner.describe()}): wait for it to finish",
            file=sys.stderr,
        )
        sys.exit(1)
    try:
        record = _claimed_run(cfg, run_dir, overrides, identity)
    except UserError as exc:
        if multirun:  # one value a sweep cannot run is a failed row, not the end of the sweep
            log.error("run %s/%s could not start: %s", cfg.name, cfg.run_name, exc)
            if not isinstance(exc, Unrecorded):
                _record_failure_if_possible(cfg, run_dir, str(exc), identity, overrides)
            return
        discard_run_dir(run_dir, Path(cfg.results_dir))
        print(exc, file=sys.stderr)
        sys.exit(exc.exit_code)
    except stopping.Interrupted:
        if multirun:  # the record says so; the launcher starts nothing more and Hydra's callback still reports
            return
        raise
    if record is None or multirun:
        return
    from harness.reports.sweep_report import normalized_views  # pandas: loaded only once a single run has trained

    normalized_views(run_dir.parent)
    write_hparams_experiment(Path(cfg.results_dir))
    if record.status != Status.COMPLETED:
        print(f"run {record.run_name} did not complete: {record.status}: {record.error}", file=sys.stderr)
        sys.exit(1)
    chance = 1 / record.num_classes if record.num_classes else float("nan")
    print(
        f"run {cfg.name}/{record.run_name}: best val accuracy {record.best_val_accuracy:.4f} at epoch {record.best_epoch} "
        f"(chance {chance:.2f})\nresults: {_shown(run_dir)}\n{compare_lines(cfg.results_dir)}",
        flush=True,
    )


def _record_failure_if_possible(cfg: DictConfig, run_dir: Path, error: str, identity, overrides: list[str]) -> None:
    try:
        record_failure(cfg, run_dir, error, identity, overrides)
    except OSError as exc:
        if not disk_full(exc):
            raise
        log.error("run %s/%s cannot be recorded: %s", cfg.name, cfg.run_name, no_space(run_dir))


def _claimed_run(cfg: DictConfig, run_dir: Path, overrides: list[str], identity):
    """The run, trained unless it completed meanwhile; the claim is kept fresh while it runs and given up
    however it ends."""
    try:
        with claims.heartbeat(run_dir / claims.CLAIM):
            return _unless_done(cfg, run_dir, overrides, identity)
    finally:
        claims.release(run_dir)


def _unless_done(cfg: DictConfig, run_dir: Path, overrides: list[str], identity):
    done = None if cfg.overwrite else lifecycle.completed_record(run_dir, cfg)
    if done is not None:
        if cfg.analysis:
            analyse_saved(run_dir, done)
        else:
            log.info(
                "run %s/%s already completed with this config: skipped (overwrite=true re-runs it)",
                cfg.name,
                cfg.run_name,
            )
        return None

    def train():
        with stopping.training():
            return run(cfg, run_dir=run_dir, overrides=overrides, sweep=identity, after=_analysis(cfg))

    if cfg.get("study") is None or cfg.overwrite:
        return train()
    # A study's config shared by several experiments trains once: whoever takes its lock first trains it, and
    # a twin that starts meanwhile (another worker, another node) waits and copies it.
    study_dir, config = run_dir.parent.parent, config_hash(cfg)
    found, trained = cache.once(study_dir / f".twin-{config}", lambda: find_twin(study_dir, config, run_dir), train)
    return found if trained else copy_twin(found, run_dir, cfg, identity, overrides)


def analyse_saved(run_dir: Path, record: RunRecord) -> None:
    """analysis=true on a run that completed: analysed from its saved model, never retrained; without one, say so."""

    if (run_dir / "analysis" / "predictions.parquet").exists():
        log.info("run %s already completed and analysed: %s", run_dir.name, run_dir / "analysis")
        return
    if not (run_dir / "model.keras").exists():
        log.warning(
            "run %s completed without saving its model, so it cannot be analysed without training it again "
            "(overwrite=true analysis=true does both)",
            run_dir.name,
        )
        return
    from harness.reports.analysis.runs import analyze_run

    summary = analyze_run(run_dir, "val", record=record)
    write_record(run_dir, lifecycle.analysed(record, summary))


def _shown(path: Path) -> Path:
    """A path as the user gave its root: relative to where they are when it lies below."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def _analysis(cfg: DictConfig):
    """The after-run step for analysis=true (loaded only then: it brings matplotlib and pandas)."""
    if not cfg.analysis:
        return None
    from harness.reports.analysis.runs import after_run

    return after_run


def searcher(algorithm: str):
    """The search function of a tuner.algorithm: AutoKeras's own search, or Keras Tuner's for the rest (either
    brings TensorFlow, so it is imported only for a search)."""
    if algorithm == "autokeras":
        from harness.multirun.automl import search
    elif algorithm == "optuna":
        from harness.multirun.optuna_search import search
    else:
        from harness.multirun.search import search
    return search


def _search(cfg: DictConfig, run_dir: Path, choices: dict) -> None:
    try:
        summary = searcher(cfg.tuner.algorithm)(cfg, Path(cfg.results_dir) / cfg.name, choices)
    except UserError as exc:
        discard_run_dir(run_dir, Path(cfg.results_dir))
        print(exc, file=sys.stderr)
        sys.exit(exc.exit_code)
    if (
        stopping.requested() is None
        and summary["role"] != "worker"
        and (summary.get("stopped") or not summary.get("completed"))
    ):
        print(f"search {cfg.name}: {summary.get('stopped') or 'no trial completed'}", file=sys.stderr)
        sys.exit(1)
