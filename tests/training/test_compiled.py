"""A run that reuses the compiled model an earlier run of the same process kept (same architecture and
optimizer) gives exactly the numbers of a fresh build and trace."""

from __future__ import annotations

import itertools

import pytest

from harness.training import compiled
from harness.training.run import run
from tests.helpers import KEPT_RUN, make_cfg

TINY = KEPT_RUN


@pytest.mark.parametrize(
    "unfreeze", ["1.0", "0.5"]
)  # images through the whole net; cached features under a frozen half
def test_reusing_a_kept_compiled_model_gives_the_numbers_of_a_fresh_build(tmp_path, unfreeze):
    first = make_cfg(*TINY, f"model.unfreeze={unfreeze}", "train.learning_rate=0.01", f"results_dir={tmp_path / 'a'}")
    second = make_cfg(
        *TINY, f"model.unfreeze={unfreeze}", "train.seed=43", f"results_dir={tmp_path / 'a'}", "run_name=second"
    )
    compiled.forget()
    assert run(first).cache["compiled"] == "traced"
    reused = run(second)
    assert reused.cache["compiled"] == "reused"

    compiled.forget()
    fresh = run(
        make_cfg(
            *TINY, f"model.unfreeze={unfreeze}", "train.seed=43", f"results_dir={tmp_path / 'b'}", "run_name=second"
        )
    )
    assert fresh.cache["compiled"] == "traced" and fresh.cache["feature_cache"] == reused.cache["feature_cache"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
        assert reused.history[key] == fresh.history[key], key
    assert reused.test_accuracy == fresh.test_accuracy and reused.test_loss == fresh.test_loss


def test_another_optimizer_or_architecture_traces_again(tmp_path):
    compiled.forget()
    assert run(make_cfg(*TINY, f"results_dir={tmp_path}")).cache["compiled"] == "traced"
    assert (
        run(make_cfg(*TINY, "train.optimizer=sgd", f"results_dir={tmp_path}", "run_name=sgd")).cache["compiled"]
        == "traced"
    )
    assert (
        run(
            make_cfg(*TINY, "model.head.units=32", "train.optimizer=sgd", f"results_dir={tmp_path}", "run_name=u")
        ).cache["compiled"]
        == "traced"
    )


def test_kept_models_wait_their_turn_and_the_least_recently_used_is_dropped(tmp_path, monkeypatch):
    """A study interleaves the baseline's architecture with others: a later baseline run still reuses its
    compiled model; past the limit, the model used longest ago goes."""
    monkeypatch.setattr(compiled, "KEEP", 2)
    compiled.forget()
    runs = itertools.count()

    def how(*overrides: str) -> str:
        return run(make_cfg(*TINY, *overrides, f"results_dir={tmp_path}", f"run_name=r{next(runs)}")).cache["compiled"]

    assert how("train.optimizer=adam") == "traced"
    assert how("train.optimizer=sgd") == "traced"
    assert how("train.optimizer=adam", "train.seed=7") == "reused"  # after another architecture
    assert how("train.optimizer=rmsprop") == "traced" and compiled.kept() == 2  # sgd's, used longest ago, goes
    assert how("train.optimizer=adam", "train.seed=8") == "reused"
    assert how("train.optimizer=sgd", "train.seed=7") == "traced"


def test_equal_compile_options_made_afresh_share_one_trace():
    """A loss or metric object is keyed by what it is (class and config), not by which object it is: two runs that
    compile with equal but separately made objects share one traced model, and an object that differs does not."""
    import keras

    def model():  # built as a run builds it: a fresh session, so the layers' names are the same each time
        keras.backend.clear_session(free_memory=False)
        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])

    def options(smoothing: float = 0.0):
        return dict(loss=keras.losses.CategoricalCrossentropy(label_smoothing=smoothing), metrics=["accuracy"])

    compiled.forget()
    compiled.compiled(model(), keras.optimizers.Adam(), 0.01, **options())
    assert compiled.last() == "traced"
    compiled.compiled(model(), keras.optimizers.Adam(), 0.001, **options())
    assert compiled.last() == "reused" and compiled.kept() == 1
    compiled.compiled(model(), keras.optimizers.Adam(), 0.01, **options(0.1))
    assert compiled.last() == "traced" and compiled.kept() == 2
    other_loss = dict(loss=keras.losses.KLDivergence(), metrics=["accuracy"])
    compiled.compiled(model(), keras.optimizers.Adam(), 0.01, **other_loss)
    assert compiled.last() == "traced" and compiled.kept() == 3, "another loss is another trace"
    compiled.compiled(model(), keras.optimizers.Adam(), 0.01, **dict(other_loss, loss=keras.losses.KLDivergence()))
    assert compiled.last() == "reused" and compiled.kept() == 3
