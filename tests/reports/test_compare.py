"""Paired comparisons over seeds on hand-made tables: intervals, the knob ranking and each finding's verdict,
including ties, one seed, failed and diverged runs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness.records.record import pack_correct, unpack_correct
from harness.reports.compare import (
    Paired,
    compare,
    findings,
    knob_ranking,
    paired,
    paired_images_se,
    scores,
    shared_images_se,
    verdict,
)


def table(rows: list[tuple]) -> pd.DataFrame:
    """(experiment, value, seed, test accuracy, best val accuracy[, status]) -> a study's load_table columns."""
    out = []
    for row in rows:
        experiment, value, seed, test, val, *status = row
        out.append(
            {
                "sweep": experiment,
                "value": value,
                "seed": seed,
                "test_accuracy": test,
                "best_val_accuracy": val,
                "status": status[0] if status else "completed",
                "chance": 0.25,
            }
        )
    return pd.DataFrame(out)


LR = {"learning_rate": {"knob": "train.learning_rate", "baseline": 0.001}}


def test_paired_interval_is_a_t_interval_of_the_mean_difference():
    result = paired([0.02, 0.04, 0.06])
    assert result.pairs == 3 and result.mean == pytest.approx(0.04) and result.std == pytest.approx(0.02)
    half = 4.302653 * 0.02 / math.sqrt(3)  # t(0.975, 2 dof)
    assert (result.low, result.high) == (pytest.approx(0.04 - half), pytest.approx(0.04 + half))


def test_with_per_image_results_the_test_image_term_is_mcnemars_from_the_images_they_disagree_on():
    n = 144
    right = np.ones(n, bool)
    right[:5] = False  # none misses 5 images
    better = right.copy()
    better[0] = True  # basic gets one of them right, and nothing else differs
    rows = table(
        [
            ("augmentation", v, s, acc, acc)
            for s in (1, 2, 3)
            for v, acc in [("basic", better.mean()), ("none", right.mean())]
        ]
    ).assign(num_test=n)
    rows["test_correct"] = [pack_correct(better if v == "basic" else right) for v in rows["value"]]
    exact = compare(scores(rows), ["basic"], ["none"])
    bound = compare(scores(rows.drop(columns="test_correct")), ["basic"], ["none"])
    d = np.zeros(n)
    d[0] = 1
    assert paired_images_se(scores(rows), ["basic"], ["none"]) == pytest.approx(d.std() / math.sqrt(n))
    assert bound.low < exact.low < 0 < exact.high < bound.high, "narrower than the bound, and still not a win"
    assert verdict("beats", exact) == "inconclusive"
    rows.loc[0, "test_correct"] = None  # one run without them: the bound for the whole comparison
    assert compare(scores(rows), ["basic"], ["none"]) == bound


def test_per_image_results_round_trip():
    correct = np.random.default_rng(0).random(1001) > 0.3
    text = pack_correct(correct)
    assert len(text) == 2 * 126 and np.array_equal(unpack_correct(text, 1001), correct)


def test_the_test_image_term_is_the_largest_paired_standard_error_added_in_quadrature():
    assert shared_images_se(0.9, 0.8, 100) == pytest.approx(math.sqrt(0.3 / 100))
    assert shared_images_se(0.9, 0.8, 100, relative=True) == pytest.approx(math.sqrt(0.3 / 100) / 0.8)
    assert shared_images_se(0.9, 0.8, float("nan")) == 0.0, "unknown image counts add nothing (old records)"
    result = paired([0.02, 0.04, 0.06], test_se=0.01)
    half = math.hypot(4.302653 * 0.02 / math.sqrt(3), 1.959964 * 0.01)
    assert (result.low, result.high) == (pytest.approx(0.04 - half), pytest.approx(0.04 + half))


def test_one_pair_has_no_interval_and_no_pair_has_no_mean():
    one = paired([0.1])
    assert one.pairs == 1 and not one.has_interval and "one seed" in one.text()
    none = paired([np.nan])
    assert none.pairs == 0 and "n/a" in none.text()


def test_identical_differences_give_a_degenerate_interval_and_ties_give_zero():
    assert paired([0.0, 0.0, 0.0]) == Paired(3, 0.0, 0.0, 0.0, 0.0)
    assert verdict("beats", paired([0.0, 0.0, 0.0])) == "inconclusive"  # a tie is not a win


