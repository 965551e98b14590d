"""Hydra's grid sweep plus the harness's one-knob sweep (sweep.knob x sweep.values x sweep.seeds).

Hydra only loads sweeper plugins from the hydra_plugins namespace, so this thin class lives here and
the logic in harness.sweep. Built on Hydra's public plugin API (as Hydra's example sweeper plugin is),
so any launcher (isolated, basic, joblib, submitit, ray) runs its jobs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, read_write


class KnobSweeper(Sweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None) -> None:
        self.max_batch_size = max_batch_size
        self.params = params or {}
        self.config: Optional[DictConfig] = None
        self.launcher: Optional[Launcher] = None
        self.hydra_context: Optional[HydraContext] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: List[str]) -> List[Sequence[JobReturn]]:
        # Hydra imports every plugin module at start-up: keep that cheap
        from harness import stopping
        from harness.sweep import job_batches, knob_arguments, label_jobs

        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        params = [f"{key}={value}" for key, value in self.params.items()]
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides(knob_arguments(self.config, params + list(arguments)))
        named = [o for o in overrides if o.get_key_element() == "name"]
        if named and "name" in self.config:
            # The launcher and the callbacks read hydra.sweep.dir from this same config object: point it at
            # the experiment's folder that the sweep's name decides.
            with read_write(self.config):
                self.config.name = named[-1].value()
        swept = [o.get_key_element() for o in overrides if o.is_sweep_override()]
        batches = [label_jobs(batch, swept, self.config) for batch in job_batches(overrides, self.max_batch_size)]

        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        returns: List[Sequence[JobReturn]] = []
        first = 0
        for batch in batches:
            if stopping.requested() is not None:  # Ctrl-C: the report covers what ran
                break
            self.validate_batch_is_legal(batch)
            results = self.launcher.launch(batch, initial_job_idx=first)
            for result in results:
                _ = result.return_value  # raises the job's exception, as Hydra's own sweeper does
            first += len(batch)
            returns.append(results)
        return returns

    def __repr__(self) -> Any:
        return f"KnobSweeper(max_batch_size={self.max_batch_size})"
