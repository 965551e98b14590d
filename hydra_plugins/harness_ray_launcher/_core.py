"""Run Hydra jobs as Ray tasks, as hydra-ray-launcher does (its config: `init` for ray.init, `remote` for
ray.remote), waited on so that a stop request reaches them.

The plugin submits every job, then waits on each in turn; a Ctrl-C in that wait only records the request
(harness.process.stopping), so a study would run to its end. Here the wait polls: on a stop request the tasks not yet
finished are cancelled. A queued one never starts; in a running one Ray raises SIGINT, which the task turns
into the harness's stop: the run ends at its next stop point (a cache wait, the start of training, the end of
a compiled block of steps), records itself interrupted and returns, and only then does Ray count the task
cancelled. Ray's cancel is best effort (under load one sent while a task was being handed to its worker was
seen to be lost, and the run trained to its end), so a task not ended after GRACE_S is cancelled again with
force: its process is killed and its record stays `running` with a dead owner's claim, which the next
invocation takes over. One not ended even then is reported unfinished and not waited for. Each task runs its
job the way every harness launcher does (`harness.multirun.jobs.execute_job`: Hydra's public run_job).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from omegaconf import OmegaConf

from harness.multirun.jobs import execute_job
from harness.process import stopping

log = logging.getLogger(__name__)

POLL_S = 0.5
GRACE_S = (
    60.0  # for a cancelled run to reach a stop point (one compiled block of steps, traced first) before it is forced
)


def run_in(cwd: str, *job: Any) -> JobReturn:
    """One job in the launching command's working directory where the node has it, so that relative paths in
    the overrides (dataset.path=..., results_dir=results) mean what they mean to the local launchers; a Ray
    worker otherwise starts wherever its node's `ray start` ran."""
    if Path(cwd).is_dir():
        os.chdir(cwd)
    with stopping.in_task():
        return execute_job(*job)


def shared_gpu(remote: dict[str, Any]) -> dict[str, Any]:
    """Ray gives each task the GPUs of its `num_gpus` (its CUDA_VISIBLE_DEVICES); a fraction of one means tasks share
    a GPU, so each grows its memory as it needs it instead of TensorFlow taking the whole device at its start."""
    gpus = remote.get("num_gpus") or 0
    if not 0 < gpus < 1:
        return remote
    env = dict((remote.get("runtime_env") or {}).get("env_vars") or {})
    env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    return {**remote, "runtime_env": {**(remote.get("runtime_env") or {}), "env_vars": env}}


def _submit(launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[Any]:
    import ray

    remote = shared_gpu(OmegaConf.to_container(launcher.ray_cfg.remote, resolve=True) or {})
    job = ray.remote(**remote)(run_in) if remote else ray.remote(run_in)
    cwd = os.getcwd()
    state = Singleton.get_state()
    refs = []
    for i, overrides in enumerate(job_overrides):
        log.info("\t#%d : %s", initial_job_idx + i, " ".join(filter_overrides(overrides)))
        refs.append(
            job.remote(
                cwd,
                initial_job_idx + i,
                list(overrides),
                launcher.hydra_context,
                launcher.config,
                launcher.task_function,
                state,
            )
        )
    return refs


def _unfinished(overrides: Sequence[str]) -> JobReturn:
    ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
    ret.return_value = None
    return ret


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
    import ray

    setup_globals()
    configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    Path(str(launcher.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    log.info("Ray: launching %d jobs", len(job_overrides))
    if not ray.is_initialized():
        ray.init(**(OmegaConf.to_container(launcher.ray_cfg.init, resolve=True) or {}))
    refs = _submit(launcher, job_overrides, initial_job_idx)
    pending = list(refs)
    while pending and stopping.requested() is None:
        _, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL_S)
    abandoned = set(_cancel(pending)) if pending else set()
    died = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.LocalRayletDiedError)
    returns = []
    for ref, overrides in zip(refs, job_overrides):
        if ref in abandoned:
            returns.append(_unfinished(overrides))
            continue
        try:
            returns.append(ray.get(ref))
        except died as exc:  # and its retries too: recorded as incomplete, as the local launcher does
            log.error(
                "the process running %s died (%s); its run stays incomplete",
                " ".join(filter_overrides(overrides)),
                type(exc).__name__,
            )
            returns.append(_unfinished(overrides))
        except ray.exceptions.RayError:  # cancelled, or interrupted in a way Ray reports as an error
            if stopping.requested() is None:
                raise
            returns.append(_unfinished(overrides))
    return returns


def _cancel(pending: list[Any]) -> list[Any]:
    """Cancel the tasks not yet finished, then force those that ignore it; returns those that never ended."""
    import ray

    for force in (False, True):
        for ref in pending:
            ray.cancel(ref, force=force)
        _, pending = ray.wait(pending, num_returns=len(pending), timeout=GRACE_S)
        if not pending:
            break
    log.warning(
        "stopped: the runs still queued or running on the cluster were cancelled; the same command runs them again%s",
        f" ({len(pending)} did not confirm and are left to end with this command)" if pending else "",
    )
    return pending
