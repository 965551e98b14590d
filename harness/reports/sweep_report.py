"""The end-of-sweep report for one experiment directory: tables, a plot, normalized TensorBoard views.

Runs as Hydra's multirun-end callback (harness.multirun.report_callback.SweepReport) and on its own: `python -m harness.report results/<name>`.
"""

from __future__ import annotations

import argparse
import logging
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.data.inspection import concerns
from harness.errors import ArgumentParser
from harness.process import stopping
from harness.records.hparams import compare_lines, write_hparams_experiment
from harness.records.planned import not_started, planned_runs
from harness.records.record import INCOMPLETE, RECORD, Status, is_record_file
from harness.records.tensorboard import scalar, write_events
from harness.reports import fronts
from harness.reports.analysis.experiment import experiment_tables
from harness.reports.compare import MIN_SEEDS
from harness.reports.tables import iter_records, load_history, load_table, summarize, trial_table
from harness.storage import claims
from harness.storage.atomic import disk_full, no_space, remove_temporaries, replacing, write_atomic

log = logging.getLogger(__name__)


def value_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per value of one experiment's knob: harness.reports.tables.summarize without the experiment's columns."""
    return summarize(table).drop(columns=["name", "sweep"])


FAILED = tuple(s for s in Status if s.finished and not s.scored)  # ended of its own, with no score


def _number(value: float, digits: int = 4) -> str:
    return "" if pd.isna(value) else f"{value:.{digits}f}"


def per_value_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The per-value summary as a reader wants it: mean, 95% interval over seeds (empty for one seed),
    whether it beats chance, and convergence speed."""
    interval = [
        f"[{_number(lo, 3)}, {_number(hi, 3)}]" if pd.notna(lo) else ""
        for lo, hi in zip(summary["normalized_accuracy_ci_low"], summary["normalized_accuracy_ci_high"])
    ]
    spread = [
        f"{_number(m)} ± {_number(s)}" if pd.notna(s) else _number(m)
        for m, s in zip(summary["best_val_accuracy_mean"], summary["best_val_accuracy_std"])
    ]
    test = [
        f"{_number(m)} ± {_number(s)}" if pd.notna(s) else _number(m)
        for m, s in zip(summary["test_accuracy_mean"], summary["test_accuracy_std"])
    ]
    chance = ["" if c is None else "yes" if c else "no (chance level)" for c in summary["above_chance"]]
    marked = summary["baseline"] if "baseline" in summary else pd.Series(False, index=summary.index)
    shown = [f"{v} (baseline)" if b else str(v) for v, b in zip(summary["value"], marked.fillna(False))]
    return pd.DataFrame(
        {
            "value": shown,
            "runs": summary["runs"],
            "seeds": summary["seeds"],
            "completed": summary["completed"],
            "normalized accuracy": summary["normalized_accuracy_mean"].map(_number),
            "95% interval": interval,
            "best val accuracy (± std)": spread,
            "test accuracy (± std)": test,
            "above chance": chance,
            "epochs to 95% of best": summary["epochs_to_95pct_mean"].map(lambda v: _number(v, 1)),
            "s/epoch": summary["seconds_per_epoch_mean"].map(lambda v: _number(v, 1)),
            "statuses": summary["statuses"],
        }
    )


def _accuracy_bars(bars, summary: pd.DataFrame, x: np.ndarray) -> None:
    """Normalized best val accuracy per value, and normalized test accuracy beside it where there is a test
    split, each with its 95% interval over seeds; red where a run failed or diverged."""
    broken = [any(s in FAILED for s in statuses.split(",")) for statuses in summary["statuses"]]
    with_test = bool(summary["normalized_test_accuracy_mean"].notna().any())
    metrics = [("normalized_accuracy", "best val", "tab:blue")] + (
        [("normalized_test_accuracy", "test", "tab:purple")] if with_test else []
    )
    width = 0.8 / len(metrics)
    spread = False
    for k, (metric, label, color) in enumerate(metrics):
        mean = summary[f"{metric}_mean"]
        error = np.vstack([mean - summary[f"{metric}_ci_low"], summary[f"{metric}_ci_high"] - mean])
        spread = spread or bool(np.isfinite(error).any())
        at = x + (k - (len(metrics) - 1) / 2) * width
        bars.bar(
            at,
            mean.fillna(0),
            width,
            yerr=np.nan_to_num(error) if np.isfinite(error).any() else None,
            capsize=3,
            color=["tab:red" if b else color for b in broken],
            label=label,
        )
        for xi, value in zip(at, mean):
            bars.text(
                xi,
                (0 if np.isnan(value) else value) + 0.02,
                "n/a" if np.isnan(value) else f"{value:.2f}",
                ha="center",
                va="bottom",
                fontsize=7,
                rotation=90 if len(x) > 10 else 0,
            )
    bars.set(
        xticks=x,
        ylim=(0, 1.15),
        ylabel="normalized accuracy (/ the experiment's best)",
        title="accuracy"
        + (", 95% interval over seeds" if spread else "")
        + (" (red: a run failed or diverged)" if any(broken) else ""),
    )
    if with_test:
        bars.legend(fontsize=7, loc="lower right")


