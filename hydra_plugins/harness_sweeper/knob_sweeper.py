"""Hydra's basic sweeper, plus the harness's one-knob sweep (sweep.knob x sweep.values x sweep.seeds).

Hydra only loads sweeper plugins from the hydra_plugins namespace, so this thin class lives here and
the logic in harness.sweep. Launchers (basic, joblib, submitit, ray) apply unchanged.
"""

from __future__ import annotations

from typing import Any, List, Optional

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.types import Override


class KnobSweeper(BasicSweeper):
    def sweep(self, arguments: List[str]) -> Any:
        from harness.sweep import knob_arguments

        return super().sweep(knob_arguments(self.config, arguments))

    def split_arguments(self, overrides: List[Override], max_batch_size: Optional[int]) -> List[List[List[str]]]:
        from harness.sweep import label_jobs

        batches = BasicSweeper.split_arguments(overrides, max_batch_size)
        swept = [o.get_key_element() for o in overrides if o.is_sweep_override()]
        return [label_jobs(batch, swept, self.config) for batch in batches]
