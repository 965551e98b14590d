"""The study report: each experiment's own report, then which knobs matter and whether the findings hold.

Writes, in results/<study>/: report.md, which opens with effects.png (every knob's effect against the
baseline with its interval), report.html (self-contained: figures embedded, readable offline), ranking.csv,
findings.csv, values.csv, effects.csv, and the ranking and findings as TensorBoard text (folder _report).
Runs when a study's multirun ends and on its own: `python -m harness.report results/<study>`.
"""

from __future__ import annotations

import base64
import html
import re
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.data.inspection import IMBALANCE_SAID
from harness.errors import ArgumentParser
from harness.records.planned import planned_runs
from harness.records.record import Status
from harness.records.study_spec import read_spec
from harness.records.tensorboard import text, write_events
from harness.reports.compare import MIN_SEEDS, findings, knob_ranking, value_effects
from harness.reports.sweep_report import per_value_table, status_words, write_report
from harness.reports.tables import iter_records, load_table, metric_columns, summarize
from harness.storage.atomic import write_atomic

REPORT_TB = "_report"
EFFECTS = "effects.png"  # the forest plot the report opens with


def study_tables(study_dir: Path) -> dict[str, Any]:
    """The study's tables as pandas: `runs` (load_table), `values` (per experiment and value), `ranking`,
    `findings`, and `metric`, the accuracy they compare (test accuracy; best val accuracy without a test split)."""
    study_dir = Path(study_dir)
    spec = read_spec(study_dir)
    if spec is None:
        raise FileNotFoundError(f"{study_dir} has no study.json: not a study folder")
    runs = load_table(study_dir)
    val, test = metric_columns(runs)
    metric = test if runs[test].notna().any() else val
    return {
        "spec": spec,
        "runs": runs,
        "metric": metric,
        "values": summarize(runs).rename(columns={"sweep": "experiment"}),
        "ranking": knob_ranking(runs, spec["experiments"], metric),
        "findings": findings(runs, spec["findings"], metric),
        "effects": value_effects(runs, spec["experiments"], metric),
    }


def _pct(value: float) -> str:
    return "" if pd.isna(value) else f"{value * 100:.1f}%"


def ranking_view(ranking: pd.DataFrame) -> pd.DataFrame:
    """The knob ranking as the report shows it."""
    if ranking.empty:
        return ranking
    return pd.DataFrame(
        {
            "rank": ranking["rank"],
            "experiment": ranking["experiment"],
            "baseline": ranking["baseline"],
            "baseline accuracy": ranking["baseline_mean"].map(_pct),
            "seed noise (std)": ranking["noise_std"].map(_pct),
            "best value (by val)": ranking.get("best"),
            "best - baseline [95% CI]": ranking.get("gain_shown"),
            "worst value (by val)": ranking.get("worst"),
            "worst - baseline [95% CI]": ranking.get("loss_shown"),
            "seeds": ranking["seeds"],
            "verdict": ranking["verdict"],
        }
    )


def findings_view(found: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "finding": found["claim"],
            "verdict": found["verdict"],
            "experiment": found["experiment"],
            "better": found["better"] + " (" + found["better_mean"].map(_pct) + ")",
            "worse": found["worse"] + " (" + found["worse_mean"].map(_pct) + ")",
            "difference [95% CI]": found["shown"],
            "seeds paired": found["pairs"],
        }
    )


def made_by(versions: dict, git: dict) -> str:
    """`tl-harness 0.2.0 (commit 1a2b3c4d), TensorFlow 2.21.0, Keras 3.15.1`: the commit only where known (an
    installed wheel has none)."""
    commit = git.get("commit")
    revision = f" (commit {str(commit)[:8]}{', modified' if git.get('dirty') else ''})" if commit else ""
    return (
        f"tl-harness {versions.get('tl-harness') or 'unknown version'}{revision}, TensorFlow {versions.get('tensorflow')}, "
        f"Keras {versions.get('keras')}"
    )


