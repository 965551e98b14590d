"""The progress line of a sweep, study or search: `run k/N <label> · elapsed · ETA`."""

from __future__ import annotations

import logging

from harness.process.progress import Progress, clock


def test_clock_reads_like_a_person_writes_durations():
    assert (clock(42), clock(185), clock(3720)) == ("42s", "3m05s", "1h02m")


def test_each_run_start_says_where_the_sweep_stands(caplog, monkeypatch):
    now = iter([0.0, 0.0, 60.0, 90.0])
    monkeypatch.setattr("harness.process.progress.time.monotonic", lambda: next(now))
    progress = Progress(3, seed=42)
    with caplog.at_level(logging.INFO, logger="harness.process.progress"):
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
    monkeypatch.setattr("harness.process.progress.time.monotonic", lambda: next(now))
    resumed = Progress(10, noun="trial", done=4)
    with caplog.at_level(logging.INFO, logger="harness.process.progress"):
        resumed.start()
        resumed.finish()
        resumed.start()
    assert [r.getMessage() for r in caplog.records] == [
        "trial 5/10 · 0s elapsed · ETA after the first trial",
        "trial 6/10 · 30s elapsed · ETA 2m30s",
    ]
    caplog.clear()
    now = iter([0.0, 0.0, 20.0])
    hyperband = Progress(None, noun="trial")
    with caplog.at_level(logging.INFO, logger="harness.process.progress"):
        hyperband.start()
        hyperband.finish()
        hyperband.start()
    assert caplog.records[-1].getMessage() == "trial 2 · 20s elapsed · 20s per trial"


def test_a_long_stage_says_how_far_it_has_come_at_most_every_few_seconds(monkeypatch, caplog):
    from harness.process.progress import Meter

    now = iter([0.0, 1.0, 12.0, 13.0, 30.0])
    monkeypatch.setattr("harness.process.progress.time.monotonic", lambda: next(now))
    meter = Meter("decoding images for the cache", 100, every=10.0)
    with caplog.at_level(logging.INFO, logger="harness.process.progress"):
        for _ in range(4):
            meter.update(25)
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "decoding images for the cache: 50/100 (50%) · 12s elapsed · ETA 12s",
        "decoding images for the cache: 100/100 (100%) · 30s elapsed · ETA 0s",
    ]
