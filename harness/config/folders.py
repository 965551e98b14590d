"""The layout of an image-folder dataset: class folders, image files, optional split folders. No decoding."""

from __future__ import annotations

from pathlib import Path

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def class_dirs(root: Path) -> list[Path]:
    """The class folders under a split root: not hidden, and named in valid UTF-8 (a name that is not is listed
    by misnamed(), never a class: a label must print and a path must reach TensorFlow)."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and utf8(p.name))


def utf8(name: str) -> bool:
    """Whether a file name's bytes are valid UTF-8 (Python keeps invalid ones as surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: object) -> str:
    """A name as text any terminal prints: invalid bytes as \\xNN."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def misnamed(root: Path) -> list[Path]:
    """Folders under a split root whose names are not valid UTF-8."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not utf8(p.name))


def count_images(class_dir: Path) -> int:
    return sum(1 for f in class_dir.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)


def folder_layout(path: Path) -> tuple[Path, dict[str, Path]]:
    """The train root of a folder dataset and its optional split folders ({'val': ..., 'test': ...})."""
    if (path / "train").is_dir():
        return path / "train", {s: path / s for s in ("val", "test") if (path / s).is_dir()}
    return path, {}


def split_classes(path: Path) -> dict[str, set[str]]:
    """The classes with at least one image file in each split folder of a folder dataset: {'train': {...}, ...}."""
    train_root, others = folder_layout(path)
    roots = {"train": train_root, **others}
    return {split: {d.name for d in class_dirs(root) if count_images(d) > 0} for split, root in roots.items()}


def unmatched_classes(found: dict[str, set[str]]) -> str | None:
    """How the split folders' classes differ ('val/ has 'cat' that train/ lacks; ...'), None when they agree."""
    if len(found) < 2 or len({frozenset(c) for c in found.values()}) == 1:
        return None
    train = found["train"]
    parts = []
    for split, classes in found.items():
        if split == "train":
            continue
        if not classes & train:
            return f"{split}/ ({', '.join(sorted(classes))}) and train/ ({', '.join(sorted(train))}) share no class"
        extra, missing = sorted(classes - train), sorted(train - classes)
        if extra:
            parts.append(f"{split}/ has {', '.join(map(repr, extra))} that train/ lacks")
        if missing:
            parts.append(f"{split}/ lacks {', '.join(map(repr, missing))}")
    return "; ".join(parts)
