"""Look inside a trained run: predictions, the chapter's three questions, confusion matrix, aspect ratio, Grad-CAM.

    python -m harness.analyze results/<experiment>/<run> [--split val|test]
    python -m harness.analyze results/<experiment>            # every run, plus per-value tables

Writes under each run's `analysis/`: predictions.parquet/.csv, selections.csv and three image grids
(most confident correct, least confident, most confident wrong — per class), confusion_matrix.png,
per_class.csv (precision/recall/F1), aspect_ratio.csv/.png, gradcam.png; images also go to TensorBoard
(`tb/analysis`). The pure functions (`prediction_table`, `select`, `confusion`, `by_aspect_ratio`,
`gradcam`) take arrays and tables, so they are tested on hand-made data.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import UserError
from harness.records import RECORD, read_record

log = logging.getLogger(__name__)

ANALYSIS = "analysis"
# width / height buckets, left-closed: a square photo is 0.95-1.05, a 4:3 landscape 1.05-1.4, a 3:2 one 1.4-1.8.
BUCKET_EDGES = [0.0, 0.75, 0.95, 1.05, 1.4, 1.8, np.inf]
BUCKET_LABELS = ["<0.75", "0.75-0.95", "0.95-1.05", "1.05-1.4", "1.4-1.8", ">=1.8"]
KINDS = {
    "most_confident_correct": "most confident correct",
    "least_confident": "least confident",
    "most_confident_wrong": "most confident wrong",
}


# --- tables (pure) ----------------------------------------------------------------------------------------


def prediction_table(
    probabilities: np.ndarray, labels: np.ndarray, class_names: list[str], ids: np.ndarray, sizes: np.ndarray
) -> pd.DataFrame:
    """One row per image: id, true and predicted class, their probabilities, correct, original width/height/ratio."""
    predicted = probabilities.argmax(axis=1)
    rows = np.arange(len(labels))
    names = np.asarray(class_names, dtype=object)
    sizes = np.asarray(sizes, dtype=float).reshape(-1, 2)
    return pd.DataFrame({
        "id": np.asarray(ids).astype(str),
        "true": names[labels],
        "predicted": names[predicted],
        "true_index": labels.astype(int),
        "predicted_index": predicted.astype(int),
        "probability": probabilities[rows, predicted].astype(float),
        "probability_true": probabilities[rows, labels].astype(float),
        "correct": predicted == labels,
        "width": sizes[:, 0].astype(int),
        "height": sizes[:, 1].astype(int),
        "aspect_ratio": sizes[:, 0] / sizes[:, 1],
    })


def select(table: pd.DataFrame, n: int) -> pd.DataFrame:
    """Per class c, the chapter's three questions, n rows each (fewer where fewer exist):

    most_confident_correct — images of c predicted as c, highest probability first;
    least_confident — images predicted as c, lowest probability first (where the model hesitates);
    most_confident_wrong — images predicted as c that are not c, highest probability first.
    Returns the chosen rows with `kind`, `class` and `rank` (0-based) columns in front.
    """
    parts = []
    for name in sorted(set(table["true"]) | set(table["predicted"]), key=str):
        as_c = table[table["predicted"] == name]
        chosen = {
            "most_confident_correct": as_c[as_c["correct"]].sort_values("probability", ascending=False, kind="stable"),
            "least_confident": as_c.sort_values("probability", ascending=True, kind="stable"),
            "most_confident_wrong": as_c[~as_c["correct"]].sort_values("probability", ascending=False, kind="stable"),
        }
        for kind, rows in chosen.items():
            rows = rows.head(n)
            parts.append(rows.assign(kind=kind, **{"class": name}, rank=np.arange(len(rows)), row=rows.index))
    if not parts:
        return pd.DataFrame(columns=["kind", "class", "rank", *table.columns])
    out = pd.concat(parts, ignore_index=True)
    return out[["kind", "class", "rank", "row", *table.columns]]


def confusion(table: pd.DataFrame, class_names: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """(counts[true, predicted], per-class precision/recall/F1/support table)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(class_names)))
    counts = confusion_matrix(table["true_index"], table["predicted_index"], labels=labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        table["true_index"], table["predicted_index"], labels=labels, zero_division=0
    )
    per_class = pd.DataFrame({
        "class": class_names, "precision": precision, "recall": recall, "f1": f1, "support": support,
        "accuracy": np.divide(np.diag(counts), support, out=np.full(len(labels), np.nan), where=support > 0),
    })
    return counts, per_class


