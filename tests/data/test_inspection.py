"""The data report: counts and ratios exact, files left out with their reason, the console's concerns, the page."""

from __future__ import annotations

from harness.data import inspection
from tests.helpers import make_cfg, splits_of, write_images, write_leaking_folder


def imbalanced_folder(root):
    write_images(root / "train" / "cats", 3, seed=1, color=0)
    write_images(root / "train" / "dogs", 9, seed=2, color=1)
    write_images(root / "val" / "cats", 2, seed=3, color=0)
    write_images(root / "val" / "dogs", 2, seed=4, color=1)
    (root / "train" / "dogs" / "notes.txt").write_text("not an image")
    (root / "train" / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    return root


def test_counts_ratio_and_sizes_are_exact(tmp_path):
    report = splits_of(make_cfg("dataset=folder", f"dataset.path={imbalanced_folder(tmp_path / 'pets')}")).report
    assert report.images == {"train": {"cats": 3, "dogs": 9}, "val": {"cats": 2, "dogs": 2}}
    assert report.imbalance == 3.0
    assert report.image_sizes["width"] == {"min": 40.0, "median": 40.0, "max": 40.0}
    assert report.image_sizes["aspect"]["median"] == 40 / 30
    assert report.skipped == {"not an image file": 1, "does not decode, or its decoder reports it damaged": 1}


def test_the_console_says_what_is_off_in_one_line_each(tmp_path):
    report = splits_of(make_cfg("dataset=folder", f"dataset.path={imbalanced_folder(tmp_path / 'pets')}")).report
    assert inspection.concerns(report) == [
        "class 'dogs' has 3.0x the training images of class 'cats': accuracy favours a model that favours it "
        "(see test_balanced_accuracy; train.class_weight=balanced weighs classes equally)"
    ]
    leaky = splits_of(make_cfg("dataset=folder", f"dataset.path={write_leaking_folder(tmp_path / 'leaky')}")).report
    said = inspection.concerns(leaky)
    assert len(said) == 2 and said[0].startswith("val shares images with train (1), 0 of them exact copies")
    assert said[1].startswith("test shares images with train (1) and val (1), 1 of them exact copies")


def test_a_balanced_clean_folder_gives_no_concern(image_folder):
    assert inspection.concerns(splits_of(make_cfg("dataset=folder", f"dataset.path={image_folder}")).report) == []


def test_the_page_shows_counts_copies_and_examples_relative_to_the_folder(tmp_path):
    root = write_leaking_folder(tmp_path / "leaky")
    splits = splits_of(make_cfg("dataset=folder", f"dataset.path={root}", "dataset.duplicates=drop"))
    page = inspection.markdown(splits.report, "leaky", root)
    assert "| a | 6 | 3 | 3 |" in page and "| **all** | 12 | 6 | 6 |" in page
    assert "Every training class has 6 images." in page
    assert "- `val/a/copy_of_train_a_0.png`" in page and str(tmp_path) not in page
    assert "No split shares an image with another." in page  # after drop


def test_sources_without_a_scan_are_fingerprinted_in_one_pass():
    report = splits_of(make_cfg("dataset=digits", "train.cache=off")).report
    assert (
        sum(report.images["train"].values()) + sum(report.images["val"].values()) + sum(report.images["test"].values())
        == 1797
    )
    assert report.image_sizes["width"]["max"] == 8.0 and report.shared == {}  # 8x8: compared exactly only
