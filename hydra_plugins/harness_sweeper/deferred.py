"""What the harness's launchers share: Hydra's setup kept for launch, which hands the jobs to a function in
the harness (Hydra imports every plugin module at start-up, so the work and its imports live elsewhere)."""

from __future__ import annotations

from typing import Optional

from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class DeferredLauncher(Launcher):
    config: Optional[DictConfig] = None
    task_function: Optional[TaskFunction] = None
    hydra_context: Optional[HydraContext] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.task_function, self.hydra_context = config, task_function, hydra_context
