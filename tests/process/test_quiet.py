"""TensorFlow's start-up without its native chatter: known noise is dropped, everything else is kept."""

from __future__ import annotations

import os
import subprocess
import sys

from harness.process import quiet

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1795443758.427484   15785 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.\n",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.\n",
]
CUINIT = (
    "E0000 00:00:1795443764.509603   15785 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error (303)\n"
)


def test_start_up_noise_is_recognized_and_a_cuinit_failure_is_kept_where_a_driver_is_installed():
    assert all(quiet.is_noise(line, gpu_driver=False) for line in NOISE)
    assert quiet.is_noise(CUINIT, gpu_driver=False) and not quiet.is_noise(CUINIT, gpu_driver=True)
    assert not quiet.is_noise("Traceback (most recent call last):\n", gpu_driver=False)


def test_native_stderr_is_held_back_and_written_out_without_the_noise(capfd, monkeypatch):
    monkeypatch.setattr(quiet, "has_nvidia_driver", lambda: False)
    with quiet.native_stderr_filtered():
        for line in [*NOISE, CUINIT, "a real error\n"]:
            os.write(2, line.encode())
    assert capfd.readouterr().err == "a real error\n"


def test_what_tensorflows_import_allocated_is_frozen_out_of_the_collector():
    """A full collection in a training process skips the import's ~400,000 objects (a run sets off several)."""
    code = (
        "import gc; from harness.process.quiet import import_tensorflow; import_tensorflow(); "
        "print(gc.get_freeze_count(), len(gc.get_objects()))"
    )
    frozen, tracked = map(
        int, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    assert frozen > 100_000 and tracked < frozen / 10
