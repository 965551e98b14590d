"""Training: the fine-tuning phases, and the test split scored from one prediction as Keras scores it."""

from __future__ import annotations

import numpy as np
import pytest

from harness.training.run import run
from tests.helpers import FAST, make_cfg


def quick(results_dir, *extra):
    return make_cfg("experiment=quickstart", f"results_dir={results_dir}", *FAST, *extra)


def test_fine_tune_trains_the_head_first_then_the_unfrozen_top(results_dir, weights_file):
    cfg = quick(
        results_dir,
        f"model.weights={weights_file}",
        "model.unfreeze=0.5",
        "train.fine_tune.enabled=true",
        "train.fine_tune.epochs=1",
    )
    record = run(cfg)
    assert record.status == "completed" and record.epochs_run == 2
    assert record.history["learning_rate"] == pytest.approx([1e-3, 1e-5])


def test_weight_decay_shrinks_the_weights_it_trains_and_is_recorded(results_dir):
    plain = run(quick(results_dir, "model=scratch", "train.epochs=2", "train.steps_per_epoch=3"))
    decayed = run(
        quick(results_dir, "model=scratch", "train.epochs=2", "train.steps_per_epoch=3", "train.weight_decay=0.5")
    )
    assert decayed.status == "completed" and decayed.config["train"]["weight_decay"] == 0.5
    assert decayed.config_hash != plain.config_hash
    assert decayed.history["loss"] != plain.history["loss"]


def test_test_scores_come_from_one_prediction_as_keras_would_compute_them():
    import keras

    from harness.training.fit import scored

    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(5), size=40).astype(np.float32)
    probabilities[0] = [1, 0, 0, 0, 0]  # a certain wrong answer: the clip keeps the loss finite
    labels = rng.integers(0, 5, 40)
    labels[0] = 3
    loss, accuracy = scored(probabilities, labels)
    expected = keras.ops.convert_to_numpy(keras.losses.sparse_categorical_crossentropy(labels, probabilities))
    assert loss == pytest.approx(float(expected.mean()), rel=1e-5)
    assert accuracy == float((probabilities.argmax(1) == labels).mean())


@pytest.mark.parametrize("classes", [2, 3])
def test_a_model_scores_as_keras_evaluates_it_whatever_its_head(classes):
    """A softmax head, and the single sigmoid unit AutoKeras gives a two-class problem: the same accuracy and loss
    as Keras's own evaluate of the compiled model (binary accuracy at 0.5 for the sigmoid)."""
    import keras

    from harness.training.fit import predicted_classes, scored

    keras.utils.set_random_seed(1)
    x = np.random.default_rng(1).normal(size=(64, 6)).astype(np.float32)
    labels = np.random.default_rng(2).integers(0, classes, 64)
    sigmoid = classes == 2
    out = keras.layers.Dense(1 if sigmoid else classes, activation="sigmoid" if sigmoid else "softmax")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"), out])
    loss_name = "binary_crossentropy" if sigmoid else "sparse_categorical_crossentropy"
    model.compile(loss=loss_name, metrics=["accuracy"])
    keras_loss, keras_accuracy = model.evaluate(x, labels, verbose=0)
    output = model.predict(x, verbose=0)
    loss, accuracy = scored(output, labels)
    assert accuracy == pytest.approx(keras_accuracy) and loss == pytest.approx(keras_loss, rel=1e-4)
    assert (predicted_classes(output) == labels).mean() == pytest.approx(keras_accuracy)
    assert 0.2 < accuracy < 0.8  # neither class always: argmax over one column would give class 0 everywhere
