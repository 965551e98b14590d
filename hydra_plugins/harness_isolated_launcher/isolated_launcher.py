"""A Hydra launcher that runs jobs in worker processes, replaced as their memory grows (Hydra loads launchers only from hydra_plugins)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from hydra.core.utils import JobReturn

from harness.multirun.jobs import DeferredLauncher


class IsolatedLauncher(DeferredLauncher):
    composes_each_job_here = True  # (the knob sweeper then skips Hydra's composing every job beforehand)

    def __init__(
        self,
        n_jobs: int = 1,
        max_rss_growth: Optional[float] = 0.25,
        runs_per_process: Optional[int] = None,
        threads_per_worker: Optional[int] = None,
        gpu_memory_mb: Optional[int] = None,
    ) -> None:
        self.n_jobs = n_jobs
        self.max_rss_growth, self.runs_per_process = max_rss_growth, runs_per_process
        self.threads_per_worker = threads_per_worker
        self.gpu_memory_mb = gpu_memory_mb

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from hydra_plugins.harness_isolated_launcher._core import (
            launch,  # Hydra imports every plugin module at start-up
        )

        return launch(self, job_overrides, initial_job_idx)
