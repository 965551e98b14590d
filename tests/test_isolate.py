"""The isolated launcher: the order jobs start in, and its progress line (`run k/N <label> · elapsed · ETA`)."""

from __future__ import annotations

import logging
import threading

from harness.isolate import Progress, clock, in_order


def test_clock_reads_like_a_person_writes_durations():
    assert (clock(42), clock(185), clock(3720)) == ("42s", "3m05s", "1h02m")


def test_each_run_start_says_where_the_sweep_stands(caplog, monkeypatch):
    now = iter([0.0, 0.0, 60.0, 90.0])
    monkeypatch.setattr("harness.isolate.time.monotonic", lambda: next(now))
    progress = Progress(3, seed=42)
    with caplog.at_level(logging.INFO, logger="harness.isolate"):
        progress.start(["train.learning_rate=0.1", "run_name=learning_rate=0.1"])
        progress.finish()
        progress.start(["train.learning_rate=0.01", "train.seed=43", "run_name='learning_rate=0.01,seed=43'"])
        progress.finish()
        progress.start(["train.learning_rate=0.001", "run_name=learning_rate=0.001"])
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "run 1/3 learning_rate=0.1 seed=42 · 0s elapsed · ETA after the first run"
    assert lines[1] == "run 2/3 learning_rate=0.01 seed=43 · 1m00s elapsed · ETA 2m00s"
    assert lines[2] == "run 3/3 learning_rate=0.001 seed=42 · 1m30s elapsed · ETA 45s"


def test_a_search_counts_trials_from_where_it_resumed_and_may_not_know_its_end(caplog, monkeypatch):
    now = iter([0.0, 0.0, 30.0])
    monkeypatch.setattr("harness.isolate.time.monotonic", lambda: next(now))
    resumed = Progress(10, noun="trial", done=4)
    with caplog.at_level(logging.INFO, logger="harness.isolate"):
        resumed.start()
        resumed.finish()
        resumed.start()
    assert [r.getMessage() for r in caplog.records] == [
        "trial 5/10 · 0s elapsed · ETA after the first trial", "trial 6/10 · 30s elapsed · ETA 2m30s"]
    caplog.clear()
    now = iter([0.0, 0.0, 20.0])
    hyperband = Progress(None, noun="trial")
    with caplog.at_level(logging.INFO, logger="harness.isolate"):
        hyperband.start()
        hyperband.finish()
        hyperband.start()
    assert caplog.records[-1].getMessage() == "trial 2 · 20s elapsed · 20s per trial"


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
