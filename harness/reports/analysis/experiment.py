"""Analysis across an experiment: accuracy per aspect-ratio bucket and per class for every analysed run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.reports.analysis.tables import BUCKET_LABELS, aspect_bucket
from harness.reports.tables import load_predictions
from harness.storage.atomic import write_atomic

ANALYSIS = "analysis"


def experiment_tables(exp_dir: Path) -> dict[str, pd.DataFrame]:
    """Per sweep value: accuracy per aspect-ratio bucket and per class, from every analysed run's predictions."""
    predictions = load_predictions(exp_dir)
    if predictions.empty:
        return {}
    predictions = predictions.assign(bucket=aspect_bucket(predictions["aspect_ratio"]).astype(str))
    tables = {}
    for column, name in (("bucket", "accuracy_by_aspect_ratio"), ("true", "accuracy_by_class")):
        pivot = predictions.pivot_table(
            index=["run", "value"], columns=column, values="correct", aggfunc="mean", observed=True
        )
        if column == "bucket":
            pivot = pivot.reindex(columns=[b for b in BUCKET_LABELS if b in pivot.columns])
        counts = predictions.groupby(["run", "value"])["correct"].agg(images="size", accuracy="mean")
        tables[name] = counts.join(pivot).reset_index()
    out = Path(exp_dir) / ANALYSIS
    out.mkdir(exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(out / f"{name}.csv", index=False)
        write_atomic(out / f"{name}.md", frame.to_markdown(index=False, floatfmt=".3f") + "\n")
    return tables