def test_the_shared_test_images_widen_the_interval_so_one_image_proves_nothing():
    # flowers12, 144 test images: basic augmentation got one more image right than none with each of 3 seeds
    one_image = 1 / 144
    rows = table(
        [
            ("augmentation", v, s, acc, acc)
            for s in (1, 2, 3)
            for v, acc in [("basic", 0.975), ("none", 0.975 - one_image)]
        ]
    ).assign(num_test=144)
    result = compare(scores(rows), ["basic"], ["none"])
    assert result.std == 0 and result.low < 0 < result.high, "three equal seeds do not make an interval of zero width"
    assert verdict("beats", result) == "inconclusive"
    assert verdict("beats", paired([0.0, 0.0, 0.0])) == "inconclusive"
    # 50 points on the same 144 images is far beyond what drawing other test images could do
    big = table([("spc", v, s, acc, acc) for s in (1, 2, 3) for v, acc in [(10, 0.9 + s / 100), (1, 0.4)]])
    assert verdict("beats", compare(scores(big.assign(num_test=144)), [10], [1])) == "holds"


@pytest.mark.parametrize(
    "differences, expected",
    [
        ([0.05, 0.06, 0.07], "holds"),
        ([-0.05, -0.06, -0.07], "does not hold"),
        ([0.05, -0.04, 0.01], "inconclusive"),
        ([0.05], "inconclusive"),
    ],
)
def test_beats_verdict_needs_the_whole_interval_on_one_side_of_zero(differences, expected):
    assert verdict("beats", paired(differences)) == expected


@pytest.mark.parametrize(
    "ratios, expected",
    [([-0.01, -0.02, 0.0], "holds"), ([-0.20, -0.22, -0.21], "does not hold"), ([-0.01, -0.10, 0.05], "inconclusive")],
)
def test_within_verdict_compares_the_relative_interval_with_the_margin(ratios, expected):
    assert verdict("within", paired(ratios), margin=0.05) == expected


def test_comparison_is_paired_by_seed_and_drops_unpaired_seeds():
    rows = scores(
        table(
            [
                ("lr", 0.001, 1, 0.80, 0.8),
                ("lr", 0.1, 1, 0.70, 0.7),
                ("lr", 0.001, 2, 0.60, 0.6),
                ("lr", 0.1, 2, 0.50, 0.5),  # a hard seed: both lower, the same gap
                ("lr", 0.001, 3, 0.90, 0.9),
                ("lr", 0.1, 3, None, None, "failed"),  # no partner: dropped
            ]
        )
    )
    result = compare(rows, [0.001], [0.1])
    assert result.pairs == 2 and result.mean == pytest.approx(0.10) and result.std == pytest.approx(0.0)


def test_a_diverged_run_counts_at_chance_level_and_a_failed_one_as_missing():
    rows = scores(
        table(
            [
                ("lr", 0.1, 1, None, 0.3, "diverged"),
                ("lr", 0.01, 1, None, None, "failed"),
                ("lr", 0.001, 1, 0.9, 0.9, "running"),
            ]
        )
    )
    assert rows["score"].tolist()[0] == 0.25 and rows["score"].isna().tolist()[1:] == [True, True]


def test_groups_of_values_are_averaged_per_seed_before_pairing():
    rows = scores(
        table(
            [
                (e, v, s, acc, acc)
                for s in (1, 2, 3)
                for e, v, acc in [
                    ("opt", "adam", 0.8 + s / 100),
                    ("opt", "rmsprop", 0.7 + s / 100),
                    ("opt", "sgd", 0.5),
                    ("opt", "adadelta", 0.3),
                ]
            ]
        )
    )
    result = compare(rows, ["adam", "rmsprop"], ["sgd", "adadelta"])
    assert result.pairs == 3 and result.mean == pytest.approx(0.75 + 0.02 - 0.4)


def test_values_match_however_they_were_stored():
    rows = scores(table([("spc", np.nan, 1, 0.9, 0.9), ("spc", 1.0, 1, 0.3, 0.3)]))  # null and 1 as pandas keeps them
    assert compare(rows, [None], [1]).mean == pytest.approx(0.6)


def test_findings_table_gives_numbers_and_verdict_per_claim():
    runs = table(
        [("learning_rate", v, s, acc + s / 100, acc) for s in (1, 2, 3) for v, acc in [(0.001, 0.9), (0.1, 0.3)]]
    )
    claims = [
        {"claim": "1e-3 beats 1e-1", "experiment": "learning_rate", "test": "beats", "better": [0.001], "worse": [0.1]},
        {"claim": "1e-1 beats 1e-3", "experiment": "learning_rate", "test": "beats", "better": [0.1], "worse": [0.001]},
        {
            "claim": "0.1 within 5%",
            "experiment": "learning_rate",
            "test": "within",
            "better": [0.1],
            "worse": [0.001],
            "margin": 0.05,
        },
    ]
    found = findings(runs, claims)
    assert found["verdict"].tolist() == ["holds", "does not hold", "does not hold"]
    assert found.loc[0, "better_mean"] == pytest.approx(0.92) and found.loc[0, "pairs"] == 3
    assert found.loc[0, "shown"].startswith("+60.0 pts [")


