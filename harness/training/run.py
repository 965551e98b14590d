"""One complete run: config in, result record out. The CLI, sweeps and the tuner all call `run`.

    prepare (data, geometry, model) -> fit (cached inputs, harness.training.fit) -> keep (model, analysis)
    -> the record finished and published (harness.records.lifecycle)

The record is written when the run starts (status `running`: a killed run is resumable and never looks
done) and again when it ends; nothing of an earlier attempt in the same folder survives the start.
The modules that import Keras (models, train, features) are imported inside the functions that train,
so a process that only checks or skips a run never loads TensorFlow (5 s on 2 cores).
"""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from harness import data
from harness.config.geometry import geometry
from harness.config.validate import validate
from harness.data.rows import changed_entry
from harness.data.sources import load_splits
from harness.data.splits import Splits
from harness.errors import UserError
from harness.process import memory, stopping
from harness.process.stopping import Interrupted
from harness.records import lifecycle, provenance
from harness.records.record import RECORD, Cost, RunRecord, Status, SweepIdentity, write_record
from harness.storage import cache
from harness.storage.atomic import disk_full, no_space, remove_temporaries, replacing, write_atomic
from harness.training.inputs import Prepared, training_inputs

log = logging.getLogger(__name__)

# What a run owns in its directory; cleared when the run starts again (Hydra's .hydra/ and log stay).
RUN_OUTPUTS = ("record.json", "tb", "model.keras", "analysis", "data_report.md")
# Called at the end of a completed run with (run_dir, prepared, record); returns what the record keeps of it.
AfterRun = Callable[[Path, Prepared, RunRecord], dict]


def run_dir_for(cfg: DictConfig) -> Path:
    return Path(cfg.results_dir) / cfg.name / cfg.run_name


def cache_root(cfg: DictConfig) -> Path | None:
    return cache.root(cfg.cache_dir, cfg.train.cache)


def load_data(cfg: DictConfig) -> Splits:
    return load_splits(cfg.dataset, cfg.data, cache_root(cfg))


def build(cfg: DictConfig, splits: Splits, input_shape: tuple[int, int, int], *, fresh: bool = True):
    """The run's seeded model. `fresh` clears Keras's session first and may hand out the model an earlier run
    of this process built from the same seed (harness.training.seeded); Keras Tuner builds its own."""
    import keras

    from harness.models.build import build_model, set_precision
    from harness.training import seeded
    from harness.training.fit import reseed_for_kept_model, seed_everything

    def built():
        if fresh:
            # A sweep's earlier runs must not leak graphs or layer names into this one (names are part of what a
            # kept compiled model is matched by). The collection is _release's. A kept model skips this: it
            # would also drop the kernels of the traced functions that train it (0.2 s to make again).
            keras.backend.clear_session(free_memory=False)
        seed_everything(cfg.train.seed, cfg.train.deterministic)
        return build_model(cfg.model, splits.num_classes, input_shape, cfg.train.mixed_precision)

    if not fresh:
        return built()
    precision = set_precision(cfg.train.mixed_precision)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    kept = seeded.key(model_cfg, splits.num_classes, input_shape, cfg.train.seed, precision)
    if seeded.has(kept):
        reseed_for_kept_model(cfg.train.seed, cfg.train.deterministic)
    return seeded.model(kept, built)


def prepare(cfg: DictConfig) -> Prepared:
    from harness.training.fit import class_weights

    started = time.perf_counter()
    splits, geo = load_data(cfg), geometry(cfg.data)
    data_seconds = time.perf_counter() - started
    class_weights(cfg.train.class_weight, splits.train.labels, splits.num_classes, splits.class_names)  # refused now
    started = time.perf_counter()
    model = build(cfg, splits, geo.shape)
    return Prepared(
        splits, geo, model, cache_root(cfg), data_seconds=data_seconds, model_seconds=time.perf_counter() - started
    )


