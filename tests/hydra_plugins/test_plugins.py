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


def test_hydra_discovers_each_plugin_by_itself_as_it_discovers_its_own():
    """Hydra's own plugin discovery (pkgutil over the hydra_plugins namespace, no registration by the harness)
    finds the three plugins, and their configs are in Hydra's ConfigStore under their names."""
    import subprocess
    import sys

    from tests.helpers import ROOT

    code = (
        "from hydra.core.plugins import Plugins; from hydra.plugins.launcher import Launcher; "
        "from hydra.plugins.sweeper import Sweeper; from hydra.core.config_store import ConfigStore; "
        "found = {p.__name__ for p in Plugins.instance().discover(Launcher)} | {p.__name__ for p in Plugins.instance().discover(Sweeper)}; "
        "repo = ConfigStore.instance().repo['hydra']; "
        "print(sorted(found & {'IsolatedLauncher', 'HarnessRayLauncher', 'KnobSweeper'}), "
        "sorted(k for k in [*repo['launcher'], *repo['sweeper']] if k.startswith(('isolated', 'harness_ray', 'knob'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == (
        "['HarnessRayLauncher', 'IsolatedLauncher', 'KnobSweeper'] ['harness_ray.yaml', 'isolated.yaml', 'knob.yaml']"
    ), done.stderr[-2000:]
