"""Where Keras and matplotlib keep their own files: in the harness's cache folder, not in $HOME.

Keras writes `~/.keras/keras.json` when it is imported and matplotlib its font cache in `~/.config/matplotlib`
(warning where that is read-only): on a cluster with a shared or read-only home that is where surprises come
from. Each command's entry sets KERAS_HOME and MPLCONFIGDIR, unless the user has, to folders in the cache
(`cache_dir=` on the command line, else $HARNESS_CACHE_DIR, else ~/.cache/tl-harness), or in a temporary folder
where that cannot be written. Set before TensorFlow is imported, so a sweep's workers inherit them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

DEFAULT_CACHE = "~/.cache/tl-harness"


def cache_folder(argv: list[str]) -> Path:
    """The cache folder a command line names, as far as its words tell before Hydra composes anything (an
    interpolation only where it resolves on its own, such as `${oc.env:SCRATCH}/cache`)."""
    given = [_resolved(a.split("=", 1)[1]) for a in argv if a.lstrip("+").startswith("cache_dir=")]
    text = (
        (given[-1] if given and given[-1] not in ("", "null", None) else None)
        or os.environ.get("HARNESS_CACHE_DIR")
        or DEFAULT_CACHE
    )
    return Path(text).expanduser()


def _resolved(text: str) -> str | None:
    if "${" not in text:
        return text
    from omegaconf import OmegaConf

    try:
        return str(OmegaConf.create({"value": text}).value)
    except Exception:  # refers to the config, or does not resolve: the config's check will say which
        return None


def _writable(folder: Path) -> bool:
    """Whether `folder` could be made and written, tested without making it: a command refused a moment later
    must leave nothing behind, and Keras and matplotlib make their folders when they first write."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK)


def tool_homes(argv: list[str]) -> Path:
    """Set KERAS_HOME and MPLCONFIGDIR (where unset) under the cache folder; returns the folder they share."""
    base = cache_folder(argv) / "tools"
    if not _writable(base):
        base = Path(tempfile.gettempdir()) / f"tl-harness-{os.getuid()}" / "tools"
    os.environ.setdefault("KERAS_HOME", str(base / "keras"))
    os.environ.setdefault("MPLCONFIGDIR", str(base / "matplotlib"))
    return base
