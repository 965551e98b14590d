"""A run's identity: its config hash changes with every knob that changes what it computes or leaves behind, and
with none of those declared `identity=False` (harness.config.schema.Properties), which the schema, the hash, the
run's folder name and its HParams columns all read from the same declaration."""

from __future__ import annotations

import pytest

from harness.config import schema
from harness.config.identity import HOW_NOT_WHAT, NOT_IDENTITY, canonical, config_hash
from harness.config.naming import UNLABELLED
from harness.records.record import hyperparameters
from tests.helpers import make_cfg


def _other_value(key: str, f) -> str | None:
    """A value of the knob other than its default that validates on its own."""
    allowed = f.metadata["allowed"]
    if allowed.choices:
        return next(str(c) for c in allowed.choices if c != f.default)
    if key == "train.verbose":
        return "0"
    if isinstance(f.default, bool):
        return str(not f.default).lower()
    if isinstance(f.default, int):
        return str(f.default + 1)
    return None


NOT_PART = sorted(
    k for k, f in schema.knobs(schema.TrainConfig, "train.") if not schema.properties(f).identity
) + sorted(k for k, f in schema.knobs(schema.DataConfig, "data.") if not schema.properties(f).identity)


def test_the_knobs_outside_a_runs_identity_are_those_the_schema_declares():
    assert (
        set(HOW_NOT_WHAT)
        == set(NOT_PART)
        == {"data.memory_mb", "train.cache", "train.steps_per_execution", "train.verbose"}
    )
    assert {"results_dir", "name", "run_name", "overwrite", "analysis", "cache_dir", "sweep", "tuner"} <= set(
        NOT_IDENTITY
    )


@pytest.mark.parametrize("key", NOT_PART)
def test_a_knob_outside_the_identity_changes_no_hash_name_or_hparams_column(key):
    f = dict([*schema.knobs(schema.TrainConfig, "train."), *schema.knobs(schema.DataConfig, "data.")])[key]
    base = make_cfg("experiment=quickstart")
    changed = make_cfg("experiment=quickstart", f"{key}={_other_value(key, f)}")
    assert canonical(changed[key.split(".")[0]][key.split(".")[1]]) != canonical(f.default)
    assert config_hash(changed) == config_hash(base)
    assert key in UNLABELLED and key not in hyperparameters(
        {"train": {"verbose": 2}, "data": {"memory_mb": 1}, key.split(".")[0]: {key.split(".")[1]: 1}}
    )


@pytest.mark.parametrize(
    "override", ["train.save_model=true", "train.jit_compile=true", "train.feature_dtype=float16", "data.seed=1"]
)
def test_a_knob_that_changes_the_numbers_or_the_runs_folder_changes_the_hash(override):
    assert config_hash(make_cfg("experiment=quickstart", override)) != config_hash(make_cfg("experiment=quickstart"))