def _elapsed(runs: pd.DataFrame, study_dir: Path) -> str:
    """When the trained runs ran, and on what: host, CPUs and their model, the harness's and TensorFlow's versions."""
    started, finished, hosts = [], [], set()
    for _, record in iter_records(study_dir):
        host, versions, git = record.host or {}, record.versions or {}, record.git or {}
        threads = f", {host['intra_op_threads']} intra-op thread(s) per run" if host.get("intra_op_threads") else ""
        processor = f": {host['cpu']}" if host.get("cpu") else ""  # records made before hosts named it have none
        hosts.add(f"{host.get('hostname')} ({host.get('cpus')} CPUs{processor}{threads}), {made_by(versions, git)}")
        if record.copied_from or not record.finished_at:
            continue
        started.append(datetime.fromisoformat(record.started_at))
        finished.append(datetime.fromisoformat(record.finished_at))
    if not started:
        return "no run trained"
    trained = runs["copied_from"].isna().sum()
    return (
        f"{trained} runs trained between {min(started):%Y-%m-%d %H:%M} and {max(finished):%H:%M} UTC "
        f"({(max(finished) - min(started)).total_seconds() / 60:.1f} min) on {'; '.join(sorted(hosts))}"
    )


def few_seeds_note(seeds: int) -> str:
    """The warning a study with fewer than MIN_SEEDS seeds opens with ('' with enough)."""
    if seeds >= MIN_SEEDS:
        return ""
    from scipy import stats

    spread = (
        "one seed gives no interval"
        if seeds < 2
        else f"{seeds} seeds give intervals with {seeds - 1} degree(s) of freedom (t = {stats.t.ppf(0.975, seeds - 1):.1f})"
    )
    return (
        f"**Too few seeds for verdicts**: {spread}, so no knob is called *matters* and no finding *holds* with "
        f"fewer than {MIN_SEEDS}. The same command with study.seeds={MIN_SEEDS} adds the missing seeds and keeps every run made."
    )


