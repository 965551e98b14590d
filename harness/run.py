"""One complete run: config in, result record out. Sweeps, the tuner and the CLI all call `run`."""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from harness.config import config_hash, target_hw, validate
from harness.records import RECORD, read_record, write_record

log = logging.getLogger(__name__)

# What a run owns in its directory; cleared when the run starts again (Hydra's .hydra/ and log stay).
RUN_OUTPUTS = ("record.json", "tb", "model.keras", "analysis")


def run_dir_for(cfg: DictConfig) -> Path:
    return Path(cfg.results_dir) / cfg.name / cfg.run_name


def completed_record(run_dir: Path, cfg: DictConfig) -> dict | None:
    """The run's record if it already completed with exactly this config (what a resumed sweep skips)."""
    record = read_record(run_dir)
    if record and record.get("status") == "completed" and record.get("config_hash") == config_hash(cfg):
        return record
    return None


def _clear_outputs(run_dir: Path) -> None:
    for stale in run_dir.glob(f".{RECORD}.*.tmp"):  # left by a process killed mid-write
        stale.unlink()
    for name in RUN_OUTPUTS:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run(
    cfg: DictConfig,
    run_dir: Path | None = None,
    overrides: list[str] | None = None,
    sweep: dict | None = None,
    *,
    splits=None,
    model=None,
    callbacks: list | tuple = (),
    epochs: int | None = None,
    initial_epoch: int = 0,
) -> dict:
    """Validate, load data, build the model, train, evaluate; write TensorBoard events and record.json.

    Raises UserError (bad config, no network) before anything is written. A failure during training
    is not raised: it becomes a record with status `failed` (or `diverged` for a non-finite loss).
    The tuner passes the data it loaded once (`splits`), the model Keras Tuner built from the same
    builders (`model`), its callbacks and the epoch range of a Hyperband bracket.
    """
    validate(cfg)
    import keras

    from harness import data, features, models, provenance, tensorboard, train

    started = time.perf_counter()
    provenance.reset_peak_memory()
    height, width = target_hw(cfg.data.image_size, cfg.data.aspect_ratio)
    if model is None:
        keras.backend.clear_session()  # a sweep's earlier runs must not leak graphs, names or memory into this one
        train.seed_everything(cfg.train.seed, cfg.train.deterministic)
    if splits is None:
        splits = data.load_splits(cfg)
    if model is None:
        model = models.build_model(cfg, splits.num_classes, (height, width, 3))
    trainable, total = models.count_params(model)

    run_dir = Path(run_dir) if run_dir is not None else run_dir_for(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    _clear_outputs(run_dir)
    log_dir = run_dir / "tb"
    record: dict = {
        **_header(cfg, "running", None, overrides, sweep),
        "num_classes": splits.num_classes,
        "class_names": splits.class_names,
        "num_train": len(splits.train),
        "num_val": len(splits.val),
        "num_test": len(splits.test) if splits.test is not None else 0,
        "skipped_files": splits.skipped,
        "data_notes": splits.notes,
        "input_shape": [height, width, 3],
        "trainable_params": trainable,
        "total_params": total,
        "feature_cache": "none",
        "cache": {},
    }
    write_record(run_dir, record)  # a run killed from here on leaves status "running": resumable, never mistaken for done
    log.info(
        "run %s/%s: %s on %s (%d train / %d val images, %dx%d) -> %s",
        cfg.name, cfg.run_name, model.name, cfg.dataset.name, len(splits.train), len(splits.val), height, width, run_dir,
    )

    result = train.TrainResult()
    try:
        fit_model, arrays, record["cache"] = _inputs(cfg, splits, model)
        record["feature_cache"] = record["cache"]["feature_cache"]
        train_ds = data.pipeline(splits.train, cfg, training=True, array=arrays["train"])
        val_ds = data.pipeline(splits.val, cfg, training=False, array=arrays["val"])
        test_ds = data.pipeline(splits.test, cfg, training=False, array=arrays["test"]) if splits.test is not None else None
        if fit_model is not model:  # callbacks (Keras Tuner's) save and reload weights in the full model's layout
            callbacks = [features.OnFullModel(cb, model) for cb in callbacks]
        result = train.fit(
            fit_model, train_ds, val_ds, cfg, log_dir=log_dir, test_ds=test_ds,
            callbacks=callbacks, epochs=epochs, initial_epoch=initial_epoch, backbone=models.backbone_of(model),
        )
        status, error = ("diverged", f"loss became non-finite in epoch {result.epochs_run}") if result.diverged else ("completed", None)
    except Exception as exc:  # recorded, not raised: one bad run must not take a sweep down
        log.error("run %s/%s failed:\n%s", cfg.name, cfg.run_name, traceback.format_exc())
        status, error = "failed", f"{type(exc).__name__}: {exc}"

    summary = train.summarize(result.history)
    record.update(
        status=status,
        error=error,
        history=result.history,
        epochs_run=result.epochs_run,
        test_accuracy=result.test_accuracy,
        test_loss=result.test_loss,
        wall_seconds=time.perf_counter() - started,
        finished_at=_now(),
        memory=provenance.memory_mb(),
        **summary,
    )
    # The HParams session is written once the status is known, so the dashboard can filter on it.
    session = {**tensorboard.flat_hparams(cfg), "status": status, "value": str(record["sweep"]["value"])}
    tensorboard.write_hparams(log_dir, session, trial_id=f"{cfg.name}/{cfg.run_name}")
    tensorboard.write_scalars(
        log_dir, {"best_val_accuracy": summary["best_val_accuracy"], "test_accuracy": result.test_accuracy}
    )
    if (cfg.train.save_model or cfg.analysis) and status == "completed":
        model.save(run_dir / "model.keras")
    if cfg.analysis and status == "completed":
        try:  # a failed analysis must not turn a finished run into a failed one
            from harness.analyze import analyze_run

            record["analysis"] = analyze_run(run_dir, "val", model=model, splits=splits, record=record)
        except Exception as exc:
            log.error("analysis of %s failed:\n%s", run_dir, traceback.format_exc())
            record["analysis"] = {"error": f"{type(exc).__name__}: {exc}"}
    write_record(run_dir, record)
    if not callbacks:  # the tuner still needs its model after this
        _release(model)
    log.info(
        "run %s/%s %s: best val accuracy %s at epoch %s, %.1fs",
        cfg.name, cfg.run_name, status, _fmt(summary["best_val_accuracy"]), summary["best_epoch"], record["wall_seconds"],
    )
    return record


def _inputs(cfg: DictConfig, splits, model) -> tuple:
    """(model to fit, {split: array or None}, cache report): cached frozen-prefix features, cached images, or neither.

    Features are used only where they provably give the same model (features.plan decides); images are
    cached whenever train.cache=auto, since they are the very bytes the uncached pipeline makes.
    """
    from harness import cache, data, features

    named = {"train": splits.train, "val": splits.val, "test": splits.test}
    if not cache.enabled(cfg):
        return model, dict.fromkeys(named), {"feature_cache": "none", "images": "off"}
    plan = features.plan(model, cfg)
    arrays: dict = {"test": None}
    report: dict = {"feature_cache": plan.kind if plan else "none", "images": {}}
    if plan:
        report.update(cut=plan.cut, features={}, feature_dtype=cfg.train.feature_dtype)
    for name, split in named.items():
        if split is None:
            continue
        if plan is None:
            arrays[name], built = data.image_array(split, cfg)
            report["images"][name] = "built" if built else "hit"
            continue
        report["images"][name] = "unused"  # a feature hit never decodes an image

        def images(split=split, name=name):
            array, built = data.image_array(split, cfg)
            report["images"][name] = "built" if built else "hit"
            return array

        arrays[name], built = features.feature_array(plan, data.image_key(split, cfg), len(split), images, cfg)
        report["features"][name] = "built" if built else "hit"
    if plan:
        report["feature_shape"] = list(arrays["train"].shape[1:])
    return (plan.trainer if plan else model), arrays, report


def _header(cfg: DictConfig, status: str, error: str | None, overrides: list[str] | None, sweep: dict | None) -> dict:
    """What every record starts with: identity, status, the resolved config and what produced it."""
    from harness import provenance
    from harness.sweep import sweep_identity

    return {
        "name": cfg.name,
        "run_name": cfg.run_name,
        "status": status,
        "error": error,
        "config_hash": config_hash(cfg),
        "config": OmegaConf.to_container(cfg, resolve=True),
        "overrides": list(overrides or []),
        "sweep": sweep or sweep_identity(cfg),
        "started_at": _now(),
        "finished_at": None,
        "versions": provenance.versions(),
        "git": provenance.git_state(),
        "host": provenance.host(),
    }


def record_failure(cfg: DictConfig, run_dir: Path, error: str, sweep: dict, overrides: list[str] | None = None) -> dict:
    """A `failed` record for a run that could not start (e.g. a value a sweep cannot load), so the sweep goes on."""
    record = {**_header(cfg, "failed", error, overrides, sweep), "finished_at": _now(), "history": {}, "epochs_run": 0}
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    _clear_outputs(Path(run_dir))
    write_record(Path(run_dir), record)
    return record


def _release(model) -> None:
    """Drop this run's graphs and tensors before the next run of an in-process sweep builds its own."""
    import keras

    del model
    keras.backend.clear_session()  # runs gc.collect() itself; a second collect cost another 0.26 s per run


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
