"""Hydra's multirun-end callback: the report of the sweep or study that just ran (conf/config.yaml's hydra.callbacks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from harness.report import wait_for_others, write_report
from harness.study_report import write_study_report


class SweepReport(Callback):
    """When a multirun ends: normalize each experiment and write its tables, plot and TensorBoard views; for a
    study, then its report across experiments. Runs another process is still training are waited for first."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.sweep.dir)
        if config.get("study") is not None:
            wait_for_others(list(folder.glob("*/*/")))
            write_study_report(folder)
        else:
            wait_for_others([d for d in folder.iterdir() if d.is_dir()])
            write_report(folder)
