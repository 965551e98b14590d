"""`hydra/launcher=harness_ray` in Hydra's ConfigStore, with the harness's defaults; every key under `ray.init` and
`ray.remote` goes to ray.init() and ray.remote() as it is (the shape hydra-ray-launcher's config has).

    ray start --head                     # on the head node; `ray start --address=HEAD:6379` on the others
    python -m harness sweep=learning_rate hydra/launcher=harness_ray hydra.launcher.ray.init.address=auto
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


def _init() -> dict[str, Any]:
    # address null: a Ray started for this command on this machine; auto | HOST:6379: a running cluster
    return {"address": None, "runtime_env": {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}}}


def _remote() -> dict[str, Any]:
    # num_cpus: CPUs a run reserves (a node with C CPUs runs C at once); max_calls: a worker process runs 8 runs, then a
    # fresh one (start-up paid once in 8, memory bounded); max_retries: a run whose process or node died is tried once
    # more, its claim keeping it from running twice
    return {"num_cpus": 1, "max_calls": 8, "max_retries": 1}


@dataclass
class RayConf:
    init: dict[str, Any] = field(default_factory=_init)  # ray.init(**init)
    remote: dict[str, Any] = field(default_factory=_remote)  # ray.remote(**remote) for every run


@dataclass
class HarnessRayLauncherConf:
    _target_: str = "hydra_plugins.harness_ray_launcher.harness_ray_launcher.HarnessRayLauncher"
    ray: RayConf = field(default_factory=RayConf)


ConfigStore.instance().store(
    group="hydra/launcher", name="harness_ray", node=HarnessRayLauncherConf, provider="harness"
)
