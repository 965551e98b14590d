"""Whether what runs need from outside is there before any starts: a TFDS dataset in the local store or
downloadable, ImageNet weights cached by Keras or downloadable.

Checked once in the launching process, without TensorFlow, for a single run, a sweep, a study and a search
alike: offline, a sweep over a dataset it cannot fetch stops with one line instead of launching runs that all fail.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from omegaconf import DictConfig

from harness.config.backbones import bundled_weights
from harness.errors import OFFLINE_HINT


def network_available(host: str = "storage.googleapis.com", timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def tfds_prepared(name: str, data_dir: str | None) -> bool:
    """Whether TFDS has the dataset prepared in its store (reading the store's metadata imports no TensorFlow)."""
    import tensorflow_datasets as tfds

    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)  # "Variant folder ... has no dataset_info.json" for a half-made store: what we report
    try:
        return tfds.builder(name, data_dir=data_dir).is_prepared()
    except Exception:  # a name only the store knows, or a store TFDS cannot read: the run says what is wrong
        return True
    finally:
        absl.setLevel(level)


def keras_cache_has_backbones() -> bool:
    """Whether Keras's download cache holds any no-top weights file (the names differ per backbone and width,
    so any one of them means a run may find its own there; only an empty cache is certain to need the network)."""
    root = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
    return root.is_dir() and any("notop" in f.name or "no_top" in f.name for f in root.iterdir())


def unreachable(configs: list[DictConfig], online=network_available) -> str | None:
    """One line saying what the runs of these configs need and cannot get without a network, or None."""
    needs = []
    for dataset in {(c.dataset.name, c.dataset.data_dir) for c in configs if c.dataset.source == "tfds"}:
        if not tfds_prepared(*dataset):
            needs.append(f"dataset {dataset[0]!r} is not in the local TFDS store")
    downloads = [
        c
        for c in configs
        if c.model.get("weights") == "imagenet"
        and c.model.get("pretrained", True)
        and bundled_weights(c.model.get("backbone"), c.model.get("alpha")) is None
    ]
    if downloads and not keras_cache_has_backbones():
        needs.append("ImageNet weights are not in Keras's cache")
    if not needs or online():
        return None
    cannot = "cannot be downloaded (no network)"
    what = f"{needs[0]} and {cannot}" if len(needs) == 1 else f"{'; '.join(needs)}; they {cannot}"
    return f"offline: {what}; {OFFLINE_HINT}"
