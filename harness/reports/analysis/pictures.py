"""The analysis's pictures: captioned image grids, the confusion matrix, accuracy by aspect ratio (PNG, written atomically)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.storage.atomic import replacing


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
    _pyplot().close(fig)


def grid(
    rows: list[tuple[str, list[tuple[np.ndarray, str]]]],
    title: str,
    path: Path,
    *,
    row_height: float = 2.1,
    min_columns: int = 1,
) -> None:
    """One row of captioned images per label. A label without images gets no row: the title names them (a
    class with no mistakes is no row of blanks). `row_height` (inches) leaves room for longer captions;
    `min_columns` keeps a long title from being cut on a short grid."""
    plt = _pyplot()
    empty = [label for label, cells in rows if not cells]
    shown = [(label, cells) for label, cells in rows if cells] or [("no images", [])]
    if empty and len(empty) < len(rows):
        title += f"\nnone for {', '.join(empty)}"
    ncols = max([len(cells) for _, cells in shown] + [min_columns])
    fig, axes = plt.subplots(len(shown), ncols, figsize=(1.9 * ncols + 1, row_height * len(shown)), squeeze=False)
    for r, (label, cells) in enumerate(shown):
        for c in range(ncols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(cells):
                ax.imshow(cells[c][0])
                ax.set_title(cells[c][1], fontsize=7)
        axes[r][0].text(-0.08, 0.5, label, transform=axes[r][0].transAxes, ha="right", va="center", fontsize=9)
    fig.suptitle(title, y=1.0, va="bottom")  # above the first row of captions, however many lines
    _save(fig, path)


def confusion_png(counts: np.ndarray, class_names: list[str], path: Path) -> None:
    plt = _pyplot()
    rows = counts.sum(axis=1, keepdims=True)
    normalized = np.divide(counts, rows, out=np.zeros_like(counts, dtype=float), where=rows > 0)
    size = max(4.0, 0.45 * len(class_names) + 2)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1, size))
    for ax, matrix, title, fmt in (
        (axes[0], counts, "counts", "d"),
        (axes[1], normalized, "row-normalized (recall)", ".2f"),
    ):
        ax.imshow(matrix, cmap="Blues", vmin=0)
        ax.set_title(title)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_xticks(range(len(class_names)), class_names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(class_names)), class_names, fontsize=7)
        if len(class_names) <= 20:
            top = matrix.max() or 1
            for (i, j), v in np.ndenumerate(matrix):
                ax.text(
                    j,
                    i,
                    format(v, fmt),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if v > top / 2 else "black",
                )
    _save(fig, path)


def aspect_png(table: pd.DataFrame, buckets: pd.DataFrame, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(buckets))
    ax.bar(x, buckets["count"], color="#9ecae1", label="images")
    ax.set_xticks(x, buckets["bucket"])
    ax.set_xlabel("original width / height")
    ax.set_ylabel("images")
    ax2 = ax.twinx()
    ax2.plot(x, buckets["accuracy"], "o-", color="#d62728", label="accuracy")
    for xi, (acc, n) in enumerate(zip(buckets["accuracy"], buckets["count"])):
        if n:
            ax2.annotate(f"{acc:.2f}", (xi, acc), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("accuracy")
    ax.set_title(f"accuracy by aspect ratio ({len(table)} images)")
    _save(fig, path)
