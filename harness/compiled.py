"""A compiled model kept from one run to the next in the same process, so a run that trains the same
architecture the same way does not trace and compile its training and evaluation functions again.

The first epoch of a run used to hold about 5 s of tracing (on 2 cores, a partly unfrozen MobileNet),
often more than the other 19 epochs together on cached features. Runs of a sweep or study that differ
only in seed, learning rate, batch size, epochs or data share the traced functions: each run's own model
is still built and seeded as before, and its variables — weights, BatchNorm statistics, the dropout
layers' random-generator states — are copied into the kept model, whose optimizer goes back to the
state it had before its first step, with this run's learning rate. The trained variables are copied back,
so the run's model ends exactly as if it had trained itself (tested: the same loss, epoch by epoch).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import keras
import numpy as np


@dataclass
class _Kept:
    signature: str
    model: keras.Model
    optimizer_start: list[np.ndarray]  # the optimizer's variables before its first step


_kept: _Kept | None = None  # one: consecutive runs are what repeat an architecture
_last = "none"  # what the last call did: traced | reused


def signature(model: keras.Model, optimizer: keras.optimizers.Optimizer, compile_options: dict) -> str:
    """What a traced training step depends on besides variable values: the graph with its layers' trainable
    flags and dtypes, which variables train, the optimizer's type and settings but its learning rate, and
    the compile options."""
    settings = {k: v for k, v in optimizer.get_config().items() if k not in ("learning_rate", "name")}
    blob = json.dumps([model.get_config(), [v.trainable for v in model.variables], [v.path for v in model.variables],
                       type(optimizer).__name__, settings, compile_options, keras.mixed_precision.global_policy().name],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _copy(source: keras.Model, target: keras.Model) -> None:
    for into, value in zip(target.variables, source.variables):
        into.assign(value)


def compiled(model: keras.Model, optimizer: keras.optimizers.Optimizer, learning_rate: float, **compile_options) -> keras.Model:
    """The model to fit: a kept one with `model`'s variables and a fresh optimizer state when one was kept
    for this signature, else `model` itself, compiled (and kept for the next run)."""
    global _kept, _last
    key = signature(model, optimizer, compile_options)
    if _kept is not None and _kept.signature == key and _kept.model is not model:
        _copy(model, _kept.model)
        for variable, start in zip(_kept.model.optimizer.variables, _kept.optimizer_start):
            variable.assign(start)
        _kept.model.optimizer.learning_rate = learning_rate
        _last = "reused"
        return _kept.model
    model.compile(optimizer=optimizer, **compile_options)
    model.optimizer.build(model.trainable_variables)
    _kept, _last = _Kept(key, model, [np.array(v) for v in model.optimizer.variables]), "traced"
    return model


def last() -> str:
    """Whether the last fit traced its functions or reused a kept model's (the run record keeps it)."""
    return _last


def trained_into(fitted: keras.Model, model: keras.Model) -> None:
    """After fitting a kept model: the run's own model takes its variables."""
    if fitted is not model:
        _copy(fitted, model)


def forget() -> None:
    """Drop the kept model (its graphs and memory)."""
    global _kept, _last
    _kept, _last = None, "none"
