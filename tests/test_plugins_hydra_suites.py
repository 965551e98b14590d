"""The harness's Hydra plugins pass Hydra's own launcher and batched-sweeper test suites (hydra.test_utils).

Hydra's IntegrationTestSuite (14 apps started as subprocesses) also passes (checked by hand); it is left out to keep CI time flat.
"""

from __future__ import annotations

import pytest
from hydra.test_utils.launcher_common_tests import BatchedSweeperTestSuite, LauncherTestSuite

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("launcher_name, overrides", [("isolated", ["hydra/sweeper=knob", "hydra.job.chdir=True"])])
class TestIsolatedLauncherWithKnobSweeper(LauncherTestSuite):
    pass


@pytest.mark.parametrize("launcher_name, overrides", [("isolated", ["hydra/sweeper=knob", "hydra.sweeper.max_batch_size=2", "hydra.job.chdir=True"])])
class TestKnobSweeperInBatches(BatchedSweeperTestSuite):
    pass
