"""Hydra's grid sweep plus the harness's one-knob sweep (sweep.knob x sweep.values x sweep.seeds).

Hydra only loads sweeper plugins from the hydra_plugins namespace, so this thin class lives here and
the logic in harness.multirun (sweep: which jobs; study: a study's jobs). Built on Hydra's public plugin API (as Hydra's example sweeper plugin is),
so any launcher (isolated, basic, joblib, submitit, ray) runs its jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, read_write


class KnobSweeper(Sweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[dict[str, str]] = None) -> None:
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

    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        # Hydra imports every plugin module at start-up: keep that cheap
        from harness.multirun.study import write_spec
        from harness.multirun.sweep import run_paths
        from harness.process import stopping
        from harness.records.planned import write_planned

        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        params = [f"{key}={value}" for key, value in self.params.items()]
        if self.config.get("study") is not None:
            batches, name = self._study_batches(params + list(arguments))
        else:
            batches, name = self._sweep_batches(params + list(arguments))
        if name is not None and "name" in self.config:
            # The launcher and the callbacks read hydra.sweep.dir from this same config object: point it at
            # the experiment's (or study's) folder.
            with read_write(self.config):
                self.config.name = name
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        if self.config.get("study") is not None:
            write_spec(sweep_dir, self.config)
        planned = run_paths([job for batch in batches for job in batch], str(self.config.get("name")))
        if planned:
            write_planned(sweep_dir, planned)
        returns: list[Sequence[JobReturn]] = []
        first = 0
        for batch in batches:
            if stopping.requested() is not None:  # Ctrl-C: the report covers what ran
                break
            if not getattr(self.launcher, "composes_each_job_here", False):
                # Hydra's early check for launchers that compose jobs in other processes or on other machines;
                # one that composes them in this process, before it runs them, is the same check, once.
                self.validate_batch_is_legal(batch)
            results = self.launcher.launch(batch, initial_job_idx=first)
            for result in results:
                _ = result.return_value  # raises the job's exception, as Hydra's own sweeper does
            first += len(batch)
            returns.append(results)
        return returns

    def _sweep_batches(self, arguments: list[str]) -> tuple[list[list[list[str]]], Optional[str]]:
        from harness.multirun.sweep import job_batches, knob_arguments, label_jobs

        assert self.config is not None and self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides(knob_arguments(self.config, arguments))
        named = [o for o in overrides if o.get_key_element() == "name"]
        swept = [o.get_key_element() for o in overrides if o.is_sweep_override()]
        batches = [label_jobs(batch, swept, self.config) for batch in job_batches(overrides, self.max_batch_size)]
        return batches, (named[-1].value() if named else None)

    def _study_batches(self, arguments: list[str]) -> tuple[list[list[list[str]]], Optional[str]]:
        from harness.multirun.study import study_jobs

        assert self.config is not None
        folder, jobs = study_jobs(self.config, arguments)
        size = self.max_batch_size or len(jobs) or 1
        return [jobs[i : i + size] for i in range(0, len(jobs), size)], folder

    def __repr__(self) -> Any:
        return f"KnobSweeper(max_batch_size={self.max_batch_size})"
