"""Run claims: one process trains a run; a claim whose owner is gone (dead here, silent elsewhere) is taken over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, replace

import pytest

from harness.storage import claims


@pytest.fixture
def other_process():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def _write_claim(run_dir, owner: claims.Owner) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / claims.CLAIM).write_text(json.dumps(asdict(owner)))


def test_a_free_run_is_claimed_and_released(tmp_path):
    run_dir = tmp_path / "run"
    assert claims.claim(run_dir) is None and claims.holder(run_dir) == claims.me()
    assert claims.claim(run_dir) is None  # already ours
    claims.release(run_dir)
    assert claims.holder(run_dir) is None and not (run_dir / claims.CLAIM).exists()


def test_a_live_owner_keeps_its_claim(tmp_path, other_process):
    owner = claims.Owner(other_process.pid, claims.me().host, claims._process_start(other_process.pid))
    _write_claim(tmp_path, owner)
    assert claims.claim(tmp_path) == owner
    claims.release(tmp_path)  # not ours to release
    assert claims.holder(tmp_path) == owner
    assert claims.held_by_others([tmp_path]) == {tmp_path: owner}


def test_a_run_claimed_by_the_parent_process_is_the_child_s_and_still_the_parent_s_to_release(tmp_path):
    """A launcher claims a run before its worker starts; the worker's job takes it as its own, a process the
    launcher did not start does not, and the worker's release leaves the launcher's claim in place."""
    run_dir = tmp_path / "run"
    assert claims.claim(run_dir) is None
    child = (
        "import sys; from harness.storage import claims; "
        "owner = claims.claim(sys.argv[1]); claims.release(sys.argv[1]); print(owner)"
    )
    said = subprocess.run([sys.executable, "-c", child, str(run_dir)], capture_output=True, text=True, check=True)
    assert said.stdout.strip() == "None" and claims.holder(run_dir) == claims.me()
    grandchild = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}, sys.argv[1]])"
    said = subprocess.run([sys.executable, "-c", grandchild, str(run_dir)], capture_output=True, text=True, check=True)
    assert said.stdout.strip() == repr(claims.me()), "only the process that started it"
    claims.release(run_dir)
    assert claims.holder(run_dir) is None


def test_a_dead_owners_claim_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _write_claim(tmp_path, claims.Owner(dead.pid, claims.me().host, "1"))
    assert claims.claim(tmp_path) is None and claims.holder(tmp_path) == claims.me()
    assert not list(tmp_path.glob("*.stale"))


@pytest.mark.skipif(sys.platform != "linux", reason="process start times come from /proc")
def test_a_reused_pid_does_not_keep_a_dead_owners_claim(tmp_path, other_process):
    earlier = claims.Owner(other_process.pid, claims.me().host, "1")  # same pid, another process's start time
    _write_claim(tmp_path, earlier)
    assert claims.claim(tmp_path) is None


def test_an_owner_on_another_host_is_trusted_while_its_claim_is_fresh(tmp_path):
    remote = replace(claims.me(), host="another-node", pid=os.getpid() + 1)
    _write_claim(tmp_path, remote)
    assert claims.claim(tmp_path) == remote and claims.alive(remote, tmp_path / claims.CLAIM)
    assert claims.held_by_others([tmp_path]) == {tmp_path: remote}


def test_an_owner_on_another_host_that_stopped_its_heartbeat_is_taken_over(tmp_path):
    remote = replace(claims.me(), host="another-node", pid=os.getpid() + 1)
    _write_claim(tmp_path, remote)
    past = time.time() - claims.STALE_S - 1
    os.utime(tmp_path / claims.CLAIM, (past, past))
    assert claims.held_by_others([tmp_path]) == {}
    assert claims.claim(tmp_path) is None and claims.holder(tmp_path) == claims.me()


def test_a_heartbeat_keeps_the_claim_file_fresh_until_it_ends(tmp_path):
    assert claims.claim(tmp_path) is None
    path = tmp_path / claims.CLAIM
    past = time.time() - 1000
    os.utime(path, (past, past))
    with claims.heartbeat(path, every=0.05):
        time.sleep(0.3)
        assert time.time() - path.stat().st_mtime < 1
        os.utime(path, (past, past))
    time.sleep(0.2)
    assert path.stat().st_mtime == past, "no touch after the heartbeat ended"


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"pid": "x"}'])
def test_an_empty_or_unreadable_claim_has_no_owner_and_is_taken_over_once_it_is_seconds_old(tmp_path, content):
    (tmp_path / claims.CLAIM).write_bytes(content)  # an owner killed between creating and writing it
    old = time.time() - claims.UNREADABLE_S - 1
    os.utime(tmp_path / claims.CLAIM, (old, old))
    assert claims.claim(tmp_path) is None and claims.holder(tmp_path) == claims.me()


def test_a_claim_being_written_right_now_is_waited_for_not_taken(tmp_path, monkeypatch):
    monkeypatch.setattr(claims, "UNREADABLE_S", 0.3)
    (tmp_path / claims.CLAIM).write_bytes(b"")
    started = time.monotonic()
    assert claims.claim(tmp_path) is None  # nobody wrote it within the grace period: ours, but not before it passed
    assert time.monotonic() - started >= 0.25


def test_a_folder_where_the_claim_belongs_is_removed_and_the_claim_taken(tmp_path):
    (tmp_path / claims.CLAIM).mkdir()
    (tmp_path / claims.CLAIM / "x").write_text("")
    old = time.time() - claims.UNREADABLE_S - 1
    os.utime(tmp_path / claims.CLAIM, (old, old))
    assert claims.claim(tmp_path) is None and claims.holder(tmp_path) == claims.me()
