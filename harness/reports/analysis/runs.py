"""Look inside one trained run: predict a split once, then write every table and picture under <run>/analysis."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from harness.config.geometry import geometry
from harness.data.images import split_images
from harness.data.pipeline import pipeline
from harness.data.sources import load_splits
from harness.errors import UserError
from harness.records.record import RECORD, RunRecord, read_record
from harness.records.tensorboard import image, write_events
from harness.reports.analysis.experiment import ANALYSIS
from harness.reports.analysis.gradcam import gradcam, overlay
from harness.reports.analysis.pictures import aspect_png, confusion_png, grid
from harness.reports.analysis.tables import KINDS, by_aspect_ratio, confusion, prediction_table, select
from harness.storage import cache
from harness.training.inputs import Prepared

log = logging.getLogger(__name__)


def original_sizes(split) -> np.ndarray:
    """(width, height) per example: from the folder scan where known, else by decoding once."""
    if split.pool.sizes is not None:
        return split.pool.sizes[split.index]
    import tensorflow as tf

    shapes = split.images().map(lambda im: tf.shape(im)[:2], num_parallel_calls=tf.data.AUTOTUNE)
    return np.asarray([[w, h] for h, w in shapes.as_numpy_iterator()], dtype=np.int64).reshape(-1, 2)


def _load_model(run_dir: Path):
    import keras

    from harness.models import build as models  # noqa: F401 - registers the custom layers load_model needs

    if not (run_dir / "model.keras").exists():
        raise UserError(f"{run_dir} has no model.keras; re-run it with analysis=true (or train.save_model=true)")
    return keras.saving.load_model(run_dir / "model.keras")


def _selection_grids(chosen: pd.DataFrame, images: np.ndarray, class_names: list[str], title: str, out: Path) -> None:
    for kind, label in KINDS.items():
        rows = []
        for name in class_names:
            part = chosen[(chosen["kind"] == kind) & (chosen["class"] == name)]
            cells = [
                (images[r.row], f"p={r.probability:.2f}" + ("" if r.correct else f"\ntrue: {r.true}"))
                for r in part.itertuples()
            ]
            rows.append((f"as {name}", cells))
        grid(rows, f"{label} ({title})", out / f"{kind}.png")


def _gradcam_grid(
    model, chosen: pd.DataFrame, images: np.ndarray, class_names: list[str], cams: int, title: str, path: Path
) -> None:
    """Per class, its most confident wrong predictions first, then its most confident correct ones."""
    rows = []
    for name in class_names:
        part = chosen[
            (chosen["class"] == name) & chosen["kind"].isin(["most_confident_wrong", "most_confident_correct"])
        ]
        part = part.sort_values(["kind", "rank"], ascending=[False, True]).drop_duplicates("row").head(cams)
        picked = part["row"].to_numpy(dtype=int)
        cells = []
        if len(picked):
            maps = gradcam(model, images[picked].astype(np.float32), part["predicted_index"].to_numpy())
            cells = [
                (overlay(images[i], m), f"p={r.probability:.2f}" + ("" if r.correct else f" true: {r.true}"))
                for i, m, r in zip(picked, maps, part.itertuples())
            ]
        rows.append((f"as {name}", cells))
    grid(rows, f"Grad-CAM for the predicted class ({title})", path)


def _write_tables(table: pd.DataFrame, class_names: list[str], out: Path) -> None:
    table.to_parquet(out / "predictions.parquet", index=False)
    table.to_csv(out / "predictions.csv", index=False)
    counts, per_class = confusion(table, class_names)
    per_class.to_csv(out / "per_class.csv", index=False)
    pd.DataFrame(counts, index=class_names, columns=class_names).to_csv(out / "confusion_matrix.csv")
    confusion_png(counts, class_names, out / "confusion_matrix.png")
    buckets = by_aspect_ratio(table)
    buckets.to_csv(out / "aspect_ratio.csv", index=False)
    aspect_png(table, buckets, out / "aspect_ratio.png")


def analyze_run(
    run_dir: Path,
    split_name: str = "val",
    *,
    top: int = 6,
    cams: int = 4,
    model=None,
    splits=None,
    record: dict | None = None,
) -> dict[str, Any]:
    """Predict the split once with the run's model and write every table and picture under run_dir/analysis.

    At the end of a run (analysis=true) the caller passes its model, data and record; from the command
    line they are read back from the run directory.
    """
    run_dir = Path(run_dir)
    record = record or read_record(run_dir)
    if record is None:
        raise UserError(f"{run_dir} has no {RECORD}: not a run directory")
    model = model if model is not None else _load_model(run_dir)
    cfg = OmegaConf.create(record["config"])
    root = cache.root(cfg.cache_dir, cfg.train.cache)
    splits = splits or load_splits(cfg.dataset, cfg.data, root)
    split = getattr(splits, split_name)
    if split is None:
        raise UserError(f"run {run_dir.name} has no {split_name} split; use --split val")

    # The bytes the model saw, decoded once (or not at all, when cached), read batch by batch as a run reads them.
    images = split_images(split, geometry(cfg.data), root)
    batches = pipeline(
        split, geometry(cfg.data), cfg.data, batch_size=cfg.train.batch_size, seed=0, training=False, array=images
    )
    probabilities = model.predict(batches, verbose=0)
    table = prediction_table(probabilities, split.labels, splits.class_names, split.ids, original_sizes(split))
    out = run_dir / ANALYSIS
    out.mkdir(exist_ok=True)
    _write_tables(table, splits.class_names, out)
    chosen = select(table, top)
    chosen.to_csv(out / "selections.csv", index=False)
    title = f"{split_name}, {record['name']}/{record['run_name']}"
    _selection_grids(chosen, images, splits.class_names, title, out)
    _gradcam_grid(model, chosen, images, splits.class_names, cams, split_name, out / "gradcam.png")
    tensorboard_images(run_dir / "tb" / ANALYSIS, out)
    summary = {
        "run": str(run_dir),
        "split": split_name,
        "images": len(table),
        "accuracy": float(table["correct"].mean()),
    }
    log.info(
        "analysis of %s: %d %s images, accuracy %.4f -> %s", run_dir, len(table), split_name, summary["accuracy"], out
    )
    return summary


def after_run(run_dir: Path, prepared: Prepared, record: RunRecord) -> dict[str, Any]:
    """harness.run's after-run step for analysis=true: analyse the val split with the model still in memory."""
    return analyze_run(run_dir, "val", model=prepared.model, splits=prepared.splits, record=record.as_dict())


def tensorboard_images(log_dir: Path, out: Path) -> None:
    """The confusion matrix, aspect-ratio chart, grids and Grad-CAM as TensorBoard images (Images tab)."""
    shutil.rmtree(log_dir, ignore_errors=True)  # re-analysing replaces, never duplicates
    write_events(
        log_dir,
        [(0, image(name, out / f"{name}.png")) for name in ("confusion_matrix", "aspect_ratio", "gradcam", *KINDS)],
    )
