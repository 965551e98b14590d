"""The layout of an image-folder dataset: class folders, image files, optional split folders. No decoding."""

from __future__ import annotations

from pathlib import Path

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def count_images(class_dir: Path) -> int:
    return sum(1 for f in class_dir.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)


def folder_layout(path: Path) -> tuple[Path, dict[str, Path]]:
    """The train root of a folder dataset and its optional split folders ({'val': ..., 'test': ...})."""
    if (path / "train").is_dir():
        return path / "train", {s: path / s for s in ("val", "test") if (path / s).is_dir()}
    return path, {}
