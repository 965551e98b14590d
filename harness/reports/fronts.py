"""Accuracy against inference cost: which of an experiment's values are on the Pareto front, and the most
accurate one within a budget (report.latency_budget_ms, report.size_budget_mb), judged against the runner-up
as a study judges a finding: paired over seeds, with a 95 % interval.

Shown wherever an experiment's values differ in what they cost (MACs or weights: a sweep over backbone, image
size or alpha, or any multirun grid); a learning-rate sweep, whose runs all cost the same, has no front.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from harness.records.record import Status
from harness.reports.compare import compare, scores
from harness.reports.tables import summarize
from harness.storage.atomic import replacing

COSTS = ("latency_ms", "latency_p90_ms", "images_per_second", "macs", "weights_mb")
# Values whose MACs or weights differ by less than this share cost the same (a head's rounding, not a model).
SAME_COST = 0.01


@dataclass(frozen=True)
class Budget:
    latency_ms: Optional[float] = None
    size_mb: Optional[float] = None

    def fits(self, latency_ms: float, size_mb: float) -> bool:
        return (self.latency_ms is None or latency_ms <= self.latency_ms) and (
            self.size_mb is None or size_mb <= self.size_mb
        )

    def words(self) -> str:
        parts = [f"{self.latency_ms:g} ms per image" if self.latency_ms is not None else "", ""]
        parts[1] = f"{self.size_mb:g} MB" if self.size_mb is not None else ""
        return " and ".join(p for p in parts if p) or "no budget"


def metric_of(table: pd.DataFrame) -> str:
    """Test accuracy where every completed run has one (data that did not choose the epoch), else best val."""
    completed = table[table["status"] == Status.COMPLETED]
    has_test = len(completed) and pd.to_numeric(completed["test_accuracy"], errors="coerce").notna().all()
    return "test_accuracy" if has_test else "best_val_accuracy"


def per_value(table: pd.DataFrame) -> pd.DataFrame:
    """One row per value of the completed runs with a cost: the accuracy as `summarize` gives it (mean and std
    over seeds), and the median of the runs' latencies, images per second, MACs and weights."""
    metric = metric_of(table)
    done = table[(table["status"] == Status.COMPLETED) & pd.to_numeric(table["macs"], errors="coerce").notna()]
    if done.empty:
        return pd.DataFrame()
    done = done.assign(value=done["value"].astype(str))
    accuracy = summarize(done).set_index("value")
    costs = done.groupby("value", sort=False)[list(COSTS)].median()
    out = (
        pd.DataFrame(
            {
                "seeds": accuracy["seeds"],
                "accuracy": accuracy[f"{metric}_mean"],
                "accuracy_std": accuracy[f"{metric}_std"],
            }
        )
        .join(costs)
        .rename_axis("value")
        .reset_index()
    )
    out.attrs["metric"] = metric
    return out


def costs_differ(values: pd.DataFrame) -> bool:
    """Whether the values cost different amounts to run (MACs or weights apart by more than SAME_COST)."""
    if len(values) < 2:
        return False
    for column in ("macs", "weights_mb"):
        spread = pd.to_numeric(values[column], errors="coerce").dropna()
        if len(spread) > 1 and spread.min() > 0 and spread.max() / spread.min() - 1 > SAME_COST:
            return True
    return False


def pareto(accuracy: pd.Series, cost: pd.Series) -> pd.Series:
    """True where no other row is at least as accurate and at most as costly, and better in one of the two
    (rows equal in both are both on the front; a row without a cost or accuracy is on none)."""
    a, c = accuracy.to_numpy(dtype=float), cost.to_numpy(dtype=float)
    known = np.isfinite(a) & np.isfinite(c)
    on = known.copy()
    for i in np.flatnonzero(known):
        others = known & (a >= a[i]) & (c <= c[i]) & ((a > a[i]) | (c < c[i]))
        on[i] = not others.any()
    return pd.Series(on, index=accuracy.index)


