"""Keras Tuner searches over the same config: a YAML space -> kt.HyperParameters -> config overrides -> `run`.

The hypermodel builds with harness.training.run.build and trains with harness.training.run.run, so every trial
is an ordinary run: a record, a row in `load_table` (sweep `tuner`), TensorBoard scalars and HParams.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
from pathlib import Path
from typing import Any

import keras_tuner as kt
import yaml
from omegaconf import DictConfig, OmegaConf

from harness.config.geometry import geometry
from harness.config.identity import HYPERPARAMETER_SECTIONS
from harness.config.naming import trial_folder, trial_number
from harness.config.space import as_meant, check_space, declare, searchable, trial_config
from harness.config.validate import typed, validate
from harness.errors import ConfigError, UserError
from harness.multirun.search_identity import check_same_search
from harness.process import stopping
from harness.process.progress import Progress
from harness.process.workers import in_fresh_process
from harness.records.record import RunRecord, Status, SweepIdentity, read_record, searched_text
from harness.reports.sweep_report import write_report
from harness.storage.atomic import write_atomic
from harness.training.fit import FitOptions
from harness.training.inputs import Prepared
from harness.training.run import build, cache_root, load_data, record_failure, run

log = logging.getLogger(__name__)


def trial_identity(
    trial_id: str, seed: int, values: dict[str, Any], trial_ids: list[str] | None = None
) -> SweepIdentity:
    """Where a trial sits: sweep `tuner`, value = its number (a continued trial's first), its searched
    hyperparameters (no single knob: it varies each of them)."""
    trial_ids = trial_ids or [trial_id]
    return SweepIdentity(
        name="tuner", value=trial_number(trial_ids[0]), seed=seed, hyperparameters=values, trial_ids=trial_ids
    )


# What Hyperband adds to a trial's hyperparameters: the trial it continues, its bracket's epochs.
CONTINUES, EPOCHS = "tuner/trial_id", "tuner/epochs"


def continued_run(exp_dir: Path, trial_id: str, execution: int | None) -> tuple[Path, RunRecord] | None:
    """(folder, record) of the run whose history the given Keras Tuner trial ended, or None."""
    suffix = "" if execution is None else f",exec={execution}"
    for record_file in sorted(exp_dir.glob(f"trial=*{suffix}/record.json")):
        if suffix == "" and ",exec=" in record_file.parent.name:
            continue
        record = read_record(record_file.parent)
        if record and trial_id in (record.sweep.trial_ids or []):
            return record_file.parent, record
    return None


class HarnessHyperModel(kt.HyperModel):
    """build() = harness.training.run.build on the trial's config; fit() = harness.training.run.run with Keras
    Tuner's callbacks."""

    def __init__(self, cfg: DictConfig, space: dict, splits, exp_dir: Path):
        super().__init__(name="harness")
        self.cfg, self.space, self.splits, self.exp_dir = cfg, space, splits, exp_dir
        self.executions: dict[str, int] = {}
        self.builds: dict[int, int] = {}

    def trial_config(self, hp, execution: int = 0) -> DictConfig:
        """The trial's config: its values set on the keys they name, Hyperband's epochs as train.epochs, and a seed
        of its own for each execution (executions_per_trial repeats a trial to average out seed noise)."""
        values = declare(hp, self.space)
        if EPOCHS in hp.values:
            values["train.epochs"] = hp.values[EPOCHS]
        if execution:
            values["train.seed"] = self.cfg.train.seed + execution
        try:
            return validate(typed(OmegaConf.to_container(trial_config(self.cfg, values))))
        except ConfigError as exc:  # a combination the space allows but the harness does not
            raise kt.errors.FailedTrialError(str(exc)) from None

    def build(self, hp):
        # Keras Tuner builds once per execution of a trial, with the trial's own hp object, before each fit.
        execution = self.builds.get(id(hp), 0)
        self.builds[id(hp)] = execution + 1
        tcfg = self.trial_config(hp, execution)
        return build(tcfg, self.splits, geometry(tcfg.data).shape, fresh=False)

    def fit(self, hp, model, *args, callbacks=None, epochs=None, initial_epoch=0, **kwargs):
        callbacks = list(callbacks or [])
        trial = next((c.trial for c in callbacks if hasattr(c, "trial")), None)
        trial_id = trial.trial_id if trial is not None else "0"
        execution = self.executions.get(trial_id, 0)
        self.executions[trial_id] = execution + 1
        numbered = execution if self.cfg.tuner.executions_per_trial > 1 else None
        run_dir, earlier = self.exp_dir / trial_folder(trial_id, numbered), None
        # Hyperband's next bracket trains the model of an earlier trial on: the same trial, one history.
        found = continued_run(self.exp_dir, hp.values[CONTINUES], numbered) if hp.values.get(CONTINUES) else None
        if found is not None and found[1].status.scored:
            run_dir, earlier = found
        tcfg = OmegaConf.merge(self.trial_config(hp, execution), {"run_name": run_dir.name})
        trial_ids = [*((earlier.sweep.trial_ids or []) if earlier else []), trial_id]
        searched = {k: as_meant(v) for k, v in hp.values.items() if k in self.space and hp.is_active(k)}
        identity = trial_identity(trial_id, tcfg.train.seed, searched, trial_ids)
        prepared = Prepared(self.splits, geometry(tcfg.data), model, cache_root(tcfg), release=False)
        try:
            record = run(
                tcfg,
                run_dir=run_dir,
                sweep=identity,
                prepared=prepared,
                options=FitOptions(callbacks, tcfg.train.epochs, initial_epoch),
                continues=earlier,
            )
        except UserError as exc:
            raise kt.errors.FailedTrialError(str(exc)) from None
        if record.status != Status.COMPLETED:
            # Reported to the oracle as failed: never the best, and Bayesian optimization skips it.
            raise kt.errors.FailedTrialError(f"{record.status}: {record.error}")
        objective = self.cfg.tuner.objective
        if objective not in record.history:
            raise kt.errors.FatalError(
                f"tuner.objective={objective!r} is not logged; logged: {', '.join(record.history)}"
            )
        return {objective: (min if "loss" in objective else max)(v for v in record.history[objective] if v is not None)}


class RecordsFailedTrials:
    """Mixed into a Keras Tuner class: a record for every trial that failed before it could write its own."""

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if trial.status == "COMPLETED":
            return
        hm = self.hypermodel
        run_dir = hm.exp_dir / trial_folder(trial.trial_id)
        executions = [run_dir, *hm.exp_dir.glob(f"{trial_folder(trial.trial_id)},exec=*")]
        recorded = (
            any(read_record(d) for d in executions) or continued_run(hm.exp_dir, trial.trial_id, None) is not None
        )
        if not recorded:  # failed in build(): an invalid combination of the space
            values = {k: as_meant(v) for k, v in trial.hyperparameters.values.items() if k in hm.space}
            tcfg = OmegaConf.merge(trial_config(hm.cfg, values), {"run_name": run_dir.name})
            message = (trial.message or "failed").strip().splitlines()[-1]
            record_failure(tcfg, run_dir, message, trial_identity(trial.trial_id, tcfg.train.seed, values))


class RandomSearch(RecordsFailedTrials, kt.RandomSearch):
    pass


class BayesianOptimization(RecordsFailedTrials, kt.BayesianOptimization):
    pass


class Hyperband(RecordsFailedTrials, kt.Hyperband):
    pass


def make_tuner(cfg: DictConfig, hypermodel, exp_dir: Path):
    t = cfg.tuner
    objective = kt.Objective(t.objective, direction="min" if "loss" in t.objective else "max")
    common = dict(
        hypermodel=hypermodel,
        objective=objective,
        directory=str(exp_dir),
        project_name="keras_tuner",
        overwrite=bool(t.overwrite),
        seed=cfg.train.seed,
        executions_per_trial=t.executions_per_trial,
        max_consecutive_failed_trials=t.max_consecutive_failed_trials,
    )
    if t.algorithm == "random":
        return RandomSearch(max_trials=t.max_trials, **common)
    if t.algorithm == "bayesian":
        return BayesianOptimization(max_trials=t.max_trials, num_initial_points=t.num_initial_points, **common)
    return Hyperband(max_epochs=t.max_epochs, factor=t.factor, hyperband_iterations=t.hyperband_iterations, **common)


def trial_run_dir(exp_dir: Path, trial_id: str) -> Path:
    """The folder holding a Keras Tuner trial's run: its own, or the trial's it continued (Hyperband)."""
    found = continued_run(exp_dir, trial_id, None)
    return found[0] if found is not None else exp_dir / trial_folder(trial_id)


def top_trials(ranked: list, exp_dir: Path, objective: str, count: int = 5) -> str:
    """Keras Tuner's results summary in the harness's numbers: the `count` best runs among `ranked` (scored
    trials, best first), each as its folder (numbered as Keras Tuner's "Running Trial #N", whose trial ids count
    from 0), score and searched values. A Hyperband trial that continues another trains on in that trial's
    folder, so it is shown there, and its own number has no folder: the gaps in the numbering."""
    folders = [trial_run_dir(exp_dir, trial.trial_id).name for trial in ranked]
    rows: dict[str, str] = {}
    for trial, folder in zip(ranked, folders):
        if folder in rows or len(rows) == count:  # a continued trial's earlier, lower score
            continue
        values = {k: as_meant(v) for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
        rows[folder] = f"  {folder}  {trial.score:.4f}  {searched_text(values).replace(',', ' ')}"
        if folder != trial_folder(trial.trial_id):
            rows[folder] += (
                f"  (Hyperband continued it to {trial.hyperparameters.values.get(EPOCHS)} epochs as trial "
                f"#{trial_number(trial.trial_id)}, which has no folder of its own)"
            )
    return "\n".join([f"best {len(rows)} of {len(set(folders))} scored runs by {objective}:", *rows.values()])


def best_overrides_file(cfg: DictConfig, trial, exp_dir: Path, choices: dict[str, str] | None = None) -> Path:
    """experiment/best.yaml under the experiment: a preset that retrains the best trial's config, into the
    same results folder, as an experiment named after the search (`<search>_best`).

    `harness --config-dir <experiment dir> experiment=best`
    """
    values = {k: as_meant(v) for k, v in trial.hyperparameters.values.items() if k in check_space(cfg)}
    if EPOCHS in trial.hyperparameters.values:  # Hyperband's: the epochs the best trial trained to
        values["train.epochs"] = trial.hyperparameters.values[EPOCHS]
    score = trial.score if trial.score is not None else float("nan")
    best = f"Best trial #{trial_number(trial.trial_id)} of {exp_dir.name}: {cfg.tuner.objective} = {score:.4f}"
    return best_preset(cfg, values, best, exp_dir, choices)


def best_preset(cfg: DictConfig, values: dict[str, Any], best: str, exp_dir: Path, choices) -> Path:
    """experiment/best.yaml of any search: the base config with the best trial's `values`, headed by `best` (which
    trial, what it scored) and the command that retrains it."""
    tcfg = trial_config(cfg, values)
    sections = {k: OmegaConf.to_container(tcfg[k], resolve=True) for k in ("dataset", *HYPERPARAMETER_SECTIONS)}
    groups = [{f"override /{g}": choices[g]} for g in ("dataset", "model") if choices and choices.get(g)]
    header = f"# @package _global_\n# {best}\n# Retrain it: {retrain_command(exp_dir)}\n"
    placed = {"preset": "best", "results_dir": str(Path(cfg.results_dir).resolve()), "name": f"{exp_dir.name}_best"}
    body = {"defaults": groups, **placed, **sections} if groups else {**placed, **sections}
    path = exp_dir / "experiment" / "best.yaml"
    write_atomic(path, header + yaml.safe_dump(body, sort_keys=False))
    return path


def retrain_command(exp_dir: Path) -> str:
    return f"python -m harness --config-dir {shlex.quote(str(exp_dir))} experiment=best"


def finished_trials(exp_dir: Path) -> int:
    """Trials of the search in `exp_dir` that came to an end (an interrupted or killed one is run again)."""
    found = (read_record(d) for d in exp_dir.glob("trial=*"))
    return sum(1 for record in found if record is not None and record.status.finished)


def role() -> str:
    """single | chief | worker, from Keras Tuner's distribution environment variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def search(cfg: DictConfig, exp_dir: Path, choices: dict[str, str] | None = None) -> dict[str, Any]:
    """Run (or resume) the search; write the report and the best-config preset. Returns a summary.

    With tuner.isolate (default) a lone tuner runs every trial in a fresh process: the same Keras Tuner
    search, resumed from its saved oracle one trial at a time. In one process, resident memory grows by
    about 40 MB per trial although Keras Tuner clears the session before each build.
    """
    for key, why in searchable(cfg, check_space(cfg))[1].items():
        log.warning("tuner.space.%s is not searched: %s (remove it with ~tuner.space.%s)", key, why, key)
    exp_dir = Path(exp_dir)
    if cfg.tuner.overwrite:
        for old in exp_dir.glob("trial=*"):
            shutil.rmtree(old)
    if role() != "worker":
        check_same_search(cfg, exp_dir)
    if cfg.tuner.isolate and role() == "single":
        return _search_isolated(cfg, exp_dir, choices)
    return _search_step(cfg, exp_dir, choices, overwrite=bool(cfg.tuner.overwrite), report=role() != "worker")


def _search_step(
    cfg: DictConfig, exp_dir: Path, choices, *, overwrite: bool, new_trials: int | None = None, report: bool = True
) -> dict[str, Any]:
    """Build the tuner (reloading its oracle), run up to `new_trials` more trials (None: to the end), report."""
    cfg = OmegaConf.merge(cfg, {"tuner": {"overwrite": overwrite}})
    splits = load_data(cfg)  # once for every trial: same split, same subset
    space, left_out = searchable(cfg, check_space(cfg))
    tuner = make_tuner(cfg, HarnessHyperModel(cfg, space, splits, exp_dir), exp_dir)
    trials = lambda: len(getattr(tuner.oracle, "trials", {}))  # noqa: E731 - a worker's oracle is a gRPC client without them
    summary: dict[str, Any] = {
        "experiment": str(exp_dir),
        "role": role(),
        "trials_before": trials(),
        "not_searched": left_out,
    }
    if new_trials is not None:
        cap = trials() + new_trials
        tuner.oracle.max_trials = min(cap, tuner.oracle.max_trials) if tuner.oracle.max_trials else cap
    if new_trials != 0:
        try:
            tuner.search(epochs=cfg.train.epochs, verbose=cfg.train.verbose)
        except RuntimeError as exc:  # Keras Tuner gives up after max_consecutive_failed_trials; report what ran
            if "consecutive failures" not in str(exc):
                raise
            summary["stopped"] = (
                f"{exc} (tuner.max_consecutive_failed_trials={cfg.tuner.max_consecutive_failed_trials})"
            )
            log.error("search stopped: %s", summary["stopped"])
    summary["trials"] = trials()
    if report:  # workers only run trials; the chief (or a lone tuner) reports
        # Keras Tuner ranks failed trials too (without a score); they are never the best.
        ranked = tuner.oracle.get_best_trials(len(tuner.oracle.trials) or 1)
        best = [t for t in ranked if t.status == "COMPLETED" and t.score is not None]
        if best:
            print(top_trials(best, exp_dir, cfg.tuner.objective), flush=True)
            summary["best_trial"] = best[0].trial_id
            summary["best_run"] = trial_run_dir(exp_dir, best[0].trial_id).name
            summary["best_score"] = best[0].score
            summary["best_config"] = str(best_overrides_file(cfg, best[0], exp_dir, choices))
            print(
                f"best trial #{trial_number(best[0].trial_id)} ({summary['best_run']}): "
                f"{cfg.tuner.objective} = {best[0].score:.4f}\nretrain: {retrain_command(exp_dir)}",
                flush=True,
            )
        summary.update(write_report(exp_dir))
    return summary


def _step_in_child(container: dict, exp_dir: str, choices, overwrite: bool, new_trials: int, report: bool) -> dict:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    with stopping.training():
        return _search_step(
            typed(container), Path(exp_dir), choices, overwrite=overwrite, new_trials=new_trials, report=report
        )


def _search_isolated(cfg: DictConfig, exp_dir: Path, choices) -> dict[str, Any]:
    container = OmegaConf.to_container(cfg, resolve=True)
    limit = cfg.tuner.max_trials if cfg.tuner.algorithm != "hyperband" else None
    overwrite, stopped = bool(cfg.tuner.overwrite), None
    done = 0 if overwrite else finished_trials(exp_dir)
    progress = Progress(limit, noun="trial", done=done)
    while True:
        if limit is None or done + progress.finished < limit:
            progress.start()
        try:
            step = in_fresh_process(_step_in_child, container, str(exp_dir), choices, overwrite, 1, False)
        except stopping.Interrupted as stop:  # the trial's record says interrupted; Keras Tuner re-runs it on resume
            stopped = f"{stop}; re-run the command to resume"
            break
        finally:
            progress.finish()
        overwrite = False
        if step is None:
            stopped = "the process running a trial died; re-run the command to resume"
            break
        if step.get("stopped"):
            stopped = step["stopped"]
            break
        if step["trials"] == step["trials_before"] or (limit and step["trials"] >= limit):
            break  # the oracle has nothing left to try
    # The report of what finished is written even after Ctrl-C.
    summary = in_fresh_process(_step_in_child, container, str(exp_dir), choices, False, 0, True, stoppable=False) or {
        "role": "single"
    }
    if stopped:
        summary["stopped"] = stopped
    return summary