def forest(effects: pd.DataFrame, path: Path, metric_words: str) -> bool:
    """Every value's effect against its experiment's baseline, in points with its 95% interval, one row per value
    grouped by experiment: clear effects coloured (green above the baseline, red below), the rest grey, hollow
    where too few seeds decide. False when there is nothing to draw."""
    if effects.empty:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from harness.storage.atomic import replacing

    rows = effects.reset_index(drop=True)
    y = -rows.index.to_numpy(dtype=float) - rows["experiment"].factorize()[0] * 0.8
    fig, ax = plt.subplots(figsize=(9, 1.6 + 0.28 * len(rows)))
    for yi, row in zip(y, rows.itertuples()):
        difference = row.difference * 100
        color = ("tab:green" if difference > 0 else "tab:red") if row.clear else "tab:gray"
        if np.isfinite(row.low):
            ax.plot([row.low * 100, row.high * 100], [yi, yi], color=color, lw=2)
        decided = row.pairs >= MIN_SEEDS
        ax.plot([difference], [yi], "o", color=color, mfc=color if decided else "white", ms=6)
    ax.axvline(0, color="black", lw=1)
    ax.set_yticks(y, [f"{r.experiment}: {r.value} (vs {r.baseline})" for r in rows.itertuples()], fontsize=8)
    ax.set_xlabel(f"points of {metric_words} against the baseline's value (95% interval over seeds)", fontsize=9)
    ax.set_title(
        "every value against its experiment's baseline\ncoloured: a clear effect; hollow: too few seeds", fontsize=9
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return True


HOW_TO_READ = (
    "Accuracy here is {metric}: measured on images that chose neither the epoch (early stopping looks at the "
    "validation split) nor, in the ranking, the value (the best and worst values are picked by mean validation "
    "accuracy). Differences are paired by seed (runs with the same seed share data order and initial head "
    "weights) and shown in points with a 95% interval: the t interval over seeds, widened by the noise of the test "
    "images themselves (every seed is scored on the same ones; from the images the paired runs disagree on). A "
    "knob *matters* when an interval excludes 0; *no clear effect* means the effect, if any, is smaller than this "
    "many seeds and images can resolve. A diverged run counts "
    "at chance level; failed or unfinished runs are left out."
)


def _metric_words(metric: str) -> str:
    return {
        "test_accuracy": "test accuracy",
        "best_val_accuracy": "best val accuracy (no test split: optimistic)",
        "test_balanced_accuracy": "test balanced accuracy (the mean of per-class recall)",
        "val_balanced_accuracy": "val balanced accuracy (the mean of per-class recall; no test split: optimistic)",
    }[metric]


def metric_note(runs: pd.DataFrame, metric: str) -> str | None:
    """Which metric the verdicts use and why, where the choice matters: classes of unequal size in training."""
    imbalance = pd.to_numeric(runs.get("imbalance", pd.Series(dtype=float)), errors="coerce").max()
    balanced = metric.endswith("balanced_accuracy")
    uneven = np.isfinite(imbalance) and imbalance >= IMBALANCE_SAID
    if balanced:
        why = (
            f"the training classes are imbalanced (largest to smallest {imbalance:.1f}), and accuracy would reward "
            f"a model for favouring the larger ones"
            if uneven
            else "as report.metric=balanced_accuracy asks"
        )
        return f"Verdicts use **balanced accuracy** (the mean of per-class recall; report.metric=balanced_accuracy): {why}."
    if uneven:
        return (
            f"The training classes are imbalanced (largest to smallest {imbalance:.1f}): accuracy, which the verdicts "
            f"use, rewards a model for favouring the larger classes. report.metric=balanced_accuracy compares the "
            f"mean of per-class recall instead (both are in the tables)."
        )
    return None


def _markdown(
    study_dir: Path, tables: dict[str, Any], status: str, notes: list[str], costs: dict[str, str] | None = None
) -> str:
    spec, runs, metric = tables["spec"], tables["runs"], tables["metric"]
    parts = [
        f"# Study {study_dir.name}\n",
        f"{len(spec['experiments'])} experiments x {spec['seeds']} seed(s); {status}; {_elapsed(runs, study_dir)}.\n",
        *[note + "\n" for note in notes],
        *(["![every knob against the baseline](effects.png)\n"] if (study_dir / EFFECTS).exists() else []),
        HOW_TO_READ.format(metric=_metric_words(metric)) + "\n",
        "## Which knobs matter on this data\n",
        ranking_view(tables["ranking"]).to_markdown(index=False) + "\n",
        "## The chapter's findings on this data\n",
        (
            findings_view(tables["findings"]).to_markdown(index=False)
            if len(tables["findings"])
            else "No findings in the study config."
        )
        + "\n",
    ]
    for name in spec["experiments"]:
        summary = tables["values"][tables["values"]["experiment"] == name]
        parts += [
            f"## {name}\n",
            f"![{name}]({name}/normalized_accuracy.png)\n",
            per_value_table(summary).to_markdown(index=False) + "\n" if len(summary) else "No runs recorded.\n",
        ]
        if (costs or {}).get(name):  # its values cost different amounts to run
            parts += [
                f"**Accuracy and cost**: {costs[name]}.\n",
                f"![{name}: accuracy and cost]({name}/accuracy_cost.png)\n",
            ]
    return "\n".join(parts)


def _strong(text: str) -> str:
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


def _emphasis(text: str) -> str:
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", _strong(text))


def _embedded(figure: Path, alt: str) -> str:
    data = base64.b64encode(figure.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}" style="max-width:100%">'


def _html(
    markdown_title: str,
    study_dir: Path,
    tables: dict[str, Any],
    status: str,
    notes: list[str],
    costs: dict[str, str] | None = None,
) -> str:
    spec, metric = tables["spec"], tables["metric"]
    esc = html.escape
    forest_figure = study_dir / EFFECTS
    body = [
        f"<h1>Study {esc(study_dir.name)}</h1>",
        f"<p>{len(spec['experiments'])} experiments x {spec['seeds']} seed(s); {esc(status)}; {esc(_elapsed(tables['runs'], study_dir))}.</p>",
        *[f"<p style='background:#fff3cd;padding:.5em'>{_emphasis(esc(note))}</p>" for note in notes],
        *([_embedded(forest_figure, "every knob against the baseline")] if forest_figure.exists() else []),
        "<p>" + _emphasis(esc(HOW_TO_READ.format(metric=_metric_words(metric)))) + "</p>",
        "<h2>Which knobs matter on this data</h2>",
        ranking_view(tables["ranking"]).to_html(index=False, border=0),
        "<h2>The chapter's findings on this data</h2>",
        findings_view(tables["findings"]).to_html(index=False, border=0),
    ]
    for name in spec["experiments"]:
        figure = study_dir / name / "normalized_accuracy.png"
        summary = tables["values"][tables["values"]["experiment"] == name]
        body.append(f"<h2>{esc(name)}</h2>")
        if figure.exists():
            body.append(_embedded(figure, name))
        body.append(
            per_value_table(summary).to_html(index=False, border=0) if len(summary) else "<p>No runs recorded.</p>"
        )
        if (costs or {}).get(name) and (study_dir / name / "accuracy_cost.png").exists():
            body.append(f"<p><strong>Accuracy and cost</strong>: {esc(costs[name])}.</p>")
            body.append(_embedded(study_dir / name / "accuracy_cost.png", f"{name}: accuracy and cost"))
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}h1{overflow-wrap:anywhere}table{border-collapse:collapse;font-size:13px}"
        "td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(markdown_title)}</title><style>{style}</style>"
        f"</head><body>{''.join(body)}</body></html>"
    )


