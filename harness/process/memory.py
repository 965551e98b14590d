"""A process's resident memory: now, its peak, and a new peak per job in a process that runs many."""

from __future__ import annotations

import sys


def reset_peak_memory() -> bool:
    """Start a new resident-memory peak (Linux: VmHWM), so a process that runs many jobs reports each job's own."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_mb() -> dict[str, float | None]:
    """Resident memory now and its peak, in MiB: since reset_peak_memory() where Linux allows, else process lifetime."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mb = peak / 2**20 if sys.platform == "darwin" else peak / 1024
    now_mb = None
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    now_mb = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    peak_mb = int(line.split()[1]) / 1024
    except OSError:
        pass
    return {"rss_mb": now_mb, "peak_rss_mb": peak_mb}
