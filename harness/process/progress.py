"""The progress line of a sweep, study or search: `run k/N <label> · 1m02s elapsed · ETA 3m10s`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from hydra.core.utils import filter_overrides

log = logging.getLogger(__name__)


def clock(seconds: float) -> str:
    """1h02m, 3m05s, 42s."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def label(overrides: Sequence[str]) -> str:
    """A job as its run's name where it has one, else its overrides."""
    values = dict(o.split("=", 1) for o in overrides if "=" in o)
    return values.get("run_name", " ".join(filter_overrides(overrides))).strip("'")


class Progress:
    """`run k/N <label> · 1m02s elapsed · ETA 3m10s` as each job starts, ETA from the jobs finished so far.
    `done` counts jobs finished before this process started (a resumed search); N may be unknown (None)."""

    def __init__(self, total: int | None, seed: Any = None, noun: str = "run", done: int = 0):
        self.total, self.seed, self.noun, self.done = total, seed, noun, done
        self.started = self.finished = 0
        self.t0 = time.monotonic()
        self.lock = threading.Lock()

    def start(self, overrides: Sequence[str] = ()) -> None:
        values = dict(o.split("=", 1) for o in overrides if "=" in o)
        name = label(overrides)
        if overrides and "seed=" not in name and self.seed is not None:
            name += f" seed={values.get('train.seed', self.seed)}"
        with self.lock:
            self.started += 1
            elapsed = time.monotonic() - self.t0
            if not self.finished:
                eta = "ETA after the first " + self.noun
            elif self.total is None:
                eta = f"{clock(elapsed / self.finished)} per {self.noun}"
            else:
                eta = f"ETA {clock(elapsed / self.finished * max(0, self.total - self.done - self.finished))}"
            of = f"/{self.total}" if self.total is not None else ""
            text = f"{self.noun} {self.done + self.started}{of} {name.replace(',', ' ')}".rstrip()
            log.info("%s · %s elapsed · %s", text, clock(elapsed), eta)

    def finish(self) -> None:
        with self.lock:
            self.finished += 1

    def skip(self) -> None:
        """A job found done before it started: counted as done, not in the ETA's pace."""
        with self.lock:
            self.done += 1


class Meter:
    """How far a long stage over many items has come, logged at most every `every` seconds and only once it has run
    that long: `decoding images for the cache: 20000/80000 (25%) · 1m02s elapsed · ETA 3m05s`. A 100,000-image
    folder takes minutes to scan and cache; this says so while it happens."""

    def __init__(self, what: str, total: int, every: float = 10.0):
        self.what, self.total, self.every = what, total, every
        self.done = 0
        self.t0 = self.last = time.monotonic()

    def update(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.last < self.every or not self.total:
            return
        self.last = now
        elapsed = now - self.t0
        eta = clock(elapsed / self.done * (self.total - self.done)) if self.done else "?"
        log.info(
            "%s: %d/%d (%d%%) · %s elapsed · ETA %s",
            self.what,
            self.done,
            self.total,
            100 * self.done // self.total,
            clock(elapsed),
            eta,
        )
