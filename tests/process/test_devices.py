"""Which GPU each worker gets, tested on a CPU: the environment each worker starts with, that a worker process
really starts with it, and that a run's record says what it was given."""

from __future__ import annotations

import os

import pytest

from harness.process import devices


def test_gpus_are_counted_from_the_driver_within_what_cuda_visible_devices_allows(tmp_path):
    driver = tmp_path / "gpus"
    for bus in ("0000:01:00.0", "0000:02:00.0"):
        (driver / bus).mkdir(parents=True)
    assert devices.visible_gpus({}, driver) == ["0", "1"]
    assert devices.visible_gpus({"CUDA_VISIBLE_DEVICES": "3,5"}, driver) == ["3", "5"]
    assert devices.visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}, driver) == []
    assert devices.visible_gpus({}, tmp_path / "no-driver") == []


@pytest.mark.parametrize(
    "workers, gpus, memory, expected",
    [
        (2, [], None, [{}, {}]),  # a CPU machine: nothing changes
        (2, ["0", "1"], None, [{"CUDA_VISIBLE_DEVICES": "0"}, {"CUDA_VISIBLE_DEVICES": "1"}]),  # one GPU each
        (2, ["0"], None, [{"CUDA_VISIBLE_DEVICES": "0", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}] * 2),  # sharing one
        (3, ["0", "1"], 4000, [{"CUDA_VISIBLE_DEVICES": g, "HARNESS_GPU_MEMORY_MB": "4000"} for g in "010"]),
    ],
)
def test_each_worker_gets_its_gpu_and_workers_sharing_one_share_its_memory(workers, gpus, memory, expected):
    assert [devices.worker_env(w, workers, gpus, memory) for w in range(workers)] == expected


def _environment() -> dict:
    return {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "TF_FORCE_GPU_ALLOW_GROWTH")}


def test_a_worker_process_starts_with_its_environment_before_tensorflow():
    from harness.process.workers import Worker

    worker = Worker(env={"CUDA_VISIBLE_DEVICES": "", "TF_FORCE_GPU_ALLOW_GROWTH": "true"})
    try:
        assert worker.call(_environment) == {"CUDA_VISIBLE_DEVICES": "", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
    finally:
        worker.close()


def test_a_runs_host_says_which_gpu_it_was_given_and_how_its_memory_is_shared(monkeypatch):
    from harness.records import provenance

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setenv(devices.MEMORY_MB, "4000")
    host = provenance.host()
    assert host["cuda_visible_devices"] == "1" and host["gpu_memory"] == "at most 4000 MB"
    monkeypatch.delenv(devices.MEMORY_MB)
    monkeypatch.setenv("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    assert provenance.host()["gpu_memory"] == "grows as needed"


def test_ray_tasks_sharing_a_gpu_grow_their_memory_and_whole_gpus_are_left_to_ray():
    from hydra_plugins.harness_ray_launcher._core import shared_gpu

    assert shared_gpu({"num_cpus": 1}) == {"num_cpus": 1}
    assert shared_gpu({"num_gpus": 1}) == {"num_gpus": 1}  # Ray sets the task's CUDA_VISIBLE_DEVICES itself
    half = shared_gpu({"num_gpus": 0.5, "runtime_env": {"env_vars": {"A": "b"}}})
    assert half["runtime_env"]["env_vars"] == {"A": "b", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
