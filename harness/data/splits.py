"""Splits as index arrays into a source: carving val/test from train and the samples_per_class subset.

Every source is reduced to a Pool (labels + a way to load images by index), so this seeded, pure-numpy
code is the same for all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from omegaconf import DictConfig

from harness.data.fingerprints import Fingerprints
from harness.errors import ConfigError, UserError
from harness.records.record import DatasetReport


@dataclass
class Pool:
    """All examples of one source split. `load(sorted indices, then)` yields `then(image)` for each uint8 HxWx3 image
    in that order, `then` applied in the same parallel map as the decoding (identity when None)."""

    labels: np.ndarray
    ids: np.ndarray
    load: Callable[[np.ndarray, Callable | None], tf.data.Dataset]  # noqa: F821
    sizes: np.ndarray | None = None  # original (width, height) per example, where known without decoding twice
    fingerprint: str = ""  # identity of the source content: part of every cache key built on this pool
    fingerprints: Fingerprints | None = None  # per image, where taken (harness.data.fingerprints)
    exact_groups: np.ndarray | None = None  # per image, ids shared by copies (harness.data.duplicates.find)
    near_groups: np.ndarray | None = None


@dataclass
class Source:
    """What a source gives before splitting: its pools by split name (train, and val/test where it has them)."""

    pools: dict[str, Pool]
    class_names: list[str]
    skipped: list[str] = field(default_factory=list)  # unreadable or non-image files left out of a folder dataset
    notes: list[str] = field(default_factory=list)


@dataclass
class Split:
    pool: Pool
    index: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        return self.pool.labels[self.index]

    @property
    def ids(self) -> np.ndarray:
        return self.pool.ids[self.index]

    def __len__(self) -> int:
        return len(self.index)

    def images(self, then: Callable | None = None):
        """The split's images in order, each passed through `then` (a tf function) where one is given."""
        return self.pool.load(self.index, then)


@dataclass
class Splits:
    train: Split
    val: Split
    test: Split | None
    class_names: list[str]
    skipped: list[str] = field(default_factory=list)  # unreadable or non-image files left out of a folder dataset
    notes: list[str] = field(default_factory=list)
    full_train: int | None = None  # training images before the samples_per_class subset (None: no subset)
    dropped: list[str] = field(default_factory=list)  # val/test images left out as copies (dataset.duplicates=drop)
    report: DatasetReport | None = None  # what the data holds, found before training (harness.data.inspection)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def stratified_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """Positions 0..n-1 in an order that takes every class in proportion (within one example) at any prefix.

    Each example gets a key = (its rank within its shuffled class + 0.5) / class size, so taking
    examples in key order takes every class in proportion, even when classes are tiny.
    """
    rng = np.random.default_rng(seed)
    n = len(labels)
    keys = np.empty(n)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        keys[members] = (np.arange(len(members)) + 0.5) / len(members)
    return np.lexsort((rng.random(n), keys))  # equal keys (classes of equal size) in seeded random order


def stratified_split(
    labels: np.ndarray, fractions: list[float], seed: int, groups: np.ndarray | None = None
) -> list[np.ndarray]:
    """Split positions 0..n-1 into len(fractions)+1 sorted parts (the last gets the rest), stratified by label.

    `groups` (an id per example; copies of one image share one) keeps each group in one part: the groups are
    ordered as examples would be, labelled by their first member, and each part takes whole groups until it holds
    its share (one group may take it past). Without groups of two or more, the split is the ungrouped one.
    """
    n = len(labels)
    if groups is None or len(np.unique(groups)) == n:
        order = stratified_order(labels, seed)
        parts, start = [], 0
        for fraction in fractions:
            count = int(round(n * fraction))
            parts.append(np.sort(order[start : start + count]))
            start += count
        parts.append(np.sort(order[start:]))
        return parts
    _, first, group_of = np.unique(groups, return_index=True, return_inverse=True)
    sizes = np.bincount(group_of)
    order = stratified_order(labels[first], seed)
    part_of_group = np.full(len(first), len(fractions))
    at = 0
    for part, fraction in enumerate(fractions):
        target, count = int(round(n * fraction)), 0
        while count < target and at < len(order):
            part_of_group[order[at]] = part
            count += sizes[order[at]]
            at += 1
    part_of = part_of_group[group_of.reshape(-1)]
    return [np.flatnonzero(part_of == part) for part in range(len(fractions) + 1)]


def per_class_subset(labels: np.ndarray, k: int, seed: int, class_names: list[str]) -> np.ndarray:
    """Positions of a seeded subset with exactly k examples of every class present in `labels`."""
    rng = np.random.default_rng(seed)
    present, counts = np.unique(labels, return_counts=True)
    if k > counts.min():
        smallest = present[np.argmin(counts)]
        raise ConfigError(
            "data.samples_per_class",
            k,
            f"at most {counts.min()} (class {class_names[smallest]!r} has that many training images)",
        )
    chosen = [rng.permutation(np.flatnonzero(labels == label))[:k] for label in present]
    return np.sort(np.concatenate(chosen))


def assemble(
    dataset: DictConfig,
    data: DictConfig,
    pools: dict[str, Pool],
    class_names: list[str],
    skipped: list[str] | None = None,
    notes: list[str] | None = None,
) -> Splits:
    """Carve missing val/test from train (seeded, stratified), then subset train to data.samples_per_class."""
    train_pool = pools["train"]
    carve = []
    if "val" not in pools:
        carve.append(("val", dataset.val_fraction))
    if "test" not in pools and dataset.test_fraction > 0:
        carve.append(("test", dataset.test_fraction))
    parts = stratified_split(train_pool.labels, [f for _, f in carve], data.seed, train_pool.near_groups)
    splits = {"train": Split(train_pool, parts[-1])}
    for (split, _), index in zip(carve, parts):
        splits[split] = Split(train_pool, index)
    for split in ("val", "test"):
        if split in pools:
            splits[split] = Split(pools[split], np.arange(len(pools[split].labels)))
    notes = [*(notes or []), *(f"carved {split} from train ({fraction:.0%})" for split, fraction in carve)]

    full_train = None
    if data.samples_per_class is not None:
        train = splits["train"]
        full_train = len(train)
        train.index = train.index[per_class_subset(train.labels, data.samples_per_class, data.seed, class_names)]
    for split in ("train", "val"):
        if len(splits[split]) == 0:
            raise UserError(
                f"dataset {dataset.name!r} has no {split} images after splitting; add images or raise dataset.val_fraction"
            )
    test = splits.get("test")
    return Splits(
        splits["train"],
        splits["val"],
        test if test is not None and len(test) else None,
        class_names,
        list(skipped or []),
        notes,
        full_train,
    )
