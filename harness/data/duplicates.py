"""Copies of one image inside a dataset: found over every pool at once, grouped, and what `dataset.duplicates` does.

Two images are copies when their exact fingerprints are equal, or both are comparable and their perceptual hashes
differ in at most `dataset.near_duplicate_bits` bits; a group is a connected component of that relation
(scipy's), so a chain of near copies is one group. Group ids are global across the pools, so a split carved from
train and a split of its own can be compared. The pairs are found once per set of fingerprints and threshold, and
cached.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.data import fingerprints
from harness.data.fingerprints import Fingerprints
from harness.data.splits import Pool, Split, Splits
from harness.errors import ConfigError
from harness.storage import cache

log = logging.getLogger(__name__)

POLICIES = ("warn", "drop", "error", "off")
SPLIT_ORDER = ("train", "val", "test")  # a copy is charged to the later split: val shares with train, test with both
_ROWS, _COLUMNS = 256, 4096  # a tile of the all-pairs comparison: 8 MB of XORs, in a 2-core machine's cache


def exact_pairs(exact: np.ndarray) -> np.ndarray:
    """(i, j) positions, i < j, of images with equal exact fingerprints, each group as a chain."""
    order = np.argsort(exact, kind="stable")
    same = exact[order][1:] == exact[order][:-1]
    return np.stack([order[:-1][same], order[1:][same]], axis=1)


def near_pairs(found: Fingerprints, max_bits: int) -> np.ndarray:
    """(i, j) positions, i < j, of comparable images whose perceptual hashes differ in at most max_bits bits, in
    (i, j) order.

    All pairs are compared, a tile of hashes against another at a time (small enough to stay in the processor's
    cache), on their first two words first: two distinct images differ there in about 64 of 128 bits, so all
    but a few pairs are ruled out before the other words are read (the bits of a part never exceed the whole's).
    On 100,000 images this took 38 s with all four words of a whole row block at once; the same pairs come out."""
    positions = np.flatnonzero(found.comparable)
    words = [np.ascontiguousarray(found.perceptual[positions, w]) for w in range(fingerprints.WORDS)]
    count, pairs = len(positions), []
    xor = np.empty((_ROWS, _COLUMNS), np.uint64)
    bits, more = np.empty((_ROWS, _COLUMNS), np.uint8), np.empty((_ROWS, _COLUMNS), np.uint8)
    for start in range(0, count, _ROWS):
        rows = slice(start, min(start + _ROWS, count))
        for first in range(start, count, _COLUMNS):
            cols = slice(first, min(first + _COLUMNS, count))
            shape = (rows.stop - rows.start, cols.stop - cols.start)
            x, b, m = xor[: shape[0], : shape[1]], bits[: shape[0], : shape[1]], more[: shape[0], : shape[1]]
            np.bitwise_count(np.bitwise_xor(words[0][rows, None], words[0][None, cols], out=x), out=b)
            np.bitwise_count(np.bitwise_xor(words[1][rows, None], words[1][None, cols], out=x), out=m)
            near = np.add(b, m, out=b) <= max_bits  # at most 128: no overflow
            if not near.any():
                continue
            i, j = np.nonzero(near)
            later = j + first > i + start  # the upper triangle: each pair once, no image with itself
            i, j = i[later], j[later]
            distance = b[i, j].astype(np.uint16)
            i, j = i + start, j + first
            for word in words[2:]:
                distance += np.bitwise_count(word[i] ^ word[j])
            close = distance <= max_bits
            pairs.append(np.stack([positions[i[close]], positions[j[close]]], axis=1))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    found_pairs = np.concatenate(pairs)
    return found_pairs[np.lexsort((found_pairs[:, 1], found_pairs[:, 0]))]


def components(count: int, pairs: np.ndarray) -> np.ndarray:
    """Group id per image: images joined by a chain of pairs share one."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ones = np.ones(len(pairs), dtype=np.int8)
    graph = coo_matrix((ones, (pairs[:, 0], pairs[:, 1])), shape=(count, count)) if len(pairs) else None
    if graph is None:
        return np.arange(count)
    return connected_components(graph, directed=False)[1]


def _pairs(found: Fingerprints, max_bits: int, key: str, cache_root: Path | None) -> tuple[np.ndarray, np.ndarray]:
    def find():
        return [exact_pairs(found.exact).tolist(), near_pairs(found, max_bits).tolist()]

    value = cache.json_value(
        cache_root,
        f"duplicates/{key}.json",
        find,
        lambda v: isinstance(v, list) and len(v) == 2 and all(_is_pairs(p, len(found)) for p in v),
    )
    return tuple(np.asarray(p, dtype=np.int64).reshape(-1, 2) for p in value)


def _is_pairs(value: object, count: int) -> bool:
    return isinstance(value, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(i, int) and 0 <= i < count for i in p) for p in value
    )


