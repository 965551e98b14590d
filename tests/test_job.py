"""One job of the command line (harness.job): what every launcher runs, from claiming a run's folder to its
record; end to end it is exercised through the command line (test_main, test_faults, multirun/test_study)."""

from __future__ import annotations

from harness.job import discard_run_dir, searcher
from tests.helpers import write_bare_record


def test_a_run_that_never_started_leaves_no_folder_and_no_empty_parents(tmp_path):
    results = tmp_path / "results"
    run_dir = results / "experiment" / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    discard_run_dir(run_dir, results)
    assert not results.exists()


def test_a_folder_with_a_record_or_a_neighbour_is_kept(tmp_path):
    results = tmp_path / "results"
    done, other = results / "experiment" / "done", results / "experiment" / "never_started"
    write_bare_record(done)
    other.mkdir(parents=True)
    discard_run_dir(done, results)
    discard_run_dir(other, results)
    assert (done / "record.json").exists() and not other.exists()


def test_the_search_a_tuner_algorithm_runs():
    assert searcher("autokeras").__module__ == "harness.multirun.automl"
    assert {searcher(a).__module__ for a in ("random", "bayesian", "hyperband")} == {"harness.multirun.search"}


def test_hydra_runs_the_jobs_task_function():
    """The launchers pickle the task function by reference: a worker imports harness.job, not the entry point."""
    from harness import __main__ as entry
    from harness.job import task

    assert entry.hydra_main.__wrapped__ is task and task.__module__ == "harness.job"
