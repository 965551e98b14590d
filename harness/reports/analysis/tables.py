"""What a run predicted, as tables: one row per image, the chapter's three questions, confusion, aspect ratio.

Pure functions of arrays and tables, so they are tested on hand-made data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# width / height buckets, left-closed: a square photo is 0.95-1.05, a 4:3 landscape 1.05-1.4, a 3:2 one 1.4-1.8.
BUCKET_EDGES = [0.0, 0.75, 0.95, 1.05, 1.4, 1.8, np.inf]
BUCKET_LABELS = ["<0.75", "0.75-0.95", "0.95-1.05", "1.05-1.4", "1.4-1.8", ">=1.8"]
KINDS = {
    "most_confident_correct": "most confident correct",
    "least_confident": "least confident",
    "most_confident_wrong": "most confident wrong",
}


def prediction_table(
    probabilities: np.ndarray, labels: np.ndarray, class_names: list[str], ids: np.ndarray, sizes: np.ndarray
) -> pd.DataFrame:
    """One row per image: id, true and predicted class, their probabilities, correct, original width/height/ratio."""
    predicted = probabilities.argmax(axis=1)
    rows = np.arange(len(labels))
    names = np.asarray(class_names, dtype=object)
    sizes = np.asarray(sizes, dtype=float).reshape(-1, 2)
    return pd.DataFrame(
        {
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
        }
    )


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
    per_class = pd.DataFrame(
        {
            "class": class_names,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
            "accuracy": np.divide(np.diag(counts), support, out=np.full(len(labels), np.nan), where=support > 0),
        }
    )
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
