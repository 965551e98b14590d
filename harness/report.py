"""The end-of-sweep report for one experiment directory: tables, a plot, normalized TensorBoard views.

Runs as Hydra's multirun-end callback (`SweepReport`) and on its own: `python -m harness.report results/<name>`.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from harness.analyze.experiment import experiment_tables
from harness.atomic import replacing, write_atomic
from harness.records import INCOMPLETE
from harness.results import load_history, load_table
from harness.tensorboard import scalar, write_events

log = logging.getLogger(__name__)


def value_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per value of the knob: mean ± std over seeds of normalized and raw best accuracy, and seconds per epoch."""
    table = table.assign(value=table["value"].astype(str))
    grouped = table.groupby("value", sort=False)
    summary = pd.DataFrame(
        {
            "runs": grouped.size(),
            "completed": grouped["status"].apply(lambda s: int((s == "completed").sum())),
            "normalized_accuracy_mean": grouped["normalized_accuracy"].mean(),
            "normalized_accuracy_std": grouped["normalized_accuracy"].std(ddof=0),
            "best_val_accuracy_mean": grouped["best_val_accuracy"].mean(),
            "best_val_accuracy_std": grouped["best_val_accuracy"].std(ddof=0),
            "best_epoch_mean": grouped["best_epoch"].mean(),
            "seconds_per_epoch_mean": grouped["seconds_per_epoch"].mean(),
            "statuses": grouped["status"].apply(lambda s: ",".join(sorted(set(s)))),
        }
    )
    return summary.reset_index()


def _plot(table: pd.DataFrame, history: pd.DataFrame, summary: pd.DataFrame, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curves, bars, speed) = plt.subplots(1, 3, figsize=(16, 4.8), gridspec_kw={"width_ratios": [2, 1.2, 1.2]})
    history = history.assign(value=history["value"].astype(str))
    for value, rows in history.groupby("value", sort=False):
        status = ",".join(sorted(set(rows["status"])))
        per_epoch = rows.groupby("epoch")["normalized_val_accuracy"].agg(["mean", "std"])
        failed = status != "completed"
        label = f"{value}" + (f" ({status})" if failed else "")
        line = curves.plot(per_epoch.index, per_epoch["mean"], marker="o", ms=3, ls="--" if failed else "-", label=label)[0]
        if rows["seed"].nunique() > 1:
            curves.fill_between(per_epoch.index, per_epoch["mean"] - per_epoch["std"], per_epoch["mean"] + per_epoch["std"],
                                color=line.get_color(), alpha=0.15)
    curves.set(xlabel="epoch", ylabel="val accuracy / best run's best", title="normalized val accuracy per epoch")
    curves.grid(alpha=0.3)
    curves.legend(title=str(table["sweep"].iloc[0] or "run"), fontsize=8)

    labels = summary["value"].astype(str)
    x = np.arange(len(summary))
    colors = ["tab:blue" if c == r else "tab:red" for c, r in zip(summary["completed"], summary["runs"])]
    bars.bar(x, summary["normalized_accuracy_mean"].fillna(0), yerr=summary["normalized_accuracy_std"].fillna(0), color=colors, capsize=3)
    for xi, (value, statuses) in enumerate(zip(summary["normalized_accuracy_mean"], summary["statuses"])):
        bars.text(xi, (0 if np.isnan(value) else value) + 0.02, "n/a" if np.isnan(value) else f"{value:.3f}", ha="center", fontsize=8)
    bars.set(xticks=x, ylim=(0, 1.15), ylabel="best normalized accuracy", title="accuracy (red: some runs did not complete)")
    bars.set_xticklabels(labels, rotation=30, ha="right")
    speed.bar(x, summary["seconds_per_epoch_mean"].fillna(0), color="tab:gray")
    speed.set(xticks=x, ylabel="seconds per epoch", title="convergence speed")
    speed.set_xticklabels(labels, rotation=30, ha="right")
    fig.suptitle(title)
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def _tensorboard(exp_dir: Path, table: pd.DataFrame, history: pd.DataFrame) -> None:
    """Normalized curves under each run's tb/normalized (so runs overlay on one chart) and the HParams columns."""
    from tensorboard.plugins.hparams import summary_v2 as hp

    for row in table.itertuples():
        log_dir = Path(row.path) / "tb" / "normalized"
        shutil.rmtree(log_dir, ignore_errors=True)  # a report re-run replaces, never duplicates
        runs = history[history["run"] == row.run] if not history.empty else history
        events = [
            (int(epoch), scalar("normalized_val_accuracy", value))
            for epoch, value in zip(runs.get("epoch", []), runs.get("normalized_val_accuracy", []))
            if np.isfinite(value)
        ]
        if np.isfinite(row.normalized_accuracy):
            events.append((0, scalar("normalized_accuracy", row.normalized_accuracy)))
        write_events(log_dir, events)

    knob_key = next((k for k in table.get("config_key", []) if isinstance(k, str)), None)
    first = [k for k in (knob_key, "value", "train.seed", "status") if k]
    hparams = [hp.HParam(k) for k in first]
    metrics = [
        hp.Metric("normalized_accuracy", group="normalized", display_name="normalized accuracy"),
        hp.Metric("best_val_accuracy", display_name="best val accuracy"),
        hp.Metric("test_accuracy", display_name="test accuracy"),
        hp.Metric("epoch_accuracy", group="validation", display_name="val accuracy (last epoch)"),
    ]
    config_dir = exp_dir / "hparams"
    shutil.rmtree(config_dir, ignore_errors=True)
    write_events(config_dir, [(0, hp.hparams_config_pb(hparams=hparams, metrics=metrics))])


