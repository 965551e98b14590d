"""tuner=autokeras: AutoKeras's own search over the harness's data, every trial an ordinary harness record.

AutoKeras (the `automl` extra, pinned to AUTOKERAS) searches a graph of blocks with its Greedy tuner: here the
harness's backbone (model.backbone with model.weights, a weights file offline: AutoKeras's own pretrained blocks
download theirs) with its unfreeze fraction as a hyperparameter, then AutoKeras's ClassificationHead (spatial
reduction, dropout) and AutoKeras's optimizer and learning rate. It is fed the split's decoded uint8 arrays
(the harness's image cache; AutoKeras 3 takes numpy only) with the val split as validation data, so its trials
choose their epoch on val as the harness's do. Each trial trains with the harness's callbacks (per-epoch history,
early stopping, TensorBoard curves), is scored on the test split as a harness run is (a two-class head's single
sigmoid unit included) and ends as a harness record through harness.records.lifecycle. The knobs AutoKeras does
not apply (augmentation, mixing, the harness's head, fine-tuning: `ignored_by` on the knob) are refused unless at
their defaults and left out of the trials' records.

Budgets: tuner.max_trials, and tuner.max_seconds of this command (AutoKeras 3 has no time limit): past it no
trial starts and the running one ends at its next batch (its record says it was cut short). A killed search
resumes where Keras Tuner's saved oracle left it: finished trials are kept, the unfinished one runs again.
At the end the best model is exported, saved, loaded back and scored on test again: the two scores and the
share of images on which the saved model predicts as the one in memory are written to autokeras.json (exported
models that predict differently after reloading are an open AutoKeras bug).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from harness.config.geometry import geometry
from harness.config.naming import trial_folder
from harness.config.space import as_meant
from harness.config.validate import ignored_knobs
from harness.data.images import split_images
from harness.errors import UserError
from harness.multirun.search import finished_trials, trial_identity
from harness.multirun.search_identity import check_same_search
from harness.process import memory, stopping
from harness.process.progress import Progress
from harness.records import lifecycle
from harness.records.record import RunRecord, Status, read_record
from harness.reports.sweep_report import write_report
from harness.storage.atomic import replacing, write_atomic
from harness.training.fit import EpochLog, class_scores, early_stopping, epoch_curves, predicted_classes, scored
from harness.training.run import cache_root, clear_outputs, data_facts, load_data

log = logging.getLogger(__name__)

AUTOKERAS = "3.0.0"  # the version this module is written against: its Block, Greedy tuner and export API
SUMMARY = "autokeras.json"
UNFREEZE = (0.0, 0.33, 0.66, 1.0)  # the backbone's trained fraction, as the unfreeze sweep's values


def autokeras():
    """The autokeras module, or one line saying how to install the pinned version."""
    try:
        import autokeras as ak
    except ImportError:
        raise UserError(
            f"tuner=autokeras needs AutoKeras: pip install 'tl-harness[automl]' (autokeras=={AUTOKERAS})"
        ) from None
    if ak.__version__ != AUTOKERAS:
        raise UserError(f"tuner=autokeras is built on autokeras=={AUTOKERAS}; this environment has {ak.__version__}")
    return ak


@cache
def backbone_block():
    """The harness's backbone as an AutoKeras block class (made once, registered so AutoKeras can save and
    reload the graph it is part of)."""
    import keras

    from harness.models.build import transfer_features

    ak = autokeras()

    @keras.saving.register_keras_serializable(package="harness")
    class HarnessBackbone(ak.Block):
        """model.backbone with model.weights and the transfer section's BatchNorm settings; the fraction of its
        layers trained is a hyperparameter (`unfreeze`, model.unfreeze's value first)."""

        def __init__(self, model: dict | None = None, fractions: list[float] | None = None, **kwargs):
            super().__init__(**kwargs)
            self.model, self.fractions = model or {}, list(fractions or UNFREEZE)

        def get_config(self):
            return {**super().get_config(), "model": self.model, "fractions": self.fractions}

        def build(self, hp, inputs=None):
            section = OmegaConf.create(self.model)
            default = section.unfreeze if section.unfreeze in self.fractions else self.fractions[0]
            section.unfreeze = hp.Choice("unfreeze", self.fractions, default=default)
            return transfer_features(keras.tree.flatten(inputs)[0], section)

    return HarnessBackbone


@cache
def classification_head():
    """AutoKeras's ClassificationHead, its output shape kept as Python ints. AutoKeras 3.0.0 sets it from
    `np.array(x.shape)`, and Keras 3.15 (this environment) refuses `Dense(units=np.int64(10))` ("expected a positive integer"), so
    the stock head cannot build on this Keras (tests/multirun/test_automl.py fails once AutoKeras no longer needs this)."""
    import keras

    ak = autokeras()

    @keras.saving.register_keras_serializable(package="harness")
    class ClassificationHead(ak.ClassificationHead):
        @property
        def shape(self):
            return self._int_shape

        @shape.setter
        def shape(self, value):
            self._int_shape = None if value is None else tuple(int(v) for v in value)

    return ClassificationHead


def trial_values(values: dict[str, Any]) -> dict[str, Any]:
    """The config keys a trial's AutoKeras hyperparameters set (the rest stay hyperparameters only)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        key = name.rsplit("/", 1)[-1]
        if key == "unfreeze":
            out["model.unfreeze"] = value
        elif key in ("learning_rate", "optimizer") and "/" not in name:
            out[f"train.{key}"] = value
    return out


def trial_config(cfg: DictConfig, run_name: str, values: dict[str, Any]) -> dict[str, Any]:
    """What a trial ran with, as its record keeps it: the baseline with the trial's values on the keys they set,
    and without the knobs AutoKeras does not apply (harness.config.validate refuses them unless at their
    defaults), so no table row shows a setting the trial did not have."""
    tcfg = OmegaConf.merge(cfg, {"run_name": run_name})
    for key, value in trial_values(values).items():
        OmegaConf.update(tcfg, key, value, force_add=True)
    plain = OmegaConf.to_container(tcfg, resolve=True)
    for key in ignored_knobs("autokeras", str(cfg.model.kind)):
        *path, name = key.split(".")
        sections = [plain]
        for part in path:
            sections.append(sections[-1].get(part, {}))
        sections[-1].pop(name, None)
        for section, part in zip(reversed(sections[:-1]), reversed(path)):  # a section left empty goes too
            if section.get(part) == {}:
                section.pop(part)
    return plain


class Trials:
    """What the search keeps between Keras Tuner's hooks: the harness config, data, budget and the trial
    now running; each trial ends as a harness record (harness.records.lifecycle) with its TensorBoard curves."""

    def __init__(self, cfg: DictConfig, exp_dir: Path, splits, arrays: dict[str, np.ndarray], done: int):
        self.cfg, self.exp_dir, self.splits, self.arrays = cfg, exp_dir, splits, arrays
        self.deadline = time.monotonic() + cfg.tuner.max_seconds if cfg.tuner.max_seconds else None
        self.progress = Progress(cfg.tuner.max_trials, noun="trial", done=done)
        self.history: dict[str, list] = {}
        self.test: dict[str, Any] = {}
        self.params: dict[str, int] = {}
        self.cut_short = False
        self.started, self.started_at = 0.0, ""
        self.run_dir = exp_dir
        self.stopped: str | None = None

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def begin(self, trial) -> None:
        self.history, self.test, self.params, self.cut_short = {}, {}, {}, False
        self.run_dir = self.exp_dir / trial_folder(trial.trial_id)
        if self.run_dir.is_dir():  # a trial run again replaces what its last attempt wrote
            clear_outputs(self.run_dir)
        self.started, self.started_at = time.monotonic(), lifecycle.now()
        self.progress.start()

    def end(self, trial, status: Status, error: str | None = None) -> RunRecord:
        """The trial's record, begun and finished by the lifecycle every run has, published with its HParams
        session and summary scalars; returns it."""
        values = {k: as_meant(v) for k, v in trial.hyperparameters.values.items()}
        identity = trial_identity(trial.trial_id, self.cfg.train.seed, values)
        notes = list(self.splits.notes) + (["cut short by tuner.max_seconds"] if self.cut_short else [])
        facts = {**data_facts(self.splits, geometry(self.cfg.data).shape), "data_notes": notes}
        record = lifecycle.begin(
            trial_config(self.cfg, self.run_dir.name, values), identity, started_at=self.started_at, **facts
        )
        wall = round(time.monotonic() - self.started, 3)
        record = lifecycle.finish(
            record,
            status,
            error,
            history=self.history,
            steps_per_epoch=-(-len(self.splits.train) // self.cfg.train.batch_size),
            wall_seconds=wall,
            total_seconds=wall,
            memory=memory.memory_mb(),
            **self.params,
            **self.test,
        )
        lifecycle.publish(self.run_dir, record)
        self.progress.finish()
        return record


def trial_log(trials: Trials, batch_size: int):
    """The Keras callback every trial trains with: the harness's per-epoch history and TensorBoard curves in
    the trial's folder, the time budget and Ctrl-C checked after each batch, and the test split scored when
    training ends (best epoch restored by then) as a harness run scores it."""
    import keras

    from harness.models import cost

    class TrialLog(keras.callbacks.Callback):
        """Holds the callbacks of a harness run for the trial now running (Keras Tuner gives every callback
        named TensorBoard a folder and an HParams session of its own, so Keras's is held here, not passed)."""

        def __deepcopy__(self, memo):  # Keras Tuner copies callbacks per trial: this one reports to `trials`
            return self

        def on_train_begin(self, logs=None):
            callbacks = [EpochLog(trials.history), epoch_curves(trials.run_dir / "tb")]
            self.inner = keras.callbacks.CallbackList(callbacks, model=self.model)
            self.inner.on_train_begin(logs)

        def on_epoch_begin(self, epoch, logs=None):
            self.inner.on_epoch_begin(epoch, logs)

        def on_epoch_end(self, epoch, logs=None):
            self.inner.on_epoch_end(epoch, logs)

        def on_train_batch_begin(self, batch, logs=None):
            self.inner.on_train_batch_begin(batch, logs)

        def on_test_begin(self, logs=None):
            self.inner.on_test_begin(logs)

        def on_test_end(self, logs=None):
            self.inner.on_test_end(logs)

        def on_train_batch_end(self, batch, logs=None):
            self.inner.on_train_batch_end(batch, logs)
            if trials.out_of_time() or stopping.requested() is not None:
                trials.cut_short = trials.out_of_time()
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            self.inner.on_train_end(logs)
            shape = geometry(trials.cfg.data).shape
            measured = cost.measure(self.model, shape, latency=bool(OmegaConf.select(trials.cfg, "cost.latency")))
            trials.params = {
                "trainable_params": measured.trainable_params,
                "total_params": measured.total_params,
                "cost": measured,
            }
            x, y = trials.arrays.get("test"), trials.arrays.get("test_labels")
            if x is not None and len(x):
                output = self.model.predict(x.astype(np.float32), batch_size=batch_size, verbose=0)
                loss, accuracy = scored(output, y)
                balanced, macro_f1 = class_scores(predicted_classes(output), y)
                trials.test = {
                    "test_loss": loss,
                    "test_accuracy": accuracy,
                    "test_correct": predicted_classes(output) == y,
                    "test_balanced_accuracy": balanced,
                    "test_macro_f1": macro_f1,
                }

    return TrialLog()


def tuner_class(trials: Trials):
    """AutoKeras's Greedy tuner with Keras Tuner's public trial hooks reporting to `trials`."""
    ak = autokeras()

    class HarnessGreedy(ak.Greedy):
        def on_trial_begin(self, trial):
            super().on_trial_begin(trial)
            trials.begin(trial)

        def on_trial_end(self, trial):
            if stopping.requested() is not None:  # not ended in the oracle: a resumed search runs it again
                stop = stopping.Interrupted(stopping.requested())
                trials.end(trial, Status.INTERRUPTED, str(stop))
                raise stop
            super().on_trial_end(trial)
            failed = trial.status != "COMPLETED"
            trials.end(trial, Status.FAILED if failed else Status.COMPLETED, trial.message if failed else None)
            if trials.out_of_time():  # no trial starts after the budget: the oracle has reached its last
                trials.stopped = f"tuner.max_seconds={trials.cfg.tuner.max_seconds:g} reached"
                self.oracle.max_trials = len(self.oracle.trials)

    return HarnessGreedy


def _arrays(cfg: DictConfig, splits) -> dict[str, np.ndarray]:
    """uint8 images and class indices of every split, decoded once (from the image cache where it is on)."""
    shape, root = geometry(cfg.data), cache_root(cfg)
    out: dict[str, np.ndarray] = {}
    for name in ("train", "val", "test"):
        split = getattr(splits, name)
        if split is None:
            continue
        out[name] = np.asarray(split_images(split, shape, root))
        out[f"{name}_labels"] = np.asarray(split.labels)
    return out


def _exported(auto, exp_dir: Path, arrays: dict[str, np.ndarray], batch_size: int) -> dict[str, Any]:
    """Export the best model, save it, load it back and score both on test (or val without a test split)."""
    import keras

    from harness.models import build  # noqa: F401 - registers the layers the saved model holds

    ak = autokeras()
    split = "test" if "test" in arrays else "val"
    x, y = arrays[split].astype(np.float32), arrays[f"{split}_labels"]
    model = auto.export_model()
    before = model.predict(x, batch_size=batch_size, verbose=0)
    path = exp_dir / "model.keras"
    with replacing(path) as tmp:
        model.save(tmp)
    reloaded = keras.saving.load_model(path, custom_objects=ak.CUSTOM_OBJECTS)
    after = reloaded.predict(x, batch_size=batch_size, verbose=0)
    return {
        "model": str(path),
        "split": split,
        "images": len(y),
        "accuracy_exported": scored(before, y)[1],
        "accuracy_reloaded": scored(after, y)[1],
        "same_prediction": float((predicted_classes(before) == predicted_classes(after)).mean()),
        "largest_probability_change": float(np.abs(before - after).max()),
    }


def search(cfg: DictConfig, exp_dir: Path, choices: dict[str, str] | None = None) -> dict[str, Any]:
    """Run (or resume) AutoKeras's search; write each trial's record, the report and autokeras.json."""
    import keras

    ak = autokeras()
    exp_dir = Path(exp_dir)
    if cfg.tuner.overwrite:  # as Keras Tuner's searches: the old trials' folders go with its oracle
        for old in exp_dir.glob("trial=*"):
            shutil.rmtree(old)
    check_same_search(cfg, exp_dir)
    started = time.monotonic()
    splits = load_data(cfg)
    arrays = _arrays(cfg, splits)
    trials = Trials(cfg, exp_dir, splits, arrays, 0 if cfg.tuner.overwrite else finished_trials(exp_dir))
    keras.utils.set_random_seed(cfg.train.seed)
    model_section = OmegaConf.to_container(cfg.model, resolve=True)
    image = ak.ImageInput()
    features = backbone_block()(model=model_section, name="harness_backbone")(image)
    output = classification_head()(num_classes=splits.num_classes, metrics=["accuracy"])(features)
    auto = ak.AutoModel(
        inputs=image,
        outputs=output,
        project_name="autokeras",
        directory=str(exp_dir),
        max_trials=cfg.tuner.max_trials,
        objective="val_accuracy" if "accuracy" in cfg.tuner.objective else "val_loss",
        tuner=tuner_class(trials),
        overwrite=bool(cfg.tuner.overwrite),
        seed=cfg.train.seed,
    )
    t = cfg.train
    # An EarlyStopping of ours keeps AutoKeras from adding its own (on val_loss) and then training the best
    # model again on train + val: the best trial's model, chosen on val, is the result.
    callbacks = [early_stopping(t.patience if t.patience is not None else t.epochs), trial_log(trials, t.batch_size)]
    with stopping.training():
        auto.fit(
            arrays["train"].astype(np.float32),
            arrays["train_labels"],
            validation_data=(arrays["val"].astype(np.float32), arrays["val_labels"]),
            epochs=t.epochs,
            batch_size=t.batch_size,
            callbacks=callbacks,
            verbose=t.verbose,
        )
    summary: dict[str, Any] = {"experiment": str(exp_dir), "role": "single", "trials": len(auto.tuner.oracle.trials)}
    best = auto.tuner.oracle.get_best_trials(1)
    if best:
        summary["best_trial"] = best[0].trial_id
        summary["best_run"] = trial_folder(best[0].trial_id)
        summary["best_score"] = best[0].score
        summary["best_hyperparameters"] = {k: as_meant(v) for k, v in best[0].hyperparameters.values.items()}
        summary["exported"] = _exported(auto, exp_dir, arrays, t.batch_size)
        summary["exported"].update(_against_trial(summary["exported"], read_record(exp_dir / summary["best_run"])))
    summary["seconds"] = round(time.monotonic() - started, 1)
    if trials.stopped:
        summary["budget"] = trials.stopped
    write_atomic(exp_dir / SUMMARY, json.dumps(summary, indent=2, default=str))
    summary.update(write_report(exp_dir))
    if "exported" in summary:
        e = summary["exported"]
        print(
            f"best trial #{int(summary['best_trial']) + 1} ({summary['best_run']}): {cfg.tuner.objective} = "
            f"{summary['best_score']:.4f}; exported model on {e['split']}: {e['accuracy_exported']:.4f}, "
            f"reloaded {e['accuracy_reloaded']:.4f} (same prediction on {e['same_prediction']:.1%}) -> {e['model']}",
            flush=True,
        )
        if not e["agrees_with_trial"]:
            raise ExportMismatch(
                f"search {exp_dir.name}: the exported model scores {e['accuracy_exported']:.4f} on {e['split']} where "
                f"its trial ({summary['best_run']}) scored {e['accuracy_trial']:.4f}, more than {EXPORT_TOLERANCE} "
                f"images apart: AutoKeras's export did not reproduce the trial ({exp_dir / SUMMARY})"
            )
    return summary


EXPORT_TOLERANCE = 2  # images on which the exported model may be scored differently from its trial (ties at 0.5)


class ExportMismatch(UserError):
    """The exported model does not score as the trial it came from: an error, after the numbers are kept."""

    exit_code = 1


def _against_trial(exported: dict[str, Any], trial: RunRecord | None) -> dict[str, Any]:
    """The trial's own score on the split the exported model was scored on, and whether the two agree within
    EXPORT_TOLERANCE images."""
    mine = None
    if trial is not None:
        mine = trial.test_accuracy if exported["split"] == "test" else trial.best_val_accuracy
    apart = None if mine is None else abs(exported["accuracy_exported"] - mine) * exported["images"]
    return {"accuracy_trial": mine, "agrees_with_trial": apart is not None and apart <= EXPORT_TOLERANCE + 1e-6}
