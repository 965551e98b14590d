"""What a run trains on: cached frozen-prefix features, cached images, or images decoded in the pipeline.

Features are used only where they provably give the same model (harness.training.features.plan decides); images
are cached whenever train.cache=auto, since they are the very bytes the uncached pipeline makes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from harness.config.geometry import Geometry
from harness.data.images import image_array, image_key
from harness.data.pipeline import augmented, held_in_memory, input_bytes
from harness.data.splits import Splits


@dataclass
class Prepared:
    """What a run trains: its data, the input geometry, the model, and where cached arrays live.

    harness.training.run.prepare makes one from a config; Keras Tuner's hypermodel makes one from the data it
    loaded once for the search and the model it built for the trial.
    """

    splits: Splits
    geometry: Geometry
    model: Any  # keras.Model
    cache_root: Path | None
    release: bool = True  # drop the model's graphs after the run (False: the caller still needs it)
    data_seconds: float = 0.0  # reading the source: a folder's scan (or its cached result), a TFDS split's labels
    model_seconds: float = 0.0  # building the model (or taking the one an earlier run of the process kept)


def training_inputs(cfg: DictConfig, prepared: Prepared) -> tuple[Any, dict, dict]:
    """(model to fit, {split: array or None}, cache report for the record)."""
    from harness.training import (
        features,  # Keras: loaded by the process that trains, not by one that only checks records
    )

    splits, geometry, root = prepared.splits, prepared.geometry, prepared.cache_root
    named = {"train": splits.train, "val": splits.val, "test": splits.test}
    # Seconds in each stage, for the record: reading the source (harness.training.run.prepare), building the model,
    # the decoded-image cache (built, or found), the frozen prefix's features (computed, or found; the images they
    # needed not counted); the run adds its predictions.
    seconds = {"data": round(prepared.data_seconds, 3), "model": round(prepared.model_seconds, 3)}
    if root is None:
        arrays = dict.fromkeys(named)
        report = {"feature_cache": "none", "images": "off", "seconds": seconds}
        return prepared.model, arrays, {**report, "inputs": _held(named, arrays, cfg, geometry)}
    plan = features.plan(prepared.model, cfg.train.feature_dtype, augmented(cfg.data))
    arrays: dict = {"test": None}
    seconds.update(images=0.0, features=0.0)
    report: dict = {"feature_cache": plan.kind if plan else "none", "images": {}, "seconds": seconds}

    def timed_images(split, geometry, root):
        started = time.perf_counter()
        try:
            return image_array(split, geometry, root)
        finally:
            seconds["images"] += time.perf_counter() - started

    if plan:
        report.update(cut=plan.cut, features={}, feature_dtype=plan.dtype)
    for name, split in named.items():
        if split is None:
            continue
        if plan is None:
            arrays[name], built = timed_images(split, geometry, root)
            report["images"][name] = "built" if built else "hit"
            continue
        report["images"][name] = "unused"  # a feature hit never decodes an image

        def images(split=split, name=name):
            array, built = timed_images(split, geometry, root)
            report["images"][name] = "built" if built else "hit"
            return array

        started, before = time.perf_counter(), seconds["images"]
        arrays[name], built = features.feature_array(plan, image_key(split, geometry), len(split), images, root)
        seconds["features"] += time.perf_counter() - started - (seconds["images"] - before)
        report["features"][name] = "built" if built else "hit"
    seconds.update(images=round(seconds["images"], 3), features=round(seconds["features"], 3))
    if plan:
        report["feature_shape"] = list(arrays["train"].shape[1:])
    report["inputs"] = _held(named, arrays, cfg, geometry)
    return (plan.trainer if plan else prepared.model), arrays, report


def _held(named: dict, arrays: dict, cfg: DictConfig, geometry: Geometry) -> dict[str, str]:
    """Where the run reads each split's inputs from as it trains: memory (up to data.memory_mb for all of them),
    else a cached array's file batch by batch, or (uncached) the source decoded again each epoch."""
    present = {name: split for name, split in named.items() if split is not None}
    held = held_in_memory(
        {name: input_bytes(split, geometry, arrays[name]) for name, split in present.items()}, cfg.data.memory_mb
    )
    return {
        name: "memory" if held[name] else "streamed" if arrays[name] is not None else "decoded each epoch"
        for name in present
    }
