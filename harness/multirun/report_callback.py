"""Hydra's multirun-end callback: the report of the sweep or study that just ran (conf/config.yaml's hydra.callbacks)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from harness.reports.study_report import write_study_report
from harness.reports.sweep_report import wait_for_others, write_report


def load_report_imports() -> None:
    """The report's slowest imports (scipy.stats 0.8 s, matplotlib's pyplot 0.4 s, TensorBoard's summary writer
    without TensorFlow 0.35 s on 2 cores)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    from scipy import stats  # noqa: F401
    from tensorboard.util import tensor_util  # noqa: F401


class SweepReport(Callback):
    """When a multirun ends: normalize each experiment and write its tables, plot and TensorBoard views; for a
    study, then its report across experiments. Runs another process is still training are waited for first."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # while the runs train in other processes, so that the report does not wait for its imports at the end
        threading.Thread(target=load_report_imports, name="report-imports").start()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.sweep.dir)
        if config.get("study") is not None:
            wait_for_others(list(folder.glob("*/*/")))
            write_study_report(folder)
        else:
            wait_for_others([d for d in folder.iterdir() if d.is_dir()])
            write_report(folder)