# A plot reads at any number of values: labels are cut to LABEL_LIMIT characters (a search's are `trial=003`,
# its values in summary.md's Trials table), the legend names at most LEGEND_LIMIT lines (the most accurate when
# there are more) and the figure grows with the bars up to MAX_WIDTH inches.
LABEL_LIMIT, LEGEND_LIMIT, MAX_WIDTH = 24, 8, 26.0


def short_label(text: str) -> str:
    text = str(text)
    return text if len(text) <= LABEL_LIMIT else text[: LABEL_LIMIT - 1] + "…"


def figure(table: pd.DataFrame, history: pd.DataFrame, summary: pd.DataFrame, title: str):
    """Normalized val accuracy per epoch, best normalized accuracy per value (95% interval over seeds) and
    convergence speed (epochs to 95% and 99% of each run's best), with chance level marked: a matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    count = len(summary)
    width = min(16 + 0.3 * max(0, count - 10), MAX_WIDTH)
    fig, (curves, bars, speed) = plt.subplots(1, 3, figsize=(width, 4.8), gridspec_kw={"width_ratios": [2, 1.2, 1.2]})
    best = table.loc[table["status"] == Status.COMPLETED, "best_val_accuracy"].max()
    chance = table["chance"].dropna().mean() / best if table["chance"].notna().any() and best > 0 else np.nan
    history = history.assign(value=history["value"].astype(str))
    ranked = summary.sort_values("normalized_accuracy_mean", ascending=False, na_position="last")["value"].astype(str)
    named = set(ranked.head(LEGEND_LIMIT)) if count > LEGEND_LIMIT else set(ranked)
    for value, rows in history.groupby("value", sort=False):
        status = ",".join(sorted(set(rows["status"])))
        per_epoch = rows.groupby("epoch")["normalized_val_accuracy"].agg(["mean", "std"])
        failed = any(s in FAILED for s in rows["status"])
        style = {"marker": "o", "ms": 3, "ls": "--" if failed else "-"}
        if value not in named:  # one of many: drawn, not named
            style = {"color": "lightgray", "lw": 1, "ls": style["ls"], "zorder": 1}
        label = short_label(value) + (f" ({status})" if status != Status.COMPLETED else "")
        line = curves.plot(per_epoch.index, per_epoch["mean"], label=label if value in named else None, **style)[0]
        if rows["seed"].nunique() > 1 and value in named:
            curves.fill_between(
                per_epoch.index,
                per_epoch["mean"] - per_epoch["std"],
                per_epoch["mean"] + per_epoch["std"],
                color=line.get_color(),
                alpha=0.15,
            )
    curves.set(xlabel="epoch", ylabel="val accuracy / best run's best", title="normalized val accuracy per epoch")
    curves.xaxis.set_major_locator(MaxNLocator(integer=True))
    curves.grid(alpha=0.3)

    labels = summary["value"].astype(str).map(short_label)
    x = np.arange(count)
    _accuracy_bars(bars, summary, x)
    if np.isfinite(chance):
        for axis in (curves, bars):
            axis.axhline(chance, color="gray", ls=":", lw=1, label="chance")
    if curves.get_legend_handles_labels()[0]:  # no completed run, no line to name
        legend = str(table["sweep"].iloc[0] or "run")
        if count > LEGEND_LIMIT:
            legend += f": the {LEGEND_LIMIT} most accurate of {count}"
        curves.legend(title=legend, fontsize=8, title_fontsize=8)

    bar_width = 0.4
    speed.bar(
        x - bar_width / 2, summary["epochs_to_95pct_mean"].fillna(0), bar_width, color="tab:green", label="95% of best"
    )
    speed.bar(
        x + bar_width / 2, summary["epochs_to_99pct_mean"].fillna(0), bar_width, color="tab:olive", label="99% of best"
    )
    speed.set(xticks=x, ylabel="epochs", title="convergence: epochs to reach the run's best")
    speed.yaxis.set_major_locator(MaxNLocator(integer=True))
    speed.legend(fontsize=8)
    for axis in (bars, speed):
        axis.set_xticklabels(
            labels,
            rotation=90 if count > 10 else 30,
            ha="center" if count > 10 else "right",
            fontsize=7 if count > 10 else None,
        )
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _plot(table: pd.DataFrame, history: pd.DataFrame, summary: pd.DataFrame, title: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = figure(table, history, summary, title)
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def _tensorboard(exp_dir: Path, table: pd.DataFrame, history: pd.DataFrame) -> None:
    """Normalized curves under each run's tb/normalized (so runs overlay on one chart), on Keras's epoch steps."""
    for row in table.itertuples():
        log_dir = Path(row.path) / "tb" / "normalized"
        shutil.rmtree(log_dir, ignore_errors=True)  # a report re-run replaces, never duplicates
        runs = history[history["run"] == row.run] if not history.empty else history
        events = [
            (int(epoch) - 1, scalar("normalized_val_accuracy", value))  # Keras logs epoch 1 at step 0
            for epoch, value in zip(runs.get("epoch", []), runs.get("normalized_val_accuracy", []))
            if np.isfinite(value)
        ]
        if np.isfinite(row.normalized_accuracy):
            events.append((0, scalar("normalized_accuracy", row.normalized_accuracy)))
        write_events(log_dir, events)


def normalized_views(exp_dir: Path) -> None:
    """Each run's normalized TensorBoard views against the best completed run of its experiment folder: what a
    sweep's report writes, for the single runs that sit side by side in one experiment."""
    table = load_table(exp_dir)
    if len(table):
        _tensorboard(Path(exp_dir), table, load_history(exp_dir))


