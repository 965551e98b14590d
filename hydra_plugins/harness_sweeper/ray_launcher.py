"""`hydra/launcher=ray`: hydra-ray-launcher's config and job submission, with the harness's stop handling:
Ctrl-C or SIGTERM cancels the runs still queued or running instead of waiting for every one. Hydra loads
launchers only from hydra_plugins; the work is in harness.ray_tasks."""

from __future__ import annotations

from typing import Sequence

from hydra.core.utils import JobReturn
from omegaconf import DictConfig

from hydra_plugins.harness_sweeper.deferred import DeferredLauncher


class RayLauncher(DeferredLauncher):
    def __init__(self, ray: DictConfig) -> None:
        self.ray_cfg = ray  # the plugin's own config: init (ray.init's arguments), remote (ray.remote's)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from harness.ray_tasks import launch  # Ray is imported only when a sweep runs on it

        return launch(self, job_overrides, initial_job_idx)
