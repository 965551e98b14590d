"""What produced a result: library versions, the git commit, the host."""

from __future__ import annotations

import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from harness.process import devices

PACKAGES = (
    "tensorflow",
    "keras",
    "tensorflow-datasets",
    "keras-tuner",
    "hydra-core",
    "omegaconf",
    "numpy",
    "pandas",
    "tl-harness",
)


@lru_cache(maxsize=1)
def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


@lru_cache(maxsize=1)
def git_state() -> dict[str, object]:
    """Commit of the harness checkout and whether it had uncommitted changes (None outside git)."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def host() -> dict[str, object]:
    import os

    found = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu": cpu(),
        "pid": os.getpid(),
        "intra_op_threads": intra_op_threads(),
        **devices.describe(),  # the GPU a worker was given and how its memory is shared (null on a CPU)
    }
    if os.environ.get(
        "SLURM_JOB_ID"
    ):  # which scheduler job ran it, as scancel, sacct and submitit's log folders name it
        found["slurm_job_id"] = slurm_job_id(os.environ)
    return found


# Widest first: TensorFlow's CPU kernels (oneDNN, Eigen) choose their code by these at run time.
_VECTOR_FLAGS = (("amx_tile", "amx"), ("avx512f", "avx512"), ("avx2", "avx2"), ("avx", "avx"), ("asimd", "neon"))


@lru_cache(maxsize=1)
def cpu() -> str:
    """This machine's processor and its widest vector instructions (see cpu_name)."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        cpuinfo = ""
    return cpu_name(cpuinfo, platform.machine() or "unknown")


def cpu_name(cpuinfo: str, fallback: str) -> str:
    """'AMD EPYC (family 25, model 17), avx512' from Linux's /proc/cpuinfo (its first processor), `fallback`
    for the name where it has none. Training's numbers depend on the CPU as they do on the thread count: the
    same seed and versions on another CPU model give other, equally repeatable, numbers."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    name = fields.get("model name") or fallback
    if fields.get("cpu family") and fields.get("model"):
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    vector = next((word for flag, word in _VECTOR_FLAGS if flag in flags), None)
    return f"{name}, {vector}" if vector else name


def intra_op_threads() -> int | None:
    """TensorFlow's intra-op threads in this process (0: its default, every core; training's numbers depend on
    it), or None where TensorFlow is not loaded: this process trained nothing, and loading it costs seconds."""
    tf = sys.modules.get("tensorflow")
    return tf.config.threading.get_intra_op_parallelism_threads() if tf is not None else None


def slurm_job_id(environ) -> str:
    """`ARRAY_TASK` for a task of a job array (submitit's), else the job id. An array's raw job id is not the
    task's own: one task's raw id is the array's, and `scancel <array id>` cancels every task."""
    if environ.get("SLURM_ARRAY_JOB_ID") and environ.get("SLURM_ARRAY_TASK_ID"):
        return f"{environ['SLURM_ARRAY_JOB_ID']}_{environ['SLURM_ARRAY_TASK_ID']}"
    return environ["SLURM_JOB_ID"]


_STARTUP_COUNTED = False


def startup_seconds() -> float:
    """How long this process ran before its first run began (interpreter, TensorFlow and Hydra start-up);
    0 for every later call, so a reused worker counts it once. 0 where /proc is unavailable."""
    global _STARTUP_COUNTED
    if _STARTUP_COUNTED:
        return 0.0
    _STARTUP_COUNTED = True
    try:
        import os

        ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
        uptime = float(open("/proc/uptime").read().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0
