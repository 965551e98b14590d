"""TensorFlow's start-up without its native start-up chatter on a machine that has no GPU.

TensorFlow's C++ logging prints several lines before absl's logging is initialized — where
TF_CPP_MIN_LOG_LEVEL does not reach — including `E0000 ... failed call to cuInit ... (303)` on every
CPU-only machine. The harness imports TensorFlow and lists its devices with the process's stderr
(file descriptor 2) sent to a temporary file, then writes back every line that is not one of those.
Where an NVIDIA driver is installed, a cuInit failure is real news and is kept.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.process import heap

_NOISE = re.compile(
    r"cudart_stub\.cc|All log messages before absl::InitializeLog|Unable to register cu(FFT|DNN|BLAS) factory"
    r"|computation_placer\.cc|oneDNN custom operations are on|TF-TRT Warning|This TensorFlow binary is optimized"
    r"|rebuild TensorFlow with the appropriate compiler flags|cuda_executor\.cc.*could not find cuda drivers"
)
_NO_GPU_NOISE = re.compile(r"failed call to cuInit")


def has_nvidia_driver() -> bool:
    return Path("/proc/driver/nvidia").exists()


def is_noise(line: str, gpu_driver: bool) -> bool:
    return bool(_NOISE.search(line)) or (not gpu_driver and bool(_NO_GPU_NOISE.search(line)))


@contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Inside: whatever is written to file descriptor 2 is held back; after: written out, minus the noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            gpu_driver = has_nvidia_driver()
            kept = [
                line
                for line in held.read().decode(errors="replace").splitlines(keepends=True)
                if not is_noise(line, gpu_driver)
            ]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


@contextmanager
def native_stderr_captured() -> Iterator[list[str]]:
    """Inside: what native code writes to file descriptor 2 is kept off the terminal; after: its lines are in
    the list yielded (libjpeg's "Corrupt JPEG data" warnings, say, which reach no Python exception)."""
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines.extend(held.read().decode(errors="replace").splitlines())


# Keras imports these when it is imported, for integrations the harness never uses (its scikit-learn wrappers,
# pandas DataFrames as fit input, its image-gallery plot): 1.1 s of TensorFlow's 4.3 s import on 2 cores.
KERAS_EXTRAS = ("sklearn", "pandas", "matplotlib")


@contextmanager
def hidden(modules: tuple[str, ...]) -> Iterator[None]:
    """Inside: `import` of each module not yet imported raises ImportError, which Keras takes as the package being
    absent; after: each imports as usual (Python's import system: a None in sys.modules halts an import)."""
    absent = [m for m in modules if m not in sys.modules]
    for name in absent:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in absent:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def import_tensorflow() -> None:
    """Import TensorFlow and initialize its devices quietly, without Keras's optional integrations, then freeze
    what the import allocated out of the garbage collector's passes (a no-op after the first call in a process)."""
    if getattr(import_tensorflow, "done", False):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the C++ INFO and WARNING lines after start-up
    with native_stderr_filtered(), hidden(KERAS_EXTRAS):
        import keras  # noqa: F401 - TensorFlow imports it anyway; here, while the extras are hidden
        import tensorflow as tf

        tf.config.list_physical_devices()
    heap.freeze_survivors()
    import_tensorflow.done = True  # type: ignore[attr-defined]