def clear_outputs(run_dir: Path) -> None:
    remove_temporaries(run_dir)  # left by a process killed mid-write
    for name in RUN_OUTPUTS:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def clear_for_continuation(run_dir: Path) -> None:
    """Before a run continues the one in `run_dir` (Hyperband's next bracket): keep its per-epoch curves as its
    record last saw them, drop what the continuation writes anew (its HParams session and summary scalars,
    saved model, analysis) and any curves an earlier, killed continuation left after that record."""
    remove_temporaries(run_dir)
    done_at = (run_dir / RECORD).stat().st_mtime
    log_dir = run_dir / "tb"
    for events in log_dir.glob("*/events.out.tfevents.*"):
        if events.parent.name in ("train", "validation") and events.stat().st_mtime > done_at:
            events.unlink()
    for events in log_dir.glob("events.out.tfevents.*"):
        events.unlink()
    for name in ("model.keras", "analysis", "tb/normalized"):
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def data_facts(splits: Splits, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """What a record says of the data a run trained on; the same for a harness run and a search's trial."""
    return dict(
        num_classes=splits.num_classes,
        class_names=splits.class_names,
        num_train=len(splits.train),
        num_val=len(splits.val),
        num_test=len(splits.test) if splits.test is not None else 0,
        skipped_files=len(splits.skipped),
        skipped_paths=splits.skipped,
        data_notes=splits.notes,
        input_shape=list(input_shape),
        dataset=splits.report,
    )


def _started(cfg: DictConfig, prepared: Prepared, sweep: SweepIdentity, overrides: list[str] | None) -> RunRecord:
    from harness.models import cost

    counted = cost.counts(prepared.model, prepared.geometry.shape[:2])
    facts = data_facts(prepared.splits, prepared.geometry.shape)
    return lifecycle.begin(
        cfg,
        sweep,
        overrides,
        trainable_params=counted.trainable_params,
        total_params=counted.total_params,
        cost=counted,
        **facts,
    )


def inference_cost(cost_cfg: DictConfig | None, prepared: Prepared, record: RunRecord) -> Cost | None:
    """The completed model's cost with its latency on this CPU (cost.latency), or None to keep the counts: a
    measurement that fails is logged, never the run's failure."""
    from harness.models import cost

    if cost_cfg is not None and not cost_cfg.latency:
        return None
    try:
        return cost.measure(prepared.model, prepared.geometry.shape)
    except Exception:
        log.warning("inference cost of %s not measured:\n%s", record.run_name, traceback.format_exc())
        return None


def input_seconds(batches, steps: int, sample: int = 20) -> float:
    """Seconds the input pipeline alone takes for an epoch of `steps` batches, from the time of up to `sample`
    batches after the first (which pays for starting the pipeline's threads; timed itself when it is the only one). The training pipeline is a
    separate instance of the same one: the run's own batches and random draws are untouched."""
    it = iter(batches)
    if steps > 1:
        next(it)
    taken = max(1, min(sample, steps - 1))
    started = time.perf_counter()
    for _ in range(taken):
        next(it)
    return round((time.perf_counter() - started) / taken * steps, 3)


def _class_scores(split: str, predicted, labels) -> dict[str, float]:
    """A split's balanced accuracy and macro-F1 (`val_...`, `test_...`), where the run predicted it."""
    from harness.training.fit import class_scores

    if predicted is None or labels is None:
        return {}
    balanced, macro_f1 = class_scores(predicted, labels)
    return {f"{split}_balanced_accuracy": balanced, f"{split}_macro_f1": macro_f1}


def _fit(cfg: DictConfig, prepared: Prepared, log_dir: Path, options, facts: dict[str, Any]):
    """Train on the cheapest inputs that give the same model; (TrainResult, status, error), with what the
    record says of the inputs and the compiled model put in `facts`. Never raises: one bad run must not take a
    sweep down."""
    from harness.models.build import backbone_of
    from harness.training import compiled, features
    from harness.training.fit import TrainResult, class_weights, fit

    result = TrainResult()
    try:
        fit_model, arrays, cache_report = training_inputs(cfg, prepared)
        facts.update(cache=cache_report, feature_cache=cache_report["feature_cache"])
        stopping.check()  # before tracing and the first block of steps, which no stop request can cut short
        splits, geo = prepared.splits, prepared.geometry
        t = cfg.train
        cycled = data.epoch_steps(len(splits.train), splits.full_train, t.batch_size, t.budget)
        per_epoch = cycled or -(-len(splits.train) // t.batch_size)  # a pass over the split, unless cycled
        facts["steps_per_epoch"] = min(per_epoch, t.steps_per_epoch or per_epoch)
        steps = facts["steps_per_epoch"] if cycled or t.steps_per_epoch else None

        def ds(split, name, training=False):
            return data.pipeline(
                split,
                geo,
                cfg.data,
                batch_size=t.batch_size,
                seed=t.seed,
                training=training,
                array=arrays[name],
                repeat=training and cycled is not None,
                hold=cache_report["inputs"][name] == "memory",
                classes=splits.num_classes,
            )

        if data.augmented(cfg.data):  # what the inputs cost now that they change every epoch
            cache_report["input_seconds_per_epoch"] = input_seconds(
                ds(splits.train, "train", True), facts["steps_per_epoch"]
            )

        test_ds = ds(splits.test, "test") if splits.test is not None else None
        if fit_model is not prepared.model:
            # callbacks (Keras Tuner's) save and reload weights in the full model's layout
            options.callbacks = [features.OnFullModel(cb, prepared.model) for cb in options.callbacks]
        result = fit(
            fit_model,
            ds(splits.train, "train", True),
            ds(splits.val, "val"),
            cfg.train,
            log_dir=log_dir,
            test_ds=test_ds,
            test_labels=splits.test.labels if splits.test is not None else None,
            predict_val=True,
            options=options,
            backbone=backbone_of(prepared.model),
            steps_per_epoch=steps,
            soft_labels=data.soft_labels(cfg.data),
            class_weight=class_weights(
                cfg.train.class_weight, splits.train.labels, splits.num_classes, splits.class_names
            ),
        )
        cache_report["compiled"] = compiled.last()
        cache_report["seconds"]["predictions"] = round(result.predict_seconds, 3)
        if result.diverged:
            return result, Status.DIVERGED, f"loss became non-finite in epoch {result.epochs_run}"
        pruned = options.pruned() if options.pruned is not None else None
        if pruned:
            return result, Status.PRUNED, pruned
        return result, Status.COMPLETED, None
    except Exception as exc:
        if disk_full(exc):
            where = prepared.cache_root if isinstance(exc, cache.NoSpace) else log_dir
            log.error("run %s/%s failed: %s", cfg.name, cfg.run_name, no_space(where))
            return result, Status.FAILED, str(exc) if isinstance(exc, cache.NoSpace) else no_space(where)
        changed = changed_entry(exc)
        if changed:  # one line, not TensorFlow's wrapped traceback: the cause and what happens next
            log.error("run %s/%s failed: %s", cfg.name, cfg.run_name, changed)
            return result, Status.FAILED, changed
        log.error("run %s/%s failed:\n%s", cfg.name, cfg.run_name, traceback.format_exc())
        return result, Status.FAILED, f"{type(exc).__name__}: {exc}"


def _keep(
    cfg: DictConfig, prepared: Prepared, status: Status, record: RunRecord, run_dir: Path, after: AfterRun | None
):
    """What a completed run keeps besides its record: the saved model, and what the caller's after-run step
    returns for the record (its analysis)."""
    if status != Status.COMPLETED:
        return None
    if cfg.train.save_model or cfg.analysis:
        with replacing(run_dir / "model.keras") as tmp:  # whole or not at all, also on a disk that fills meanwhile
            prepared.model.save(tmp)
    if after is None:
        return None
    try:  # a failed analysis must not turn a finished run into a failed one
        return after(run_dir, prepared, record)
    except Exception as exc:
        log.error("after run %s:\n%s", run_dir, traceback.format_exc())
        return {"error": f"{type(exc).__name__}: {exc}"}


def run(
    cfg: DictConfig,
    run_dir: Path | None = None,
    overrides: list[str] | None = None,
    sweep: SweepIdentity | None = None,
    *,
    prepared: Prepared | None = None,
    options=None,
    after: AfterRun | None = None,
    continues: RunRecord | None = None,
) -> RunRecord:
    """Validate, prepare, train, evaluate; write TensorBoard events and record.json; return the record.

    Raises UserError (bad config, no network) before anything is written. A failure during training
    is not raised: it becomes a record with status `failed` (or `diverged` for a non-finite loss).
    The tuner passes what it prepared (its data and the model Keras Tuner built) and its fit options;
    `continues` is the completed record in run_dir that this run trains on from (Hyperband's next bracket):
    its record stays as it is until this one completes, then holds both as one history.
    """
    from harness.training.fit import FitOptions

    validate(cfg)
    started, startup = time.perf_counter(), provenance.startup_seconds()
    memory.reset_peak_memory()
    prepared = prepared or prepare(cfg)
    run_dir = Path(run_dir) if run_dir is not None else run_dir_for(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    record = _started(cfg, prepared, sweep or SweepIdentity(seed=cfg.train.seed), overrides)
    if continues is None:
        clear_outputs(run_dir)
        # a run killed from here on leaves status "running": resumable, never mistaken for done
        _write_or_explain(run_dir, record)
        _write_data_report(cfg, prepared.splits, run_dir)
    else:  # killed, the record still says what the earlier part completed, which is true
        clear_for_continuation(run_dir)
    log.info(
        "run %s/%s: %s on %s (%d train / %d val images, %dx%d) -> %s",
        cfg.name,
        cfg.run_name,
        prepared.model.name,
        cfg.dataset.name,
        record.num_train,
        record.num_val,
        *prepared.geometry.shape[:2],
        run_dir,
    )
    facts: dict[str, Any] = {}
    result = None
    try:
        result, status, error = _fit(cfg, prepared, run_dir / "tb", options or FitOptions(), facts)
        stopping.check()
        wall, used = time.perf_counter() - started, memory.memory_mb()
        try:
            analysis = _keep(cfg, prepared, status, record, run_dir, after)
        except OSError as exc:  # the results disk filled while the model or the analysis were written
            if not disk_full(exc):
                raise
            analysis, status, error = None, Status.FAILED, _lost(cfg, run_dir)
        test = prepared.splits.test
        measured = (
            inference_cost(OmegaConf.select(cfg, "cost"), prepared, record) if status == Status.COMPLETED else None
        )
        record = lifecycle.finish(
            record,
            status,
            error,
            history=result.history,
            # per image, so comparisons can pair runs image by image
            test_correct=None if result.test_predicted is None else result.test_predicted == test.labels,
            test_accuracy=result.test_accuracy,
            test_loss=result.test_loss,
            **_class_scores("test", result.test_predicted, test.labels if test is not None else None),
            **_class_scores("val", result.val_predicted, prepared.splits.val.labels),
            wall_seconds=wall,
            total_seconds=startup + time.perf_counter() - started,
            memory=used,
            analysis=analysis,
            continues=continues,
            **({"cost": measured} if measured is not None else {}),
            **facts,
        )
        try:
            lifecycle.publish_events(run_dir, record)
        except OSError as exc:  # ... or TensorBoard's session and scalars
            if not disk_full(exc):
                raise
            record = lifecycle.failed(record, _lost(cfg, run_dir))
        _write_or_explain(run_dir, record)
    except Interrupted as stop:  # resumable, and never mistaken for done: a rerun trains it again
        history = result.history if result is not None else {}
        record = lifecycle.finish(record, Status.INTERRUPTED, str(stop), history=history, **facts)
        if continues is None:
            write_record(run_dir, record)
        log.warning(
            "run %s/%s interrupted (%s) after %d epoch(s); its record says so and a rerun trains it again",
            cfg.name,
            cfg.run_name,
            stop,
            record.epochs_run,
        )
        raise
    if prepared.release:
        _release(prepared)
    log.info(
        "run %s/%s %s: best val accuracy %s at epoch %s, %.1fs (%.1fs in all)",
        cfg.name,
        cfg.run_name,
        record.status,
        "n/a" if record.best_val_accuracy is None else f"{record.best_val_accuracy:.4f}",
        record.best_epoch,
        record.wall_seconds,
        record.total_seconds,
    )
    return record


def _write_data_report(cfg: DictConfig, splits: Splits, run_dir: Path) -> None:
    """data_report.md beside the record: what the data holds (harness.data.inspection)."""
    from harness.data.inspection import markdown

    if splits.report is None:
        return
    root = Path(str(cfg.dataset.path)).expanduser() if cfg.dataset.source == "folder" else None
    try:
        write_atomic(run_dir / "data_report.md", markdown(splits.report, cfg.dataset.name, root))
    except OSError as exc:
        if not disk_full(exc):
            raise
        raise Unrecorded(f"run {cfg.name}/{cfg.run_name} cannot be recorded: {no_space(run_dir)}") from None


class Unrecorded(UserError):
    """A run whose record cannot be written (its disk is full): nothing was trained, nothing looks done."""

    exit_code = 1


def _write_or_explain(run_dir: Path, record: RunRecord) -> None:
    try:
        write_record(run_dir, record)
    except OSError as exc:
        if not disk_full(exc):
            raise
        raise Unrecorded(f"run {record.name}/{record.run_name} cannot be recorded: {no_space(run_dir)}") from None


def _lost(cfg: DictConfig, run_dir: Path) -> str:
    """A run whose results disk filled as it ended: what it wrote is removed, and the error says why."""
    remove_temporaries(run_dir)
    (run_dir / "model.keras").unlink(missing_ok=True)
    error = no_space(run_dir)
    log.error("run %s/%s failed: %s", cfg.name, cfg.run_name, error)
    return error


def record_failure(
    cfg: DictConfig, run_dir: Path, error: str, sweep: SweepIdentity, overrides: list[str] | None = None
) -> RunRecord:
    """A `failed` record for a run that could not start (e.g. a value a sweep cannot load), so the sweep goes on."""
    record = lifecycle.never_started(cfg, sweep, error, overrides)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    clear_outputs(Path(run_dir))
    write_record(Path(run_dir), record)
    return record


def _release(prepared: Prepared) -> None:
    """Free what this run left (its datasets, callbacks, a model no run keeps) before the next run of an in-process
    sweep starts; Keras's session is cleared when a new model is built (build)."""
    import gc

    prepared.model = None
    gc.collect()
