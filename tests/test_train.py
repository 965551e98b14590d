"""Training: the fine-tuning phases and the per-run summary of a history."""

from __future__ import annotations

import numpy as np
import pytest

from harness.training import fit as train
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


def test_seconds_per_epoch_skips_the_first_epoch_that_traces_the_graph():
    summary = train.summarize({"val_accuracy": [0.2, float("nan"), 0.5, 0.4], "seconds": [9.0, 1.0, 2.0, 3.0]})
    assert summary == {"best_val_accuracy": 0.5, "final_val_accuracy": 0.4, "best_epoch": 3, "seconds_per_epoch": 2.0}


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