def test_ranking_picks_best_and_worst_by_val_and_measures_them_on_test():
    rows = []
    for s in (1, 2, 3):
        rows += [
            ("learning_rate", 0.001, s, 0.80 + s / 100, 0.80),
            ("learning_rate", 0.01, s, 0.85 + s / 100, 0.86),
            ("learning_rate", 0.1, s, 0.30, 0.30),
        ]
        rows += [("batch_size", 32, s, 0.80 + s / 100, 0.80), ("batch_size", 64, s, 0.80 + (s % 2) / 50, 0.81)]
    experiments = {**LR, "batch_size": {"knob": "train.batch_size", "baseline": 32}}
    ranking = knob_ranking(table(rows), experiments).set_index("experiment")
    lr, batch = ranking.loc["learning_rate"], ranking.loc["batch_size"]
    assert (lr["best"], lr["worst"], lr["verdict"], lr["rank"]) == ("0.01", "0.1", "matters", 1)
    assert lr["gain"] == pytest.approx(0.05) and lr["loss"] == pytest.approx(-0.52)
    assert batch["best"] == "64" and batch["verdict"] == "no clear effect at this noise level" and batch["rank"] == 2


def test_ranking_with_one_seed_or_ties_claims_nothing():
    one = knob_ranking(table([("learning_rate", 0.001, 1, 0.8, 0.8), ("learning_rate", 0.1, 1, 0.3, 0.3)]), LR)
    assert one.loc[0, "verdict"] == "inconclusive (one seed: no interval)"
    tied = knob_ranking(table([("learning_rate", v, s, 0.5, 0.5) for v in (0.001, 0.1) for s in (1, 2, 3)]), LR)
    assert (tied.loc[0, "best"], tied.loc[0, "worst"]) == ("0.001", "0.001")  # a tie with the baseline is the baseline
    assert tied.loc[0, "verdict"] == "no clear effect at this noise level"


def test_ranking_of_an_experiment_without_its_baseline_says_so():
    ranking = knob_ranking(table([("learning_rate", 0.1, 1, 0.3, 0.3)]), LR)
    assert ranking.loc[0, "verdict"] == "no runs to compare"


def test_two_seeds_decide_nothing_however_large_or_steady_the_gap():
    # The pair: a 35-point gap that varies (interval with 1 degree of freedom spans 0) and a 5-point
    # gap that repeats (its interval excludes 0). Neither is evidence with 2 seeds.
    varying = paired([0.55, 0.15])
    steady = paired([-0.050, -0.056])
    assert varying.has_interval and varying.low < 0 < varying.high
    assert steady.has_interval and steady.high < 0 and not steady.decides and "2 seeds: too few" in steady.text()
    assert verdict("beats", steady) == verdict("beats", varying) == "inconclusive"
    rows = [("learning_rate", 0.001, s, 0.80, 0.80) for s in (1, 2)] + [
        ("learning_rate", 0.1, s, 0.75 - s / 200, 0.7) for s in (1, 2)
    ]
    assert knob_ranking(table(rows), LR).loc[0, "verdict"] == "inconclusive (2 seeds: too few for a verdict)"
    rows += [("learning_rate", 0.001, 3, 0.80, 0.80), ("learning_rate", 0.1, 3, 0.74, 0.7)]
    assert knob_ranking(table(rows), LR).loc[0, "verdict"] == "matters"


def test_every_value_is_compared_with_its_experiments_baseline_for_the_forest_plot():
    from harness.reports.compare import value_effects

    rows = [
        ("learning_rate", v, s, acc + s / 100, acc)
        for s in (1, 2, 3)
        for v, acc in ((0.001, 0.8), (0.01, 0.85), (0.1, 0.3))
    ]
    effects = value_effects(
        table(rows), {"learning_rate": {"knob": "train.learning_rate", "baseline": 0.001, "values": [0.1, 0.01, 0.001]}}
    )
    assert effects[["value", "baseline", "pairs"]].values.tolist() == [["0.1", "0.001", 3], ["0.01", "0.001", 3]]
    assert effects["difference"].tolist() == [pytest.approx(-0.5), pytest.approx(0.05)] and effects["clear"].all()
