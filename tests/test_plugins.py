"""The Hydra plugins: the isolated launcher and the knob sweeper under other launchers."""

from __future__ import annotations

import pytest

from harness.reports.tables import load_table
from tests.helpers import FAST, run_cli


@pytest.mark.slow
def test_joblib_launcher_with_two_workers_loses_no_run(results_dir):
    # Three runs on two workers: one worker takes a second run from the queue.
    done = run_cli(
        "experiment=quickstart",
        "sweep=learning_rate",
        "sweep.values=[0.1,0.01,0.001]",
        f"results_dir={results_dir}",
        *FAST,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = load_table(results_dir)
    assert len(table) == 3 and set(table["status"]) == {"completed"}
    assert sorted(table["value"]) == [0.001, 0.01, 0.1]
