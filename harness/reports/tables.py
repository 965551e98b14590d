"""Results as pandas: one row per run (`load_table`) or per run and epoch (`load_history`).

Reads any results directory — one run, one experiment or many — from the record.json files alone, and
normalizes each run's best val accuracy to the best completed run of its experiment.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.config.identity import HYPERPARAMETER_SECTIONS, canonical
from harness.records.record import (
    HISTORY_KEYS,
    RECORD,
    RunRecord,
    Status,
    hyperparameters,
    read_record,
    record_files,
    varied,
)

# `sweep` holds the sweep's name (learning_rate), `config_key` the key it varies (train.learning_rate).
LEAD_COLUMNS = [
    "name",
    "run",
    "sweep",
    "config_key",
    "value",
    "label",
    "seed",
    "status",
    "normalized_accuracy",
    "best_val_accuracy",
    "final_val_accuracy",
    "test_accuracy",
    "normalized_test_accuracy",
    "test_balanced_accuracy",
    "test_macro_f1",
    "val_balanced_accuracy",
    "val_macro_f1",
    "chance",
    "above_chance",
    "best_epoch",
    "epochs_to_95pct",
    "epochs_to_99pct",
    "epochs_run",
    "seconds_per_epoch",
    "wall_seconds",
    "total_seconds",
    "error",
]
# What `python -m harness.export` shows unless asked for --columns all.
CONCISE_COLUMNS = (
    "name run value seed status normalized_accuracy best_val_accuracy test_accuracy above_chance best_epoch "
    "epochs_to_95pct seconds_per_epoch total_seconds"
).split()
CONFIDENCE = 0.95
HISTORY_COLUMNS = list(HISTORY_KEYS)


def iter_records(path: str | Path) -> Iterator[tuple[Path, RunRecord]]:
    """(run directory, record) for every readable record under path (or path itself if it is a run)."""
    path = Path(path)
    candidates = [path / RECORD] if (path / RECORD).exists() else record_files(path)
    for file in candidates:
        record = read_record(file.parent)
        if record is not None:
            yield file.parent, record


def _row(run_dir: Path, record: RunRecord) -> dict[str, Any]:
    sweep, config = record.sweep, record.config or {}
    row = {
        "name": record.name,
        "run": record.run_name or run_dir.name,
        "sweep": sweep.name,
        "config_key": sweep.knob,
        "value": sweep.value,
        "label": varied(record)[1],
        "seed": config.get("train", {}).get("seed"),
        "status": str(record.status),
        "error": record.error,
        "normalized_accuracy": np.nan,
        "normalized_test_accuracy": np.nan,
        "copied_from": record.copied_from,
        "baseline": sweep.baseline,
        "report_metric": ((config.get("report") or {}).get("metric")) or "accuracy",
        "search_algorithm": (config.get("tuner") or {}).get("algorithm"),  # a search's trial: which search made it
    }
    for key in (
        "best_val_accuracy",
        "final_val_accuracy",
        "test_accuracy",
        "test_balanced_accuracy",
        "test_macro_f1",
        "val_balanced_accuracy",
        "val_macro_f1",
        "best_epoch",
        "epochs_run",
        "seconds_per_epoch",
        "wall_seconds",
        "total_seconds",
    ):
        value = getattr(record, key)
        row[key] = np.nan if value is None else value
    row.update(_chance(record))
    curve = record.history.get("val_accuracy") or []
    row["epochs_to_95pct"], row["epochs_to_99pct"] = epochs_to(curve, 0.95), epochs_to(curve, 0.99)
    row.update(
        {
            "num_train": record.num_train,
            "num_val": record.num_val,
            "num_test": record.num_test,
            "test_correct": record.test_correct,
            "config_hash": record.config_hash,
        }
    )
    row.update(_cost(record))
    row.update(_dataset(record))
    row.update({k: str(v) if isinstance(v, list) else v for k, v in hyperparameters(config).items()})
    row["path"] = str(run_dir)
    return row


COST_COLUMNS = ("macs", "weights_mb", "latency_ms", "latency_p90_ms", "images_per_second", "cost_cpu")


def _cost(record: RunRecord) -> dict[str, Any]:
    """The record's inference cost as columns (NaN for a record of a version that did not measure it)."""
    cost = record.cost
    numbers = {c: getattr(cost, c) if cost is not None else None for c in COST_COLUMNS[:-1]}
    return {**{k: np.nan if v is None else v for k, v in numbers.items()}, "cost_cpu": cost.cpu if cost else None}


DATASET_COLUMNS = ("imbalance", "shared_images", "dropped_images")


