"""Frozen-prefix features: training on them gives the model training on images gives, and they are used only then."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.models.build import InferenceMode, build_model
from harness.training import features
from harness.training.run import run
from tests.helpers import FAST, batches, make_cfg, splits_of


def folder_cfg(folder: Path, tmp_path: Path, *overrides: str):
    return make_cfg("dataset=folder", f"dataset.path={folder}", f"cache_dir={tmp_path / 'cache'}", *FAST, *overrides)


def fitted(folder, tmp_path, weights, name, *overrides):
    cfg = folder_cfg(
        folder,
        tmp_path,
        "model.alpha=0.25",
        f"model.weights={weights}",
        "train.epochs=2",
        "train.steps_per_epoch=null",
        "train.batch_size=4",
        f"results_dir={tmp_path / 'results'}",
        f"run_name={name}",
        "train.patience=null",
        *overrides,
    )
    return run(cfg)


@pytest.mark.parametrize(
    "unfreeze, bn, kind", [(0.0, "inference", "full"), (0.5, "inference", "prefix"), (0.5, "batch", "prefix")]
)
def test_training_on_cached_features_gives_the_uncached_model(image_folder, tmp_path, weights_file, unfreeze, bn, kind):
    knobs = (f"model.unfreeze={unfreeze}", f"model.unfrozen_bn={bn}")
    plain = fitted(image_folder, tmp_path, weights_file, "off", *knobs, "train.cache=off")
    cached = fitted(image_folder, tmp_path, weights_file, "on", *knobs, "train.feature_dtype=float32")
    assert plain.feature_cache == "none" and cached.feature_cache == kind
    assert cached.cache["features"] == {"train": "built", "val": "built", "test": "built"}
    # Same initial weights, same batches, same head: the same numbers, epoch by epoch.
    np.testing.assert_allclose(cached.history["loss"], plain.history["loss"], rtol=1e-4)
    np.testing.assert_allclose(cached.history["val_accuracy"], plain.history["val_accuracy"])
    assert cached.test_accuracy == pytest.approx(plain.test_accuracy)
    assert cached.trainable_params == plain.trainable_params
    again = fitted(image_folder, tmp_path, weights_file, "again", *knobs, "train.feature_dtype=float32")
    assert again.cache["features"]["train"] == "hit" and again.cache["images"]["train"] == "unused"
    np.testing.assert_allclose(again.history["loss"], cached.history["loss"], rtol=1e-6)
    # each record says where a run's time went besides its epochs, cached or not
    staged = {"data", "model", "predictions"}
    assert staged <= set(plain.cache["seconds"]) and staged | {"images", "features"} <= set(cached.cache["seconds"])
    assert all(plain.cache["seconds"][k] >= 0 for k in staged) and cached.cache["seconds"]["predictions"] > 0


def test_both_unfrozen_bn_settings_share_one_feature_cache_entry(weights_file):
    # The cached prefix is frozen and computed in inference mode either way; only the layers above differ.
    plans = [
        features.plan(
            build_model(
                make_cfg(
                    "model.alpha=0.25", f"model.weights={weights_file}", "model.unfreeze=0.5", f"model.unfrozen_bn={bn}"
                ).model,
                3,
                (32, 32, 3),
            ),
            "float32",
            augment=False,
        )
        for bn in ("inference", "batch")
    ]
    assert plans[0].cut == plans[1].cut and plans[0].identity == plans[1].identity
    assert isinstance(plans[0].trainer.get_layer("backbone_rest"), InferenceMode)
    assert not any(isinstance(layer, InferenceMode) for layer in plans[1].trainer.layers)


def test_augmentation_or_a_fully_trainable_backbone_trains_on_cached_images_only(image_folder, tmp_path, weights_file):
    augmented = fitted(
        image_folder,
        tmp_path,
        weights_file,
        "aug",
        "model.unfreeze=0",
        "data.augment=basic",
        "train.epochs=1",
        "train.steps_per_epoch=1",
    )
    # the folder's scan kept the images it decoded: the run trains on them
    assert augmented.feature_cache == "none" and augmented.cache["images"]["train"] == "hit"
    assert augmented.cache["input_seconds_per_epoch"] > 0, "the record shows what augmented inputs cost"
    mixed = fitted(
        image_folder,
        tmp_path,
        weights_file,
        "mix",
        "model.unfreeze=0",
        "data.mix=cutmix",
        "train.epochs=1",
        "train.steps_per_epoch=1",
    )
    assert mixed.status == "completed" and mixed.feature_cache == "none" and mixed.test_accuracy is not None
    everything = fitted(
        image_folder, tmp_path, weights_file, "all", "model.unfreeze=1.0", "train.epochs=1", "train.steps_per_epoch=1"
    )
    assert everything.feature_cache == "none" and everything.cache["images"]["train"] == "hit"


def test_a_saved_model_from_cached_features_predicts_like_the_trained_one(image_folder, tmp_path, weights_file):
    import keras

    record = fitted(
        image_folder,
        tmp_path,
        weights_file,
        "saved",
        "model.unfreeze=0",
        "train.save_model=true",
        "train.epochs=2",
        "train.feature_dtype=float32",
    )
    assert record.feature_cache == "full"
    model = keras.saving.load_model(tmp_path / "results" / record.name / "saved" / "model.keras")
    cfg = folder_cfg(image_folder, tmp_path, "train.cache=off")
    splits = splits_of(cfg)
    images = np.concatenate([x for x, _ in batches(splits.val, cfg, False).as_numpy_iterator()])
    accuracy = (model.predict(images, verbose=0).argmax(-1) == splits.val.labels).mean()
    assert accuracy == pytest.approx(record.history["val_accuracy"][-1])  # no early stopping: the last epoch's weights


def test_every_split_reuses_one_traced_forward_pass_and_batching_leaves_the_features_unchanged(
    image_folder, tmp_path, weights_file
):
    import tensorflow as tf

    cfg = folder_cfg(image_folder, tmp_path, "model.alpha=0.25", f"model.weights={weights_file}", "model.unfreeze=0.5")
    splits = splits_of(cfg)
    model = build_model(cfg.model, splits.num_classes, (32, 32, 3))
    plan = features.plan(model, "float32", augment=False)
    images = {
        name: np.concatenate([x for x, _ in batches(split, cfg, False).as_numpy_iterator()]).astype(np.uint8)
        for name, split in (("train", splits.train), ("val", splits.val))
    }
    assert len(images["train"]) > features.FEATURE_BATCH, "the split spans several batches, the last one smaller"
    for name, array in images.items():
        cached, built = features.feature_array(plan, name, len(array), lambda a=array: a, tmp_path / "features")
        assert built
        # one pass over the whole split at once: the same activations up to float32 rounding, whatever the batches
        np.testing.assert_allclose(
            cached, plan.prefix(tf.cast(array, tf.float32), training=False).numpy(), rtol=1e-5, atol=1e-6
        )
    (forward,) = plan.forwards.values()
    assert forward.experimental_get_tracing_count() == 1


def test_a_run_that_streams_its_cached_inputs_gives_the_numbers_of_one_that_holds_them(
    image_folder, tmp_path, weights_file
):
    """data.memory_mb says only where a run reads its cached arrays from while it trains, not what it computes."""
    held = fitted(image_folder, tmp_path, weights_file, "held", "model.unfreeze=0.5")
    streamed = fitted(image_folder, tmp_path, weights_file, "streamed", "model.unfreeze=0.5", "data.memory_mb=0")
    assert held.cache["inputs"] == {"train": "memory", "val": "memory", "test": "memory"}
    assert streamed.cache["inputs"] == {"train": "streamed", "val": "streamed", "test": "streamed"}
    assert streamed.cache["features"]["train"] == "hit"
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert streamed.history[key] == held.history[key], key
    assert streamed.test_accuracy == held.test_accuracy and streamed.config_hash == held.config_hash