def find(pools: dict[str, Pool], max_bits: int, cache_root: Path | None) -> None:
    """Give every pool its images' exact and near group ids (Pool.exact_groups, Pool.near_groups)."""
    names = [name for name in SPLIT_ORDER if name in pools]
    parts = [pools[name].fingerprints for name in names]
    found = Fingerprints.concatenate(parts)
    key = cache.digest("duplicates", found.exact, found.perceptual, found.comparable, max_bits)  # what was compared
    exact, near = _pairs(found, max_bits, key, cache_root)
    exact_groups = components(len(found), exact)
    near_groups = components(len(found), np.concatenate([exact, near]))
    start = 0
    for name, part in zip(names, parts):
        pools[name].exact_groups = exact_groups[start : start + len(part)]
        pools[name].near_groups = near_groups[start : start + len(part)]
        start += len(part)


@dataclass
class Leak:
    """Images of a later split (`split`) that have a copy in an earlier one (`shares_with`)."""

    split: str
    shares_with: str
    positions: np.ndarray  # positions within the later split
    exact: int  # of them, how many have an exact copy there


def leaks(splits: Splits) -> list[Leak]:
    """Each later split's images with a copy in an earlier split, train before val before test."""
    named = {name: s for name, s in (("train", splits.train), ("val", splits.val), ("test", splits.test)) if s}
    found = []
    for later_at, later in enumerate(SPLIT_ORDER):
        for earlier in SPLIT_ORDER[:later_at]:
            if later not in named or earlier not in named or named[later].pool.near_groups is None:
                continue
            near = np.isin(_groups(named[later], "near"), _groups(named[earlier], "near"))
            exact = np.isin(_groups(named[later], "exact"), _groups(named[earlier], "exact"))
            if near.any():
                found.append(Leak(later, earlier, np.flatnonzero(near), int(exact.sum())))
    return found


def _groups(split: Split, kind: str) -> np.ndarray:
    return getattr(split.pool, f"{kind}_groups")[split.index]


def within(split: Split | None) -> tuple[int, int]:
    """(near, exact) copies inside one split: its images minus its groups."""
    if split is None or split.pool.near_groups is None:
        return 0, 0
    return (len(split) - len(np.unique(_groups(split, "near"))), len(split) - len(np.unique(_groups(split, "exact"))))


def conflicting_labels(splits: Splits) -> int:
    """Groups of copies whose images carry more than one class: the same picture labelled twice."""
    every = [s for s in (splits.train, splits.val, splits.test) if s is not None and s.pool.near_groups is not None]
    if not every:
        return 0
    groups = np.concatenate([_groups(s, "near") for s in every])
    labels = np.concatenate([s.labels for s in every])
    pairs = np.unique(np.stack([groups, labels], axis=1), axis=0)
    return int((np.bincount(pairs[:, 0].astype(np.int64)) > 1).sum())


def describe(leak: Leak) -> str:
    return f"{leak.split} shares {len(leak.positions)} image(s) with {leak.shares_with} ({leak.exact} of them exact)"


def apply(splits: Splits, policy: str, max_bits: int) -> Splits:
    """What `dataset.duplicates` says to do with copies across splits: warn (kept; the report and a console line
    say so), drop (the later split's copies left out and listed in the record), error (refused, exit 2)."""
    found = leaks(splits)
    if not found or policy in ("warn", "off"):
        return splits
    if policy == "error":
        leak = found[0]
        example = f"{leak.split}'s {splits_example(splits, leak)}"
        raise ConfigError(
            "dataset.duplicates",
            "error",
            f"splits without copies of each other: {describe(leak)} (perceptual hashes within {max_bits} bits; "
            f"e.g. {example}); dataset.duplicates=drop leaves them out of {leak.split}",
        )
    for name in dict.fromkeys(leak.split for leak in found):
        split = getattr(splits, name)
        keep = np.ones(len(split), dtype=bool)
        for leak in found:
            if leak.split == name:
                keep[leak.positions] = False
        splits.dropped.extend(str(i) for i in split.ids[~keep])
        split.index = split.index[keep]
    splits.notes.append(
        f"dropped {len(splits.dropped)} image(s) of val/test with a copy in an earlier split (dataset.duplicates=drop)"
    )
    if len(splits.val) == 0:
        raise ConfigError(
            "dataset.duplicates", "drop", "a val split that keeps images: every val image has a copy in train"
        )
    if splits.test is not None and len(splits.test) == 0:
        splits.test = None
    return splits


def splits_example(splits: Splits, leak: Leak) -> str:
    return str(getattr(splits, leak.split).ids[leak.positions[0]])
