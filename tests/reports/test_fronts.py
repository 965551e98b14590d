"""Accuracy against cost: the Pareto front, and the most accurate run within a budget judged over seeds."""

from __future__ import annotations

import pandas as pd

from harness.records.record import Cost
from harness.reports import fronts
from harness.reports import sweep_report as report
from harness.reports.tables import load_table
from tests.helpers import fake_run


def test_the_front_keeps_what_nothing_beats_on_both_counts():
    accuracy = pd.Series([0.90, 0.80, 0.90, 0.70, 0.95])
    latency = pd.Series([10.0, 5.0, 10.0, 6.0, 20.0])
    # 0 and 2 tie (both stay), 3 is beaten by 1 (faster and more accurate), 4 is the most accurate
    assert fronts.pareto(accuracy, latency).tolist() == [True, True, True, False, True]


def test_a_run_that_dominates_all_is_the_whole_front():
    assert fronts.pareto(pd.Series([0.99, 0.9, 0.8]), pd.Series([1.0, 2.0, 3.0])).tolist() == [True, False, False]
    assert fronts.pareto(pd.Series([0.9, float("nan")]), pd.Series([1.0, 2.0])).tolist() == [True, False]


def _grid(exp, sizes: dict, seeds=(42, 43, 44)):
    """An image-size sweep: per size (accuracy per seed, ms per image, MB)."""
    for size, (accuracies, latency, mb) in sizes.items():
        for seed, accuracy in zip(seeds, accuracies):
            cost = Cost(1000, 1000, size * 1000, mb, [size, size], latency, latency * 1.2, 100.0, 30, 2, "cpu", 1.0)
            fake_run(
                exp,
                f"image_size={size},seed={seed}",
                size,
                accuracy,
                seed=seed,
                test_accuracy=accuracy,
                cost=cost,
                num_test=200,
                num_val=200,
                num_classes=2,
            )


def _values(exp):
    table = load_table(exp)
    return table, fronts.with_fronts(fronts.per_value(table))


def test_the_most_accurate_run_within_the_budget_is_judged_against_the_runner_up(tmp_path):
    _grid(
        tmp_path / "e",
        {32: ([0.70, 0.72, 0.71], 2.0, 1.0), 64: ([0.80, 0.83, 0.81], 5.0, 1.0), 128: ([0.90, 0.91, 0.92], 20.0, 1.0)},
    )
    table, values = _values(tmp_path / "e")
    text = fronts.answer(table, values, fronts.Budget(latency_ms=10))
    assert text.startswith("most accurate within 10 ms per image: 64 (test accuracy 0.813, 5.00 ms")
    assert "against the runner-up 32" in text and "clearly more accurate" in text
    assert fronts.answer(table, values, fronts.Budget()).startswith("most accurate within no budget: 128")


def test_no_clear_difference_names_the_cheaper_one(tmp_path):
    _grid(tmp_path / "e", {32: ([0.80, 0.83, 0.81], 2.0, 1.0), 64: ([0.81, 0.82, 0.82], 5.0, 1.0)})
    table, values = _values(tmp_path / "e")
    text = fronts.answer(table, values, fronts.Budget(latency_ms=10))
    assert "no clear difference: the cheaper 32 is as good" in text


def test_no_run_fits_says_what_the_cheapest_costs(tmp_path):
    _grid(tmp_path / "e", {32: ([0.7, 0.7, 0.7], 2.0, 1.0), 64: ([0.8, 0.8, 0.8], 5.0, 3.0)})
    table, values = _values(tmp_path / "e")
    text = fronts.answer(table, values, fronts.Budget(latency_ms=1, size_mb=0.5))
    assert text.startswith("no run fits 1 ms per image and 0.5 MB: the cheapest is 32 at 2.00 ms, 1.00 MB")


def test_a_sweep_whose_values_cost_the_same_has_no_front(tmp_path):
    for rate in (0.01, 0.001):
        fake_run(tmp_path / "lr", f"lr={rate}", rate, 0.9, cost=Cost(1, 1, 5000, 1.0, [32, 32], 1.0))
    assert not fronts.costs_differ(fronts.per_value(load_table(tmp_path / "lr")))
    report.write_report(tmp_path / "lr")
    assert "Accuracy and cost" not in (tmp_path / "lr" / "summary.md").read_text()


def test_the_report_shows_the_front_and_answers_the_budget_of_its_records(tmp_path, capsys):
    exp = tmp_path / "e"
    _grid(exp, {32: ([0.70, 0.72, 0.71], 2.0, 1.0), 64: ([0.80, 0.83, 0.81], 5.0, 1.0)})
    report.main([str(exp), "--latency-budget-ms", "3"])
    assert "cost: most accurate within 3 ms per image: 32" in capsys.readouterr().out
    markdown = (exp / "summary.md").read_text()
    assert "## Accuracy and cost" in markdown and "front (latency)" in markdown
    assert (exp / "accuracy_cost.png").stat().st_size > 10_000


def test_old_records_without_a_cost_still_make_a_table_and_a_report(tmp_path):
    fake_run(tmp_path / "e", "lr=0.1", 0.1, 0.8)  # no cost: written before 0.4
    fake_run(tmp_path / "e", "lr=0.01", 0.01, 0.9, cost=Cost(1, 1, 5000, 1.0, [32, 32], 1.5))
    table = load_table(tmp_path / "e")
    assert table.set_index("run").loc["lr=0.1", "latency_ms"] != table.set_index("run").loc["lr=0.1", "latency_ms"]
    assert report.write_report(tmp_path / "e")["completed"] == 2


def test_a_budget_that_is_not_a_positive_number_is_refused(tmp_path, capsys):
    import pytest

    for bad in ("-1", "abc", "0"):
        with pytest.raises(SystemExit) as stopped:
            report.main([str(tmp_path), "--latency-budget-ms", bad])
        assert stopped.value.code == 2
        assert f"argument --latency-budget-ms: '{bad}' is not" in capsys.readouterr().err
