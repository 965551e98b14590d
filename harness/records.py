"""Result records: one JSON file per run, written atomically so a crash never leaves half a record."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

RECORD = "record.json"
STATUSES = ("running", "completed", "diverged", "failed")


def _clean(value: Any) -> Any:
    """JSON has no NaN/Infinity: store them as null so every reader (pandas, jq, JS) can parse the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _clean(value.item())
    return value


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_record(run_dir: Path, record: dict) -> Path:
    path = Path(run_dir) / RECORD
    write_atomic(path, json.dumps(_clean(record), indent=2, sort_keys=False))
    return path


def read_record(run_dir: Path) -> dict | None:
    """The run's record, or None when there is none or it is unreadable (treated as never finished)."""
    try:
        return json.loads((Path(run_dir) / RECORD).read_text())
    except (OSError, ValueError):
        return None
