"""Look inside one trained run: predict a split once, then write every table and picture under <run>/analysis."""

from __future__ import annotations

import json
import logging
import shlex
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
from harness.reports.analysis.embeddings import with_embeddings, write_projector
from harness.reports.analysis.experiment import ANALYSIS
from harness.reports.analysis.gradcam import gradcam, overlay
from harness.reports.analysis.occlusion import border_area, border_share, occlusion
from harness.reports.analysis.pictures import aspect_png, confusion_png, grid
from harness.reports.analysis.tables import KINDS, by_aspect_ratio, confusion, prediction_table, select
from harness.reports.analysis.two_runs import McNemar, paired, write_comparison
from harness.storage import cache
from harness.training.inputs import Prepared

log = logging.getLogger(__name__)
SUMMARY = "summary.json"  # which split the analysis predicted, how many images, its accuracy


def original_sizes(split) -> np.ndarray:
    """(width, height) per example: from the folder scan where known, else by decoding once."""
    if split.pool.sizes is not None:
        return split.pool.sizes[split.index]
    import tensorflow as tf

    shapes = split.images().map(lambda im: tf.shape(im)[:2], num_parallel_calls=tf.data.AUTOTUNE)
    return np.asarray([[w, h] for h, w in shapes.as_numpy_iterator()], dtype=np.int64).reshape(-1, 2)


def explain_section(cfg) -> dict[str, Any]:
    """The run's `explain` section, the schema's defaults for a record made before it had one."""
    from dataclasses import asdict

    from harness.config.schema import ExplainConfig

    return {**asdict(ExplainConfig()), **(OmegaConf.to_container(cfg.explain) if "explain" in cfg else {})}


def _load_model(run_dir: Path):
    import keras

    import harness.models.build  # noqa: F401 - registers the custom layers load_model needs

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


def _explained(chosen: pd.DataFrame, class_names: list[str], cams: int) -> pd.DataFrame:
    """The images the explanations show: per predicted class, its most confident wrong predictions first, then its
    most confident correct ones, `cams` at most."""
    parts = []
    for name in class_names:
        part = chosen[
            (chosen["class"] == name) & chosen["kind"].isin(["most_confident_wrong", "most_confident_correct"])
        ]
        parts.append(part.sort_values(["kind", "rank"], ascending=[False, True]).drop_duplicates("row").head(cams))
    return pd.concat(parts, ignore_index=True) if parts else chosen.iloc[:0]


def _explanation_grid(
    shown: pd.DataFrame, images: np.ndarray, maps: np.ndarray, class_names: list[str], title: str, path: Path
) -> None:
    rows = []
    for name in class_names:
        cells = [
            (overlay(images[r.row], maps[k]), f"p={r.probability:.2f}" + ("" if r.correct else f" true: {r.true}"))
            for k, (r, predicted) in enumerate(zip(shown.itertuples(), shown["class"]))
            if predicted == name
        ]
        rows.append((f"as {name}", cells))
    grid(rows, title, path)


def _mean(values: pd.Series) -> float | None:
    finite = pd.to_numeric(values, errors="coerce").dropna()
    return float(finite.mean()) if len(finite) else None


def _explain(
    model, shown: pd.DataFrame, images: np.ndarray, class_names: list[str], explain: dict, title: str, out: Path
) -> dict[str, Any]:
    """Grad-CAM (for the predicted class) and occlusion sensitivity (for the true class) of the shown images, as
    grids, and how much of each map lies on the border band (explanations.csv; the summary's means)."""
    picked = shown["row"].to_numpy(dtype=int)
    pixels = images[picked].astype(np.float32)
    h, w = images.shape[1:3]
    maps = {
        "gradcam": gradcam(model, pixels, shown["predicted_index"].to_numpy()) if len(picked) else np.zeros((0, h, w))
    }
    _explanation_grid(
        shown, images, maps["gradcam"], class_names, f"Grad-CAM for the predicted class ({title})", out / "gradcam.png"
    )
    (out / "occlusion.png").unlink(missing_ok=True)
    if explain["occlusion"]:
        patch, stride = explain["occlusion_patch"], explain["occlusion_stride"] or explain["occlusion_patch"]
        maps["occlusion"], drops = occlusion(model, pixels, shown["true_index"].to_numpy(), patch, stride)
        _explanation_grid(
            shown,
            images,
            maps["occlusion"],
            class_names,
            f"Occlusion sensitivity for the true class, {patch} px grey patch every {stride} px ({title})",
            out / "occlusion.png",
        )
    table = shown[["id", "class", "true", "correct", "probability"]].rename(columns={"class": "predicted"})
    for method, found in maps.items():
        table[f"border_share_{method}"] = border_share(found) if len(found) else []
    if "occlusion" in maps:
        table["largest_drop_occlusion"] = drops  # of the true class's margin, in logits: near 0, the map says little
    table.to_csv(out / "explanations.csv", index=False)
    return {
        "images": len(table),
        "border_area": border_area(h, w),
        # the mean over the images whose map is not empty (an image nothing in the map explains: NaN in the table)
        "border_share": {m: _mean(table[f"border_share_{m}"]) for m in maps},
    }


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
    record: RunRecord | None = None,
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
    cfg = OmegaConf.create(record.config)
    root = cache.root(cfg.cache_dir, cfg.train.cache)
    splits = splits or load_splits(cfg.dataset, cfg.data, root)
    split = getattr(splits, split_name)
    if split is None:
        raise UserError(f"run {run_dir.name} has no {split_name} split; use --split val")

    # The bytes the model saw, decoded once (or not at all, when cached), read batch by batch as a run reads them.
    images = split_images(split, geometry(cfg.data), root)
    batches = pipeline(
        split,
        geometry(cfg.data),
        cfg.data,
        batch_size=cfg.train.batch_size,
        seed=0,
        training=False,
        array=images,
        classes=splits.num_classes,
    )
    vectors, probabilities = with_embeddings(model).predict(batches, verbose=0)
    table = prediction_table(probabilities, split.labels, splits.class_names, split.ids, original_sizes(split))
    out = run_dir / ANALYSIS
    out.mkdir(exist_ok=True)
    _write_tables(table, splits.class_names, out)
    chosen = select(table, top)
    chosen.to_csv(out / "selections.csv", index=False)
    title = f"{split_name}, {record.name}/{record.run_name}"
    _selection_grids(chosen, images, splits.class_names, title, out)
    explained = _explain(
        model,
        _explained(chosen, splits.class_names, cams),
        images,
        splits.class_names,
        explain_section(cfg),
        split_name,
        out,
    )
    log_dir = run_dir / "tb" / ANALYSIS
    tensorboard_views(log_dir, out, probabilities, split.labels, splits.class_names)
    write_projector(log_dir, vectors, table, images, f"{split_name} penultimate layer")
    summary = {
        "run": str(run_dir),
        "split": split_name,
        "images": len(table),
        "accuracy": float(table["correct"].mean()),
        "explanations": explained,
    }
    (out / SUMMARY).write_text(json.dumps(summary, indent=2))
    log.info(
        "analysis of %s: %d %s images, accuracy %.4f -> %s\nPR curves and projector: TensorBoard's runs named "
        "*/tb/analysis (type analysis in its run filter), or only this one: tensorboard --logdir %s",
        run_dir,
        len(table),
        split_name,
        summary["accuracy"],
        out,
        shlex.quote(str(log_dir)),
    )
    return summary


