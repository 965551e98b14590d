"""On-disk caches shared by the runs of a sweep: folder scans, decoded+resized images, frozen-prefix features.

Every entry is named by a content hash of exactly what determines it, is written to a temporary file
and renamed into place (a reader never sees half an entry), and is read back memory-mapped. While one
process builds an entry it holds `<entry>.building` (a claim file, kept fresh for other hosts): the
others wait for the entry instead of building it again, so runs that start together on several workers
or nodes build it once. Nothing here changes a number: a cached image array is
the bytes the uncached pipeline would produce, a feature array is the frozen prefix's output on them.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Optional, TypeVar

import numpy as np

from harness.process import stopping
from harness.storage import claims
from harness.storage.atomic import no_space, read_text, replacing

T = TypeVar("T")

log = logging.getLogger(__name__)

# Bump when the code that fills an entry changes meaning (resize, feature extraction), so old entries are not reused.
FORMAT = 2


def root(cache_dir: str | None, mode: str) -> Path | None:
    """The cache folder for `train.cache` = mode (auto | off) and `cache_dir`; None when caching is off."""
    return Path(str(cache_dir)).expanduser() if mode == "auto" else None


def digest(*parts: Any) -> str:
    """A short, stable hash of JSON-able parts (numpy arrays hashed by their bytes)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str((part.dtype.str, part.shape)).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\x00")
    return h.hexdigest()[:24]


POLL_S = 0.5


def once(path: Path, load: Callable[[], Optional[T]], build: Callable[[], T]) -> tuple[T, bool]:
    """load() if the entry at `path` is there, else build() it: in one process at a time, the others waiting
    for its result. A builder that dies frees the entry for the next (claims' rules). Returns (value, built)."""
    lock, told = path.with_name(path.name + ".building"), False
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        value = load()
        if value is not None:
            return value, False
        try:
            owner = claims.claim_file(lock)
        except FileNotFoundError:  # the cache folder was deleted: build without it
            return build(), True
        if owner is None:
            break
        if not told:
            log.info("waiting for %s to build cache entry %s", owner.describe(), path.name)
            told = True
        stopping.check()  # a waiter has nothing half-done
        time.sleep(POLL_S)
    try:
        with claims.heartbeat(lock):
            value = load()  # finished by the previous builder between our look and our claim
            return (value, False) if value is not None else (build(), True)
    finally:
        claims.release_file(lock)


def json_entry(
    path: Path, build: Callable[[], Any], valid: Callable[[Any], bool] = lambda value: True
) -> tuple[Any, bool]:
    """The JSON stored at `path`, building and storing it first if absent, unreadable or not `valid` (the shape
    its builder makes). Returns (value, built)."""
    return once(path, lambda: _json(path, valid), lambda: _store_json(path, build()))


def json_value(
    root: Path | None, relative: str, build: Callable[[], Any], valid: Callable[[Any], bool] = lambda value: True
) -> Any:
    """json_entry's value at root/relative, or build() itself where there is no cache (root None)."""
    return build() if root is None else json_entry(root / relative, build, valid)[0]


def _json(path: Path, valid: Callable[[Any], bool]) -> Any | None:
    if path.exists():
        try:
            value = json.loads(read_text(path))
        except (OSError, ValueError):  # only a foreign writer (or a directory in its place) leaves this
            value = None
        else:
            if valid(value):
                return value
        log.warning("cache entry %s is unreadable or not what the harness wrote; rebuilding it", path)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
    return None


def _store_json(path: Path, value: Any) -> Any:
    try:
        with replacing(path) as tmp:
            tmp.write_text(json.dumps(value))
    except FileNotFoundError:  # the cache folder was deleted meanwhile: keep what was built, uncached
        log.warning("the cache folder disappeared while %s was built; going on without it", path.name)
    return value


def array_entry(path: Path, shape: tuple[int, ...], dtype: str, fill: Callable[[Any], None]) -> tuple[np.ndarray, bool]:
    """A read-only memory map of the .npy at `path`, filled by `fill(out)` on first use. Returns (array, built).
    `out` takes slices of rows (`out[a:b] = rows`) and `out.fill(value)`, as an array does.

    The builder writes into its own temporary .npy and renames it over `path` only when complete, so a
    killed builder leaves no entry and a reader never sees half of one.
    """
    return once(path, lambda: _array(path, shape, dtype), lambda: _fill(path, shape, dtype, fill))


