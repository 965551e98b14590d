"""`python -m harness.report results/<sweep or study>`: write a sweep's or a study's report again from its records
(harness.reports.sweep_report, harness.reports.study_report); a folder with a study.json is a study."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.process.homes import tool_homes
from harness.records.study_spec import SPEC


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    tool_homes(argv)
    folder = next((Path(a) for a in argv if not a.startswith("-")), None)
    if folder is not None and (folder / SPEC).exists():
        from harness.reports.study_report import main as study

        return study(argv)
    from harness.reports.sweep_report import main as sweep

    return sweep(argv)


if __name__ == "__main__":
    sys.exit(main())