def status_words(runs: int, incomplete: int, not_started: int, detail: str = "") -> str:
    """`4 runs, all completed`, or `4 runs, 2 completed, 1 did not complete (interrupted: 1), 1 not started`:
    the one wording of a sweep's and a study's outcome."""
    count = f"{runs} run" + ("" if runs == 1 else "s")
    if not incomplete and not not_started:
        return f"{count}, all completed"
    return (
        f"{count}, {runs - incomplete - not_started} completed"
        + (f", {incomplete} did not complete" + (f" ({detail})" if detail else "") if incomplete else "")
        + (f", {not_started} not started" if not_started else "")
    )


def _write_files(
    exp_dir: Path,
    results_root: Path,
    table: pd.DataFrame,
    history: pd.DataFrame,
    summary: pd.DataFrame,
    missing: list[str],
    budget: fronts.Budget | None = None,
) -> str:
    """summary.csv, summary.md, the plots, TensorBoard's normalized views and HParams, the analysis tables;
    returns the accuracy-cost answer where the values differ in cost ('' otherwise)."""
    shown = (
        "run value seed status normalized_accuracy best_val_accuracy test_accuracy above_chance best_epoch "
        "epochs_to_95pct epochs_run seconds_per_epoch error"
    ).split()
    columns = [c for c in shown if c in table]
    write_atomic(exp_dir / "summary.csv", table.to_csv(index=False))
    sweep = table["sweep"].dropna().iloc[0] if table["sweep"].notna().any() else "run"
    best = pd.to_numeric(table["best_val_accuracy"][table["status"] == Status.COMPLETED], errors="coerce").max()
    noise = noise_note(table)
    trials = trial_table(table)
    costs, verdict = fronts.per_value(table), ""
    if fronts.costs_differ(costs):
        costs = fronts.with_fronts(costs)
        budget = budget or fronts.budget_of(list(table["path"]))
        verdict = fronts.answer(table, costs, budget)
        fronts.plot(costs, budget, f"{exp_dir.name}: accuracy and cost", exp_dir / "accuracy_cost.png", short_label)
    markdown = (
        f"# {exp_dir.name}\n\nsweep: `{sweep}`; normalized accuracy = best val accuracy / best completed run's "
        f"({'none completed' if pd.isna(best) else f'{best:.4f}'})\n\n"
        + (f"**Noise**: {noise}\n\n" if noise else "")
        + f"## Per value\n\n{per_value_table(summary).to_markdown(index=False)}\n\n"
        + (ABOVE_ONE + "\n\n" if (summary["normalized_accuracy_ci_high"] > 1).any() else "")
        + (
            f"## Trials\n\nWhat each trial tried (the values that differ between trials):\n\n"
            f"{trials.to_markdown(index=False, floatfmt='.4g')}\n\n"
            if len(trials)
            else ""
        )
        + (
            f"## Accuracy and cost\n\n{verdict}.\n\n{fronts.table_markdown(costs)}\n\n"
            f"![accuracy against cost](accuracy_cost.png)\n\nLatency: median ms per image at batch 1 on "
            f"{', '.join(sorted(set(table['cost_cpu'].dropna()))) or 'this CPU'}, in the process that trained: a "
            "proxy for the device a model will run on, not that device.\n\n"
            if verdict
            else ""
        )
        + f"## Runs\n\n{table[columns].to_markdown(index=False, floatfmt='.4f')}\n"
        + (
            f"\n## Not started\n\n{len(missing)} planned run(s) have no record yet (the command was stopped before "
            f"them; the same command runs them): {', '.join(missing)}\n"
            if missing
            else ""
        )
    )
    write_atomic(exp_dir / "summary.md", markdown)
    title = f"{exp_dir.name}: {sweep}" + (" (each trial's values: summary.md, Trials)" if len(trials) else "")
    _plot(table, history, summary, title, exp_dir / "normalized_accuracy.png")
    try:
        _tensorboard(exp_dir, table, history)
        shutil.rmtree(exp_dir / "hparams", ignore_errors=True)  # would compete with the folder's one
        write_hparams_experiment(results_root)
    except Exception as exc:  # the tables and plot are written; TensorBoard extras must not lose them
        if disk_full(exc):
            raise
        log.exception("could not write the TensorBoard views for %s", exp_dir)
    if any(exp_dir.glob("*/analysis/predictions.parquet")):  # runs made with analysis=true
        experiment_tables(exp_dir)
    return verdict