def aspect_bucket(ratio: np.ndarray | pd.Series) -> pd.Categorical:
    """The bucket of each width/height ratio; edges belong to the bucket above them (0.95 is '0.95-1.05')."""
    return pd.cut(np.asarray(ratio, dtype=float), BUCKET_EDGES, labels=BUCKET_LABELS, right=False)


def by_aspect_ratio(table: pd.DataFrame) -> pd.DataFrame:
    """Count, correct and accuracy per aspect-ratio bucket (every bucket listed, empty ones with count 0)."""
    buckets = aspect_bucket(table["aspect_ratio"])
    grouped = table.groupby(buckets, observed=False)["correct"]
    out = pd.DataFrame({"count": grouped.size(), "correct": grouped.sum().astype(int)})
    out["accuracy"] = np.where(out["count"] > 0, out["correct"] / out["count"].where(out["count"] > 0, 1), np.nan)
    out.index = out.index.astype(str)
    return out.rename_axis("bucket").reset_index()


# --- Grad-CAM ---------------------------------------------------------------------------------------------


def gradcam(model, images: np.ndarray, class_index: np.ndarray | int) -> np.ndarray:
    """Grad-CAM heatmaps (N, H, W) in [0, 1] for `class_index` on the model's last convolutional feature map.

    The feature map is what enters the head's global pooling layer (`pool`: the backbone's output, or the
    scratch net's last block). Channel weights are the spatially averaged gradients of the class score;
    the map is ReLU(sum of weighted channels), resized to the input size and scaled so its maximum is 1
    (all zeros where nothing is positive).
    """
    import keras
    import tensorflow as tf

    pool = model.get_layer("pool")
    features = keras.Model(model.inputs, pool.input)
    head = model.layers[model.layers.index(pool) :]
    x = tf.convert_to_tensor(images, tf.float32)
    index = tf.broadcast_to(tf.convert_to_tensor(class_index, tf.int32), [tf.shape(x)[0]])
    fmap = features(x, training=False)
    with tf.GradientTape() as tape:
        tape.watch(fmap)
        y = fmap
        for layer in head:
            y = layer(y, training=False)
        score = tf.gather(y, index, axis=1, batch_dims=1)
    grads = tape.gradient(score, fmap)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * tf.cast(fmap, weights.dtype), axis=-1))
    cam = tf.image.resize(cam[..., None], tf.shape(x)[1:3], method="bilinear")[..., 0]
    peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
    return tf.clip_by_value(tf.math.divide_no_nan(cam, peak), 0.0, 1.0).numpy()


def overlay(image: np.ndarray, cam: np.ndarray, strength: float = 0.45) -> np.ndarray:
    """uint8 image with the heatmap blended in (jet colours: red where the class score is most sensitive)."""
    import matplotlib

    colours = matplotlib.colormaps["jet"](cam)[..., :3]
    blended = (1 - strength) * image.astype(float) / 255 + strength * colours
    return (np.clip(blended, 0, 1) * 255).astype(np.uint8)


# --- pictures ---------------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    plt = _pyplot()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)


def _grid(rows: list[tuple[str, list[tuple[np.ndarray, str]]]], title: str, path: Path) -> None:
    """One row of captioned images per label; rows may be empty (the caption says so)."""
    plt = _pyplot()
    ncols = max([len(cells) for _, cells in rows] + [1])
    fig, axes = plt.subplots(len(rows), ncols, figsize=(1.9 * ncols + 1, 2.1 * len(rows)), squeeze=False)
    for r, (label, cells) in enumerate(rows):
        for c in range(ncols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(cells):
                ax.imshow(cells[c][0])
                ax.set_title(cells[c][1], fontsize=7)
        axes[r][0].text(-0.08, 0.5, label if cells else f"{label}\n(none)", transform=axes[r][0].transAxes,
                        ha="right", va="center", fontsize=9)
    fig.suptitle(title)
    _save(fig, path)


def _confusion_png(counts: np.ndarray, class_names: list[str], path: Path) -> None:
    plt = _pyplot()
    rows = counts.sum(axis=1, keepdims=True)
    normalized = np.divide(counts, rows, out=np.zeros_like(counts, dtype=float), where=rows > 0)
    size = max(4.0, 0.45 * len(class_names) + 2)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1, size))
    for ax, matrix, title, fmt in ((axes[0], counts, "counts", "d"), (axes[1], normalized, "row-normalized (recall)", ".2f")):
        ax.imshow(matrix, cmap="Blues", vmin=0)
        ax.set_title(title)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_xticks(range(len(class_names)), class_names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(class_names)), class_names, fontsize=7)
        if len(class_names) <= 20:
            top = matrix.max() or 1
            for (i, j), v in np.ndenumerate(matrix):
                ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=7, color="white" if v > top / 2 else "black")
    _save(fig, path)


