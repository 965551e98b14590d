"""tuner=optuna: Optuna's samplers and pruners over the config and search space Keras Tuner's searches use; every
trial an ordinary run (harness.training.run.run: its record, curves, HParams session and table row).

    space (conf/tuner/_base.yaml) -> trial.suggest_* -> the trial's config -> run -> its objective(s) from the record

Storage: by default a journal file in the experiment folder (`optuna.journal`, Optuna's JournalFileBackend). Every
write takes a file lock and appends, so processes on one machine started with the same command share the study
and each asks it for its own next trial; SQLite through the RDB storage would serialize them on one database lock
and fail writers under contention. `tuner.storage` takes any SQLAlchemy URL (PostgreSQL for several machines).
A trial left running by a process that died is found by its run folder's claim (harness.storage.claims: the same
test of a live owner every run uses), marked failed in the study, and its values tried again first.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from harness.config.space import as_meant, check_space, parents_first, searchable, trial_config
from harness.config.validate import typed, validate
from harness.errors import ConfigError, UserError
from harness.multirun.search import best_preset, retrain_command
from harness.multirun.search_identity import check_same_search
from harness.process import stopping
from harness.records.record import RunRecord, Status, SweepIdentity, searched_text
from harness.reports.sweep_report import write_report
from harness.storage import claims
from harness.storage.atomic import write_atomic
from harness.training.fit import FitOptions
from harness.training.run import record_failure, run

log = logging.getLogger(__name__)

JOURNAL = "optuna.journal"
OPENING_TRIES = 5  # a storage whose tables another worker is creating is opened again, a second apart
# Which way each objective is better, and where a record holds it.
MAXIMIZED = ("val_accuracy", "accuracy")
RETRIED = "retry_of"  # a trial's system attribute: the number of the dead trial whose values it tries again


def optuna():
    try:
        import optuna
    except ImportError:
        raise UserError("tuner=optuna needs Optuna: pip install 'tl-harness[optuna]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def objectives(cfg: DictConfig) -> list[str]:
    return list(cfg.tuner.objectives) if cfg.tuner.objectives else [cfg.tuner.objective]


def directions(names: list[str]) -> list[str]:
    return ["maximize" if name in MAXIMIZED else "minimize" for name in names]


def suggest(trial, space: dict[str, dict]) -> dict[str, Any]:
    """The trial's values, drawn by Optuna from the space's entries (a conditional entry only where its parent drew
    one of its parent_values: Optuna's define-by-run draws nothing else)."""
    values: dict[str, Any] = {}
    for key in parents_first(space):
        spec = space[key]
        parent = spec.get("parent_name")
        if parent and (parent not in values or values[parent] not in list(spec["parent_values"])):
            continue
        kind, log = spec["type"], spec.get("sampling") == "log"
        if kind == "float":
            value = trial.suggest_float(key, float(spec["min"]), float(spec["max"]), step=spec.get("step"), log=log)
        elif kind == "int":
            value = trial.suggest_int(key, int(spec["min"]), int(spec["max"]), step=int(spec.get("step") or 1), log=log)
        elif kind == "choice":
            value = trial.suggest_categorical(key, list(spec["values"]))
        elif kind == "bool":
            value = trial.suggest_categorical(key, [False, True])
        else:
            value = spec["value"]
        values[key] = as_meant(value)
    return values


def score(record: RunRecord, name: str) -> float | None:
    """An objective's value in a record: the best of a curve, or the trained model's cost."""
    if name in ("val_accuracy", "accuracy", "val_loss", "loss"):
        curve = [v for v in record.history.get(name, []) if v is not None and math.isfinite(v)]
        return (max if name in MAXIMIZED else min)(curve) if curve else None
    cost = record.cost
    if cost is None:
        return None
    value = getattr(cost, name, None)
    return float(value) if value is not None else None


class ReportsEpochs:
    """A Keras callback that reports the monitored value to the trial after each epoch and stops training where the
    pruner says so (Optuna's own Keras integration lives in optuna-integration, for tf.keras: this is its loop)."""

    def __init__(self, trial, monitor: str, pruner: str):
        import keras

        outer = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                value = (logs or {}).get(monitor)
                if value is None or not math.isfinite(float(value)):
                    return
                trial.report(float(value), epoch)
                if trial.should_prune():
                    outer.why = (
                        f"pruned by tuner.pruner={pruner} after epoch {epoch + 1} ({monitor} {float(value):.4f})"
                    )
                    self.model.stop_training = True

        self.why: str | None = None
        self.callback = Callback()


def make_sampler(cfg: DictConfig):
    samplers = optuna().samplers
    seed = int(cfg.tuner.seed if cfg.tuner.seed is not None else cfg.train.seed)
    return {
        "tpe": lambda: samplers.TPESampler(seed=seed),
        "random": lambda: samplers.RandomSampler(seed=seed),
        "gp": lambda: samplers.GPSampler(seed=seed),
        "nsga2": lambda: samplers.NSGAIISampler(seed=seed),
    }[cfg.tuner.sampler]()


def make_pruner(cfg: DictConfig):
    pruners = optuna().pruners
    return {
        "none": pruners.NopPruner,
        "median": pruners.MedianPruner,
        "successive_halving": pruners.SuccessiveHalvingPruner,
        "hyperband": lambda: pruners.HyperbandPruner(max_resource=int(cfg.train.epochs)),
    }[cfg.tuner.pruner]()


def storage(cfg: DictConfig, exp_dir: Path):
    """The study's storage; refused in one line (exit 2) where a URL's server cannot be reached."""
    opt = optuna()
    if cfg.tuner.storage is None:
        from optuna.storages.journal import JournalFileBackend

        exp_dir.mkdir(parents=True, exist_ok=True)
        return opt.storages.JournalStorage(JournalFileBackend(str(exp_dir / JOURNAL)))
    for attempt in range(OPENING_TRIES):
        try:
            return opt.storages.RDBStorage(str(cfg.tuner.storage))
        except Exception as exc:  # SQLAlchemy's: an unknown driver, a refused connection, a missing database
            # Workers started together on an empty database race to create Optuna's tables (PostgreSQL: a unique
            # violation in pg_type, measured by benchmarks/postgres_check.py): the loser opens them once made.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if attempt + 1 < OPENING_TRIES and ("duplicate key" in first or "already exists" in first):
                time.sleep(1.0)
                continue
            raise ConfigError("tuner.storage", cfg.tuner.storage, f"a storage Optuna can open ({first})") from None


def _trial_dir(exp_dir: Path, number: int) -> Path:
    return exp_dir / f"trial={number:03d}"


def folder_of(exp_dir: Path, trial) -> Path:
    """A trial's run folder: its own number's, or for a retry the folder of the trial it tries again (so the
    interrupted record there is replaced by the retry's, not left beside it)."""
    return _trial_dir(exp_dir, trial.user_attrs.get(RETRIED, trial.number))


STARTING_S = 60.0  # a running trial younger than this may not have claimed its folder yet


def retry_dead(study, exp_dir: Path) -> None:
    """Trials the study holds as running whose process is gone (their folder unclaimed, or claimed by a dead
    process): failed in the study, and their values put first in the queue, as Optuna's RetryFailedTrialCallback
    does for RDB storage's heartbeats."""
    from datetime import datetime, timedelta

    opt = optuna()
    for trial in study.get_trials(deepcopy=False, states=(opt.trial.TrialState.RUNNING,)):
        young = trial.datetime_start and datetime.now() - trial.datetime_start < timedelta(seconds=STARTING_S)
        claim = folder_of(exp_dir, trial) / claims.CLAIM
        owner = claims.holder(claim.parent)
        if young or (owner is not None and claims.alive(owner, claim)):
            continue
        study.tell(trial.number, state=opt.trial.TrialState.FAIL)
        again(study, trial)
        log.warning("trial %d was left running by a process that is gone: its values are tried again", trial.number)


def again(study, trial) -> None:
    """Put a trial's values first in the study's queue, marked as a retry of the trial whose folder it runs in (it
    does not count twice)."""
    origin = trial.user_attrs.get(RETRIED, trial.number)
    study.enqueue_trial(dict(trial.params), user_attrs={RETRIED: origin}, skip_if_exists=False)


class Objective:
    """One trial: its values, its config, its run, its score(s)."""

    def __init__(self, cfg: DictConfig, space: dict[str, dict], exp_dir: Path):
        self.cfg, self.space, self.exp_dir = cfg, space, exp_dir
        self.names = objectives(cfg)

    def __call__(self, trial):
        opt = optuna()
        values = suggest(trial, self.space)
        run_dir = folder_of(self.exp_dir, trial)
        identity = SweepIdentity(
            name="tuner", value=trial.number, seed=int(self.cfg.train.seed), hyperparameters=values
        )
        try:
            tcfg = validate(typed(OmegaConf.to_container(trial_config(self.cfg, values))))
        except ConfigError as exc:  # a combination the space allows but the harness does not
            tcfg = OmegaConf.merge(trial_config(self.cfg, values), {"run_name": run_dir.name})
            record_failure(tcfg, run_dir, str(exc), identity)
            raise TrialFailed(str(exc)) from None
        tcfg = OmegaConf.merge(tcfg, {"run_name": run_dir.name})
        reports = ReportsEpochs(trial, "val_accuracy", self.cfg.tuner.pruner) if len(self.names) == 1 else None
        options = FitOptions(
            callbacks=[reports.callback] if reports and self.cfg.tuner.pruner != "none" else [],
            pruned=(lambda: reports.why) if reports else None,
        )
        if claims.claim(run_dir) is not None:
            raise TrialFailed(f"{run_dir} is being run by another process")
        try:
            record = run(tcfg, run_dir=run_dir, sweep=identity, options=options)
        except UserError as exc:
            raise TrialFailed(str(exc)) from None
        except stopping.Interrupted:  # not an Exception, so Optuna would leave the trial running: failed, retried
            trial.study.tell(trial.number, state=opt.trial.TrialState.FAIL)
            again(trial.study, trial)
            raise
        finally:
            claims.release(run_dir)
        if record.status == Status.PRUNED:
            raise opt.TrialPruned(record.error)
        if record.status != Status.COMPLETED:  # failed or diverged: never the best, and the sampler knows
            raise TrialFailed(f"{record.status}: {record.error}")
        scores = [score(record, name) for name in self.names]
        if any(s is None for s in scores):
            missing = [n for n, s in zip(self.names, scores) if s is None]
            raise TrialFailed(f"the record has no {', '.join(missing)} (cost.latency=false?)")
        return scores[0] if len(scores) == 1 else scores


class TrialFailed(Exception):
    """A trial Optuna records as failed (study.optimize's `catch`): the search goes on."""


def _counted(study) -> int:
    """Trials that count against tuner.max_trials: every one that ended, as the harness counts them (a retried
    dead trial's first attempt does not)."""
    states = optuna().trial.TrialState
    ended = study.get_trials(deepcopy=False, states=(states.COMPLETE, states.PRUNED, states.FAIL))
    retried = {t.number for t in ended if t.state == optuna().trial.TrialState.FAIL and _was_retried(study, t)}
    return sum(1 for t in ended if t.number not in retried)


def _was_retried(study, failed) -> bool:
    """Whether a later trial tries this failed one's values again in its folder."""
    origin = failed.user_attrs.get(RETRIED, failed.number)
    return any(
        t.user_attrs.get(RETRIED) == origin and t.number > failed.number for t in study.get_trials(deepcopy=False)
    )


def search(cfg: DictConfig, exp_dir: Path, choices: dict[str, str] | None = None) -> dict[str, Any]:
    """Run (or resume, or join) the Optuna study of this search; write the report and the best-config preset."""
    opt = optuna()
    exp_dir = Path(exp_dir)
    space, left_out = searchable(cfg, check_space(cfg))
    for key, why in left_out.items():
        log.warning("tuner.space.%s is not searched: %s (remove it with ~tuner.space.%s)", key, why, key)
    store = storage(cfg, exp_dir)  # refused before anything is written where a server cannot be reached
    if cfg.tuner.overwrite:
        import shutil

        for old in exp_dir.glob("trial=*"):
            shutil.rmtree(old)
        (exp_dir / JOURNAL).unlink(missing_ok=True)
        store = storage(cfg, exp_dir)
        if cfg.tuner.storage is not None:
            try:
                opt.delete_study(study_name=exp_dir.name, storage=store)
            except KeyError:
                pass
    check_same_search(cfg, exp_dir)
    names = objectives(cfg)
    study = opt.create_study(
        storage=store,
        study_name=exp_dir.name,
        sampler=make_sampler(cfg),
        pruner=make_pruner(cfg),
        directions=directions(names),
        load_if_exists=True,
    )
    retry_dead(study, exp_dir)
    summary: dict[str, Any] = {"experiment": str(exp_dir), "role": "single", "not_searched": left_out}
    left = int(cfg.tuner.max_trials) - _counted(study)

    def enough(study, trial) -> None:  # other processes on the same study count too
        if _counted(study) >= int(cfg.tuner.max_trials):
            study.stop()

    if left > 0:
        with stopping.training():
            study.optimize(
                Objective(cfg, space, exp_dir),
                n_trials=left,
                timeout=cfg.tuner.max_seconds,
                catch=(TrialFailed,),
                callbacks=[enough],
                gc_after_trial=True,
            )
    summary["trials"] = len(study.trials)
    # Optuna's own table of the study (every trial's number, state, values, params, times): its history.
    write_atomic(exp_dir / "optuna_trials.csv", study.trials_dataframe().to_csv(index=False))
    summary.update(_report(cfg, study, exp_dir, choices))
    summary.update(write_report(exp_dir))
    return summary


def _report(cfg: DictConfig, study, exp_dir: Path, choices) -> dict[str, Any]:
    """The best trial (or the Pareto front), the parameter importances and best.yaml, printed and returned."""
    opt = optuna()
    names = objectives(cfg)
    done = study.get_trials(deepcopy=False, states=(opt.trial.TrialState.COMPLETE,))
    if not done:
        return {}
    out: dict[str, Any] = {}
    best = study.best_trials if len(names) > 1 else [study.best_trial]
    lines = [f"{'Pareto front' if len(names) > 1 else 'best trial'} of {len(done)} completed ({', '.join(names)}):"]
    for trial in best:
        shown = ", ".join(f"{n} {v:.4g}" for n, v in zip(names, trial.values))
        lines.append(f"  {folder_of(exp_dir, trial).name}  {shown}  {searched_text(trial.params)}")
    if len(done) > 1 and len(names) == 1:
        try:
            importances = opt.importance.get_param_importances(study)
            shown = ", ".join(f"{k} {v:.2f}" for k, v in importances.items())
            lines.append(f"parameter importances (Optuna's get_param_importances): {shown}")
            out["importances"] = dict(importances)
        except (RuntimeError, ValueError) as exc:  # a single value drawn for every parameter
            log.info("no parameter importances: %s", exc)
    first = best[0]
    out["best_trial"] = first.number
    out["best_run"] = folder_of(exp_dir, first).name
    out["best_score"] = first.values[0]
    out["front"] = [t.number for t in best] if len(names) > 1 else None
    values = {k: as_meant(v) for k, v in first.params.items()}
    shown = ", ".join(f"{n} = {s:.4f}" for n, s in zip(names, first.values))
    out["best_config"] = str(
        best_preset(cfg, values, f"Best trial #{first.number} of {exp_dir.name}: {shown}", exp_dir, choices)
    )
    lines.append(f"retrain: {retrain_command(exp_dir)}")
    print("\n".join(lines), flush=True)
    out["completed"] = len(done)
    return out
