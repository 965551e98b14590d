"""Copies across and inside splits: found exactly where planted, nowhere else; drop, error, and carving that keeps
copies together."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data import duplicates, fingerprints
from harness.data.splits import stratified_split
from harness.errors import ConfigError
from tests.helpers import copies_of, make_cfg, smooth_image, splits_of, write_leaking_folder, write_photos


def folder_cfg(path, *overrides):
    return make_cfg("dataset=folder", f"dataset.path={path}", *overrides)


def test_pairs_within_the_bits_are_found_and_chains_become_one_group():
    words = fingerprints.WORDS
    perceptual = np.zeros((5, words), dtype=np.uint64)
    perceptual[1, 0], perceptual[2, 0], perceptual[3] = 0b111, 0b111111, 2**64 - 1  # 0, 3, 6 and 256 bits set
    perceptual[4, 0] = 0b111
    found = fingerprints.Fingerprints(
        exact=np.array([1, 2, 3, 4, 2], dtype=np.uint64),
        perceptual=perceptual,
        comparable=np.array([True, True, True, True, False]),
    )
    assert duplicates.exact_pairs(found.exact).tolist() == [[1, 4]]
    assert duplicates.near_pairs(found, 3).tolist() == [[0, 1], [1, 2]]  # the fifth is not comparable
    groups = duplicates.components(5, np.array([[1, 4], [0, 1], [1, 2]]))
    assert len(set(groups[[0, 1, 2, 4]])) == 1 and groups[3] != groups[0]


@pytest.mark.parametrize("max_bits", [0, 12, 40, 128])
def test_the_tiled_search_finds_the_pairs_a_full_comparison_does_in_order(max_bits):
    """Hashes in clusters (copies a few bits apart, look-alikes tens of bits apart) across several tiles, some not
    comparable: every pair within max_bits, i < j, sorted, and nothing else."""
    rng = np.random.default_rng(max_bits)
    centres = rng.integers(0, 2**63, (40, fingerprints.WORDS), dtype=np.uint64)
    count = duplicates._COLUMNS + 700
    flips = rng.integers(0, 2**63, (count, fingerprints.WORDS), dtype=np.uint64)
    hashes = centres[rng.integers(0, len(centres), count)] ^ (flips & (flips >> np.uint64(3)) & (flips >> np.uint64(7)))
    found = fingerprints.Fingerprints(np.arange(count, dtype=np.uint64), hashes, rng.random(count) > 0.05)
    positions = np.flatnonzero(found.comparable)
    distance = fingerprints.distance(hashes[positions][:, None], hashes[positions][None, :])
    i, j = np.nonzero(np.triu(distance <= max_bits, k=1))
    np.testing.assert_array_equal(
        duplicates.near_pairs(found, max_bits), np.stack([positions[i], positions[j]], axis=1)
    )


def test_planted_copies_are_found_across_splits_and_counted_in_the_later_split(tmp_path):
    splits = splits_of(folder_cfg(write_leaking_folder(tmp_path / "leaky")))
    report = splits.report
    assert report.shared == {"val~train": 1, "test~train": 1, "test~val": 1}
    assert report.shared_exact == {"val~train": 0, "test~train": 0, "test~val": 1}
    assert report.within == {"train": 0, "val": 0, "test": 0}
    assert [a.rsplit("/", 1)[1] for a, _ in report.examples] == [
        "copy_of_train_a_0.png",
        "copy_of_train_b_1.png",
        "copy_of_val_b_0.png",
    ]
    assert len(splits.val) == 7 and len(splits.test) == 8  # warn keeps them


def test_distinct_photos_are_never_taken_for_copies(tmp_path):
    report = splits_of(folder_cfg(write_leaking_folder(tmp_path / "clean", planted=False))).report
    assert report.shared == {} and set(report.within.values()) == {0} and report.conflicting_labels == 0


def test_drop_leaves_the_copies_out_of_val_and_test_and_lists_them(tmp_path):
    splits = splits_of(folder_cfg(write_leaking_folder(tmp_path / "leaky"), "dataset.duplicates=drop"))
    assert len(splits.val) == 6 and len(splits.test) == 6
    assert sorted(p.rsplit("/", 1)[1] for p in splits.dropped) == [
        "copy_of_train_a_0.png",
        "copy_of_train_b_1.png",
        "copy_of_val_b_0.png",
    ]
    assert not any("copy_of" in str(i) for i in [*splits.val.ids, *splits.test.ids])
    assert splits.report.shared == {} and splits.report.dropped == splits.dropped
    assert any("dataset.duplicates=drop" in note for note in splits.notes)


def test_error_refuses_in_one_line_naming_the_key(tmp_path):
    with pytest.raises(ConfigError) as refused:
        splits_of(folder_cfg(write_leaking_folder(tmp_path / "leaky"), "dataset.duplicates=error"))
    message = str(refused.value)
    assert "\n" not in message and "dataset.duplicates" in message and "val shares 1 image(s) with train" in message


def test_off_does_not_look(tmp_path):
    report = splits_of(folder_cfg(write_leaking_folder(tmp_path / "leaky"), "dataset.duplicates=off")).report
    assert report.duplicates == "off" and report.shared == {} and report.near_duplicate_bits is None


def test_zero_bits_finds_exact_copies_and_equal_hashes_only(tmp_path):
    report = splits_of(folder_cfg(write_leaking_folder(tmp_path / "leaky"), "dataset.near_duplicate_bits=0")).report
    assert report.shared["test~val"] == 1 and "test~train" not in report.shared  # the re-encoded copy is 4 bits off


def test_the_same_photo_under_two_classes_is_a_conflict(tmp_path):
    root = tmp_path / "conflict"
    write_photos(root / "a", range(5))
    write_photos(root / "b", range(10, 15))
    copies_of(smooth_image(2))["resized"].save(root / "b" / "also_a_2.png")
    assert splits_of(folder_cfg(root)).report.conflicting_labels == 1


def test_carving_keeps_every_group_of_copies_in_one_split(tmp_path):
    root = tmp_path / "bursts"
    for c, name in enumerate("ab"):
        for seed in range(100 * c, 100 * c + 6):  # each photo with its three copies: groups of four
            write_photos(root / name, [seed])
            for kind, copy in copies_of(smooth_image(seed)).items():
                copy.save(root / name / f"photo_{seed:04d}_{kind}.png")
    splits = splits_of(folder_cfg(root, "dataset.val_fraction=0.25", "dataset.test_fraction=0.25"))
    where = {}
    for name, split in (("train", splits.train), ("val", splits.val), ("test", splits.test)):
        for path in split.ids:
            where.setdefault(str(path).rsplit("photo_", 1)[1][:4], set()).add(name)
    assert len(where) == 12 and all(len(splits_in) == 1 for splits_in in where.values())
    assert {len(splits.val), len(splits.test)} == {12}  # 3 of the 12 groups each
    assert splits.report.shared == {} and splits.report.within["train"] == 18


def test_without_groups_of_copies_the_carving_is_the_ungrouped_one():
    labels = np.repeat(np.arange(3), [40, 25, 9])
    plain = stratified_split(labels, [0.1, 0.2], seed=4)
    grouped = stratified_split(labels, [0.1, 0.2], seed=4, groups=np.arange(len(labels))[::-1])
    assert all((a == b).all() for a, b in zip(plain, grouped))


def test_pairs_are_found_once_per_content_and_kept(tmp_path, monkeypatch):
    cfg = folder_cfg(write_leaking_folder(tmp_path / "leaky"), f"cache_dir={tmp_path / 'cache'}")
    first = splits_of(cfg).report
    monkeypatch.setattr(duplicates, "near_pairs", lambda *a: pytest.fail("compared again"))
    assert splits_of(cfg).report == first