ABOVE_ONE = (
    "An interval past 1.0 is no error: each run's normalized accuracy is at most 1, but a 95% interval of the "
    "mean over a few seeds (mean ± t·sd) is not bounded by the best run. Near 1, it says the value is among the best."
)


def noise_note(table: pd.DataFrame) -> str:
    """For an experiment with fewer than MIN_SEEDS seeds per value ('' otherwise): how far apart two of its
    accuracies fall by chance alone, from its val images (two independent accuracies near the median one, 95 %),
    so a reader of one seed's differences knows which ones say nothing."""
    completed = table[table["status"] == Status.COMPLETED]
    if completed.empty:
        return ""
    seeds = int(completed.groupby("value")["seed"].nunique().min())
    if seeds >= MIN_SEEDS:
        return ""
    search = (completed["sweep"] == "tuner").all()
    more = "tuner.executions_per_trial" if search else "sweep.seeds"
    head = f"{seeds} seed per value" if seeds == 1 else f"{seeds} seeds per value"
    images = pd.to_numeric(completed["num_val"], errors="coerce").median()
    accuracy = pd.to_numeric(completed["best_val_accuracy"], errors="coerce").median()
    if pd.isna(images) or pd.isna(accuracy) or images < 1:
        chance = "a difference of a few points may be chance alone"
    else:
        apart = 1.96 * math.sqrt(2 * accuracy * (1 - accuracy) / images)
        chance = (
            f"on {int(images)} val images, two accuracies near {accuracy:.2f} differ by up to {apart * 100:.1f} "
            "points by chance alone (95 %): a smaller difference is no clear effect"
        )
    if (
        search and (completed.get("search_algorithm", pd.Series(dtype=object)) == "optuna").any()
    ):  # Optuna runs a trial once: retraining the best with seeds is the way to its spread
        return f"{head}: {chance}. Retrain the best trial with train.seed=1,2,3 (-m) for its seed spread."
    return f"{head}: {chance}. {more}={MIN_SEEDS} repeats each {'trial' if search else 'value'} and gives intervals."


