"""Run Hydra jobs in worker processes: the default launcher of a sweep.

Measured on the quickstart sweep, in-process runs grow resident memory by about 90 MiB per run even
with keras.backend.clear_session() and gc.collect() (TensorFlow keeps per-graph state), so a long
sweep in one process eventually runs out of memory. A new process per run gives every run the same
memory but costs the TensorFlow import (about 5 s on 2 cores) each time — more than a whole run on
cached features. So a worker is reused for the next job until its resident memory has grown by
`max_rss_growth` over what it held after its first job (or `runs_per_process` jobs), then replaced.
A worker that dies (OOM kill, segfault) leaves its run's record at status `running`: reported as
incomplete and re-run on resume; the next job gets a new worker.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
from contextlib import nullcontext
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable, Sequence

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from harness.provenance import memory_mb
from harness import claims, stopping
from harness.progress import Progress, label
from harness.quiet import import_tensorflow

log = logging.getLogger(__name__)


def die_with_parent(parent: int) -> None:
    """In a worker: Linux sends it SIGKILL when the thread that started it ends, so killing a sweep or a
    search (even with SIGKILL, which no handler sees) never leaves a worker training on. Elsewhere a no-op."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the call: nobody would send the signal
        os._exit(1)


def _start_worker(parent: int, threads: int | None = None) -> None:
    die_with_parent(parent)
    stopping.install_in_worker()
    import_tensorflow()  # while the parent composes the first job, not after it has handed it over
    if threads:
        import tensorflow as tf

        # Before any operation runs: TensorFlow sizes its thread pool once per process.
        tf.config.threading.set_intra_op_parallelism_threads(threads)


def _pid_and_rss() -> tuple[int, float]:
    return os.getpid(), _rss_mb()


def _starting_pool(threads: int | None = None) -> tuple[ProcessPoolExecutor, Future]:
    """A one-process pool starting in the background (with `threads` intra-op threads; None: TensorFlow's
    default), and the future of its process's pid and resident memory once started."""
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(os.getpid(), threads))
    return pool, pool.submit(_pid_and_rss)


def _pool() -> tuple[ProcessPoolExecutor, int]:
    """A one-process pool and that process's pid (which a stop request is passed on to)."""
    pool, started = _starting_pool()
    return pool, started.result()[0]


def in_fresh_process(fn: Callable[..., Any], *args: Any, stoppable: bool = True) -> Any | None:
    """fn(*args) in a new spawned interpreter; None if that process died (OOM kill, segfault).
    Raises Interrupted when a stop request interrupted it (only a `stoppable` call hears of one).

    One single-use pool per call: a dead child breaks only its own pool.
    """
    import cloudpickle

    pool, pid = _pool()
    with pool, (stopping.child(pid) if stoppable else nullcontext()):
        try:
            return pool.submit(_call_quietly, cloudpickle.dumps((fn, args))).result()
        except BrokenProcessPool:
            return None


def _call_quietly(payload: bytes) -> Any:
    import cloudpickle

    import_tensorflow()  # before unpickling fn imports its module, which may bring TensorFlow in
    fn, args = cloudpickle.loads(payload)
    return fn(*args)


def _rss_mb() -> float:
    return memory_mb()["rss_mb"] or 0.0


