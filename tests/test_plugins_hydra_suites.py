"""The harness's Hydra plugins pass Hydra's own launcher and sweeper test suites (hydra.test_utils)."""

from __future__ import annotations

import pytest
from hydra.test_utils.launcher_common_tests import BatchedSweeperTestSuite, IntegrationTestSuite, LauncherTestSuite

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("launcher_name, overrides", [("isolated", ["hydra/sweeper=knob", "hydra.job.chdir=True"])])
class TestIsolatedLauncherWithKnobSweeper(LauncherTestSuite):
    pass


@pytest.mark.parametrize("launcher_name, overrides", [("isolated", ["hydra/sweeper=knob", "hydra.sweeper.max_batch_size=2", "hydra.job.chdir=True"])])
class TestKnobSweeperInBatches(BatchedSweeperTestSuite):
    pass


@pytest.mark.parametrize("task_launcher_cfg, extra_flags", [({}, ["-m", "hydra/launcher=isolated", "hydra/sweeper=knob"])])
class TestIsolatedLauncherIntegration(IntegrationTestSuite):
    pass
