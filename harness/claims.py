"""A run is claimed before it trains, so two sweeps into one results folder (or a rerun beside a stray
worker) split the work instead of doing it twice and mixing their TensorBoard events.

The claim is a file, `<run_dir>/.claim`, created with O_EXCL (atomic on local disks and on NFSv3+),
holding the owner's pid, host and process start time. A claim whose owner is gone on this host (the pid
is dead, or now belongs to a later process) is taken over: renamed away first, so of two processes
taking it over only one wins. An owner on another host cannot be checked from here and is trusted until
its claim file is removed.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

CLAIM = ".claim"


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


def alive(owner: Owner) -> bool:
    """Whether the claim's owner may still be running (always assumed for another host's)."""
    if owner.host != socket.gethostname():
        return True
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    started = _process_start(owner.pid)
    return not started or not owner.started or started == owner.started


def holder(run_dir: Path) -> Owner | None:
    """Who holds the run's claim (None: nobody, or a claim being written or removed just now)."""
    return _read(Path(run_dir) / CLAIM)


def _read(path: Path) -> Owner | None:
    try:
        return Owner(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def claim(run_dir: Path) -> Owner | None:
    """Claim the run for this process. Returns None when it is ours now, else the live owner who holds it."""
    path = Path(run_dir) / CLAIM
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = me()
    for _ in range(5):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = holder(run_dir)
            if owner is None:  # being written or removed just now: look again
                time.sleep(0.1)
                continue
            if owner == mine:
                return None
            if alive(owner):
                return owner
            _take_over(path, owner)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(mine), f)
        return None
    return holder(run_dir) or Owner(0, socket.gethostname(), "")  # still contested: leave it to the others


def _take_over(path: Path, dead: Owner) -> None:
    stale = path.with_name(f"{CLAIM}.{dead.pid}.{os.getpid()}.stale")
    try:
        os.rename(path, stale)  # only one of several processes taking over gets to rename it
    except FileNotFoundError:
        return
    if _read(stale) != dead:  # a live owner claimed it between our read and the rename: give it back
        try:
            os.link(stale, path)
        except FileExistsError:
            pass
    stale.unlink(missing_ok=True)


def release(run_dir: Path) -> None:
    """Give up this process's claim (someone else's stays)."""
    if holder(run_dir) == me():
        (Path(run_dir) / CLAIM).unlink(missing_ok=True)


def held_by_others(run_dirs: list[Path]) -> dict[Path, Owner]:
    """The runs among run_dirs that a live process other than this one is running."""
    mine = me()
    found = {Path(d): holder(d) for d in run_dirs}
    return {d: o for d, o in found.items() if o is not None and o != mine and alive(o)}