def _measured(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    return fn(*args), _rss_mb()


class Worker:
    """One spawned process reused for successive calls; replaced when it dies or its memory has grown."""

    # A call that grows the idle process by more than this built a model (a run on cached features: about
    # +33 %); one that only copied a twin's record or skipped a finished run adds about 2 %.
    BUILT = 0.10

    def __init__(self, max_rss_growth: float | None = 0.25, runs_per_process: int | None = None, threads: int | None = None):
        self.max_rss_growth, self.runs_per_process, self.threads = max_rss_growth, runs_per_process, threads
        self._pool: ProcessPoolExecutor | None = None
        self._starting: Future | None = None
        self._pid, self._runs, self._idle_rss, self._base_rss = 0, 0, 0.0, 0.0
        self.started = 0  # processes started so far

    def start(self) -> None:
        """Start the process (spawn and TensorFlow import, about 6 s on 2 cores) without waiting for it."""
        if self._pool is None:
            self._pool, self._starting = _starting_pool(self.threads)
            self._runs, self._base_rss, self.started = 0, 0.0, self.started + 1

    def call(self, fn: Callable[..., Any], *args: Any) -> Any | None:
        """fn(*args) in the worker; None if the worker died doing it. Raises Interrupted when a stop request
        interrupted it."""
        self.start()
        assert self._pool is not None
        try:
            if self._starting is not None:
                (self._pid, self._idle_rss), self._starting = self._starting.result(), None
            with stopping.child(self._pid):
                result, rss = self._pool.submit(_measured, fn, *args).result()
        except (BrokenProcessPool, stopping.Interrupted):
            self.close()
            if stopping.requested() is None:
                return None
            raise stopping.Interrupted(stopping.requested())
        self._runs += 1
        if self._grown(rss) or (self.runs_per_process is not None and self._runs >= self.runs_per_process):
            log.info("replacing the worker process after %d run(s) (resident memory %.0f MiB, %.0f after its first that "
                     "built a model)", self._runs, rss, self._base_rss)
            self.close()
        return result

    def _grown(self, rss: float) -> bool:
        """Whether the process has grown by max_rss_growth since its first call that built a model: a first job
        that only copied a study twin's record would set a mark that the next real run alone exceeds."""
        if not self._base_rss:
            if rss > self._idle_rss * (1 + self.BUILT):
                self._base_rss = rss
            return False
        return self.max_rss_growth is not None and rss > self._base_rss * (1 + self.max_rss_growth)

    def close(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool, self._starting = None, None


def execute_job(idx: int, overrides: Sequence[str], hydra_context: HydraContext, config: DictConfig,
                task_function: TaskFunction, singleton_state: dict[Any, Any],
                sweep_config: DictConfig | None = None) -> JobReturn:
    """One Hydra job in this process, as Hydra's launchers run one: its own sweep config (composed here unless
    the launching process composed it), job id and folder."""
    setup_globals()
    Singleton.set_state(singleton_state)
    if sweep_config is None:
        sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    return run_job(hydra_context=hydra_context, config=sweep_config, task_function=task_function,
                   job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")


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


def _held_elsewhere(sweep_config: DictConfig) -> claims.Owner | None:
    """The live owner of the job's run folder when another process holds it, else None."""
    run_dir = Path(str(sweep_config.hydra.sweep.dir)) / str(sweep_config.hydra.sweep.subdir)
    owner = claims.holder(run_dir)
    if owner is None or owner == claims.me() or not claims.alive(owner, run_dir / claims.CLAIM):
        return None
    return owner


def _not_run(overrides: Sequence[str]) -> JobReturn:
    ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
    ret.return_value = None
    return ret


def in_order(
    n_workers: int, count: int, run: Callable[[int, int], Any], stopped: Callable[[], bool],
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
    workers = [Worker(launcher.max_rss_growth, launcher.runs_per_process, threads) for _ in range(n_jobs)]
    for worker in workers:
        worker.start()
    log.info("Launching %d jobs, each in its own process (%d at a time%s)", len(job_overrides), launcher.n_jobs,
             f", {threads} intra-op thread(s) each" if threads else "")
    state = Singleton.get_state()
    loader = launcher.hydra_context.config_loader
    failed: list[BaseException] = []
    with ThreadPoolExecutor(max_workers=1) as composer:  # one: Hydra's config loader is not made for threads
        composed = [composer.submit(loader.load_sweep_config, config, list(o)) for o in job_overrides]

        def run(w: int, i: int) -> JobReturn:
            try:
                sweep_config = composed[i].result()
            except BaseException as exc:
                failed.append(exc)
                raise
            owner = _held_elsewhere(sweep_config)
            if owner is not None:  # Hydra would write its .hydra/ files into the folder of a run another process trains
                log.info("%s is being run by %s: left to it", label(job_overrides[i]), owner.describe())
                return _not_run(job_overrides[i])
            payload = cloudpickle.dumps((initial_job_idx + i, list(job_overrides[i]), launcher.hydra_context, config,
                                         launcher.task_function, state, sweep_config))
            return _run_one(workers[w], payload, job_overrides[i], progress)

        progress = Progress(len(job_overrides), seed=OmegaConf.select(config, "train.seed", default=None))
        try:
            done = in_order(
                n_jobs, len(job_overrides), run, stopped=lambda: bool(failed) or stopping.requested() is not None,
                # each worker's exit (TensorFlow teardown, ~1 s) overlaps the others' last runs and the report
                finished=lambda w: workers[w].close(wait=False),
            )
        finally:
            for future in composed:
                future.cancel()
    log.info("%d job(s) ran in %d worker process(es)", len(done), sum(w.started for w in workers))
    return [done[i] for i in range(len(job_overrides)) if i in done]
