"""harness.storage.atomic: the small files the harness reads back are regular files of bounded size."""

import os
import time

import pytest

from harness.records.record import read_record
from harness.storage.atomic import read_text
from harness.storage.claims import holder


def test_a_regular_file_reads_as_its_text(tmp_path):
    (tmp_path / "a.json").write_text('{"x": 1}')
    assert read_text(tmp_path / "a.json") == '{"x": 1}'


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_what_is_not_a_regular_file_is_refused_at_once(tmp_path, kind):
    """A FIFO would block the reader forever and /dev/zero would fill its memory."""
    path = tmp_path / "record.json"
    {"fifo": lambda: os.mkfifo(path), "device": lambda: path.symlink_to("/dev/zero"), "directory": path.mkdir}[kind]()
    started = time.monotonic()
    with pytest.raises(OSError):
        read_text(path)
    assert time.monotonic() - started < 1


def test_a_file_over_the_limit_is_refused(tmp_path):
    (tmp_path / "big.json").write_bytes(b" " * 101)
    with pytest.raises(OSError, match="larger than 100 bytes"):
        read_text(tmp_path / "big.json", limit=100)


def test_a_record_or_claim_that_is_a_fifo_reads_as_none(tmp_path):
    os.mkfifo(tmp_path / "record.json")
    os.mkfifo(tmp_path / ".claim")
    assert read_record(tmp_path) is None and holder(tmp_path) is None
