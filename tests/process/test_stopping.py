"""Stop requests: the training process raises Interrupted where it trains; a driving process records the
request and passes it on to its workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from harness.process import stopping


@pytest.fixture(autouse=True)
def fresh_state():
    previous = {s: signal.getsignal(s) for s in stopping.SIGNALS}
    stopping.reset()
    yield
    stopping.reset()
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def test_interrupted_is_not_an_exception_so_per_run_error_handling_cannot_swallow_it():
    assert not issubclass(stopping.Interrupted, Exception)
    stop = stopping.Interrupted(signal.SIGINT)
    assert stop.exit_code == 130 and str(stop) == "stopped by SIGINT"
    assert stopping.Interrupted(signal.SIGTERM).exit_code == 143


def test_a_signal_only_records_the_request_and_training_raises_where_it_checks():
    stopping.install()
    with pytest.raises(stopping.Interrupted) as stop:
        with stopping.training():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)  # the handler runs here, and raises nothing
            assert stopping.requested() == signal.SIGINT
            stopping.check()
    assert stop.value.signum == signal.SIGINT and stopping.exit_code() == 130


def test_keras_training_stops_after_the_current_step_once_a_stop_is_requested():
    import keras
    import numpy as np

    from harness.training.fit import StopOnRequest

    class RequestAt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                stopping._handle(signal.SIGTERM, None)

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    steps = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: steps.append(batch))
    model.fit(
        np.zeros((40, 2)),
        np.zeros(40),
        batch_size=2,
        epochs=3,
        verbose=0,
        callbacks=[RequestAt(), StopOnRequest(), counter],
    )
    assert steps == [0, 1, 2]


def test_a_signal_between_runs_is_recorded_and_the_next_run_does_not_start():
    stopping.install()
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.1)
    assert stopping.requested() == signal.SIGTERM
    with pytest.raises(stopping.Interrupted):
        with stopping.training():
            pytest.fail("a run started after the stop request")


@pytest.mark.parametrize(
    "sent, passed_on", [(signal.SIGINT, stopping.FORWARDED_SIGINT), (signal.SIGTERM, signal.SIGTERM)]
)
def test_a_request_is_passed_on_to_every_worker_as_the_signal_a_worker_takes_for_it(sent, passed_on):
    """Workers ignore SIGINT (a terminal's Ctrl-C reaches the whole group), so Ctrl-C reaches them as
    FORWARDED_SIGINT, and SIGTERM as itself."""
    stopping.install()
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with stopping.child(worker.pid):
            os.kill(os.getpid(), sent)
            assert worker.wait(timeout=10) == -passed_on
    finally:
        worker.kill()
    assert stopping.requested() == sent


def test_a_worker_records_a_forwarded_ctrl_c_as_sigint():
    code = (
        "import os, signal, time\n"
        "from harness.process import stopping\n"
        "stopping.install_in_worker()\n"
        "with stopping.training():\n"
        "    os.kill(os.getpid(), stopping.FORWARDED_SIGINT)\n"
        "    time.sleep(0.5)\n"
        "    print(stopping.requested() == signal.SIGINT, str(stopping.Interrupted(stopping.requested())))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["True", "stopped", "by", "SIGINT"], done.stderr


def test_a_submitit_job_records_scancel_preemption_and_the_time_limit_as_stop_requests(monkeypatch):
    """SLURM stops a job with SIGTERM (scancel, preemption, the time limit) and warns of the limit with SIGUSR2;
    submitit's own handlers ignore the first and raise from the second, so a run would be killed still
    `running` or fail with a foreign error. In a submitit job each stops the run at its next stop point; a second
    signal does not end the process before the run has recorded itself, and submitit's handlers come back."""
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    before = {s: signal.getsignal(s) for s in stopping.SUBMITIT_SIGNALS}
    submitits = {s: (lambda signum, frame: None) for s in stopping.SUBMITIT_SIGNALS}
    try:
        for signum, handler in submitits.items():
            signal.signal(signum, handler)
        for sent in (signal.SIGTERM, signal.SIGUSR2):
            with stopping.in_scheduled_job():
                with stopping.training():
                    signal.raise_signal(sent)
                    signal.raise_signal(signal.SIGTERM)
                    assert stopping.requested() == sent
                    with pytest.raises(stopping.Interrupted, match="stopped by " + sent.name):
                        stopping.check()
            assert stopping.requested() is None
            assert {s: signal.getsignal(s) for s in submitits} == submitits
        assert "time limit" in str(stopping.Interrupted(signal.SIGUSR2))
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def test_outside_a_submitit_job_the_process_keeps_its_handlers(monkeypatch):
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    before = {s: signal.getsignal(s) for s in stopping.SUBMITIT_SIGNALS}
    with stopping.in_scheduled_job():
        assert {s: signal.getsignal(s) for s in stopping.SUBMITIT_SIGNALS} == before


def test_a_stop_ends_a_long_cache_build_and_leaves_no_entry_or_lock_behind(image_folder, tmp_path):
    """Both builds that decode a folder: the scan (which keeps the images at the run's size) and the image cache at
    another size."""
    from harness.config.geometry import geometry
    from harness.data.images import image_array
    from harness.training.run import cache_root
    from tests.helpers import FAST, make_cfg, splits_of

    cfg = make_cfg("dataset=folder", f"dataset.path={image_folder}", f"cache_dir={tmp_path / 'cache'}", *FAST)
    root = cache_root(cfg)
    stopping._state["requested"] = signal.SIGTERM  # asked while the folder was being scanned
    with pytest.raises(stopping.Interrupted):
        splits_of(cfg)
    assert [p.name for p in (root / "images").iterdir()] == [], "no entry, no temporary file, no .building lock"
    assert [p.name for p in (root / "scans").iterdir()] == [], "nor a scan"
    stopping.reset()
    splits = splits_of(cfg)
    kept = sorted(p.name for p in (root / "images").iterdir())
    other = geometry(make_cfg(*FAST, "data.image_size=40").data)
    stopping._state["requested"] = signal.SIGTERM  # asked while the folder was decoded for the cache at 40 px
    with pytest.raises(stopping.Interrupted):
        image_array(splits.train, other, root)
    assert sorted(p.name for p in (root / "images").iterdir()) == kept, "no entry, no temporary file, no lock"
    stopping.reset()
    _, built = image_array(splits.train, other, root)
    assert built, "the next run builds the entry from the start"
