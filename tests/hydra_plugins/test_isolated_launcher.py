"""The isolated launcher: the order jobs start in, where they are composed, the threads its workers use, and when
a worker is replaced."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from hydra.core.plugins import Plugins
from hydra.errors import ConfigCompositionException
from hydra.plugins.sweeper import Sweeper

from harness.process.workers import Worker, remove_ended
from hydra_plugins.harness_isolated_launcher._core import in_order
from hydra_plugins.harness_isolated_launcher.isolated_launcher import IsolatedLauncher
from tests.helpers import FAST, experiment_dir, records, run_cli


def test_jobs_start_in_order_each_on_the_next_free_worker():
    # Job 0 is long: the other worker takes every later job instead of waiting behind it for a fixed share.
    release = threading.Event()
    where: dict[int, int] = {}

    def run(worker, job):
        where[job] = worker
        if job == 0:
            release.wait(5)
        elif job == 4:
            release.set()
        return job * 10

    finished = []
    done = in_order(2, 5, run, stopped=lambda: False, finished=finished.append)
    assert done == {0: 0, 1: 10, 2: 20, 3: 30, 4: 40}
    assert {where[j] for j in (1, 2, 3, 4)} == {1 - where[0]} and sorted(finished) == [0, 1]


def test_no_job_starts_once_a_stop_is_requested():
    started = []
    done = in_order(1, 5, lambda w, j: started.append(j), stopped=lambda: len(started) >= 2)
    assert started == [0, 1] and sorted(done) == [0, 1]


def _sweep(hydra_sweep_runner, tmp_path, *overrides):
    return hydra_sweep_runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=None,
        config_path="configs",
        config_name="compose.yaml",
        temp_dir=tmp_path,
        overrides=["hydra/launcher=isolated", "hydra/sweeper=knob", "hydra.job.chdir=True", *overrides],
    )


def _compose_with(monkeypatch, compose):
    """Hydra's config loader, as this process's launcher gets it, composing each job's config with
    compose(original, loader, config, overrides) (the worker processes keep the original)."""
    launcher = Plugins.instance().class_name_to_class[f"{IsolatedLauncher.__module__}.{IsolatedLauncher.__name__}"]
    setup = launcher.setup  # of the class Hydra instantiates (its plugin scan loads the module itself)

    def patched(self, *, hydra_context, task_function, config):
        loader = type(hydra_context.config_loader)
        original = loader.load_sweep_config
        monkeypatch.setattr(
            loader, "load_sweep_config", lambda me, cfg, overrides: compose(original, me, cfg, overrides)
        )
        setup(self, hydra_context=hydra_context, task_function=task_function, config=config)

    monkeypatch.setattr(launcher, "setup", patched)


@pytest.mark.slow
def test_each_job_is_composed_once_here_and_only_run_by_a_worker(hydra_sweep_runner, tmp_path, monkeypatch):
    # Hydra's sweepers compose every job to check it, then its launcher composes each again where it runs it:
    # the 81-run chapter5 study started its first run 50 s after the command that way, 21-24 s this way
    # (benchmarks/first_run_latency.py).
    composed = []
    _compose_with(
        monkeypatch,
        lambda original, loader, cfg, overrides: composed.append(overrides) or original(loader, cfg, overrides),
    )
    monkeypatch.setattr(Sweeper, "validate_batch_is_legal", lambda self, batch: pytest.fail("composed a second time"))
    with _sweep(hydra_sweep_runner, tmp_path, "+a=0,1") as sweep:
        returns = sweep.returns[0]
    assert composed == [["+a=0"], ["+a=1"]]
    assert [r.cfg for r in returns] == [{"foo": 10, "bar": 100, "a": 0}, {"foo": 10, "bar": 100, "a": 1}]
    assert [r.hydra_cfg.hydra.job.num for r in returns] == [0, 1]


@pytest.mark.slow
def test_a_job_that_does_not_compose_stops_the_launch_there(hydra_sweep_runner, tmp_path, monkeypatch):
    def second_fails(original, loader, cfg, overrides):
        if overrides == ["+a=1"]:
            raise ConfigCompositionException("cannot compose +a=1")
        return original(loader, cfg, overrides)

    _compose_with(monkeypatch, second_fails)
    with pytest.raises(ConfigCompositionException, match=r"\+a=1"):
        with _sweep(hydra_sweep_runner, tmp_path, "+a=0,1,2"):
            pass
    ran = sorted(p.parent.parent.name for p in tmp_path.rglob(".hydra/overrides.yaml"))
    assert ran == ["0"], "the job before it ran; none after it started"


def _threads_and_frozen_features():
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    backbone = keras.applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, weights=None, include_top=False)
    prefix = keras.Model(backbone.input, backbone.get_layer("conv_pw_7_relu").output)
    images = np.random.default_rng(0).uniform(-1, 1, (16, 32, 32, 3)).astype("float32")
    return tf.config.threading.get_intra_op_parallelism_threads(), prefix(images, training=False).numpy()


@pytest.mark.slow
def test_a_worker_uses_the_threads_it_is_given_and_a_frozen_prefix_computes_the_same_features_with_any():
    # A feature cache entry does not name the thread count that computed it: a run with one thread per worker
    # may use an entry built with TensorFlow's default (every core), so the forward pass must not depend on it.
    found = {}
    for threads in (1, 2, None):
        worker = Worker(threads=threads)
        try:
            found[threads] = worker.call(_threads_and_frozen_features)
        finally:
            worker.close()
    assert [found[t][0] for t in (1, 2, None)] == [1, 2, 0]
    assert np.array_equal(found[1][1], found[2][1]) and np.array_equal(found[1][1], found[None][1])


@pytest.mark.slow
def test_a_sweep_with_one_thread_per_worker_records_it_and_repeats_its_numbers(tmp_path):
    # Training's numbers depend on the thread count (a gradient's sums split differently), so the record says it.
    args = [
        "experiment=quickstart",
        "sweep=learning_rate",
        "sweep.values=[0.01,0.001]",
        *FAST,
        "train.steps_per_epoch=3",
        "hydra.launcher.n_jobs=2",
        "hydra.launcher.threads_per_worker=1",
    ]
    losses = []
    for results in ("a", "b"):
        done = run_cli(*args, f"results_dir={tmp_path / results}")
        assert done.returncode == 0, done.stderr[-3000:]
        assert "2 at a time, 1 intra-op thread(s) each" in done.stdout + done.stderr
        assert "2 job(s) ran in 2 worker process(es)" in done.stdout + done.stderr  # the second started for its job
        runs = records(experiment_dir(*args, f"results_dir={tmp_path / results}"))
        assert len(runs) == 2 and {r["host"]["intra_op_threads"] for r in runs.values()} == {1}
        losses.append({name: r["history"]["loss"] for name, r in runs.items()})
    assert losses[0] == losses[1]


_HELD: list[np.ndarray] = []  # in the worker: memory a "run" keeps, as TensorFlow's allocator and graphs do


def _pid_after_holding(megabytes: int) -> int:
    _HELD.append(np.ones(megabytes * 2**20, dtype=np.uint8))
    return os.getpid()


@pytest.mark.slow
def test_a_worker_is_replaced_once_it_has_grown_since_its_first_call_that_built_something():
    # A study's worker may start with a copied twin (a few MiB): its first real run sets the mark, not the copy.
    worker = Worker(max_rss_growth=0.25)
    try:
        first = worker.call(_pid_after_holding, 1)  # a copy or a skip: no mark
        assert worker.call(_pid_after_holding, 300) == first  # the first real run: the mark
        assert worker.call(_pid_after_holding, 1) == first
        worker.call(_pid_after_holding, 400)  # +40 % over the mark: this process is done
        assert worker.call(_pid_after_holding, 1) != first and worker.started == 2
    finally:
        worker.close()


def _leave_a_temporary_file_and_die() -> None:
    import signal
    import tempfile

    tempfile.NamedTemporaryFile(delete=False).close()  # what TensorFlow's autograph leaves when killed
    os.kill(os.getpid(), signal.SIGKILL)


def _temporary_folder() -> str:
    import tempfile

    return tempfile.gettempdir()


@pytest.mark.slow
def test_a_worker_has_its_own_temporary_folder_removed_with_it_even_when_it_is_killed(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    worker = Worker()
    try:
        own = Path(worker.call(_temporary_folder))
        assert own.parent == tmp_path and own.name.startswith("harness-worker-")
        assert worker.call(_leave_a_temporary_file_and_die) is None  # the worker died: its folder goes with it
        assert not own.exists() and list(tmp_path.iterdir()) == []
        again = Path(worker.call(_temporary_folder))
        assert again != own and again.exists()
    finally:
        worker.close(wait=False)  # as a sweep ends: the worker's teardown overlaps the report
    remove_ended()  # at the latest when the sweep's process exits
    assert list(tmp_path.iterdir()) == []


def test_a_sweep_s_command_line_is_recognised_before_anything_is_imported():
    from harness.__main__ import reads_as_sweep

    assert reads_as_sweep(["sweep=learning_rate", "train.epochs=3"])
    assert reads_as_sweep(["study=chapter5"]) and reads_as_sweep(["-m", "train.learning_rate=0.1,0.01"])
    assert reads_as_sweep(["sweep=batch_size", "hydra/launcher=isolated"])
    assert not reads_as_sweep(["train.epochs=3"])  # a single run imports TensorFlow itself
    assert not reads_as_sweep(["sweep=learning_rate", "hydra/launcher=harness_ray"])
    assert not reads_as_sweep(["sweep=learning_rate", "--cfg", "job"])
    assert not reads_as_sweep(["tuner=random", "-m"])


@pytest.mark.slow
def _ended(process, timeout: float = 10) -> bool:
    """Whether a worker process has ended. The pool that ran it may reap it first, and then multiprocessing's own
    `is_alive` never learns its exit: the process is gone from /proc all the same."""
    process.join(timeout=timeout)
    return not process.is_alive() or not Path(f"/proc/{process.pid}").exists()


def test_a_prestarted_worker_is_adopted_when_it_fits_and_killed_when_nothing_needs_it():
    from harness.process import workers

    workers.prestart(threads=None, env={})
    started = workers._prestarted
    assert workers.adopted(0.25, None, None, {}) is started  # the launcher's first worker, as it would start one
    assert started.max_rss_growth == 0.25
    started.kill()

    workers.prestart(threads=None, env={})
    unfit = workers._prestarted._process
    other = workers.adopted(0.25, None, 1, {})  # a thread count takes effect only as TensorFlow starts: not this one
    assert other.threads == 1 and other._pool is None
    assert _ended(unfit)

    workers.prestart(threads=None, env={})
    left = workers._prestarted._process
    workers.discard_prestarted()  # the command stopped before a launcher asked for a worker
    assert _ended(left) and workers._prestarted is None

    workers.prestart(threads=None, env={})
    adopted = workers.adopted(0.25, None, None, {})
    idle = adopted._process
    adopted.retire()  # every job was found done: its TensorFlow import is stopped, not waited for
    assert _ended(idle) and adopted.used == 0