def rows_entry(
    path: Path, rows: int, row_shape: tuple[int, ...], dtype: str, write: Callable[[Any], int]
) -> tuple[np.ndarray, bool]:
    """As array_entry, for an entry whose length is known only once it is written: `write(out)` writes at most
    `rows` rows, in order from the first, and returns how many it wrote; the entry holds those. Returns (array, built).
    """
    return once(
        path, lambda: _array(path, (None, *row_shape), dtype), lambda: _fill(path, (rows, *row_shape), dtype, write)
    )


def found(path: Path, shape: tuple[int | None, ...], dtype: str) -> np.ndarray | None:
    """The complete, intact entry at `path` of this shape (a None length: any) and dtype, else None; nothing is
    built or waited for."""
    return _array(path, shape, dtype)


def checksum(path: Path) -> str:
    """CRC-32 of a file's bytes, read in chunks."""
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            crc = zlib.crc32(chunk, crc)
    return f"{crc:08x}"


def _sum_file(path: Path) -> Path:
    return path.with_name(path.name + ".crc32")


_VERIFIED: dict[tuple[str, int, int], bool] = {}  # (path, size, mtime) read back whole once per process


def _verified(path: Path) -> bool:
    """Whether the entry's bytes are those its builder wrote (its checksum), checked once per process and state."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        try:
            expected = read_text(_sum_file(path)).strip()
        except OSError:
            expected = None
        _VERIFIED[key] = expected == checksum(path)
    return _VERIFIED[key]


def _array(path: Path, shape: tuple[int | None, ...], dtype: str) -> np.ndarray | None:
    """The entry at `path` if it is an array of this shape (a None length: any) and dtype whose bytes are its
    builder's, else None."""
    if path.exists():
        try:
            array = np.load(path, mmap_mode="r")
            fits = len(array.shape) == len(shape) and all(n in (None, m) for n, m in zip(shape, array.shape))
            if fits and array.dtype == np.dtype(dtype):
                if _verified(path):
                    return array
                log.warning("cache entry %s fails its checksum (changed after it was written); rebuilding it", path)
                return None
        except (ValueError, OSError, EOFError):  # truncated, emptied, not an array, a directory in its place
            pass
        log.warning("cache entry %s does not match what it should hold; rebuilding it", path)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
    return None


class NoSpace(OSError):
    """The cache's filesystem cannot hold an entry: raised before anything is written into it."""

    def __str__(self) -> str:
        return str(self.strerror)


def _reserve(tmp: Path) -> None:
    """Give the entry its blocks before it is filled: a disk too full for it is then an error that names the disk
    before minutes of decoding, not a failed write after them (or, through a memory map, a SIGBUS)."""
    with open(tmp, "r+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise NoSpace(
                    exc.errno,
                    f"{no_space(tmp.parent)}: a cache entry of "
                    f"{os.fstat(f.fileno()).st_size / 2**20:.0f} MB does not fit; free some, set cache_dir=... "
                    "elsewhere, or train.cache=off",
                ) from None
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a filesystem that cannot reserve: map as before
                raise


