"""The runs a multirun command planned for its folder, so that a report can tell a finished sweep or study
from one that was stopped before some of its runs started (they have no record to count).

The sweeper writes planned.json when it starts; the reports read it. Paths are relative to the folder
(`learning_rate=0.01` in a sweep, `learning_rate/learning_rate=0.01,seed=42` in a study). The latest
command's plan replaces an earlier one: what an earlier command ran still shows through its records.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.storage.atomic import read_text, write_atomic

PLANNED = "planned.json"


def write_planned(folder: Path, runs: list[str]) -> None:
    write_atomic(Path(folder) / PLANNED, json.dumps({"runs": runs}, indent=1))


def planned_runs(folder: Path) -> list[str] | None:
    """The run paths the last command planned here, or None where no command left a plan (an older folder)."""
    try:
        runs = json.loads(read_text(Path(folder) / PLANNED))["runs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(runs, list) or not all(_inside(r) for r in runs):
        return None  # not a plan this harness wrote: no run is counted as missing from it
    return list(runs)


def _inside(run: object) -> bool:
    """A run path inside the folder: relative, no `..`, at most experiment/run."""
    if not isinstance(run, str) or not run:
        return False
    parts = Path(run).parts
    return not Path(run).is_absolute() and ".." not in parts and len(parts) <= 2


def not_started(planned: list[str] | None, recorded: set[str]) -> list[str]:
    """The planned runs that have no record yet, in the planned order."""
    return [r for r in planned or [] if r not in recorded]
