"""Results as pandas: one row per run, normalized to the best completed run of its experiment."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from harness.reports import sweep_report as report
from harness.reports.tables import load_history, load_table, summarize
from tests.helpers import fake_run, write_bare_record


def test_normalization_ties_diverged_failed_and_seeds(tmp_path):
    exp = tmp_path / "exp"
    fake_run(exp, "lr=0.01,seed=42", 0.01, 0.8)
    fake_run(exp, "lr=0.01,seed=43", 0.01, 0.6, seed=43)
    fake_run(exp, "lr=0.001,seed=42", 0.001, 0.8)  # ties with the best
    fake_run(exp, "lr=0.001,seed=43", 0.001, 0.4, seed=43)
    fake_run(exp, "lr=10", 10.0, 0.95, status="diverged")  # must not become the best
    fake_run(exp, "lr=5", 5.0, None, status="failed")
    table = load_table(exp)
    assert len(table) == 6
    norm = dict(zip(table["run"], table["normalized_accuracy"]))
    assert norm["lr=0.01,seed=42"] == 1.0 and norm["lr=0.001,seed=42"] == 1.0
    assert norm["lr=0.01,seed=43"] == pytest.approx(0.75) and norm["lr=0.001,seed=43"] == pytest.approx(0.5)
    assert np.isnan(norm["lr=10"]) and np.isnan(norm["lr=5"])
    summary = report.value_summary(table).set_index("value")
    assert summary.loc["0.01", "normalized_accuracy_mean"] == pytest.approx(0.875)
    assert summary.loc["0.01", "normalized_accuracy_std"] == pytest.approx(0.125 * 2**0.5)  # ddof=1 over two seeds
    assert summary.loc["10.0", "statuses"] == "diverged"
    history = load_history(exp)
    assert len(history) == 11
    assert history[history["status"] == "completed"]["normalized_val_accuracy"].max() == pytest.approx(1.0)


def test_normalization_is_per_experiment(tmp_path):
    fake_run(tmp_path / "a", "x", 1, 0.5)
    fake_run(tmp_path / "b", "x", 1, 0.9)
    fake_run(tmp_path / "b", "y", 2, 0.45)
    table = load_table(tmp_path)
    assert table.groupby("name")["normalized_accuracy"].max().tolist() == [1.0, 1.0]
    assert table.set_index(["name", "run"]).loc[("b", "y"), "normalized_accuracy"] == pytest.approx(0.5)


def test_columns_say_what_they_hold(tmp_path):
    """`sweep` is the sweep's name, `config_key` the knob it varies; the names 0.1 kept for one release are gone."""
    fake_run(tmp_path / "exp", "lr=0.01", 0.01, 0.8)
    table = load_table(tmp_path)
    row = table.iloc[0]
    assert (row["sweep"], row["config_key"], row["value"]) == ("learning_rate", "train.learning_rate", 0.01)
    assert list(table.columns[2:4]) == ["sweep", "config_key"] and not {"knob", "knob_key"} & set(table.columns)
    assert load_history(tmp_path)["sweep"].tolist() == ["learning_rate"] * 2 and "knob" not in load_history(tmp_path)


def test_summarize_gives_mean_std_and_a_t_interval_per_experiment_knob_and_value(tmp_path):
    from scipy import stats

    from harness.reports.tables import summarize

    exp = tmp_path / "exp"
    for seed, best in zip((42, 43, 44), (0.7, 0.8, 0.9)):
        fake_run(exp, f"lr=0.01,seed={seed}", 0.01, best, seed=seed)
    fake_run(exp, "lr=0.1", 0.1, 0.5)
    summary = summarize(load_table(tmp_path)).set_index(["name", "sweep", "value"])
    three = summary.loc[("exp", "learning_rate", "0.01")]
    assert three["runs"] == 3 and three["completed"] == 3
    assert three["best_val_accuracy_mean"] == pytest.approx(0.8) and three["best_val_accuracy_std"] == pytest.approx(
        0.1
    )
    half = stats.t.ppf(0.975, 2) * 0.1 / 3**0.5
    assert (three["best_val_accuracy_ci_low"], three["best_val_accuracy_ci_high"]) == pytest.approx(
        (0.8 - half, 0.8 + half)
    )
    one = summary.loc[("exp", "learning_rate", "0.1")]
    assert np.isnan(one["best_val_accuracy_std"]) and np.isnan(one["best_val_accuracy_ci_low"])  # one seed: no spread


def test_convergence_speed_and_chance_level_per_run(tmp_path):
    from harness.reports.tables import epochs_to

    assert epochs_to([0.2, 0.5, 0.78, 0.8], 0.95) == 3 and epochs_to([0.2, 0.5, 0.78, 0.8], 0.99) == 4
    for run, best in (("good", 0.6), ("chance", 0.12)):
        write_bare_record(tmp_path / "exp" / run, config_hash=run, best_val_accuracy=best, num_classes=10, num_val=180)
    table = load_table(tmp_path).set_index("run")
    assert table.loc["good", "chance"] == pytest.approx(0.1)
    assert bool(table.loc["good", "above_chance"]) and not bool(table.loc["chance", "above_chance"])


def test_a_null_value_is_summarized_like_any_other(tmp_path):
    exp = tmp_path / "exp"
    for seed in (1, 2):
        fake_run(exp, f"v=1,seed={seed}", 1, 0.5, seed=seed)
        fake_run(exp, f"v=null,seed={seed}", None, 0.8, seed=seed)
    summary = summarize(load_table(exp)).set_index("value")
    assert summary.loc["null", "runs"] == 2 and summary.loc["1.0", "best_val_accuracy_mean"] == 0.5


def test_spreads_are_over_distinct_seeds_never_over_repeats_of_one(tmp_path):
    # The same value trained twice with the same seed (a search trying one point twice) is one observation.
    exp = tmp_path / "exp"
    fake_run(exp, "a", 0.01, 0.8, seed=42)
    fake_run(exp, "b", 0.01, 0.8, seed=42)
    fake_run(exp, "c", 0.001, 0.7, seed=42)
    fake_run(exp, "d", 0.001, 0.6, seed=43)
    summary = summarize(load_table(exp)).set_index("value")
    assert summary.loc["0.01", ["runs", "seeds"]].tolist() == [2, 1]
    assert pd.isna(summary.loc["0.01", "best_val_accuracy_std"]) and pd.isna(
        summary.loc["0.01", "best_val_accuracy_ci_low"]
    )
    assert summary.loc["0.001", "seeds"] == 2 and summary.loc["0.001", "best_val_accuracy_std"] > 0


def test_normalized_accuracy_follows_report_metric(tmp_path):
    exp = tmp_path / "lr"
    for value, best, balanced in ((0.1, 0.9, 0.5), (0.01, 0.8, 0.7)):
        config = {"dataset": {"name": "d"}, "train": {"learning_rate": value, "seed": 42}}
        fake_run(exp, f"v{value}", value, best, val_balanced_accuracy=balanced, config=config)
    assert sorted(load_table(tmp_path)["normalized_accuracy"].round(4)) == [round(0.8 / 0.9, 4), 1.0]
    for run in ("v0.1", "v0.01"):
        record = json.loads((exp / run / "record.json").read_text())
        record["config"]["report"] = {"metric": "balanced_accuracy"}
        (exp / run / "record.json").write_text(json.dumps(record))
    table = load_table(tmp_path).set_index("run")
    assert table.loc["v0.01", "normalized_accuracy"] == 1.0 and table.loc["v0.1", "normalized_accuracy"] == 0.5 / 0.7
