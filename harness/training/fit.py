"""Train: compile, fit (early stopping, NaN guard, TensorBoard), optionally a second fine-tuning phase."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from omegaconf import DictConfig

from harness.errors import ConfigError
from harness.models.build import FrozenBackbone, backbone_of
from harness.process import stopping
from harness.records.record import HISTORY_KEYS
from harness.training import compiled


def seed_everything(seed: int, deterministic: bool) -> None:
    """Python, NumPy and TF seeds; op determinism on request (it slows some ops, notably on GPU)."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def reseed_for_kept_model(seed: int, deterministic: bool) -> None:
    """Seeds for a run whose model harness.training.seeded kept: what the run draws after building its model is
    tf.data's seeded shuffles, which combine TensorFlow's global seed with their own. Setting that seed also
    empties TensorFlow's kernel cache (tf.random.set_seed), which costs the first call of every traced function
    about 0.2 s, so it is set only where another seed is in effect."""
    import random

    import tensorflow as tf

    if tf.compat.v1.get_seed(0)[0] != seed % (2**31 - 1):
        seed_everything(seed, deterministic)
        return
    random.seed(seed)
    np.random.seed(seed)
    if deterministic and not tf.config.experimental.is_op_determinism_enabled():
        tf.config.experimental.enable_op_determinism()


def make_optimizer(name: str, learning_rate: float, weight_decay: float | None = None) -> keras.optimizers.Optimizer:
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, weight_decay=weight_decay)
    classes = {
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
        "adagrad": keras.optimizers.Adagrad,
        "adadelta": keras.optimizers.Adadelta,
        "adamax": keras.optimizers.Adamax,
        "nadam": keras.optimizers.Nadam,
    }
    return classes[name](learning_rate, weight_decay=weight_decay)


class NaNGuard(keras.callbacks.Callback):
    """Stops training the moment the loss stops being finite and remembers that it did."""

    def __init__(self):
        super().__init__()
        self.diverged = False

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged = True
            self.model.stop_training = True


class StopOnRequest(keras.callbacks.Callback):
    """Ends training after the current step once Ctrl-C or SIGTERM asked this process to stop. The signal
    handler only sets a flag: an exception raised from it inside TensorFlow's C++ would surface as another
    error (pybind11 turns it into a RuntimeError)."""

    def on_train_batch_end(self, batch, logs=None):
        if stopping.requested() is not None:
            self.model.stop_training = True


class EpochLog(keras.callbacks.Callback):
    """Per-epoch history, including wall seconds and the learning rate in effect."""

    def __init__(self, history: dict[str, list]):
        super().__init__()
        self.history = history

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        row = {
            "epoch": epoch + 1,
            "seconds": time.perf_counter() - self._start,
            "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
        }
        row.update({k: float(logs[k]) for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in logs})
        for key in ("epoch",) + HISTORY_KEYS:
            self.history.setdefault(key, []).append(row.get(key, float("nan")))


@dataclass
class TrainResult:
    history: dict[str, list] = field(default_factory=dict)
    diverged: bool = False
    test_loss: float | None = None
    test_accuracy: float | None = None
    test_predicted: np.ndarray | None = None  # the class predicted for each test image, in split order
    val_predicted: np.ndarray | None = None  # ... for each val image, by the model kept (the best epoch's)
    predict_seconds: float = 0.0  # predicting val and test after training

    @property
    def epochs_run(self) -> int:
        return len(self.history.get("epoch", []))


def _compile(
    model: keras.Model, train: DictConfig, learning_rate: float, reuse: bool, soft_labels: bool
) -> keras.Model:
    """The compiled model to fit: `model`, or (reuse) the compiled model an earlier run of this process kept
    for the same architecture and optimizer, holding `model`'s variables (harness.training.compiled)."""
    optimizer = make_optimizer(train.optimizer, learning_rate, train.weight_decay)
    options = dict(
        # One-hot (mixed) labels take the categorical loss; "accuracy" then compares argmaxes.
        loss="categorical_crossentropy" if soft_labels else "sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=bool(train.jit_compile),
        steps_per_execution=int(train.steps_per_execution),
    )
    if reuse:
        return compiled.compiled(model, optimizer, learning_rate, **options)
    model.compile(optimizer=optimizer, **options)
    return model