def unfinished_note(outcome: dict[str, Any]) -> str:
    """The warning a report of a stopped study opens with: its verdicts rest on part of the runs."""
    if not outcome.get("unfinished"):
        return ""
    return (
        f"**Not finished**: {outcome['unfinished']} of {outcome['runs']} runs were stopped or not started; the "
        "ranking and the verdicts below use only the runs that finished. The same command runs the rest."
    )


def write_study_report(study_dir: Path) -> dict[str, Any]:
    """Every experiment's report, then the study's report files; returns the status counts over the study."""
    study_dir = Path(study_dir)
    spec = read_spec(study_dir)
    if spec is None:
        raise FileNotFoundError(f"{study_dir} has no study.json: not a study folder")
    outcome: dict[str, Any] = {"study": str(study_dir), "runs": 0, "incomplete": 0, "not_started": 0, "unfinished": 0}
    planned = planned_runs(study_dir)
    costs: dict[str, str] = {}
    for name in spec["experiments"]:
        mine = None if planned is None else [p.split("/", 1)[1] for p in planned if p.startswith(f"{name}/")]
        counts = (
            write_report(study_dir / name, results_root=study_dir.parent, planned=mine)
            if (study_dir / name).is_dir()
            else {"runs": len(mine or []), "incomplete": 0, "not_started": len(mine or [])}
        )
        costs[name] = counts.get("cost", "")
        for key in ("runs", "incomplete", "not_started"):
            outcome[key] += counts[key]
        outcome["unfinished"] += counts["not_started"] + sum(counts.get(s, 0) for s in Status if not s.finished)
    tables = study_tables(study_dir)
    status = status_words(outcome["runs"], outcome["incomplete"], outcome["not_started"])
    notes = [
        note
        for note in (
            unfinished_note(outcome),
            few_seeds_note(int(spec["seeds"])),
            metric_note(tables["runs"], tables["metric"]),
        )
        if note
    ]
    if not forest(tables["effects"], study_dir / EFFECTS, _metric_words(tables["metric"])):
        (study_dir / EFFECTS).unlink(missing_ok=True)
    write_atomic(study_dir / "report.md", _markdown(study_dir, tables, status, notes, costs))
    write_atomic(study_dir / "report.html", _html(f"Study {study_dir.name}", study_dir, tables, status, notes, costs))
    write_atomic(study_dir / "ranking.csv", tables["ranking"].to_csv(index=False))
    write_atomic(study_dir / "findings.csv", tables["findings"].to_csv(index=False))
    write_atomic(study_dir / "values.csv", tables["values"].to_csv(index=False))
    write_atomic(study_dir / "effects.csv", tables["effects"].to_csv(index=False))
    shutil.rmtree(study_dir / REPORT_TB, ignore_errors=True)  # replaced, never doubled
    write_events(
        study_dir / REPORT_TB,
        [
            (0, text("knob_ranking", ranking_view(tables["ranking"]).to_markdown(index=False))),
            (0, text("findings", findings_view(tables["findings"]).to_markdown(index=False))),
        ],
    )
    verdicts = tables["findings"]["verdict"].value_counts().to_dict() if len(tables["findings"]) else {}
    matters = (
        tables["ranking"].loc[tables["ranking"]["verdict"] == "matters", "experiment"].tolist()
        if len(tables["ranking"])
        else []
    )
    warning = few_seeds_note(int(spec["seeds"])).replace("*", "")
    print(
        f"study {study_dir.name}: {status}; knobs that matter: {', '.join(matters) or 'none clear'}; findings: "
        + (", ".join(f"{v} {k}" for k, v in verdicts.items()) or "none")
        + (f"\nwarning: {warning}" if warning else "")
        + f"\nreport: {study_dir / 'report.md'} (and report.html)",
        flush=True,
    )
    outcome["findings"] = verdicts
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m harness.report", description=__doc__)
    parser.add_argument("study", type=Path, help="a study folder: results/<study>")
    args = parser.parse_args(argv)
    if read_spec(args.study) is None:
        print(f"not a study folder (no study.json): {args.study}", file=sys.stderr)
        return 2
    outcome = write_study_report(args.study)
    return 1 if outcome["incomplete"] or outcome["not_started"] else 0


if __name__ == "__main__":
    sys.exit(main())