class _RowWriter:
    """The rows of a new .npy entry, written in place with positioned writes: what `fill` gets to write into.

    A fresh memory map faults in every page written through it, on the thread that feeds the decoder (a 393 MB
    entry took 0.4–1.3 s through a map, 0.13 s by os.pwrite). Rows written in order from the first, as the
    builders write them, are checksummed on the way, so the entry need not be read back.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: str):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        header = np.lib.format.open_memmap(path, mode="w+", dtype=self.dtype, shape=self.shape)  # header, size
        self.offset = int(header.offset)
        del header
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self.fd = os.open(path, os.O_RDWR)
        self.crc, self.next = zlib.crc32(os.pread(self.fd, self.offset, 0)), 0  # rows [0, next) checksummed

    def __len__(self) -> int:
        return self.shape[0]

    def __setitem__(self, rows: slice, value: Any) -> None:
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError("a new cache entry is written a slice of rows at a time")
        start, stop, _ = rows.indices(len(self))
        block = np.ascontiguousarray(np.broadcast_to(np.asarray(value, self.dtype), (stop - start, *self.shape[1:])))
        data, done = memoryview(block).cast("B"), 0
        while done < len(data):
            done += os.pwrite(self.fd, data[done:], self.offset + start * self.row_bytes + done)
        if start == self.next:
            self.crc, self.next = zlib.crc32(data, self.crc), stop
        else:
            self.next = -1  # written out of order: read back for the checksum

    def fill(self, value: Any) -> None:
        self[:] = value

    def checksum(self) -> str | None:
        """The file's CRC-32 if every row was written in order, else None."""
        return f"{self.crc:08x}" if self.next == len(self) else None

    def close(self) -> None:
        os.close(self.fd)


def _shortened(path: Path, rows: int) -> None:
    """Cut a .npy to its first `rows` rows: its header rewritten in place (numpy leaves room in it for the length to
    change) and the file truncated."""
    fmt = np.lib.format
    headers = {
        (1, 0): (fmt.read_array_header_1_0, fmt.write_array_header_1_0),
        (2, 0): (fmt.read_array_header_2_0, fmt.write_array_header_2_0),
    }
    with open(path, "r+b") as f:
        read, write = headers[fmt.read_magic(f)]
        shape, fortran, dtype = read(f)
        offset = f.tell()
        f.seek(0)
        write(f, {"descr": fmt.dtype_to_descr(dtype), "fortran_order": fortran, "shape": (rows, *shape[1:])})
        if f.tell() != offset:
            raise ValueError(f"the header of {path} changed length")
        f.truncate(offset + rows * int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize)


def _fill(path: Path, shape: tuple[int, ...], dtype: str, fill: Callable[[Any], Any]) -> np.ndarray:
    """The entry built by `fill(out)`; where fill returns a row count (rows_entry), the entry holds that many rows."""
    try:
        with replacing(path) as tmp:
            out = _RowWriter(tmp, shape, dtype)
            try:
                _reserve(tmp)
                written = fill(out)
            finally:
                out.close()
            whole = written is None or written == shape[0]
            if not whole:
                _shortened(tmp, written)
            with replacing(_sum_file(path)) as sums:  # in place before the entry, so no reader sees one without it
                sums.write_text((out.checksum() if whole else None) or checksum(tmp))
        st = path.stat()
        _VERIFIED[(str(path), st.st_size, st.st_mtime_ns)] = True  # this process wrote these bytes: not read back
        return np.load(path, mmap_mode="r")
    except FileNotFoundError:  # the cache folder was deleted meanwhile ("safe to delete at any time"): build in memory
        log.warning("the cache folder disappeared while %s was built; this run goes on without it", path.name)
        array = np.empty(tuple(shape), dtype=dtype)
        written = fill(array)
        return array if written is None else array[:written]


def file_listing(files: Iterable[Path]) -> list[tuple[str, int, int, int]]:
    """(path, size, mtime, ctime) per file: changes whenever a file is added, removed, replaced or edited.
    The inode change time is there because nothing can set it back: a file rewritten at the same size
    with its old mtime restored (`touch -r`, `cp -p`) still gets a new key, without reading every file."""
    out = []
    for f in files:
        st = f.stat()
        out.append((str(f), st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return out


def versions() -> dict[str, str]:
    """What the cached bytes also depend on: the code that made them."""
    import keras
    import tensorflow as tf

    return {"format": FORMAT, "tensorflow": tf.__version__, "keras": keras.__version__}


def weights_digest(layers: Iterable) -> str:
    """Hash of the values of every weight in `layers`: the identity of what a frozen prefix computes."""
    h = hashlib.sha256()
    for layer in layers:
        for w in getattr(layer, "weights", []):
            value = np.asarray(w.numpy() if hasattr(w, "numpy") else w)
            h.update(f"{layer.name}/{w.name}:{value.dtype.str}{value.shape}".encode())
            h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()[:24]
