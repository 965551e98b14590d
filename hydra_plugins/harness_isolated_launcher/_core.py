"""The isolated launcher's work: every job in a reused worker process (harness.process.workers), each job's config
composed here, in order, ahead of the workers, as Hydra's basic launcher composes it."""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, setup_globals
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from harness.multirun.jobs import execute_job
from harness.process import devices, stopping
from harness.process.progress import Progress, label
from harness.process.quiet import import_tensorflow
from harness.process.workers import Worker, adopted
from harness.records.lifecycle import completed_record
from harness.records.record import RECORD
from harness.storage import claims

log = logging.getLogger(__name__)


def _child(payload: bytes) -> bytes:
    import cloudpickle

    import_tensorflow()  # before the job's task function brings it in, without the start-up noise
    return cloudpickle.dumps(execute_job(*cloudpickle.loads(payload)))


def _run_one(worker: Worker, payload: bytes, overrides: Sequence[str], progress: Progress | None = None) -> JobReturn:
    import cloudpickle

    if progress is not None:
        progress.start(overrides)
    try:
        result = worker.call(_child, payload)
    except stopping.Interrupted:
        result = None
        log.warning("stopped %s before it finished; the same command runs it again", label(overrides))
    finally:
        if progress is not None:
            progress.finish()
    if result is not None:
        return cloudpickle.loads(result)
    if stopping.requested() is None:
        log.error("the process running %s died; its run stays incomplete", label(overrides))
    return _not_run(overrides)


def _run_dir(sweep_config: DictConfig) -> Path | None:
    """The job's run folder, unless it is named after what only running the job sets (as Hydra's default
    `${hydra.job.num}`)."""
    try:
        return Path(str(sweep_config.hydra.sweep.dir)) / str(sweep_config.hydra.sweep.subdir)
    except OmegaConfBaseException:
        return None


def _completed(sweep_config: DictConfig, run_dir: Path | None) -> bool:
    """Whether the job's run folder holds a record that completed with exactly this config. The job would only
    say so, and it would say so in a worker: one started, or replaced after its memory grew, only for that costs a
    TensorFlow import. A job that does something with a completed run (overwrite, analysis) or a search is run."""
    try:
        if run_dir is None or not (run_dir / RECORD).exists() or sweep_config.overwrite or sweep_config.analysis:
            return False  # no record (a new run): nothing to compare, and copying the config costs more than a look
        if OmegaConf.select(sweep_config, "tuner") is not None:
            return False
        task = copy.deepcopy(sweep_config)  # what the job's task function gets (Hydra's run_job drops hydra too)
        with read_write(task), open_dict(task):
            del task["hydra"]
        return completed_record(run_dir, task) is not None
    except OmegaConfBaseException:
        return False


def _not_run(overrides: Sequence[str]) -> JobReturn:
    ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
    ret.return_value = None
    return ret


