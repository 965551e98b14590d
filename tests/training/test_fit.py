"""Training: the fine-tuning phases, and the test split scored from one prediction as Keras scores it."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.reports.tables import load_table
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


def test_balanced_accuracy_and_macro_f1_are_scikit_learns():
    from sklearn.metrics import balanced_accuracy_score, f1_score

    from harness.training.fit import class_scores

    labels = np.array([0] * 9 + [1] * 3 + [2] * 2)
    predicted = np.array([0] * 8 + [1] + [0, 1, 1] + [0, 1])  # class 2 never predicted
    balanced, macro_f1 = class_scores(predicted, labels)
    assert balanced == pytest.approx(balanced_accuracy_score(labels, predicted))
    assert macro_f1 == pytest.approx(f1_score(labels, predicted, average="macro", zero_division=0))
    majority = np.zeros_like(labels)  # 9 of 14 right by always answering class 0
    assert class_scores(majority, labels)[0] == pytest.approx(1 / 3)


def test_balanced_class_weights_are_scikit_learns_and_need_every_class():
    from sklearn.utils.class_weight import compute_class_weight

    from harness.training.fit import balanced_class_weights

    labels = np.array([0] * 90 + [1] * 10 + [2] * 20)
    weights = balanced_class_weights(labels, 3)
    assert list(weights.values()) == pytest.approx(
        list(compute_class_weight("balanced", classes=np.arange(3), y=labels))
    )
    with pytest.raises(ConfigError, match="train.class_weight='balanced' is not allowed: .*class 'c' has none"):
        balanced_class_weights(np.array([0, 1, 1]), 3, ["a", "b", "c"])


def test_class_weights_weigh_the_loss_as_keras_sample_weights_do():
    """One step at a learning rate too small to move the weights: the loss fit reports with class_weight is the
    loss Keras evaluates with each image weighted by its class's weight."""
    import keras
    import tensorflow as tf

    from harness.training.fit import balanced_class_weights, fit

    keras.utils.set_random_seed(3)
    x = np.random.default_rng(3).normal(size=(20, 4)).astype(np.float32)
    labels = np.array([0] * 16 + [1] * 4)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    train = make_cfg("train.learning_rate=1e-9", "train.epochs=1", "train.patience=null", "train.verbose=0").train
    weights = balanced_class_weights(labels, 2)
    batches = tf.data.Dataset.from_tensor_slices((x, labels)).batch(20)
    result = fit(model, batches, batches, train, class_weight=weights)
    model.compile(loss="sparse_categorical_crossentropy")
    weighted = np.array([weights[c] for c in labels])
    expected = model.evaluate(x, labels, sample_weight=weighted, verbose=0, batch_size=20, return_dict=True)["loss"]
    assert result.history["loss"][0] == pytest.approx(expected, rel=1e-4)
    unweighted = model.evaluate(x, labels, verbose=0, batch_size=20, return_dict=True)["loss"]
    assert abs(expected - unweighted) > 1e-3  # the weights made a difference to compare


def test_a_run_weighs_classes_when_asked_and_records_its_test_splits_balanced_scores(results_dir):
    plain = run(quick(results_dir, "model=scratch", "train.epochs=1", "dataset.test_fraction=0.2"))
    weighted = run(
        quick(
            results_dir, "model=scratch", "train.epochs=1", "dataset.test_fraction=0.2", "train.class_weight=balanced"
        )
    )
    assert weighted.status == "completed" and weighted.config["train"]["class_weight"] == "balanced"
    assert weighted.history["loss"] != plain.history["loss"]  # digits is nearly balanced: a small change all the same
    for record in (plain, weighted):
        assert 0 <= record.test_balanced_accuracy <= 1 and 0 <= record.test_macro_f1 <= 1
    table = load_table(results_dir)
    assert {"test_balanced_accuracy", "test_macro_f1"} <= set(table.columns)
