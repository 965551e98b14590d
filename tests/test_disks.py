"""Full disks and bad places to write: a cache or results disk that fills during a run is a recorded, explained
failure with no temporary file left behind; a cached array changed behind the harness's back is rebuilt."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from harness.reports.sweep_report import write_report
from harness.storage import cache
from harness.training.run import run
from tests.helpers import FAST, fake_run, make_cfg


@pytest.fixture
def tiny_disk(tmp_path):
    """A filesystem of a few hundred KB (tmpfs), made full on demand; skipped where mounting is not allowed."""
    made = []

    def mount(size_kb: int) -> Path:
        point = tmp_path / f"disk{len(made)}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(point)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'mount failed'})")
        made.append(point)
        return point

    yield mount
    for point in made:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _fill_up(disk: Path) -> None:
    """Write a file until the disk refuses another byte."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temporaries(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob(".*") if ".tmp" in p.name)


def test_a_cache_disk_too_small_for_an_entry_fails_the_run_with_one_line_and_leaves_nothing(tiny_disk, results_dir):
    disk = tiny_disk(512)  # the digits at 48 px are about 10 MB of images
    cfg = make_cfg(
        "experiment=quickstart",
        f"results_dir={results_dir}",
        f"cache_dir={disk}",
        "train.epochs=1",
        "train.steps_per_epoch=1",
        "train.verbose=0",
    )
    record = run(cfg)
    assert (
        record.status == "failed"
        and record.error.startswith(f"no space left on {disk}")
        and "train.cache=off" in record.error
    )
    assert _temporaries(disk) == [] and not list(disk.rglob("*.npy"))


def test_a_results_disk_that_fills_while_the_model_is_saved_records_the_run_failed(tiny_disk):
    disk = tiny_disk(600)  # a record and TensorBoard's events fit; the saved model (about 1 MB) does not
    cfg = make_cfg("experiment=quickstart", f"results_dir={disk}", *FAST, "train.save_model=true", "train.cache=off")
    record = run(cfg)
    run_dir = disk / cfg.name / cfg.run_name
    assert record.status == "failed" and record.error.startswith(f"no space left on {disk}")
    assert not (run_dir / "model.keras").exists() and _temporaries(disk) == []


def test_a_full_results_disk_still_gets_the_sweeps_outcome_in_one_line(tiny_disk, capsys):
    disk = tiny_disk(64)
    exp = disk / "exp"
    fake_run(exp, "learning_rate=0.1", 0.1, 0.5)
    fake_run(exp, "learning_rate=0.01", 0.01, 0.8)
    _fill_up(disk)
    outcome = write_report(exp)
    out = capsys.readouterr().out
    assert outcome["completed"] == 2 and "sweep exp: 2 runs, all completed" in out
    assert f"report not written: no space left on {disk}" in out and _temporaries(disk) == []


def test_a_cached_array_changed_after_it_was_written_is_rebuilt(tmp_path, caplog):
    path = tmp_path / "entry.npy"
    built, _ = cache.array_entry(path, (4, 3), "float32", lambda out: out.__setitem__(slice(None), 1.0))
    assert built.sum() == 12
    zeroed = np.lib.format.open_memmap(path, mode="r+")
    zeroed[:] = 0  # the same shape and type, other bytes: what a disk or another program can leave
    zeroed.flush()
    del zeroed
    with caplog.at_level("WARNING"):
        again, rebuilt = cache.array_entry(path, (4, 3), "float32", lambda out: out.__setitem__(slice(None), 1.0))
    assert rebuilt and again.sum() == 12 and "fails its checksum" in caplog.text
