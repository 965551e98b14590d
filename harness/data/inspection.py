"""The data report: what a run's data holds, found before anything trains (the record's `dataset` section).

Images per class per split as trained and scored, the training split's largest class over its smallest, image
sizes, files left out and why, and copies of one image inside and across splits (harness.data.duplicates).
`concerns` is what the console says when something is off; `markdown` is the run's data_report.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from harness.config.folders import IMAGE_EXTENSIONS, printable, utf8
from harness.data import duplicates
from harness.data.splits import Split, Splits
from harness.records.record import DatasetReport

IMBALANCE_SAID = 3.0  # a largest-to-smallest class ratio from which the console says so
EXAMPLES = 5  # copies across splits named per leak


def _named(splits: Splits) -> dict[str, Split]:
    return {n: s for n, s in (("train", splits.train), ("val", splits.val), ("test", splits.test)) if s is not None}


def _spread(values: np.ndarray) -> dict[str, float]:
    return {"min": float(values.min()), "median": float(np.median(values)), "max": float(values.max())}


def _sizes(splits: Splits) -> dict[str, dict[str, float]]:
    known = [s.pool.sizes[s.index] for s in _named(splits).values() if s.pool.sizes is not None and len(s)]
    if not known:
        return {}
    sizes = np.concatenate(known).astype(float)
    return {"width": _spread(sizes[:, 0]), "height": _spread(sizes[:, 1]), "aspect": _spread(sizes[:, 0] / sizes[:, 1])}


def skip_reason(path: str) -> str:
    """Why a folder's scan left a file out, from what the file is."""
    name = os.path.basename(path)
    if not utf8(name):
        return "name not in UTF-8"
    if os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
        return "not an image file"
    if not os.path.isfile(path):
        return "not a regular file"
    return "does not decode, or its decoder reports it damaged"


def _examples(splits: Splits, leak: duplicates.Leak) -> list[list[str]]:
    later, earlier = getattr(splits, leak.split), getattr(splits, leak.shares_with)
    earlier_groups = earlier.pool.near_groups[earlier.index]
    pairs = []
    for position in leak.positions[:EXAMPLES]:
        group = later.pool.near_groups[later.index[position]]
        partner = int(np.flatnonzero(earlier_groups == group)[0])
        pairs.append([str(later.ids[position]), str(earlier.ids[partner])])
    return pairs


def inspect(splits: Splits, policy: str, near_duplicate_bits: int) -> DatasetReport:
    """The data report of splits as they will be trained and scored (after carving, subsetting and dropping)."""
    named = _named(splits)
    images = {
        name: {c: int(n) for c, n in zip(splits.class_names, np.bincount(s.labels, minlength=splits.num_classes))}
        for name, s in named.items()
    }
    train_counts = np.asarray(list(images["train"].values()))
    skipped: dict[str, int] = {}
    for path in splits.skipped:
        skipped[skip_reason(path)] = skipped.get(skip_reason(path), 0) + 1
    report = DatasetReport(
        images=images,
        imbalance=float(train_counts.max() / train_counts.min()) if train_counts.min() > 0 else None,
        image_sizes=_sizes(splits),
        skipped=skipped,
        duplicates=policy,
        dropped=list(splits.dropped),
    )
    if policy == "off":
        return report
    report.near_duplicate_bits = near_duplicate_bits
    for leak in duplicates.leaks(splits):
        key = f"{leak.split}~{leak.shares_with}"
        report.shared[key] = len(leak.positions)
        report.shared_exact[key] = leak.exact
        report.examples += _examples(splits, leak)
    for name, split in named.items():
        report.within[name] = duplicates.within(split)[0]
    report.conflicting_labels = duplicates.conflicting_labels(splits)
    return report


def _largest_and_smallest(report: DatasetReport) -> tuple[str, str]:
    counts = report.images["train"]
    return max(counts, key=counts.get), min(counts, key=counts.get)


