"""Ctrl-C and SIGTERM stop a run, a sweep or a search cleanly: the run in progress is marked interrupted,
nothing else starts, what finished keeps its records and the report is still written.

One handler per process, and it only records the request: an exception raised from a handler while
TensorFlow's C++ runs comes out as some other error (pybind11 turns it into a RuntimeError). Training
stops after its current step (harness.training.fit.StopOnRequest) and the run raises `Interrupted` where
nothing is half-done. A process that drives workers passes the request on to them: a terminal sends Ctrl-C to
the whole process group, so workers ignore SIGINT and hear of it once, from their parent, as FORWARDED_SIGINT
(their records then say SIGINT, as the user did) or SIGTERM; an idle worker just exits. A second signal ends the process at once (atomic writes and run claims keep
that safe).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How a worker hears that its parent got Ctrl-C: workers ignore SIGINT itself, which a terminal sends them too.
FORWARDED_SIGINT = signal.SIGUSR1


class Interrupted(BaseException):
    """Not an Exception: the harness's and Keras Tuner's per-run error handling must not swallow it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        why = " (the job's time limit is near: give it more time)" if self.signum == signal.SIGUSR2 else ""
        return f"stopped by {signal.Signals(self.signum).name}{why}"


_state = {"requested": None, "busy": 0, "worker": False}
_children: set[int] = set()
_lock = threading.Lock()


def reset() -> None:
    """No stop requested, nothing training, no workers: a process starting another command (tests do)."""
    _state.update(requested=None, busy=0, worker=False)
    with _lock:
        _children.clear()


def requested() -> int | None:
    """The signal that asked this process to stop, if one did."""
    return _state["requested"]


def exit_code() -> int | None:
    signum = requested()
    return None if signum is None else 128 + signum


def _handle(signum: int, frame) -> None:
    first = _state["requested"] is None
    if not first:
        os._exit(128 + (_state["requested"] or signum))
    _state["requested"] = signum
    with _lock:
        children = list(_children)
    for pid in children:
        try:
            os.kill(pid, _forwarded(signum))
        except ProcessLookupError:
            pass
    if _state["worker"] and not _state["busy"]:  # an idle worker has nothing to save
        os._exit(128 + signum)


def _forwarded(signum: int) -> int:
    return FORWARDED_SIGINT if signum == signal.SIGINT else signal.SIGTERM


def install() -> None:
    """In the main process of the CLI: both signals go to the handler (main thread only, as Python requires)."""
    for signum in SIGNALS:
        signal.signal(signum, _handle)


def install_in_worker() -> None:
    """In a worker process: SIGINT is its parent's to handle, which passes it on as FORWARDED_SIGINT; that and
    SIGTERM interrupt the job it holds."""
    _state["worker"] = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _handle)
    signal.signal(FORWARDED_SIGINT, lambda signum, frame: _handle(signal.SIGINT, frame))


def _record(signum: int, frame) -> None:
    """Only records the request, however often it comes: the job in hand stops at its next stop point and
    the task returns, which is how the scheduler learns that its cancel took effect."""
    if _state["requested"] is None:
        _state["requested"] = signum


@contextmanager
def in_task(
    recorded: tuple[int, ...] = (signal.SIGINT,), handled: tuple[int, ...] = (signal.SIGTERM,)
) -> Iterator[None]:
    """While a process a scheduler runs jobs in (a Ray worker, a SLURM job) runs one: no request carried over
    from the last job; the `recorded` signals (Ray's task cancel is SIGINT) stop the job in hand at its next
    stop point, and the task then returns, which is how the scheduler learns that its stop took effect; the
    `handled` ones act as in a worker. The scheduler's own handlers are back once the job is done."""
    reset()
    _state["worker"] = True
    main = threading.current_thread() is threading.main_thread()
    previous = {signum: signal.getsignal(signum) for signum in (*recorded, *handled)} if main else {}
    if main:
        for signum in recorded:
            signal.signal(signum, _record)
        for signum in handled:
            signal.signal(signum, _handle)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        reset()


# submitit's job process ignores SIGTERM (it logs and bypasses it) and answers the time limit's warning,
# SIGUSR2, by raising an error from the signal handler, which inside TensorFlow surfaces as some other error and
# fails the run. SLURM's scancel, preemption and time limit send SIGTERM (then SIGKILL after the cluster's
# KillWait, 30 s by default); `--signal=USR2@signal_delay_s` comes before the limit. All three stop the run.
SUBMITIT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)


def in_scheduled_job() -> AbstractContextManager:
    """`in_task` for a submitit job (SLURM or submitit_local; submitit sets SUBMITIT_EXECUTOR in its jobs'
    environment), nothing elsewhere: the local launchers' workers and Ray's tasks set up their own."""
    if os.environ.get("SUBMITIT_EXECUTOR"):
        return in_task(recorded=SUBMITIT_SIGNALS, handled=())
    return nullcontext()


def check() -> None:
    """Raise Interrupted if a stop was requested: called where stopping leaves nothing half-done."""
    if _state["requested"] is not None:
        raise Interrupted(_state["requested"])


@contextmanager
def training() -> Iterator[None]:
    """Marks this process busy (a worker then finishes its job's bookkeeping instead of exiting); a
    stop requested before it starts raises Interrupted at once."""
    _state["busy"] += 1
    try:
        check()
        yield
    finally:
        _state["busy"] -= 1


@contextmanager
def child(pid: int) -> Iterator[None]:
    """A worker process that a stop request must reach while it runs something for this process."""
    with _lock:
        _children.add(pid)
    try:
        if _state["requested"] is not None:
            os.kill(pid, _forwarded(_state["requested"]))
        yield
    finally:
        with _lock:
            _children.discard(pid)
