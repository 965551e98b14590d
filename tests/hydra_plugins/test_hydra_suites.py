"""The harness's Hydra plugins (the isolated and Ray launchers, the knob sweeper) pass Hydra's own launcher and
batched-sweeper test suites (hydra.test_utils).

Hydra's IntegrationTestSuite (its apps started as subprocesses) also passes, checked by hand: on the isolated
launcher, and on the Ray launcher (11 tests, each app starting its own local Ray, with extra flags
`-m hydra/launcher=harness_ray hydra/hydra_logging=hydra_debug hydra/job_logging=disabled` as Hydra's Ray plugin
tests itself; 10 min on a busy 2-core machine). Both are left out to keep CI time flat.
"""

from __future__ import annotations

import pytest
from hydra.test_utils.launcher_common_tests import BatchedSweeperTestSuite, LauncherTestSuite

from tests.helpers import NEEDS_RAY

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("launcher_name, overrides", [("isolated", ["hydra/sweeper=knob", "hydra.job.chdir=True"])])
class TestIsolatedLauncherWithKnobSweeper(LauncherTestSuite):
    pass


@pytest.mark.parametrize(
    "launcher_name, overrides",
    [("isolated", ["hydra/sweeper=knob", "hydra.sweeper.max_batch_size=2", "hydra.job.chdir=True"])],
)
class TestKnobSweeperInBatches(BatchedSweeperTestSuite):
    pass


@NEEDS_RAY
@pytest.mark.parametrize("launcher_name, overrides", [("harness_ray", ["hydra/sweeper=knob", "hydra.job.chdir=True"])])
class TestRayLauncherWithKnobSweeper(LauncherTestSuite):
    """On a Ray started in this process for the first test (the config's `address: null`) and stopped after the last."""

    @pytest.fixture(autouse=True, scope="class")
    def _stop_ray_afterwards(self):
        yield
        import ray

        ray.shutdown()