def answer(table: pd.DataFrame, values: pd.DataFrame, budget: Budget) -> str:
    """The most accurate value within the budget, against the runner-up within it (paired over seeds), or that
    none fits and what the cheapest costs."""
    if values.empty:
        return "no completed run has a cost to compare"
    latency = values["latency_ms"].fillna(np.inf) if budget.latency_ms is not None else values["latency_ms"]
    fits = values[[budget.fits(lat, mb) for lat, mb in zip(latency, values["weights_mb"])]]
    if fits.empty:
        cheapest = values.sort_values(["latency_ms", "weights_mb"], na_position="last").iloc[0]
        return (
            f"no run fits {budget.words()}: the cheapest is {cheapest['value']} at {_cost_words(cheapest)} "
            f"(accuracy {cheapest['accuracy']:.3f})"
        )
    ranked = fits.sort_values(["accuracy", "latency_ms"], ascending=[False, True])
    best = ranked.iloc[0]
    head = (
        f"most accurate within {budget.words()}: {best['value']} ({values.attrs.get('metric', 'accuracy').replace('_', ' ')} "
        f"{best['accuracy']:.3f}, {_cost_words(best)})"
    )
    if len(ranked) == 1:
        return head + "; no other run fits"
    runner = ranked.iloc[1]
    rows = scores(table.assign(value=table["value"].astype(str)), values.attrs.get("metric", "test_accuracy"))
    result = compare(rows, [best["value"]], [runner["value"]])
    against = f"; against the runner-up {runner['value']} ({_cost_words(runner)}): {result.text(percent=True)}"
    if result.decides and result.low <= 0:
        cheaper = min((best, runner), key=lambda r: (r["latency_ms"], r["weights_mb"]))
        against += f", no clear difference: the cheaper {cheaper['value']} is as good at this noise level"
    elif result.decides:
        against += ", clearly more accurate"
    return head + against


def _cost_words(row: pd.Series) -> str:
    latency = "latency not measured" if pd.isna(row["latency_ms"]) else f"{row['latency_ms']:.2f} ms"
    return f"{latency}, {row['weights_mb']:.2f} MB, {row['macs'] / 1e6:.1f} MMACs"


def table_markdown(values: pd.DataFrame) -> str:
    """The per-value accuracy and cost table, front marked, as summary.md shows it."""
    shown = pd.DataFrame(
        {
            "value": values["value"],
            "seeds": values["seeds"],
            values.attrs.get("metric", "accuracy").replace("_", " "): [
                f"{m:.4f}" + (f" ± {s:.4f}" if pd.notna(s) else "")
                for m, s in zip(values["accuracy"], values["accuracy_std"])
            ],
            "ms/image (p90)": [
                "" if pd.isna(m) else f"{m:.2f} ({p:.2f})"
                for m, p in zip(values["latency_ms"], values["latency_p90_ms"])
            ],
            "images/s (batch 32)": values["images_per_second"].map(lambda v: "" if pd.isna(v) else f"{v:.0f}"),
            "MMACs": (values["macs"] / 1e6).map(lambda v: f"{v:.1f}"),
            "weights MB": values["weights_mb"].map(lambda v: f"{v:.2f}"),
            "front (latency)": values["front_latency"].map({True: "yes", False: ""}),
            "front (size)": values["front_size"].map({True: "yes", False: ""}),
        }
    )
    return shown.to_markdown(index=False)


def with_fronts(values: pd.DataFrame) -> pd.DataFrame:
    out = values.assign(
        front_latency=pareto(values["accuracy"], values["latency_ms"]),
        front_size=pareto(values["accuracy"], values["weights_mb"]),
    )
    out.attrs.update(values.attrs)
    return out


def plot(values: pd.DataFrame, budget: Budget, title: str, path: Path, label=str) -> None:
    """Accuracy against ms per image and against weights MB, one point per value (error bar: std over seeds;
    named by `label(value)`), the front joined, budgets as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    metric = values.attrs.get("metric", "accuracy").replace("_", " ")
    for ax, column, front, axis_label, limit in (
        (axes[0], "latency_ms", "front_latency", "ms per image (batch 1, median; this CPU)", budget.latency_ms),
        (axes[1], "weights_mb", "front_size", "weights MB (float32)", budget.size_mb),
    ):
        shown = values[values[column].notna()]
        ax.errorbar(
            shown[column], shown["accuracy"], yerr=shown["accuracy_std"].fillna(0), fmt="o", color="tab:gray", ms=5
        )
        on = shown[shown[front]].sort_values(column)
        ax.plot(on[column], on["accuracy"], "-o", color="tab:blue", label="Pareto front")
        for _, row in shown.iterrows():
            ax.annotate(
                label(row["value"]),
                (row[column], row["accuracy"]),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
        if limit is not None:
            ax.axvline(limit, color="tab:red", ls="--", lw=1, label="budget")
        ax.set(xlabel=axis_label, ylabel=metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def budget_of(paths: list[str]) -> Budget:
    """The budget the experiment's newest record was run with (its config's `report` section)."""
    from harness.records.record import read_record

    found = [read_record(Path(p)) for p in paths]
    found = [r for r in found if r is not None]
    if not found:
        return Budget()
    newest = max(found, key=lambda r: r.finished_at or r.started_at or "")
    section = (newest.config or {}).get("report") or {}
    return Budget(section.get("latency_budget_ms"), section.get("size_budget_mb"))