def early_stopping(patience: int) -> keras.callbacks.EarlyStopping:
    """Stops once val accuracy has not improved by 1e-4 for `patience` epochs, the best epoch's weights restored."""
    return keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=patience, min_delta=1e-4, restore_best_weights=True
    )


def epoch_curves(log_dir: Path) -> keras.callbacks.TensorBoard:
    """Keras's per-epoch curves of a run (train/ and validation/ under its tb folder)."""
    return keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False, profile_batch=0)


def _callbacks(train: DictConfig, history: dict, guard: NaNGuard, log_dir: Path | None, extra: list) -> list:
    callbacks: list = [StopOnRequest(), guard, EpochLog(history), *extra]
    if train.patience is not None:
        callbacks.append(early_stopping(train.patience))
    if log_dir is not None:
        callbacks.append(epoch_curves(log_dir))
    return callbacks


@dataclass
class FitOptions:
    """What a caller such as Keras Tuner adds to a run: its callbacks and the epoch range of the first phase."""

    callbacks: list = field(default_factory=list)
    epochs: int | None = None  # None: train.epochs
    initial_epoch: int = 0
    pruned: Callable[[], str | None] | None = None  # why a search's pruner stopped the run early, if it did


def fit(
    model: keras.Model,
    train_ds,
    val_ds,
    train: DictConfig,
    *,
    log_dir: Path | None = None,
    test_ds=None,
    test_labels: np.ndarray | None = None,
    predict_val: bool = False,
    options: FitOptions | None = None,
    backbone: keras.Model | None = None,
    steps_per_epoch: int | None = None,
    soft_labels: bool = False,
    class_weight: dict[int, float] | None = None,
) -> TrainResult:
    """Fits by the `train` section in one phase, or two with train.fine_tune: the head first with the backbone
    frozen, then the backbone's trainable layers as the model was built.

    `backbone` is the full backbone whose layers `model` trains when `model` is the part above a cached
    frozen prefix. `steps_per_epoch`: batches per epoch of a repeating train_ds (None: one pass). `soft_labels`:
    the datasets' labels are one-hot rows (data.mix), not class indices. `test_labels`: the class of each image of
    test_ds, in its order (the test split is predicted once, and scored from those predictions). `predict_val`: the
    kept model's class for each val image too (val balanced accuracy and macro-F1). `class_weight`:
    Keras's, a weight per class index (`balanced_class_weights`).
    """
    options = options or FitOptions()
    result = TrainResult()
    guard = NaNGuard()
    backbone = backbone if backbone is not None else backbone_of(model)
    first_epochs = options.epochs if options.epochs is not None else train.epochs
    # (learning rate, epochs, what stays frozen): the head alone first when fine-tuning, then the model as built.
    phases = [(train.learning_rate, first_epochs, FrozenBackbone(None))]
    if train.fine_tune.enabled and backbone is not None:
        phases = [
            (train.learning_rate, first_epochs, FrozenBackbone(backbone)),
            (train.fine_tune.learning_rate, train.fine_tune.epochs, FrozenBackbone(None)),
        ]
    done = options.initial_epoch
    # One phase and no caller's callbacks (Keras Tuner's hold the model they were given): the traced functions
    # of an earlier run of the same architecture can be reused.
    reuse = len(phases) == 1 and not options.callbacks
    fitted = model
    for phase, (learning_rate, until, freezing) in enumerate(phases):
        with freezing:
            fitted = _compile(model, train, learning_rate, reuse, soft_labels)
            fitted.fit(
                train_ds,
                validation_data=val_ds,
                initial_epoch=done,
                epochs=until if phase == 0 else done + until,
                steps_per_epoch=steps_per_epoch,
                class_weight=class_weight,
                callbacks=_callbacks(train, result.history, guard, log_dir, list(options.callbacks)),
                verbose=train.verbose,
                shuffle=False,  # the tf.data pipeline shuffles
            )
        compiled.trained_into(fitted, model)
        done = options.initial_epoch + result.epochs_run
        if guard.diverged:
            result.diverged = True
            return result
        if stopping.requested() is not None:  # the caller records the run as interrupted
            return result
    started = time.perf_counter()
    if predict_val:
        result.val_predicted = predicted_classes(fitted.predict(val_ds, verbose=0))
    if test_ds is not None:
        probabilities = fitted.predict(test_ds, verbose=0)
        result.test_loss, result.test_accuracy = scored(probabilities, test_labels)
        result.test_predicted = predicted_classes(probabilities)
    result.predict_seconds = time.perf_counter() - started
    return result


