"""Rows of a cached array read from disk as they are needed, so a run's memory never holds the whole array.

A cache entry is a .npy file that the cache hands out memory-mapped. Slicing a memory map leaves every page it
touched mapped into the process (its resident memory grows with the data), and `tf.data.Dataset.from_tensor_slices`
would copy the whole array into one tensor (which cannot exceed 2 GB in a graph). Rows are read with positioned
reads (os.pread) into a fresh buffer instead: the kernel's page cache keeps what fits and drops what does not, and
the process holds one batch. An array in memory (no file behind it) is indexed directly.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np


class CacheChanged(OSError):
    """A cache entry changed under a run reading it (truncated, replaced, deleted): the run cannot go on; the next
    one finds the entry fails its checksum and rebuilds it."""

    def __init__(self, path: Path, what: str):
        super().__init__(f"cache entry {path} changed while this run read it ({what}); the next run rebuilds it")


_CHANGED = re.compile(r"cache entry \S+ changed while this run read it \([^)]*\); the next run rebuilds it")


def changed_entry(error: BaseException) -> str | None:
    """CacheChanged's one line, also where TensorFlow wrapped it (an input pipeline's function raised it)."""
    found = _CHANGED.search(str(error))
    return found.group(0) if found else None


class Rows:
    """An array's rows by index, read from its .npy file when it has one."""

    def __init__(self, array: np.ndarray):
        self.shape, self.dtype = tuple(array.shape), array.dtype
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        filename = getattr(array, "filename", None)
        # An in-memory array, or a view of one, has no file to read from.
        self._array = None if isinstance(array, np.memmap) and filename and array.flags.c_contiguous else array
        self._path, self._offset = (Path(filename), int(array.offset)) if self._array is None else (None, 0)

    def __len__(self) -> int:
        return self.shape[0]

    def take(self, index: np.ndarray) -> np.ndarray:
        """Rows at `index`, in that order (indices may repeat)."""
        index = np.asarray(index, dtype=np.int64)
        if self._array is not None:
            return np.asarray(self._array[index])
        out = np.empty((len(index), *self.shape[1:]), dtype=self.dtype)
        flat = out.reshape(len(index), -1).view(np.uint8)
        fd = self._open()
        try:
            for i, row in enumerate(index):
                self._read(fd, int(row), 1, flat[i])
        finally:
            os.close(fd)
        return out

    def chunk(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1 in one read."""
        if self._array is not None:
            return np.asarray(self._array[start:stop])
        out = np.empty((stop - start, *self.shape[1:]), dtype=self.dtype)
        fd = self._open()
        try:
            self._read(fd, start, stop - start, out.reshape(-1).view(np.uint8))
        finally:
            os.close(fd)
        return out

    def _open(self) -> int:
        try:
            return os.open(self._path, os.O_RDONLY)
        except OSError as exc:
            raise CacheChanged(self._path, exc.strerror or type(exc).__name__) from None

    def _read(self, fd: int, start: int, count: int, into: np.ndarray) -> None:
        view, done = memoryview(into), 0
        total, offset = count * self.row_bytes, self._offset + start * self.row_bytes
        while done < total:  # pread may return less than asked for
            read = os.preadv(fd, [view[done:total]], offset + done)
            if read <= 0:
                raise CacheChanged(self._path, f"it ended {total - done} bytes early at row {start}")
            done += read
