"""Worker processes: one spawned interpreter reused for successive calls (the isolated launcher's jobs), and a
fresh one per call (a search's trials).

Measured on the quickstart sweep, in-process runs grow resident memory by about 90 MiB per run even
with keras.backend.clear_session() and gc.collect() (TensorFlow keeps per-graph state), so a long
sweep in one process eventually runs out of memory. A new process per run gives every run the same
memory but costs the TensorFlow import (about 5 s on 2 cores) each time — more than a whole run on
cached features. So a worker is reused for the next job until its resident memory has grown by
`max_rss_growth` over what it held after its first job (or `runs_per_process` jobs), then replaced.
A worker that dies (OOM kill, segfault) leaves its run's record at status `running`: reported as
incomplete and re-run on resume; the next job gets a new worker.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from harness.process import devices, stopping
from harness.process.memory import memory_mb
from harness.process.quiet import import_tensorflow

log = logging.getLogger(__name__)


def die_with_parent(parent: int) -> None:
    """In a worker: Linux sends it SIGKILL when the thread that started it ends, so killing a sweep or a
    search (even with SIGKILL, which no handler sees) never leaves a worker training on. Elsewhere a no-op."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the call: nobody would send the signal
        os._exit(1)


def _start_worker(parent: int, threads: int | None = None, env: dict[str, str] | None = None) -> None:
    die_with_parent(parent)
    stopping.install_in_worker()
    os.environ.update(env or {})  # its GPU and how it shares it: read by TensorFlow when it starts, just below
    tempfile.tempdir = None  # read TMPDIR (its own folder, from env) again
    import_tensorflow()  # while the parent composes the first job, not after it has handed it over
    devices.apply_memory_limit()
    if threads:
        import tensorflow as tf

        # Before any operation runs: TensorFlow sizes its thread pool once per process.
        tf.config.threading.set_intra_op_parallelism_threads(threads)


def _pid_and_rss() -> tuple[int, float]:
    return os.getpid(), _rss_mb()


def _starting_pool(
    threads: int | None = None, env: dict[str, str] | None = None
) -> tuple[ProcessPoolExecutor, Future, Path]:
    """A one-process pool starting in the background (with `threads` intra-op threads, None: TensorFlow's default,
    and `env` set before TensorFlow starts), the future of its process's pid and resident memory once started, and
    its temporary folder.

    Each worker has a temporary folder of its own (in the temporary directory as usual), removed with the worker
    (`_remove`): TensorFlow's autograph writes a source file there for every traced function and deletes them only
    when its process exits normally, so a worker killed mid-run (OOM, kill -9) would leave them behind for good."""
    scratch = Path(tempfile.mkdtemp(prefix="harness-worker-"))
    pool = ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(), threads, {**(env or {}), "TMPDIR": str(scratch)}),
    )
    return pool, pool.submit(_pid_and_rss), scratch


def _remove(scratch: Path | None) -> None:
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


# Folders of workers closed without waiting (their TensorFlow teardown overlaps the sweep's last runs and its
# report): removed once each has ended, at the latest when this process exits.
_ending: list[tuple[multiprocessing.process.BaseProcess, Path]] = []


@atexit.register
def remove_ended() -> None:
    for process, scratch in _ending:
        process.join(timeout=10)
        _remove(scratch)
    _ending.clear()


def _pool() -> tuple[ProcessPoolExecutor, int, Path]:
    """A one-process pool, that process's pid (which a stop request is passed on to) and its temporary folder."""
    pool, started, scratch = _starting_pool()
    return pool, started.result()[0], scratch


def in_fresh_process(fn: Callable[..., Any], *args: Any, stoppable: bool = True) -> Any | None:
    """fn(*args) in a new spawned interpreter; None if that process died (OOM kill, segfault).
    Raises Interrupted when a stop request interrupted it (only a `stoppable` call hears of one).

    One single-use pool per call: a dead child breaks only its own pool.
    """
    import cloudpickle

    pool, pid, scratch = _pool()
    try:
        with pool, stopping.child(pid) if stoppable else nullcontext():
            try:
                return pool.submit(_call_quietly, cloudpickle.dumps((fn, args))).result()
            except BrokenProcessPool:
                return None
    finally:
        _remove(scratch)


def _call_quietly(payload: bytes) -> Any:
    import cloudpickle

    import_tensorflow()  # before unpickling fn imports its module, which may bring TensorFlow in
    fn, args = cloudpickle.loads(payload)
    return fn(*args)


def _rss_mb() -> float:
    return memory_mb()["rss_mb"] or 0.0


