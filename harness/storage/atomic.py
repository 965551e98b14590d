"""Files appear whole or not at all: every writer fills a temporary sibling and renames it into place; and a
reader of the small files the harness writes (records, plans, claims, cache indexes) reads only such a file."""

from __future__ import annotations

import errno
import os
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_sibling(path: Path) -> Path:
    """A unique hidden name beside `path` with the same suffix (tools pick the format from it)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yields a temporary path to write; on success it replaces `path`, on any error it is removed.

    Readers (and concurrent writers of the same content) only ever see a complete file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, text: str) -> None:
    """Write text durably and atomically, readable by everyone the umask allows (results are meant to be shared)."""
    with replacing(Path(path)) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)


def is_temporary(path: Path) -> bool:
    return path.name.startswith(".") and ".tmp" in path.name


def disk_full(exc: BaseException) -> bool:
    """Whether an error is a full disk: OSError ENOSPC, or a library's error that carries its text (TensorFlow's
    file writers raise their own types)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc)


def mount_point(path: Path) -> Path:
    """The mount point of the filesystem holding `path` (or its nearest existing parent)."""
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    while not os.path.ismount(path):
        path = path.parent
    return path


def no_space(path: Path) -> str:
    """The one wording of a full disk: `no space left on /mnt/results (the filesystem holding <path>)`."""
    return f"no space left on {mount_point(path)} (the filesystem holding {path})"


def remove_temporaries(folder: Path) -> None:
    """Remove what writers killed or failed mid-write left in `folder` (their hidden .tmp siblings)."""
    for stale in (p for p in Path(folder).glob(".*") if is_temporary(p)):
        stale.unlink(missing_ok=True)


# The largest small file read back: a record of thousands of epochs is under 1 MB.
READ_LIMIT = 64 * 1024 * 1024


def read_text(path: Path, limit: int = READ_LIMIT) -> str:
    """A small file's text, or OSError when `path` is not a regular file of at most `limit` bytes: a FIFO or a
    device put (or linked) where a record or a claim belongs would otherwise hang the reader or fill its memory."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if found.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
        return f.read(limit + 1).decode()
