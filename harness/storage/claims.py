"""A run is claimed before it trains, so two sweeps into one results folder (or a rerun beside a stray
worker) split the work instead of doing it twice and mixing their TensorBoard events.

The claim is a file, `<run_dir>/.claim`, created with O_EXCL (atomic on local disks and on NFSv3+),
holding the owner's pid, host and process start time. A claim whose owner is gone on this host (the pid
is dead, or now belongs to a later process) is taken over: renamed away first, so of two processes
taking it over only one wins. An owner on another host cannot be asked directly, so an owner keeps its
claim file's modification time fresh (`heartbeat`, every HEARTBEAT_S) and another host's claim untouched
for STALE_S is taken over as dead: a node that died mid-run frees its runs after a minute, on any storage
whose clocks agree within that (NFS sets times from the server's clock). The same files lock cache entries
while one process builds them (`claim_file`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.storage.atomic import read_text

CLAIM = ".claim"
HEARTBEAT_S = 10.0
STALE_S = 60.0  # six missed heartbeats: a busy node's touches are late by seconds, not a minute
# A claim is created empty and written at once: one still empty or unreadable after this long has no owner to
# finish it (killed between the two) and is taken over, never trusted as "already running".
UNREADABLE_S = 5.0


@dataclass(frozen=True)
class Owner:
    pid: int
    host: str
    started: str  # the process's start time as the kernel counts it: tells a reused pid apart

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


def _process_start(pid: int) -> str:
    try:  # field 22 of /proc/<pid>/stat, after the command name (which may hold spaces)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def me() -> Owner:
    pid = os.getpid()
    return Owner(pid, socket.gethostname(), _process_start(pid))


def alive(owner: Owner, path: Path | None = None) -> bool:
    """Whether the claim's owner may still be running. Another host's owner is, while its claim file at
    `path` was touched within STALE_S (without a path: always assumed)."""
    if owner.host != socket.gethostname():
        return path is None or _age(path) < STALE_S
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    started = _process_start(owner.pid)
    return not started or not owner.started or started == owner.started


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:  # removed meanwhile: its owner let go
        return float("inf")


def holder(run_dir: Path) -> Owner | None:
    """Who holds the run's claim (None: nobody, or a claim being written or removed just now)."""
    return _read(Path(run_dir) / CLAIM)


def _read(path: Path) -> Owner | None:
    try:
        return Owner(**json.loads(read_text(path)))
    except (OSError, ValueError, TypeError):
        return None


def claim(run_dir: Path) -> Owner | None:
    """Claim the run for this process. Returns None when it is ours now, else the live owner who holds it.
    A run claimed by the process that started this one is this one's too: a launcher claims a run before it
    hands it to its worker, so that no other sweep takes it while the worker starts (and releases it after)."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    return claim_file(Path(run_dir) / CLAIM, inherited=True)


def parent() -> Owner:
    pid = os.getppid()
    return Owner(pid, socket.gethostname(), _process_start(pid))


def claim_file(path: Path, inherited: bool = False) -> Owner | None:
    """Create the claim file `path` for this process (its folder must exist). Returns None when it is ours
    now, else the live owner who holds it. `inherited`: one the parent process holds is ours too."""
    mine = me()
    ours = (mine, parent()) if inherited else (mine,)
    for _ in range(int(UNREADABLE_S / 0.1) + 10):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read(path)
            if owner is None:
                if _age(path) < UNREADABLE_S:  # being written or removed just now: look again
                    time.sleep(0.1)
                    continue
                _take_over(path, None)  # empty or garbage for seconds: its writer died
                continue
            if owner in ours:
                return None
            if alive(owner, path):
                return owner
            _take_over(path, owner)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(mine), f)
        return None
    return _read(path) or Owner(0, socket.gethostname(), "")  # still contested: leave it to the others


@contextmanager
def heartbeat(path: Path, every: float = HEARTBEAT_S) -> Iterator[None]:
    """Inside: a thread touches the claim file `path` every `every` seconds, telling other hosts its owner lives."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                os.utime(path)
            except OSError:  # released or removed (the cache folder deleted): nothing left to keep fresh
                return

    thread = threading.Thread(target=beat, name=f"heartbeat {Path(path).name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _take_over(path: Path, dead: Owner | None) -> None:
    stale = path.with_name(f"{CLAIM}.{dead.pid if dead else 'unreadable'}.{os.getpid()}.stale")
    try:
        os.rename(path, stale)  # only one of several processes taking over gets to rename it
    except FileNotFoundError:
        return
    if stale.is_dir() and not stale.is_symlink():  # a folder under the claim's name: no owner made it
        shutil.rmtree(stale, ignore_errors=True)
        return
    if _read(stale) != dead:  # a live owner claimed it between our read and the rename: give it back
        try:
            os.link(stale, path)
        except FileExistsError:
            pass
    stale.unlink(missing_ok=True)


def release(run_dir: Path) -> None:
    """Give up this process's claim on the run (someone else's stays)."""
    release_file(Path(run_dir) / CLAIM)


def release_file(path: Path) -> None:
    """Give up this process's claim file (someone else's stays)."""
    if _read(path) == me():
        path.unlink(missing_ok=True)


def held_by_others(run_dirs: list[Path]) -> dict[Path, Owner]:
    """The runs among run_dirs that a live process other than this one is running."""
    mine = me()
    found = {Path(d): holder(d) for d in run_dirs}
    return {d: o for d, o in found.items() if o is not None and o != mine and alive(o, d / CLAIM)}