def _aspect_png(table: pd.DataFrame, buckets: pd.DataFrame, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(buckets))
    ax.bar(x, buckets["count"], color="#9ecae1", label="images")
    ax.set_xticks(x, buckets["bucket"])
    ax.set_xlabel("original width / height")
    ax.set_ylabel("images")
    ax2 = ax.twinx()
    ax2.plot(x, buckets["accuracy"], "o-", color="#d62728", label="accuracy")
    for xi, (acc, n) in enumerate(zip(buckets["accuracy"], buckets["count"])):
        if n:
            ax2.annotate(f"{acc:.2f}", (xi, acc), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("accuracy")
    ax.set_title(f"accuracy by aspect ratio ({len(table)} images)")
    _save(fig, path)


# --- a run ------------------------------------------------------------------------------------------------


def _original_sizes(split) -> np.ndarray:
    """(width, height) per example: from the folder scan where known, else by decoding once."""
    if split.pool.sizes is not None:
        return split.pool.sizes[split.index]
    import tensorflow as tf

    shapes = split.images().map(lambda im: tf.shape(im)[:2], num_parallel_calls=tf.data.AUTOTUNE)
    return np.asarray([[w, h] for h, w in shapes.as_numpy_iterator()], dtype=np.int64).reshape(-1, 2)


def analyze_run(
    run_dir: Path, split_name: str = "val", *, top: int = 6, cams: int = 4, model=None, splits=None, record: dict | None = None
) -> dict[str, Any]:
    """Predict the split once with the run's model and write every table and picture under run_dir/analysis.

    At the end of a run (analysis=true) the caller passes its model, data and record; from the command
    line they are read back from the run directory.
    """
    import keras
    from omegaconf import OmegaConf

    from harness import data, models  # noqa: F401 - models registers the custom layers load_model needs

    run_dir = Path(run_dir)
    record = record or read_record(run_dir)
    if record is None:
        raise UserError(f"{run_dir} has no {RECORD}: not a run directory")
    if model is None:
        if not (run_dir / "model.keras").exists():
            raise UserError(f"{run_dir} has no model.keras; re-run it with analysis=true (or train.save_model=true)")
        model = keras.saving.load_model(run_dir / "model.keras")
    cfg = OmegaConf.create(record["config"])
    splits = splits or data.load_splits(cfg)
    split = getattr(splits, split_name)
    if split is None:
        raise UserError(f"run {run_dir.name} has no {split_name} split; use --split val")

    images = data.split_images(split, cfg)  # the bytes the model saw, decoded once (or not at all, when cached)
    probabilities = model.predict(images.astype(np.float32), batch_size=cfg.train.batch_size, verbose=0)
    table = prediction_table(probabilities, split.labels, splits.class_names, split.ids, _original_sizes(split))

    out = run_dir / ANALYSIS
    out.mkdir(exist_ok=True)
    table.to_parquet(out / "predictions.parquet", index=False)
    table.to_csv(out / "predictions.csv", index=False)
    chosen = select(table, top)
    chosen.to_csv(out / "selections.csv", index=False)
    for kind, title in KINDS.items():
        rows = []
        for name in splits.class_names:
            part = chosen[(chosen["kind"] == kind) & (chosen["class"] == name)]
            cells = [(images[r.row], f"p={r.probability:.2f}" + ("" if r.correct else f"\ntrue: {r.true}")) for r in part.itertuples()]
            rows.append((f"as {name}", cells))
        _grid(rows, f"{title} ({split_name}, {record['name']}/{record['run_name']})", out / f"{kind}.png")

    counts, per_class = confusion(table, splits.class_names)
    per_class.to_csv(out / "per_class.csv", index=False)
    pd.DataFrame(counts, index=splits.class_names, columns=splits.class_names).to_csv(out / "confusion_matrix.csv")
    _confusion_png(counts, splits.class_names, out / "confusion_matrix.png")
    buckets = by_aspect_ratio(table)
    buckets.to_csv(out / "aspect_ratio.csv", index=False)
    _aspect_png(table, buckets, out / "aspect_ratio.png")

    # Grad-CAM: per class, its most confident wrong predictions first, then its most confident correct ones.
    rows = []
    for name in splits.class_names:
        part = chosen[(chosen["class"] == name) & chosen["kind"].isin(["most_confident_wrong", "most_confident_correct"])]
        part = part.sort_values(["kind", "rank"], ascending=[False, True]).drop_duplicates("row").head(cams)
        picked = part["row"].to_numpy(dtype=int)
        cells = []
        if len(picked):
            maps = gradcam(model, images[picked].astype(np.float32), part["predicted_index"].to_numpy())
            cells = [(overlay(images[i], m), f"p={r.probability:.2f}" + ("" if r.correct else f" true: {r.true}"))
                     for i, m, r in zip(picked, maps, part.itertuples())]
        rows.append((f"as {name}", cells))
    _grid(rows, f"Grad-CAM for the predicted class ({split_name})", out / "gradcam.png")
    _tensorboard_images(run_dir / "tb" / ANALYSIS, out)
    summary = {"run": str(run_dir), "split": split_name, "images": len(table), "accuracy": float(table["correct"].mean())}
    log.info("analysis of %s: %d %s images, accuracy %.4f -> %s", run_dir, len(table), split_name, summary["accuracy"], out)
    return summary


def _tensorboard_images(log_dir: Path, out: Path) -> None:
    """The confusion matrix, aspect-ratio chart, grids and Grad-CAM as TensorBoard images (Images tab)."""
    import shutil

    from harness.tensorboard import image, write_events

    shutil.rmtree(log_dir, ignore_errors=True)  # re-analysing replaces, never duplicates
    write_events(log_dir, [(0, image(name, out / f"{name}.png")) for name in ("confusion_matrix", "aspect_ratio", "gradcam", *KINDS)])


# --- an experiment ----------------------------------------------------------------------------------------


def experiment_tables(exp_dir: Path) -> dict[str, pd.DataFrame]:
    """Per sweep value: accuracy per aspect-ratio bucket and per class, from every analysed run's predictions."""
    from harness.results import load_predictions

    predictions = load_predictions(exp_dir)
    if predictions.empty:
        return {}
    predictions = predictions.assign(bucket=aspect_bucket(predictions["aspect_ratio"]).astype(str))
    tables = {}
    for column, name in (("bucket", "accuracy_by_aspect_ratio"), ("true", "accuracy_by_class")):
        pivot = predictions.pivot_table(index=["run", "value"], columns=column, values="correct", aggfunc="mean", observed=True)
        if column == "bucket":
            pivot = pivot.reindex(columns=[b for b in BUCKET_LABELS if b in pivot.columns])
        counts = predictions.groupby(["run", "value"])["correct"].agg(images="size", accuracy="mean")
        tables[name] = counts.join(pivot).reset_index()
    out = Path(exp_dir) / ANALYSIS
    out.mkdir(exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(out / f"{name}.csv", index=False)
        (out / f"{name}.md").write_text(frame.to_markdown(index=False, floatfmt=".3f") + "\n")
    return tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.analyze", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="a run directory (with record.json) or an experiment directory")
    parser.add_argument("--split", choices=["val", "test"], default="val")
    parser.add_argument("--top", type=int, default=6, help="images per class in each of the three selections")
    parser.add_argument("--gradcam", type=int, default=4, help="Grad-CAM images per class")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = Path(args.path)
    try:
        if (path / RECORD).exists():
            analyze_run(path, args.split, top=args.top, cams=args.gradcam)
            return 0
        runs = sorted(p.parent for p in path.glob(f"*/{RECORD}"))
        if not runs:
            raise UserError(f"{path} holds no run (no */{RECORD}): give a run or an experiment directory")
        missing = [r.name for r in runs if not (r / "model.keras").exists()]
        for run_dir in runs:
            if run_dir.name not in missing:
                analyze_run(run_dir, args.split, top=args.top, cams=args.gradcam)
        if missing:
            log.warning("not analysed (no model.keras; re-run with analysis=true): %s", ", ".join(missing))
        for name, frame in experiment_tables(path).items():
            print(f"\n{name}:\n{frame.to_markdown(index=False, floatfmt='.3f')}")
        return 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
