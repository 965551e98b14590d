"""A run that gets the model an earlier run of the same process built from the same seed gives exactly the numbers
of a fresh build, also after a run with another seed, and anything that changes the model builds a new one."""

from __future__ import annotations

import pytest

from harness.training import compiled, seeded
from harness.training.run import run
from tests.helpers import KEPT_RUN, make_cfg

TINY = [
    *KEPT_RUN,
    "model.head.dropout=0.5",  # the dropout layers' random state must come back too
]


def fresh(*overrides: str):
    seeded.forget()
    compiled.forget()
    return run(make_cfg(*TINY, *overrides))


@pytest.mark.parametrize("unfreeze", ["1.0", "0.5"])  # images through the whole net; cached features
def test_a_kept_model_trains_to_the_numbers_of_a_fresh_build(tmp_path, unfreeze):
    common = [f"model.unfreeze={unfreeze}", "train.seed=43", f"results_dir={tmp_path / 'a'}"]
    seeded.forget()
    run(make_cfg(*TINY, *common, "train.learning_rate=0.01", "run_name=first"))
    assert seeded.kept() == 1
    run(make_cfg(*TINY, f"model.unfreeze={unfreeze}", "train.seed=7", f"results_dir={tmp_path / 'a'}", "run_name=b"))
    assert seeded.kept() == 2  # another seed is another model
    kept = run(make_cfg(*TINY, *common, "train.learning_rate=0.001", "run_name=second"))
    assert kept.cache["compiled"] == "reused"

    again = fresh(*common, "train.learning_rate=0.001", f"results_dir={tmp_path / 'b'}", "run_name=second")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert kept.history[key] == again.history[key], key
    assert kept.test_accuracy == again.test_accuracy and kept.test_loss == again.test_loss


def test_a_changed_weights_file_or_another_precision_builds_the_model_again(tmp_path):
    weights = tmp_path / "backbone.weights.h5"
    weights.write_bytes(b"weights")
    first = seeded.key({"weights": str(weights)}, 10, (32, 32, 3), 42, "float32")
    weights.write_bytes(b"other weights")
    assert seeded.key({"weights": str(weights)}, 10, (32, 32, 3), 42, "float32") != first
    assert seeded.key({"weights": None}, 10, (32, 32, 3), 42, "mixed_float16") != seeded.key(
        {"weights": None}, 10, (32, 32, 3), 42, "float32"
    )
