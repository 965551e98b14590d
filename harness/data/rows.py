"""Rows of a cached array read from disk as they are needed, so a run's memory never holds the whole array.

A cache entry is a .npy file that the cache hands out memory-mapped. Slicing a memory map leaves every page it
touched mapped into the process (its resident memory grows with the data), and `tf.data.Dataset.from_tensor_slices`
would copy the whole array into one tensor (which cannot exceed 2 GB in a graph). Rows are read with positioned
reads (os.pread) into a fresh buffer instead: the kernel's page cache keeps what fits and drops what does not, and
the process holds one batch. An array in memory (no file behind it) is indexed directly.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


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
        fd = os.open(self._path, os.O_RDONLY)
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
        fd = os.open(self._path, os.O_RDONLY)
        try:
            self._read(fd, start, stop - start, out.reshape(-1).view(np.uint8))
        finally:
            os.close(fd)
        return out

    def _read(self, fd: int, start: int, count: int, into: np.ndarray) -> None:
        view, done = memoryview(into), 0
        total, offset = count * self.row_bytes, self._offset + start * self.row_bytes
        while done < total:  # pread may return less than asked for
            read = os.preadv(fd, [view[done:total]], offset + done)
            if read <= 0:
                raise OSError(f"{self._path}: ended {total - done} bytes early at row {start}")
            done += read