def _measured(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    return fn(*args), _rss_mb()


class Worker:
    """One spawned process reused for successive calls; replaced when it dies or its memory has grown."""

    # A call that grows the idle process by more than this built a model (a run on cached features: about
    # +33 %); one that only copied a twin's record or skipped a finished run adds about 2 %.
    BUILT = 0.10

    def __init__(
        self,
        max_rss_growth: float | None = 0.25,
        runs_per_process: int | None = None,
        threads: int | None = None,
        env: dict[str, str] | None = None,
    ):
        self.max_rss_growth, self.runs_per_process, self.threads = max_rss_growth, runs_per_process, threads
        self.env = dict(env or {})  # set in the process before TensorFlow starts (its GPU: harness.process.devices)
        self._pool: ProcessPoolExecutor | None = None
        self._process: multiprocessing.process.BaseProcess | None = None  # the pool's one process, once spawned
        self._starting: Future | None = None
        self._scratch: Path | None = None  # the process's temporary folder
        self._pid, self._runs, self._idle_rss, self._base_rss = 0, 0, 0.0, 0.0
        self.started = 0  # processes started so far
        self.used = 0  # of those, how many ran a call

    def start(self) -> None:
        """Start the process (spawn and TensorFlow import, about 6 s on 2 cores) without waiting for it."""
        if self._pool is None:
            before = set(multiprocessing.active_children())
            self._pool, self._starting, self._scratch = _starting_pool(self.threads, self.env)
            self._process = next(iter(set(multiprocessing.active_children()) - before), None)
            self._runs, self._base_rss, self.started = 0, 0.0, self.started + 1

    def call(self, fn: Callable[..., Any], *args: Any) -> Any | None:
        """fn(*args) in the worker; None if the worker died doing it. Raises Interrupted when a stop request
        interrupted it."""
        self.start()
        assert self._pool is not None
        try:
            if self._starting is not None:
                (self._pid, self._idle_rss), self._starting = self._starting.result(), None
                self.used += 1
            with stopping.child(self._pid):
                result, rss = self._pool.submit(_measured, fn, *args).result()
        except (BrokenProcessPool, stopping.Interrupted):
            self.close()
            if stopping.requested() is None:
                return None
            raise stopping.Interrupted(stopping.requested()) from None
        self._runs += 1
        if self._grown(rss) or (self.runs_per_process is not None and self._runs >= self.runs_per_process):
            log.info(
                "replacing the worker process after %d run(s) (resident memory %.0f MiB, %.0f after its first that "
                "built a model)",
                self._runs,
                rss,
                self._base_rss,
            )
            self.close()
        return result

    def _grown(self, rss: float) -> bool:
        """Whether the process has grown by max_rss_growth since its first call that built a model: a first job
        that only copied a study twin's record would set a mark that the next real run alone exceeds."""
        if not self._base_rss:
            if rss > self._idle_rss * (1 + self.BUILT):
                self._base_rss = rss
            return False
        return self.max_rss_growth is not None and rss > self._base_rss * (1 + self.max_rss_growth)

    def close(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            if wait or self._process is None or not self._process.is_alive():
                _remove(self._scratch)
            elif self._scratch is not None:
                _ending.append((self._process, self._scratch))
            self._pool, self._starting, self._process, self._scratch = None, None, None, None

    def retire(self) -> None:
        """Let the process go once this worker has nothing more to run, without waiting for its exit; one that never
        ran a call (its jobs were done elsewhere meanwhile) is stopped, as its TensorFlow import would be for nothing."""
        if self._starting is not None:
            self.kill()
        else:
            self.close(wait=False)

    def kill(self) -> None:
        """End the process now, whatever it is doing (a prestarted worker still importing TensorFlow)."""
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=5)
        self.close(wait=False)


_prestarted: Worker | None = None


def prestart(threads: int | None = None, env: dict[str, str] | None = None) -> None:
    """Start a worker process now, before a launcher asks for one: its TensorFlow import (4.5 s on 2 cores) then
    overlaps Hydra's start and its composition of the jobs. The launcher adopts it (`adopted`)."""
    global _prestarted
    if _prestarted is None:
        _prestarted = Worker(threads=threads, env=env)
        _prestarted.start()


def adopted(
    max_rss_growth: float | None, runs_per_process: int | None, threads: int | None, env: dict[str, str]
) -> Worker:
    """A worker with these settings: the prestarted one when it was started with the same threads and environment
    (those act when its TensorFlow starts), else a new one; a prestarted worker that does not fit is stopped."""
    global _prestarted
    worker, _prestarted = _prestarted, None
    if worker is not None and worker.threads == threads and worker.env == dict(env or {}):
        worker.max_rss_growth, worker.runs_per_process = max_rss_growth, runs_per_process
        return worker
    if worker is not None:
        worker.kill()
    return Worker(max_rss_growth, runs_per_process, threads, env)


def discard_prestarted() -> None:
    """Stop a prestarted worker no launcher adopted (the command stopped early, or did not need one)."""
    global _prestarted
    worker, _prestarted = _prestarted, None
    if worker is not None:
        worker.kill()