def concerns(report: DatasetReport) -> list[str]:
    """One console line per thing a practitioner should know before believing an accuracy."""
    lines = []
    by_split: dict[str, list[str]] = {}
    for key in report.shared:
        by_split.setdefault(key.split("~")[0], []).append(key)
    for later, keys in by_split.items():
        shares = " and ".join(f"{key.split('~')[1]} ({report.shared[key]})" for key in keys)
        exact = sum(report.shared_exact.get(key, 0) for key in keys)
        lines.append(
            f"{later} shares images with {shares}, {exact} of them exact copies (near: perceptual hashes within "
            f"{report.near_duplicate_bits} bits): its accuracy is inflated; dataset.duplicates=drop leaves them out "
            f"(listed in data_report.md)"
        )
    if report.dropped:
        lines.append(f"left out {len(report.dropped)} val/test image(s) with a copy in an earlier split")
    if report.conflicting_labels:
        lines.append(f"{report.conflicting_labels} image(s) appear under more than one class (see data_report.md)")
    empty = [c for c, n in report.images["train"].items() if n == 0]
    if empty:
        lines.append(f"class {empty[0]!r} has no training images: no model can learn it")
    elif report.imbalance is not None and report.imbalance >= IMBALANCE_SAID:
        big, small = _largest_and_smallest(report)
        lines.append(
            f"class {big!r} has {report.imbalance:.1f}x the training images of class {small!r}: accuracy favours "
            f"a model that favours it (see test_balanced_accuracy; train.class_weight=balanced weighs classes equally)"
        )
    return lines


def _relative(path: str, root: Path | None) -> str:
    if root is not None and Path(path).is_relative_to(root):
        return printable(Path(path).relative_to(root))
    return printable(path)


def markdown(report: DatasetReport, dataset_name: str, root: Path | None = None) -> str:
    """The report as a page (data_report.md); paths shown relative to the dataset's folder `root`."""
    splits = list(report.images)
    classes = list(report.images["train"])
    lines = [f"# Data report: {dataset_name}", "", "## Images per class", ""]
    lines += ["| class | " + " | ".join(splits) + " |", "|---|" + "---:|" * len(splits)]
    for c in classes:
        lines.append(f"| {c} | " + " | ".join(str(report.images[s].get(c, 0)) for s in splits) + " |")
    lines.append("| **all** | " + " | ".join(str(sum(report.images[s].values())) for s in splits) + " |")
    lines.append("")
    if report.imbalance is None:
        lines.append("A training class has no images.")
    elif report.imbalance == 1:
        lines.append(f"Every training class has {classes and report.images['train'][classes[0]]} images.")
    else:
        big, small = _largest_and_smallest(report)
        lines.append(f"Largest to smallest training class: {report.imbalance:.2f} ({big!r} to {small!r}).")
    if report.image_sizes:
        lines += ["", "## Image sizes (as stored)", "", "| | min | median | max |", "|---|---:|---:|---:|"]
        for what, spread in report.image_sizes.items():
            digits = 2 if what == "aspect" else 0
            lines.append(
                f"| {what} | " + " | ".join(f"{spread[k]:.{digits}f}" for k in ("min", "median", "max")) + " |"
            )
    lines += ["", "## Files left out", ""]
    if report.skipped:
        lines += [f"- {why}: {count}" for why, count in report.skipped.items()]
        lines.append("- every one is listed in the record (`skipped_paths`)")
    else:
        lines.append("None.")
    lines += ["", "## Copies", ""]
    if report.duplicates == "off":
        lines.append("Not checked (`dataset.duplicates=off`).")
        return "\n".join(lines) + "\n"
    lines.append(
        f"Exact copies have the same decoded pixels; near copies perceptual hashes within "
        f"{report.near_duplicate_bits} of 64 bits (images under 32 px a side: exact only). Policy: "
        f"`dataset.duplicates={report.duplicates}`."
    )
    lines.append("")
    if report.shared:
        lines += ["| split | shares with | images | of them exact |", "|---|---|---:|---:|"]
        for key, count in report.shared.items():
            later, earlier = key.split("~")
            lines.append(f"| {later} | {earlier} | {count} | {report.shared_exact.get(key, 0)} |")
    else:
        lines.append("No split shares an image with another.")
    inside = {s: n for s, n in report.within.items() if n}
    lines.append("")
    lines.append(
        "Copies inside a split: " + (", ".join(f"{s} {n}" for s, n in inside.items()) if inside else "none") + "."
    )
    if report.conflicting_labels:
        lines.append(f"Groups of copies under more than one class: {report.conflicting_labels}.")
    if report.examples:
        lines += ["", "Examples (later split, earlier split):", ""]
        lines += [f"- `{_relative(a, root)}` ~ `{_relative(b, root)}`" for a, b in report.examples]
    if report.dropped:
        lines += ["", f"Left out of val/test ({len(report.dropped)}):", ""]
        lines += [f"- `{_relative(p, root)}`" for p in report.dropped]
    return "\n".join(lines) + "\n"