def class_probabilities(output: np.ndarray) -> np.ndarray:
    """A classifier's output as one probability per class: a softmax's as it is, a single sigmoid unit's (a
    two-class head such as AutoKeras builds) as (1 - p, p)."""
    p = np.asarray(output, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 1:
        return np.concatenate([1.0 - p, p], axis=1)
    return p


def predicted_classes(output: np.ndarray) -> np.ndarray:
    """The class a classifier's output predicts for each image."""
    return class_probabilities(output).argmax(axis=1)


def scored(output: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(cross-entropy, accuracy) of a classifier's output against class indices, as Keras's compiled loss and
    "accuracy" metric compute them (probabilities renormalized and clipped to [1e-7, 1 - 1e-7]; a single
    sigmoid unit scored as binary cross-entropy and binary accuracy at 0.5)."""
    p = class_probabilities(output)
    p = p / p.sum(axis=1, keepdims=True)
    labels = np.asarray(labels, dtype=int)
    true = np.clip(p[np.arange(len(labels)), labels], 1e-7, 1 - 1e-7)
    return float(-np.log(true).mean()), float((p.argmax(axis=1) == labels).mean())


def class_weights(
    choice: str, labels: np.ndarray, classes: int, names: list[str] | None = None
) -> dict[int, float] | None:
    """Keras's class_weight for train.class_weight=`choice` (none: None, every image alike)."""
    return balanced_class_weights(labels, classes, names) if choice == "balanced" else None


def balanced_class_weights(labels: np.ndarray, classes: int, names: list[str] | None = None) -> dict[int, float]:
    """train.class_weight=balanced: scikit-learn's compute_class_weight("balanced"), n / (classes x count) per
    class, so every class weighs as much in the loss as if the classes were equal. A class without training
    images has no such weight: bad input, refused before training."""
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.asarray(labels, dtype=int)
    missing = np.setdiff1d(np.arange(classes), labels)
    if missing.size:
        name = names[missing[0]] if names else str(missing[0])
        raise ConfigError(
            "train.class_weight",
            "balanced",
            f"a training split with images of every class (class {name!r} has none); train.class_weight=none "
            f"trains without weights",
        )
    weights = compute_class_weight("balanced", classes=np.arange(classes), y=labels)
    return {c: float(w) for c, w in enumerate(weights)}


def class_scores(predicted: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(balanced accuracy, macro-F1) of predicted classes against true ones, scikit-learn's: the mean recall over
    the classes the labels hold, and the mean F1 over the classes either holds (0 where a class is never
    predicted or never right). Unlike accuracy, both stay low for a model that predicts the majority class of an
    imbalanced split."""
    import warnings

    from sklearn.metrics import balanced_accuracy_score, f1_score

    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": the definition, not a fault
        warnings.simplefilter("ignore", UserWarning)
        balanced = balanced_accuracy_score(labels, predicted)
    return float(balanced), float(f1_score(labels, predicted, average="macro", zero_division=0))