def _dataset(record: RunRecord) -> dict[str, Any]:
    """The data report's numbers to filter on: the largest-to-smallest training class ratio, val/test images with a
    copy in an earlier split, and those dataset.duplicates=drop left out (NaN where not checked or not recorded)."""
    report = record.dataset
    if report is None:
        return dict.fromkeys(DATASET_COLUMNS, np.nan)
    checked = report.duplicates != "off"
    return {
        "imbalance": np.nan if report.imbalance is None else report.imbalance,
        "shared_images": sum(report.shared.values()) if checked else np.nan,
        "dropped_images": len(report.dropped) if checked else np.nan,
    }


def epochs_to(curve: list, fraction: float) -> float:
    """Convergence speed: the first epoch (1-based) whose val accuracy reaches `fraction` of the run's best."""
    values = np.array([np.nan if v is None else v for v in curve], dtype=float)
    if not np.isfinite(values).any():
        return np.nan
    return float(np.argmax(values >= fraction * np.nanmax(values)) + 1)


def _chance(record: RunRecord) -> dict[str, Any]:
    """Chance accuracy (1 / classes) and whether the best val accuracy is clearly above it: more than two
    binomial standard errors of a chance-level guesser on this many val images."""
    classes, n_val, best = record.num_classes, record.num_val, record.best_val_accuracy
    if not classes:
        return {"chance": np.nan, "above_chance": None}
    chance = 1 / classes
    if best is None or not n_val:
        return {"chance": chance, "above_chance": None}
    return {"chance": chance, "above_chance": bool(best > chance + 2 * np.sqrt(chance * (1 - chance) / n_val))}


# What each report.metric compares: (on val, on test).
METRICS = {
    "accuracy": ("best_val_accuracy", "test_accuracy"),
    "balanced_accuracy": ("val_balanced_accuracy", "test_balanced_accuracy"),
}


def metric_columns(table: pd.DataFrame) -> tuple[str, str]:
    """(val column, test column) of the report.metric the table's runs were made with (the newest choice where
    they differ; accuracy for records made before the knob)."""
    chosen = table["report_metric"].dropna() if "report_metric" in table else pd.Series(dtype=object)
    return METRICS.get(chosen.iloc[-1] if len(chosen) else "accuracy", METRICS["accuracy"])


def normalize(table: pd.DataFrame) -> pd.DataFrame:
    """normalized_accuracy = best_val_accuracy / the best completed run's of the same experiment, and
    normalized_test_accuracy the same for test accuracy; with report.metric=balanced_accuracy, of the val and test
    balanced accuracies instead.

    Diverged, failed and unfinished runs are left out of the maximum and get NaN.
    """
    table = table.copy()
    completed = table["status"] == Status.COMPLETED
    val, test = metric_columns(table)
    for metric, column in ((val, "normalized_accuracy"), (test, "normalized_test_accuracy")):
        values = pd.to_numeric(table[metric], errors="coerce")
        denominator = table["name"].map(values[completed].groupby(table["name"]).max())
        table[column] = np.where(completed & (denominator > 0), values / denominator, np.nan)
    return table


