"""A compiled model kept from one run to the next in the same process, so a run that trains the same
architecture the same way does not trace and compile its training and evaluation functions again.

The first epoch of a run used to hold about 5 s of tracing (on 2 cores, a partly unfrozen MobileNet),
often more than the other 19 epochs together on cached features. Runs of a sweep or study that differ
only in seed, learning rate, batch size, epochs or data share the traced functions: each run's own model
is still built and seeded as before, and its variables — weights, BatchNorm statistics, the dropout
layers' random-generator states — are copied into the kept model, whose optimizer goes back to the
state it had before its first step, with this run's learning rate. The trained variables are copied back,
so the run's model ends exactly as if it had trained itself (tested: the same loss, epoch by epoch).

A few compiled models are kept, the least recently used dropped first: a study's experiments interleave
the baseline's architecture with others (another optimizer, image size, unfreeze fraction), and a worker
that kept only the last one traced the baseline's functions again after each of them.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np


@dataclass
class _Kept:
    signature: str
    model: keras.Model
    optimizer_start: list[np.ndarray]  # the optimizer's variables before its first step


KEEP = 4  # compiled models kept per process: their variables and graphs, not their activations
_kept: OrderedDict[str, _Kept] = OrderedDict()  # by signature, least recently used first
_last = "none"  # what the last call did: traced | reused


def described(value: Any) -> Any:
    """A compile option as plain data that two equal options share: a loss or metric object by Keras's own
    serialization (its class and config), never by its identity, so a fresh but equal object finds the model
    kept for it."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [described(v) for v in value]
    if isinstance(value, dict):
        return {str(k): described(v) for k, v in value.items()}
    return keras.saving.serialize_keras_object(value)


def signature(model: keras.Model, optimizer: keras.optimizers.Optimizer, compile_options: dict) -> str:
    """What a traced training step depends on besides variable values: the graph with its layers' trainable
    flags and dtypes, which variables train, the optimizer's type and settings but its learning rate, and
    the compile options. Everything is described as plain data: something that cannot be raises rather than
    being keyed on its memory address (a key no later run would find)."""
    settings = {k: v for k, v in optimizer.get_config().items() if k not in ("learning_rate", "name")}
    blob = json.dumps(
        described(
            [
                model.get_config(),
                [v.trainable for v in model.variables],
                [v.path for v in model.variables],
                type(optimizer).__name__,
                settings,
                compile_options,
                keras.mixed_precision.global_policy().name,
            ]
        ),
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _copy(source: keras.Model, target: keras.Model) -> None:
    for into, value in zip(target.variables, source.variables):
        into.assign(value)


def compiled(
    model: keras.Model, optimizer: keras.optimizers.Optimizer, learning_rate: float, **compile_options
) -> keras.Model:
    """The model to fit: a kept one with `model`'s variables and a fresh optimizer state when one was kept
    for this signature, else `model` itself, compiled (and kept for the next run)."""
    global _last
    key = signature(model, optimizer, compile_options)
    entry = _kept.get(key)
    if entry is not None:
        _kept.move_to_end(key)
        if entry.model is not model:  # the same model comes back when harness.training.seeded kept it
            _copy(model, entry.model)
        for variable, start in zip(entry.model.optimizer.variables, entry.optimizer_start):
            variable.assign(start)
        entry.model.optimizer.learning_rate = learning_rate
        _last = "reused"
        return entry.model
    model.compile(optimizer=optimizer, **compile_options)
    model.optimizer.build(model.trainable_variables)
    _kept[key] = _Kept(key, model, [np.array(v) for v in model.optimizer.variables])
    _kept.move_to_end(key)
    while len(_kept) > KEEP:
        _kept.popitem(last=False)
    _last = "traced"
    return model


def last() -> str:
    """Whether the last fit traced its functions or reused a kept model's (the run record keeps it)."""
    return _last


def trained_into(fitted: keras.Model, model: keras.Model) -> None:
    """After fitting a kept model: the run's own model takes its variables."""
    if fitted is not model:
        _copy(fitted, model)


def kept() -> int:
    """How many compiled models this process keeps now."""
    return len(_kept)


def forget() -> None:
    """Drop the kept models (their graphs and memory)."""
    global _last
    _kept.clear()
    _last = "none"
