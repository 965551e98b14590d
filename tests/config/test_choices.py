"""Every choice of every choice knob is implemented: the code that applies the knob does something different for
each of its choices. A choice the code does not know raises, or falls through to another choice's behaviour, and
either fails here; a new choice knob without an exercise fails the first test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness.config import schema
from harness.data.pipeline import epoch_steps
from harness.errors import ConfigError
from harness.reports.tables import metric_columns
from harness.storage import cache
from harness.training.fit import class_weights
from tests.helpers import make_cfg, write_images, write_leaking_folder

WEIGHTS: list[Path] = []  # the weights file of the test that runs (conftest's weights_file)


@pytest.fixture(autouse=True)
def _weights(weights_file):
    WEIGHTS[:] = [weights_file]


def choice_knobs() -> dict[str, tuple]:
    """Every knob of the schema with more than one choice, by its dotted key."""
    found = [
        *schema.knobs(schema.Config),
        *schema.knobs(schema.TransferModel, "model."),
        *schema.knobs(schema.TunerConfig, "tuner."),
        *schema.knobs(schema.Finding, "study.findings[]."),
    ]
    return {key: f.metadata["allowed"].choices for key, f in found if len(f.metadata["allowed"].choices) > 1}


def _source(choice: str, tmp: Path) -> Any:
    import tensorflow_datasets as tfds

    from harness.data import sources
    from harness.training.run import load_data

    write_images(tmp / "folder" / "a", 6, seed=1, color=0)
    write_images(tmp / "folder" / "b", 6, seed=2, color=1)
    overrides = {"digits": ["dataset=digits"], "folder": ["dataset=folder", f"dataset.path={tmp / 'folder'}"]}
    cfg = make_cfg(*overrides.get(choice, ["dataset=tf_flowers"]), "train.cache=off")
    assert cfg.dataset.source == choice
    network = sources.network_available
    sources.network_available = lambda *a, **k: True  # the mock downloads nothing
    try:
        with tfds.testing.mock_data(num_examples=12):
            splits = load_data(cfg)
    finally:
        sources.network_available = network
    return splits.num_classes, len(splits.train) + len(splits.val) + len(splits.test or [])


def _unmatched(choice: str, tmp: Path) -> Any:
    from harness.config.validate import validate

    for split, classes in (("train", "abc"), ("val", "ab")):
        for c in classes:
            write_images(tmp / "uneven" / split / c, 3, seed=ord(c), color=ord(c))
    try:
        validate(make_cfg("dataset=folder", f"dataset.path={tmp / 'uneven'}", f"dataset.unmatched_classes={choice}"))
    except ConfigError:
        return "refused"
    return "kept the classes every split has"


def _duplicates(choice: str, tmp: Path) -> Any:
    from harness.training.run import load_data

    cfg = make_cfg(
        "dataset=folder", f"dataset.path={write_leaking_folder(tmp / 'leaky')}", f"dataset.duplicates={choice}"
    )
    try:
        splits = load_data(cfg)
    except ConfigError:
        return "refused"
    return len(splits.val), len(splits.test), splits.report.shared


def _resize(choice: str, tmp: Path) -> Any:
    import tensorflow as tf

    from harness.data.pipeline import resize

    image = tf.constant(np.random.default_rng(0).integers(0, 256, (20, 40, 3)), tf.float32)
    return resize(image, 16, 16, choice).numpy().tobytes()


def _augmenting(policy: str, mix: str) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow as tf
    from omegaconf import OmegaConf

    from harness.data import augment

    images = np.random.default_rng(0).integers(0, 256, (8, 24, 24, 3)).astype(np.float32)
    one_hot = np.eye(4, dtype=np.float32)[np.arange(8) % 4]  # the labels mixing takes
    ds = tf.data.Dataset.from_tensor_slices((images, one_hot)).batch(8)
    settings = OmegaConf.structured(schema.Augmentation(rotation=0.1, shift=0.1, zoom=0.1))
    x, y = next(iter(augment.augmenting(ds, policy, settings, mix, 0.2, seed=3)))
    return np.asarray(x), np.asarray(y)


def _optimizer(choice: str, tmp: Path) -> Any:
    import keras

    from harness.training.fit import make_optimizer

    weight = keras.Variable(np.ones(3, np.float32))
    optimizer = make_optimizer(choice, 0.1)
    for _ in range(2):
        optimizer.apply_gradients([(keras.ops.convert_to_tensor([0.5, -1.0, 2.0]), weight)])
    moved = keras.ops.convert_to_numpy(weight)
    assert not np.allclose(moved, 1.0), f"{choice} did not move the weights"
    return type(optimizer).__name__, np.round(moved, 6).tobytes()


def _feature_dtype(choice: str, tmp: Path) -> Any:
    from harness.models.build import build_model
    from harness.training.features import plan

    cfg = make_cfg("model.alpha=0.25", f"model.weights={WEIGHTS[0]}", "model.unfreeze=0.5")
    return plan(build_model(cfg.model, 3, (32, 32, 3), False), choice, False).dtype


def _unfrozen_bn(choice: str, tmp: Path) -> Any:
    import keras

    from harness.models.build import build_model

    cfg = make_cfg(
        "model.alpha=0.25", f"model.weights={WEIGHTS[0]}", "model.unfreeze=1.0", f"model.unfrozen_bn={choice}"
    )
    keras.utils.set_random_seed(0)
    model = build_model(cfg.model, 3, (32, 32, 3), False)
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    return np.round(keras.ops.convert_to_numpy(model(x, training=True)), 5).tobytes()


def _kind(choice: str, tmp: Path) -> Any:
    from harness.models.build import build_model

    cfg = make_cfg("model.alpha=0.25", "model.weights=null", f"model={choice}")
    return len(build_model(cfg.model, 3, (32, 32, 3), False).layers)


def _backbone(choice: str, tmp: Path) -> Any:
    import keras

    return getattr(keras.applications, schema.BACKBONES[choice].app)


def _optuna(key: str):
    def exercise(choice: str, tmp: Path) -> Any:
        from harness.multirun import optuna_search

        cfg = make_cfg("tuner=optuna", f"tuner.{key}={choice}")
        made = optuna_search.make_sampler(cfg) if key == "sampler" else optuna_search.make_pruner(cfg)
        return type(made).__name__

    return exercise


def _tuner(key: str):
    def exercise(choice: str, tmp: Path) -> Any:
        import keras
        import keras_tuner as kt

        from harness.job import searcher
        from harness.multirun.search import make_tuner

        algorithm = choice if key == "algorithm" else "random"
        objective = choice if key == "objective" else "val_accuracy"
        if algorithm in ("autokeras", "optuna"):
            return searcher(algorithm).__module__

        class Tiny(kt.HyperModel):
            def build(self, hp):
                model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(hp.Choice("units", [1, 2]))])
                model.compile(loss="mse")
                return model

        settings = {"random": ["tuner.max_trials=2"], "bayesian": ["tuner.max_trials=2"], "hyperband": []}
        cfg = make_cfg(f"tuner={algorithm}", f"tuner.objective={objective}", *settings[algorithm])
        tuner = make_tuner(cfg, Tiny(), tmp / "search")
        return (
            searcher(algorithm).__module__,
            type(tuner.oracle).__name__,
            tuner.oracle.objective.name,
            tuner.oracle.objective.direction,
        )

    return exercise


def _finding(choice: str, tmp: Path) -> Any:
    from harness.reports.compare import paired, verdict

    slightly_worse = paired([-0.010, -0.012, -0.011])  # better is 1% below worse in each of three seeds
    return verdict(choice, slightly_worse, margin=0.05)


EXERCISES: dict[str, Callable[[str, Path], Any]] = {
    "dataset.source": _source,
    "dataset.unmatched_classes": _unmatched,
    "dataset.duplicates": _duplicates,
    "data.resize_mode": _resize,
    "data.augment": lambda choice, tmp: _augmenting(choice, "none")[0].tobytes(),
    "data.mix": lambda choice, tmp: _augmenting("none", choice)[1].tobytes(),
    "train.optimizer": _optimizer,
    "train.budget": lambda choice, tmp: epoch_steps(10, 100, 5, choice),  # 10 of 100 images, batches of 5
    "train.cache": lambda choice, tmp: cache.root(str(tmp), choice),
    "train.feature_dtype": _feature_dtype,
    "train.class_weight": lambda choice, tmp: class_weights(choice, np.array([0, 0, 0, 1]), 2),
    "model.backbone": _backbone,
    "model.unfrozen_bn": _unfrozen_bn,
    "tuner.algorithm": _tuner("algorithm"),
    "tuner.objective": _tuner("objective"),
    "tuner.sampler": _optuna("sampler"),
    "tuner.pruner": _optuna("pruner"),
    "study.findings[].test": _finding,
    "report.metric": lambda choice, tmp: metric_columns(pd.DataFrame({"report_metric": [choice]})),
}


def test_every_choice_knob_has_an_exercise():
    assert set(choice_knobs()) == set(EXERCISES)


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_each_choice_does_something_of_its_own(key, tmp_path):
    seen = {}
    for choice in choice_knobs()[key]:
        (tmp_path / choice).mkdir()
        seen[choice] = EXERCISES[key](choice, tmp_path / choice)
    same = [(a, b) for i, a in enumerate(seen) for b in list(seen)[i + 1 :] if seen[a] == seen[b]]
    assert not same, f"{key}: these choices do the same: {same}"


def test_a_model_kind_builds_its_own_model(tmp_path):
    """model= is a group, not a choice knob (each schema has one kind): transfer and scratch still differ."""
    assert _kind("transfer", tmp_path) != _kind("scratch", tmp_path)
