"""Which GPU each worker process gets, decided before it imports TensorFlow.

TensorFlow takes nearly all of every GPU it sees when it starts, so two workers on one machine must not both see
a GPU whole. With several GPUs each worker sees one (`CUDA_VISIBLE_DEVICES`, round-robin over the GPUs this
process may use); where workers share a GPU, each grows its memory as it needs it (`TF_FORCE_GPU_ALLOW_GROWTH`) or
takes at most a configured share (`HARNESS_GPU_MEMORY_MB`, applied as a logical device when the worker starts).
Nothing changes on a machine without an NVIDIA GPU. GPUs are counted without TensorFlow: from the driver's
/proc/driver/nvidia/gpus, within what CUDA_VISIBLE_DEVICES already allows.
"""

from __future__ import annotations

import os
from pathlib import Path

MEMORY_MB = "HARNESS_GPU_MEMORY_MB"  # a worker's GPU memory limit, set by the launcher, applied by apply_memory_limit


def visible_gpus(environ: dict[str, str] | None = None, driver: Path = Path("/proc/driver/nvidia/gpus")) -> list[str]:
    """The GPUs this process may hand out, as CUDA_VISIBLE_DEVICES names them (ids or UUIDs)."""
    environ = os.environ if environ is None else environ
    given = environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [g.strip() for g in given.split(",") if g.strip() and g.strip() != "-1"]
    count = len(list(driver.iterdir())) if driver.is_dir() else 0
    return [str(i) for i in range(count)]


def worker_env(worker: int, workers: int, gpus: list[str], memory_mb: int | None = None) -> dict[str, str]:
    """The environment a worker starts with: its GPU (round-robin) and, where several workers share one GPU, how its
    memory is shared. Empty without GPUs."""
    if not gpus:
        return {}
    env = {"CUDA_VISIBLE_DEVICES": gpus[worker % len(gpus)]}
    sharing = workers > len(gpus)
    if memory_mb:
        env[MEMORY_MB] = str(int(memory_mb))
    elif sharing:
        env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    return env


def apply_memory_limit() -> None:
    """In a worker, before TensorFlow touches its GPU: cap its memory at HARNESS_GPU_MEMORY_MB where the launcher set it."""
    limit = os.environ.get(MEMORY_MB)
    if not limit:
        return
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.set_logical_device_configuration(gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=int(limit))])


def describe(environ: dict[str, str] | None = None) -> dict[str, str | None]:
    """What a run's process was given, for its record's host: its GPUs and how their memory is shared."""
    environ = os.environ if environ is None else environ
    memory = (
        f"at most {environ[MEMORY_MB]} MB"
        if environ.get(MEMORY_MB)
        else ("grows as needed" if environ.get("TF_FORCE_GPU_ALLOW_GROWTH") == "true" else None)
    )
    return {"cuda_visible_devices": environ.get("CUDA_VISIBLE_DEVICES"), "gpu_memory": memory}
