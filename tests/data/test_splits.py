"""Splits: carving val/test from train and samples_per_class subsets, seeded and stratified."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data.splits import per_class_subset, stratified_split
from harness.errors import ConfigError
from tests.helpers import make_cfg, splits_of


def labels_of(split):
    return np.bincount(split.labels, minlength=3)


def test_stratified_split_is_disjoint_complete_proportional_and_seeded():
    labels = np.repeat(np.arange(4), [50, 30, 15, 5])
    val, test, train = stratified_split(labels, [0.1, 0.1], seed=0)
    assert len(val) == 10 and len(test) == 10 and len(train) == 80
    assert sorted(np.concatenate([val, test, train])) == list(range(100))
    share = np.bincount(labels[val], minlength=4)
    assert (np.abs(share - np.array([50, 30, 15, 5]) * 0.1) <= 1).all()
    again = stratified_split(labels, [0.1, 0.1], seed=0)
    assert all((a == b).all() for a, b in zip(again, (val, test, train)))
    other = stratified_split(labels, [0.1, 0.1], seed=1)
    assert not (other[0] == val).all()


def test_stratified_split_gives_every_class_a_share_of_val():
    labels = np.repeat(np.arange(5), 40)
    val, train = stratified_split(labels, [0.2], seed=3)
    assert np.bincount(labels[val]).tolist() == [8] * 5


def test_per_class_subset_takes_exactly_k_of_each_class():
    labels = np.repeat(np.arange(3), [10, 7, 5])
    chosen = per_class_subset(labels, 4, seed=0, class_names=["a", "b", "c"])
    assert np.bincount(labels[chosen]).tolist() == [4, 4, 4]
    with pytest.raises(ConfigError, match="at most 5 .*'c'"):
        per_class_subset(labels, 6, seed=0, class_names=["a", "b", "c"])


def test_samples_per_class_subsets_only_the_training_split(image_folder):
    cfg = make_cfg("dataset=folder", f"dataset.path={image_folder}", "data.samples_per_class=2")
    splits = splits_of(cfg)
    assert labels_of(splits.train).tolist() == [2, 2, 2] and len(splits.val) == 9
    again = splits_of(cfg)
    assert (again.train.index == splits.train.index).all()


def test_samples_per_class_beyond_a_carved_train_split_is_a_config_error(image_folder):
    import shutil

    shutil.rmtree(image_folder / "val")
    cfg = make_cfg(
        "dataset=folder", f"dataset.path={image_folder}", "data.samples_per_class=6", "dataset.val_fraction=0.5"
    )
    with pytest.raises(ConfigError, match="data.samples_per_class"):
        splits_of(cfg)


def test_a_study_carves_one_test_split_disjoint_from_train_and_val_and_the_same_for_every_seed(image_folder):
    import shutil

    shutil.rmtree(image_folder / "test")  # no test/ folder: the study carves one from train
    base = ["dataset=folder", f"dataset.path={image_folder}", "study=chapter5"]
    splits = splits_of(make_cfg(*base))
    assert len(splits.test) == 4 and set(labels_of(splits.test)) <= {1, 2}  # 20% of 18, stratified within one image
    assert splits.test.pool is splits.train.pool and not set(splits.test.index) & set(splits.train.index)
    assert splits.val.pool is not splits.train.pool  # val/ is its own folder
    for other in (make_cfg(*base, "train.seed=43"), make_cfg(*base, "data.samples_per_class=1")):
        assert (splits_of(other).test.ids == splits.test.ids).all()
