"""Results as pandas: one row per run, normalized to the best completed run of its experiment."""

from __future__ import annotations

import numpy as np
import pytest

from harness import report
from harness.results import load_history, load_table
from tests.helpers import fake_run


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
    assert summary.loc["0.01", "normalized_accuracy_std"] == pytest.approx(0.125)
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


def test_columns_say_what_they_hold_and_old_names_remain_for_one_release(tmp_path):
    fake_run(tmp_path / "exp", "lr=0.01", 0.01, 0.8)
    table = load_table(tmp_path)
    row = table.iloc[0]
    assert (row["sweep"], row["config_key"], row["value"]) == ("learning_rate", "train.learning_rate", 0.01)
    assert list(table.columns[2:4]) == ["sweep", "config_key"] and list(table.columns[-2:]) == ["knob", "knob_key"]
    assert (row["knob"], row["knob_key"]) == (row["sweep"], row["config_key"])
    assert load_history(tmp_path)["knob"].tolist() == ["learning_rate"] * 2
