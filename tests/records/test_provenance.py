"""What a record says produced it: versions, git state, host, and the scheduler job that ran it."""

from __future__ import annotations

from harness.records import provenance


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


EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx fma avx2 avx512f avx512_bf16
processor\t: 1
model name\t: another core
"""
GRAVITON = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes crc32
CPU implementer\t: 0x41
"""


def test_the_cpu_is_named_with_its_widest_vector_instructions():
    # TensorFlow's CPU kernels choose their code by these: the same seed gives other numbers on another CPU model.
    assert provenance.cpu_name(EPYC, "x86_64") == "AMD EPYC (family 25, model 17), avx512"
    assert (
        provenance.cpu_name(EPYC.replace(" avx512f avx512_bf16", ""), "x86_64")
        == "AMD EPYC (family 25, model 17), avx2"
    )
    assert provenance.cpu_name(GRAVITON, "aarch64") == "aarch64, neon"
    assert provenance.cpu_name("", "arm64") == "arm64"


def test_the_host_a_record_keeps_names_its_cpu():
    assert provenance.host()["cpu"] == provenance.cpu() and provenance.cpu()
