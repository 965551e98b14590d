"""study.json: a study as it was run (its experiments with their values and the baseline's value, its findings),
written by harness.multirun.study when the study starts and read by its report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.storage.atomic import read_text

SPEC = "study.json"


def read_spec(study_dir: Path) -> dict[str, Any] | None:
    """The study's spec, or None where the folder holds none (or one of another shape): not a study folder."""
    try:
        spec = json.loads(read_text(Path(study_dir) / SPEC))
    except (OSError, ValueError):
        return None
    return spec if isinstance(spec, dict) and isinstance(spec.get("experiments"), dict) else None