def write_report(exp_dir: Path) -> dict[str, Any]:
    """Write summary.csv, summary.md, normalized_accuracy.png and TensorBoard views; return the status counts."""
    exp_dir = Path(exp_dir)
    table = load_table(exp_dir)
    counts = {s: int((table["status"] == s).sum()) for s in ("completed", *INCOMPLETE)} if len(table) else {}
    outcome: dict[str, Any] = {"experiment": str(exp_dir), "runs": len(table), **counts}
    outcome["incomplete"] = sum(counts.get(s, 0) for s in INCOMPLETE)
    if table.empty:
        print(f"sweep {exp_dir.name}: no runs recorded", flush=True)
        return outcome
    history = load_history(exp_dir)
    summary = value_summary(table)
    columns = [c for c in ["run", "value", "seed", "status", "normalized_accuracy", "best_val_accuracy", "test_accuracy",
                           "best_epoch", "epochs_run", "seconds_per_epoch", "error"] if c in table]
    write_atomic(exp_dir / "summary.csv", table.to_csv(index=False))
    knob = table["sweep"].dropna().iloc[0] if table["sweep"].notna().any() else "run"
    best = pd.to_numeric(table["best_val_accuracy"][table["status"] == "completed"], errors="coerce").max()
    markdown = (
        f"# {exp_dir.name}\n\nknob: `{knob}`; normalized accuracy = best val accuracy / best completed run's "
        f"({'none completed' if pd.isna(best) else f'{best:.4f}'})\n\n"
        f"## Per value\n\n{summary.to_markdown(index=False, floatfmt='.4f')}\n\n"
        f"## Runs\n\n{table[columns].to_markdown(index=False, floatfmt='.4f')}\n"
    )
    write_atomic(exp_dir / "summary.md", markdown)
    _plot(table, history, summary, f"{exp_dir.name}: {knob}", exp_dir / "normalized_accuracy.png")
    try:
        _tensorboard(exp_dir, table, history)
    except Exception:  # the tables and plot are written; TensorBoard extras must not lose them
        log.exception("could not write the TensorBoard views for %s", exp_dir)
    if any(exp_dir.glob("*/analysis/predictions.parquet")):  # runs made with analysis=true
        experiment_tables(exp_dir)
    not_done = ", ".join(f"{s}: {counts[s]}" for s in INCOMPLETE if counts.get(s))
    line = f"sweep {exp_dir.name}: {len(table)} runs, {counts.get('completed', 0)} completed"
    line += f", {outcome['incomplete']} did not complete ({not_done})" if outcome["incomplete"] else ", all completed"
    print(f"summary: {exp_dir / 'summary.md'}\n{line}", flush=True)
    return outcome


class SweepReport(Callback):
    """Hydra callback: when a multirun ends, normalize the experiment and write its tables, plot and TB views."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        write_report(Path(config.hydra.sweep.dir))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.report", description=__doc__)
    parser.add_argument("experiment", type=Path, help="an experiment directory: results/<name>")
    args = parser.parse_args(argv)
    if not args.experiment.is_dir():
        print(f"not a directory: {args.experiment}", file=sys.stderr)
        return 2
    outcome = write_report(args.experiment)
    return 1 if outcome["incomplete"] else 0


if __name__ == "__main__":
    sys.exit(main())