def predictions_of(run_dir: Path, split_name: str) -> pd.DataFrame:
    """A run's per-image predictions of a split: its analysis's, where that analysed this split, else analysed
    now (from its saved model)."""
    out = Path(run_dir) / ANALYSIS
    try:
        done = json.loads((out / SUMMARY).read_text()).get("split") == split_name
    except (OSError, ValueError):
        done = False
    if not (done and (out / "predictions.parquet").exists()):
        analyze_run(run_dir, split_name)
    return pd.read_parquet(out / "predictions.parquet")


def compare_runs(run_a: Path, run_b: Path, split_name: str = "val", out: Path | None = None) -> tuple[Path, McNemar]:
    """Two runs' predictions of one split, image by image, written under `out` (default: the first run's
    experiment folder, compare/<A>_vs_<B>)."""
    run_a, run_b = Path(run_a), Path(run_b)
    records = []
    for run_dir in (run_a, run_b):
        record = read_record(run_dir)
        if record is None:
            raise UserError(f"{run_dir} has no {RECORD}: give two run directories")
        records.append(record)
    names = tuple(r.run_name or d.name for r, d in zip(records, (run_a, run_b)))
    if run_a.resolve() == run_b.resolve():
        raise UserError(f"both runs are {run_a}: give two different runs")
    datasets = [r.config.get("dataset") for r in records]
    if datasets[0] != datasets[1] or records[0].class_names != records[1].class_names:
        # Checked before either run is analysed: nothing is written for a comparison that cannot be made.
        raise UserError(
            f"the two runs were trained on different data ({_data_name(records[0])} and {_data_name(records[1])}): "
            "compare runs of the same dataset and classes"
        )
    both = paired(predictions_of(run_a, split_name), predictions_of(run_b, split_name))
    cfg = OmegaConf.create(records[0].config)
    root = cache.root(cfg.cache_dir, cfg.train.cache)
    split = getattr(load_splits(cfg.dataset, cfg.data, root), split_name)
    pixels = split_images(split, geometry(cfg.data), root)
    images = {str(i): pixels[k] for k, i in enumerate(split.ids)}
    out = out or run_a.parent / "compare" / f"{names[0]}_vs_{names[1]}"
    return out, write_comparison(both, images, names, out)


def _data_name(record: RunRecord) -> str:
    dataset = record.config.get("dataset") or {}
    return f"{dataset.get('name')}: {', '.join(record.class_names or [])}"


def after_run(run_dir: Path, prepared: Prepared, record: RunRecord) -> dict[str, Any]:
    """harness.training.run's after-run step for analysis=true: analyse the val split with the model still in memory."""
    return analyze_run(run_dir, "val", model=prepared.model, splits=prepared.splits, record=record)


def tensorboard_views(
    log_dir: Path, out: Path, probabilities: np.ndarray, labels: np.ndarray, class_names: list[str]
) -> None:
    """The confusion matrix, aspect-ratio chart, grids, Grad-CAM and occlusion as TensorBoard images (Images tab), and a
    precision-recall curve per class, one class against the rest (PR Curves tab)."""
    from tensorboard.plugins.pr_curve import summary as pr_curve

    shutil.rmtree(log_dir, ignore_errors=True)  # re-analysing replaces, never duplicates
    shown = ("confusion_matrix", "aspect_ratio", "gradcam", "occlusion", *KINDS)
    pictures = [(0, image(name, out / f"{name}.png")) for name in shown if (out / f"{name}.png").exists()]
    curves = [
        (
            0,
            pr_curve.pb(
                name,  # the tag: <class>/pr_curves
                labels=np.asarray(labels) == c,
                predictions=np.asarray(probabilities[:, c], np.float32),
                num_thresholds=101,
                display_name=f"PR curve: {name}",
                description=f"precision and recall of {name!r} against the other classes, thresholds 0 to 1",
            ),
        )
        for c, name in enumerate(class_names)
    ]
    write_events(log_dir, pictures + curves)