def _sort_key(values: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    return numeric.where(numeric.notna(), np.inf) if numeric.notna().any() else values.astype(str)


def load_table(path: str | Path) -> pd.DataFrame:
    """One row per run under `path`: identity, status, accuracies, normalized accuracy, timings, every hyperparameter."""
    rows = [_row(run_dir, record) for run_dir, record in iter_records(path)]
    if not rows:
        return pd.DataFrame(columns=LEAD_COLUMNS)
    table = normalize(pd.DataFrame(rows))
    table = table.sort_values(["name", "value", "seed", "run"], key=_sort_key, kind="stable").reset_index(drop=True)
    rest = [c for c in table.columns if c not in LEAD_COLUMNS]
    return table[LEAD_COLUMNS + rest]


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per (experiment, sweep, value): how many runs and how many completed, how many distinct seeds have a
    result, then for the normalized, best-val and test accuracy the mean, the standard deviation over seeds
    (ddof=1) and a 95% t interval of the mean — std and interval empty where one seed has a result — and the
    mean convergence speed."""
    from scipy import stats

    # canonical: a null value (samples_per_class=null, stored as NaN beside numbers) is a value too, "null"
    table = table.assign(
        value=table["value"].map(lambda v: canonical(None) if pd.isna(v) else str(v)),
        sweep=table["sweep"].fillna("run"),
    )
    keys = ["name", "sweep", "value"]
    grouped = table.groupby(keys, sort=False, dropna=False)
    out = grouped.agg(
        runs=("status", "size"),
        completed=("status", lambda s: int((s == Status.COMPLETED).sum())),
        statuses=("status", lambda s: ",".join(sorted(set(s)))),
    )
    metrics = ["normalized_accuracy", "best_val_accuracy", "test_accuracy", "normalized_test_accuracy"]
    # Spreads and intervals are over seeds: runs of one value with the same seed (a search that tried the same
    # values twice) are one observation, not independent repeats.
    per_seed = (
        table.assign(seed=table["seed"].fillna(-1)).groupby([*keys, "seed"], sort=False, dropna=False)[metrics].mean()
    )
    by_seed = per_seed.reset_index().groupby(keys, sort=False, dropna=False)
    out["seeds"] = by_seed["best_val_accuracy"].count()
    for metric in metrics:
        values = by_seed[metric]
        n, mean, std = values.count(), values.mean(), values.std(ddof=1)
        half = pd.Series(stats.t.ppf(0.5 + CONFIDENCE / 2, np.maximum(n - 1, 1)), index=n.index) * std / np.sqrt(n)
        half = half.where(n > 1)
        out[f"{metric}_mean"], out[f"{metric}_std"] = mean, std.where(n > 1)
        out[f"{metric}_ci_low"], out[f"{metric}_ci_high"] = mean - half, mean + half
    for column in ("best_epoch", "epochs_to_95pct", "epochs_to_99pct", "seconds_per_epoch", "chance"):
        out[f"{column}_mean"] = grouped[column].mean()
    out["above_chance"] = grouped["above_chance"].agg(lambda s: bool(s.dropna().all()) if s.notna().any() else None)
    if "baseline" in table:
        out["baseline"] = grouped["baseline"].agg(lambda s: bool(s.fillna(False).astype(bool).any()))
    return out.reset_index()


HYPERPARAMETER_PREFIXES = tuple(f"{section}." for section in ("dataset", *HYPERPARAMETER_SECTIONS))


def trial_table(table: pd.DataFrame) -> pd.DataFrame:
    """A search's trials side by side (`load_table`'s rows with sweep `tuner`): one row per trial (`trial=003`;
    its executions averaged), its runs, statuses and accuracies, then every hyperparameter that differs between
    trials (the seed aside), under its last name where that is unambiguous (`model.head.dropout` as `dropout`).
    What a search's plot labels `trial=003` stands for."""
    trials = table[table["sweep"] == "tuner"]
    if trials.empty:
        return pd.DataFrame()
    keys = [
        c
        for c in trials.columns
        if c.startswith(HYPERPARAMETER_PREFIXES) and c != "train.seed" and trials[c].astype(str).nunique() > 1
    ]
    grouped = trials.groupby("label", sort=True)
    out = pd.DataFrame(
        {
            "trial": list(grouped.groups),
            "runs": grouped.size().to_numpy(),
            "statuses": grouped["status"].agg(lambda s: ",".join(sorted(set(s)))).to_numpy(),
        }
    )
    for metric in ("normalized_accuracy", "best_val_accuracy", "test_accuracy"):
        out[metric] = grouped[metric].mean().to_numpy()
    last = [k.split(".")[-1] for k in keys]
    for key, name in zip(keys, last):
        out[name if last.count(name) == 1 else key] = grouped[key].first().to_numpy()
    return out


def load_history(path: str | Path) -> pd.DataFrame:
    """One row per run and epoch, with val accuracy normalized to the experiment's best run (as in load_table)."""
    table = load_table(path)
    best = table[table["status"] == Status.COMPLETED].groupby("name")["best_val_accuracy"].max()
    frames = []
    for run_dir, record in iter_records(path):
        history = record.history
        if not history.get("epoch"):
            continue
        frame = pd.DataFrame({k: history.get(k) for k in ["epoch", *HISTORY_COLUMNS] if k in history})
        frame.insert(0, "status", str(record.status))
        frame.insert(0, "seed", (record.config or {}).get("train", {}).get("seed"))
        frame.insert(0, "value", record.sweep.value)
        frame.insert(0, "sweep", record.sweep.name)
        frame.insert(0, "run", record.run_name or run_dir.name)
        frame.insert(0, "name", record.name)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["name", "run", "sweep", "value", "seed", "status", "epoch", *HISTORY_COLUMNS])
    history = pd.concat(frames, ignore_index=True)
    for column in HISTORY_COLUMNS:
        if column in history:
            history[column] = pd.to_numeric(history[column], errors="coerce")
    history["normalized_val_accuracy"] = history["val_accuracy"] / history["name"].map(best)
    return history.sort_values(["name", "value", "seed", "run", "epoch"], key=_sort_key, kind="stable").reset_index(
        drop=True
    )


def load_predictions(path: str | Path) -> pd.DataFrame:
    """Per-image predictions of every analysed run under path (a run or an experiment), one row per image.

    Columns: `run`, `value` (the sweep value), then those of analysis/predictions.parquet: `id`, `true`,
    `predicted`, `true_index`, `predicted_index`, `probability`, `probability_true`, `correct`, `width`,
    `height`, `aspect_ratio`. Empty when no run has been analysed (python -m harness.analyze PATH).
    """
    frames = []
    for run_dir, record in iter_records(path):
        file = run_dir / "analysis" / "predictions.parquet"
        if file.exists():
            frame = pd.read_parquet(file)
            frame.insert(0, "value", str(record.sweep.value))
            frame.insert(0, "run", record.run_name or run_dir.name)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
