"""One Hydra job run as Hydra's own launchers run it (its public run_job), in whatever process a launcher chose:
the isolated launcher's worker, a Ray task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict


class DeferredLauncher(Launcher):
    """What the harness's launchers share: Hydra's setup kept for launch, which hands the jobs to the plugin's
    private implementation (Hydra imports every plugin module at start-up, so the work and its imports wait)."""

    config: Optional[DictConfig] = None
    task_function: Optional[TaskFunction] = None
    hydra_context: Optional[HydraContext] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.task_function, self.hydra_context = config, task_function, hydra_context


def execute_job(
    idx: int,
    overrides: Sequence[str],
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
    sweep_config: DictConfig | None = None,
) -> JobReturn:
    """One Hydra job in this process, as Hydra's launchers run one: its own sweep config (composed here unless
    the launching process composed it), job id and folder."""
    setup_globals()
    Singleton.set_state(singleton_state)
    if sweep_config is None:
        sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    return run_job(
        hydra_context=hydra_context,
        config=sweep_config,
        task_function=task_function,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
