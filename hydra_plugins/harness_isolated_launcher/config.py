"""`hydra/launcher=isolated` in Hydra's ConfigStore (Hydra imports every module under hydra_plugins when it starts)."""

from dataclasses import dataclass
from typing import Optional

from hydra.core.config_store import ConfigStore


@dataclass
class IsolatedLauncherConf:
    """Runs a sweep's jobs in worker processes, not in the process that launched them: a worker is reused
    (TensorFlow imported once) until its resident memory has grown by max_rss_growth over what it held after
    its first job that built a model, then replaced, so memory stays flat; a crashed run cannot take the sweep down."""

    _target_: str = "hydra_plugins.harness_isolated_launcher.isolated_launcher.IsolatedLauncher"
    n_jobs: int = 1  # workers running jobs at once
    max_rss_growth: Optional[float] = 0.25  # replace a worker whose memory grew by this fraction; null = never
    runs_per_process: Optional[int] = None  # replace a worker after this many jobs; 1 = a fresh process per job
    # TensorFlow's intra-op threads in each worker; null = its default, every core, so results do not depend on
    # n_jobs. n_jobs x threads_per_worker <= cores stops the workers contending for cores (faster; numbers
    # change as they do on a machine with another core count).
    threads_per_worker: Optional[int] = None
    # Workers sharing one GPU (more workers than GPUs) grow their memory as they need it; this caps each at so many
    # MB instead. With several GPUs each worker gets its own (round-robin), in its record's host.
    gpu_memory_mb: Optional[int] = None


ConfigStore.instance().store(group="hydra/launcher", name="isolated", node=IsolatedLauncherConf, provider="harness")
