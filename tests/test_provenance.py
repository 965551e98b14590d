"""What a record says produced it: versions, git state, host, and the scheduler job that ran it."""

from __future__ import annotations

from harness import provenance


def test_a_slurm_array_task_is_named_as_scancel_and_sacct_take_it():
    # SLURM gives one task of an array the array's own raw id: `scancel 17` there would cancel every task.
    task = {"SLURM_JOB_ID": "17", "SLURM_ARRAY_JOB_ID": "17", "SLURM_ARRAY_TASK_ID": "1"}
    assert provenance.slurm_job_id(task) == "17_1"
    assert provenance.slurm_job_id({"SLURM_JOB_ID": "42"}) == "42"


def test_the_host_names_the_slurm_job_only_inside_one(monkeypatch):
    for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    assert "slurm_job_id" not in provenance.host()
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    assert provenance.host()["slurm_job_id"] == "42"


def test_the_host_says_how_many_threads_tensorflow_trains_with():
    import tensorflow as tf

    assert provenance.host()["intra_op_threads"] == tf.config.threading.get_intra_op_parallelism_threads()
