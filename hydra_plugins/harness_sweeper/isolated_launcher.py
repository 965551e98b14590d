"""A Hydra launcher that runs jobs in worker processes, replaced as their memory grows (Hydra loads launchers only from hydra_plugins)."""

from __future__ import annotations

from typing import Optional, Sequence

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class IsolatedLauncher(Launcher):
    def __init__(self, n_jobs: int = 1, max_rss_growth: Optional[float] = 0.25, runs_per_process: Optional[int] = None) -> None:
        self.n_jobs = n_jobs
        self.max_rss_growth, self.runs_per_process = max_rss_growth, runs_per_process
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.task_function, self.hydra_context = config, task_function, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from harness.isolate import launch  # Hydra imports every plugin module at start-up: keep that cheap

        return launch(self, job_overrides, initial_job_idx)
