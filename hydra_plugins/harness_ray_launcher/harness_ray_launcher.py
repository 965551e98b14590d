"""`hydra/launcher=harness_ray`: jobs submitted to Ray as hydra-ray-launcher submits them, with the harness's stop
handling: Ctrl-C or SIGTERM cancels the runs still queued or running instead of waiting for every one. Named
apart from hydra-ray-launcher's `ray`, which Hydra would otherwise validate against that plugin's schema."""

from __future__ import annotations

from collections.abc import Sequence

from hydra.core.utils import JobReturn
from omegaconf import DictConfig

from harness.multirun.jobs import DeferredLauncher


class HarnessRayLauncher(DeferredLauncher):
    def __init__(self, ray: DictConfig) -> None:
        self.ray_cfg = ray  # the plugin's own config: init (ray.init's arguments), remote (ray.remote's)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from hydra_plugins.harness_ray_launcher._core import launch  # Ray is imported only when a sweep runs on it

        return launch(self, job_overrides, initial_job_idx)
