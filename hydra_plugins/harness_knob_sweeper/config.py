"""`hydra/sweeper=knob` in Hydra's ConfigStore (Hydra imports every module under hydra_plugins when it starts)."""

from dataclasses import dataclass, field
from typing import Optional

from hydra.core.config_store import ConfigStore


@dataclass
class KnobSweeperConf:
    """Hydra's grid sweep, plus sweep.knob x sweep.values x sweep.seeds for apps with the harness's sweep section."""

    _target_: str = "hydra_plugins.harness_knob_sweeper.knob_sweeper.KnobSweeper"
    max_batch_size: Optional[int] = None  # jobs handed to the launcher at once; null = all
    params: Optional[dict[str, str]] = field(default=None)  # extra sweep overrides, as Hydra's basic sweeper takes


ConfigStore.instance().store(group="hydra/sweeper", name="knob", node=KnobSweeperConf, provider="harness")