def write_report(
    exp_dir: Path,
    results_root: Path | None = None,
    planned: list[str] | None = None,
    budget: fronts.Budget | None = None,
) -> dict[str, Any]:
    """Write summary.csv, summary.md, normalized_accuracy.png and TensorBoard views; return the status counts.
    `results_root` is the folder TensorBoard opens (its HParams experiment): the experiment's parent unless
    the experiment is part of a study. `planned`: the runs its command planned (else the folder's
    planned.json); those without a record count as not started. `budget`: what the accuracy-cost answer fits
    (else the newest record's `report` section)."""
    exp_dir = Path(exp_dir)
    results_root = Path(results_root) if results_root is not None else exp_dir.parent
    table = load_table(exp_dir)
    counts = {s: int((table["status"] == s).sum()) for s in (Status.COMPLETED, *INCOMPLETE)} if len(table) else {}
    missing = not_started(planned if planned is not None else planned_runs(exp_dir), set(table["run"]))
    outcome: dict[str, Any] = {
        "experiment": str(exp_dir),
        "runs": len(table) + len(missing),
        **counts,
        "not_started": len(missing),
    }
    outcome["incomplete"] = sum(counts.get(s, 0) for s in INCOMPLETE)
    if table.empty:
        print(
            f"sweep {exp_dir.name}: no runs recorded" + (f" ({len(missing)} not started)" if missing else ""),
            flush=True,
        )
        return outcome
    history = load_history(exp_dir)
    # Every value shown as its label: a sweep's value as text, a trial's hyperparameters, a single run's name.
    labels = dict(zip(table["run"], table["label"]))
    table, history = table.assign(value=table["label"]), history.assign(value=history["run"].map(labels))
    summary = value_summary(table)
    not_done = ", ".join(f"{s}: {counts[s]}" for s in INCOMPLETE if counts.get(s))
    line = f"sweep {exp_dir.name}: " + status_words(outcome["runs"], outcome["incomplete"], len(missing), not_done)
    try:
        verdict = _write_files(exp_dir, results_root, table, history, summary, missing, budget)
    except OSError as exc:  # a full results disk: say what ran and why the tables are missing, no traceback
        if not disk_full(exc):
            raise
        remove_temporaries(exp_dir)
        print(f"{line}\nreport not written: {no_space(exp_dir)}", flush=True)
        return outcome
    noise = noise_note(table)
    outcome["cost"] = verdict
    print(
        f"{line}\n"
        + "".join(f"data: {concern}\n" for concern in data_concerns(exp_dir))
        + (f"noise: {noise}\n" if noise else "")
        + (f"cost: {verdict}\n" if verdict else "")
        + f"summary: {exp_dir / 'summary.md'}\n"
        f"plot: {exp_dir / 'normalized_accuracy.png'}\n{compare_lines(results_root)}",
        flush=True,
    )
    return outcome


def data_concerns(exp_dir: Path) -> list[str]:
    """What the runs' data reports say is off (harness.data.inspection.concerns), each once: a sweep's verdict
    rests on its splits, and a leak or a lopsided class is worth a line beside it."""
    said: dict[str, None] = {}
    for _, record in iter_records(exp_dir):
        if record.dataset is not None:
            said.update(dict.fromkeys(concerns(record.dataset)))
    return list(said)


def wait_for_others(run_dirs: list[Path], poll: float = 2.0) -> None:
    """Runs that another process claimed (a second sweep into the same folder) are waited for, so the
    report covers them too; not after a stop request."""
    waited = None
    while stopping.requested() is None:
        others = claims.held_by_others([d for d in run_dirs if d.is_dir()])
        if not others:
            return
        if set(others) != waited:
            waited = set(others)
            owners = sorted({o.describe() for o in others.values()})
            log.info(
                "waiting for %d run(s) that another process trains (%s): %s",
                len(others),
                ", ".join(owners),
                ", ".join(sorted(d.name for d in others)),
            )
        time.sleep(poll)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: a number > 0")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m harness.report", description=__doc__)
    parser.add_argument("experiment", type=Path, help="an experiment directory: results/<name>")
    parser.add_argument("--latency-budget-ms", type=_positive, help="the most accurate run within this ms/image")
    parser.add_argument("--size-budget-mb", type=_positive, help="... and within this many MB of weights")
    args = parser.parse_args(argv)
    if not args.experiment.is_dir():
        print(f"error: not a directory: {args.experiment}", file=sys.stderr)
        return 2
    readable = any(is_record_file(f) for f in args.experiment.glob(f"*/{RECORD}"))
    if not readable and not planned_runs(args.experiment):
        print(
            f"error: {args.experiment} is not an experiment folder (no readable <run>/{RECORD} and no plan of "
            "runs): give results/<experiment>",
            file=sys.stderr,
        )
        return 2
    given = args.latency_budget_ms is not None or args.size_budget_mb is not None
    budget = fronts.Budget(args.latency_budget_ms, args.size_budget_mb) if given else None
    outcome = write_report(args.experiment, budget=budget)
    return 1 if outcome["incomplete"] or outcome["not_started"] else 0


if __name__ == "__main__":
    sys.exit(main())
