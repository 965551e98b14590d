"""Analysis tables: one row per image, the three selections, confusion counts, aspect-ratio buckets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.reports.analysis import tables as analyze

CLASSES = ["cat", "dog", "fox"]


def hand_made() -> pd.DataFrame:
    """Six images: true / predicted / probability chosen so every selection has a known answer."""
    true = np.array([0, 0, 0, 1, 1, 2])
    probs = np.array(
        [
            [0.90, 0.05, 0.05],  # cat as cat, sure
            [0.50, 0.30, 0.20],  # cat as cat, unsure
            [0.10, 0.80, 0.10],  # cat as dog, sure and wrong
            [0.20, 0.70, 0.10],  # dog as dog
            [0.60, 0.35, 0.05],  # dog as cat, wrong
            [0.30, 0.30, 0.40],  # fox as fox, barely
        ]
    )
    sizes = np.array([[100, 100], [150, 100], [75, 100], [200, 100], [94, 100], [180, 100]])
    return analyze.prediction_table(probs, true, CLASSES, np.array([f"img{i}" for i in range(6)]), sizes)


def test_prediction_table_has_one_row_per_image_with_probabilities_and_original_shape():
    table = hand_made()
    assert list(table.columns) == [
        "id",
        "true",
        "predicted",
        "true_index",
        "predicted_index",
        "probability",
        "probability_true",
        "correct",
        "width",
        "height",
        "aspect_ratio",
    ]
    assert len(table) == 6 and table["correct"].tolist() == [True, True, False, True, False, True]
    assert (
        table.loc[2, "predicted"] == "dog"
        and table.loc[2, "probability"] == 0.8
        and table.loc[2, "probability_true"] == 0.1
    )
    assert table.loc[1, "aspect_ratio"] == 1.5


def test_the_three_questions_per_class():
    chosen = analyze.select(hand_made(), n=2)

    def ids(kind, name):
        return chosen[(chosen["kind"] == kind) & (chosen["class"] == name)]["id"].tolist()

    assert ids("most_confident_correct", "cat") == ["img0", "img1"]
    assert ids("least_confident", "cat") == ["img1", "img4"]  # predicted cat, lowest probability first
    assert ids("most_confident_wrong", "cat") == ["img4"]  # a dog taken for a cat
    assert ids("most_confident_wrong", "dog") == ["img2"]
    assert ids("most_confident_wrong", "fox") == [] and ids("most_confident_correct", "fox") == ["img5"]
    assert analyze.select(hand_made(), n=1).groupby(["kind", "class"]).size().max() == 1


def test_confusion_matrix_counts_every_image_once_and_scores_each_class():
    table = hand_made()
    counts, per_class = analyze.confusion(table, CLASSES)
    assert counts.sum() == len(table) and np.trace(counts) == table["correct"].sum()
    assert counts.sum(axis=1).tolist() == [3, 2, 1]  # rows are true classes
    assert counts[0, 1] == 1 and counts[1, 0] == 1
    cat = per_class.set_index("class").loc["cat"]
    assert cat["recall"] == pytest.approx(2 / 3) and cat["precision"] == pytest.approx(2 / 3) and cat["support"] == 3


def test_aspect_ratio_edges_belong_to_the_bucket_above():
    ratios = [0.5, 0.75, 0.9499, 0.95, 1.0, 1.05, 1.3999, 1.4, 1.8, 3.0]
    assert analyze.aspect_bucket(ratios).astype(str).tolist() == [
        "<0.75",
        "0.75-0.95",
        "0.75-0.95",
        "0.95-1.05",
        "0.95-1.05",
        "1.05-1.4",
        "1.05-1.4",
        "1.4-1.8",
        ">=1.8",
        ">=1.8",
    ]
    buckets = analyze.by_aspect_ratio(hand_made()).set_index("bucket")
    assert buckets["count"].sum() == 6 and list(buckets.index) == analyze.BUCKET_LABELS
    assert (
        buckets.loc["0.75-0.95", "count"] == 2 and buckets.loc["0.75-0.95", "accuracy"] == 0
    )  # 0.75 and 0.94, both wrong
    assert buckets.loc[">=1.8", "count"] == 2 and buckets.loc[">=1.8", "accuracy"] == 1  # 1.8 and 2.0
    assert buckets.loc["<0.75", "count"] == 0 and np.isnan(buckets.loc["<0.75", "accuracy"])