def in_order(
    n_workers: int,
    count: int,
    run: Callable[[int, int], Any],
    stopped: Callable[[], bool],
    finished: Callable[[int], None] = lambda w: None,
) -> dict[int, Any]:
    """{job: run(worker, job)} for jobs 0..count-1, started in order, each on the next free worker.

    A study's runs differ in cost by 100x: a fixed share per worker would leave one idle while another works
    through the long ones. No job starts once `stopped()`; `finished(worker)` is called as each worker runs dry."""
    queue = iter(range(count))
    take = threading.Lock()

    def drive(w: int) -> list[tuple[int, Any]]:
        ran = []
        try:
            while not stopped():
                with take:
                    i = next(queue, None)
                if i is None:
                    break
                ran.append((i, run(w, i)))
            return ran
        finally:
            finished(w)

    with ThreadPoolExecutor(max_workers=n_workers) as threads:
        return dict(pair for share in threads.map(drive, range(n_workers)) for pair in share)


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
    """Every job in a worker process, each job's config composed here (in order, ahead of the workers, while
    they start up) as Hydra's basic launcher composes it: a worker only runs it, and a job that does not compose
    raises here, after which no further job starts."""
    import cloudpickle

    setup_globals()
    config = launcher.config
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    if not job_overrides:
        return []
    n_jobs = max(1, min(launcher.n_jobs, len(job_overrides)))
    threads = launcher.threads_per_worker
    gpus = devices.visible_gpus()
    settings = [
        (
            launcher.max_rss_growth,
            launcher.runs_per_process,
            threads,
            devices.worker_env(w, n_jobs, gpus, launcher.gpu_memory_mb),
        )
        for w in range(n_jobs)
    ]
    # The first may be running already; the others start with the first job handed to them, so a job found done
    # (completed, or run by another process) starts no process.
    workers = [adopted(*settings[0]), *(Worker(*s) for s in settings[1:])]
    workers[0].start()
    log.info(
        "Launching %d jobs, each in its own process (%d at a time%s)",
        len(job_overrides),
        launcher.n_jobs,
        f", {threads} intra-op thread(s) each" if threads else "",
    )
    state = Singleton.get_state()
    loader = launcher.hydra_context.config_loader
    failed: list[BaseException] = []
    skipped: list[int] = []  # completed before they were dispatched
    elsewhere: list[int] = []  # run by another process
    with ThreadPoolExecutor(max_workers=1) as composer:  # one: Hydra's config loader is not made for threads
        composed = [composer.submit(loader.load_sweep_config, config, list(o)) for o in job_overrides]

        def run(w: int, i: int) -> JobReturn:
            try:
                sweep_config = composed[i].result()
            except BaseException as exc:
                failed.append(exc)
                raise
            run_dir = _run_dir(sweep_config)
            if _completed(sweep_config, run_dir):
                return _skipped(i)
            # Claimed here, before a worker is started or handed the job, so that another sweep into the same folder
            # does not take the run while a worker starts for it (the worker's job takes the claim as its own). A
            # search claims its trials itself.
            claimed = run_dir is not None and OmegaConf.select(sweep_config, "tuner") is None
            owner = claims.claim(run_dir) if claimed else None
            if owner is not None:  # Hydra would write its .hydra/ files into the folder of a run another process trains
                log.info("%s is being run by %s: left to it", label(job_overrides[i]), owner.describe())
                elsewhere.append(i)
                return _not_run(job_overrides[i])
            try:  # completed by another process between the look and the claim?
                return _skipped(i) if _completed(sweep_config, run_dir) else _dispatched(w, i, sweep_config)
            finally:
                if claimed:
                    claims.release(run_dir)

        def _skipped(i: int) -> JobReturn:
            log.info(
                "%s already completed with this config: skipped (overwrite=true re-runs it)", label(job_overrides[i])
            )
            progress.skip()
            skipped.append(i)
            return _not_run(job_overrides[i])

        def _dispatched(w: int, i: int, sweep_config: DictConfig) -> JobReturn:
            payload = cloudpickle.dumps(
                (
                    initial_job_idx + i,
                    list(job_overrides[i]),
                    launcher.hydra_context,
                    config,
                    launcher.task_function,
                    state,
                    sweep_config,
                )
            )
            return _run_one(workers[w], payload, job_overrides[i], progress)

        progress = Progress(len(job_overrides), seed=OmegaConf.select(config, "train.seed", default=None))
        try:
            done = in_order(
                n_jobs,
                len(job_overrides),
                run,
                stopped=lambda: bool(failed) or stopping.requested() is not None,
                # each worker's exit (TensorFlow teardown, ~1 s) overlaps the others' last runs and the report
                finished=lambda w: workers[w].retire(),
            )
        finally:
            for future in composed:
                future.cancel()
    log.info(
        "%d job(s) ran in %d worker process(es)%s%s",
        len(done) - len(skipped) - len(elsewhere),
        sum(w.used for w in workers),
        f"; {len(skipped)} had completed already" if skipped else "",
        f"; {len(elsewhere)} left to another process" if elsewhere else "",
    )
    return [done[i] for i in range(len(job_overrides)) if i in done]
