"""Look inside a trained run: predictions, the chapter's three questions, confusion matrix, aspect ratio, Grad-CAM.

    python -m harness.analyze results/<experiment>/<run> [--split val|test]
    python -m harness.analyze results/<experiment>            # every run, plus per-value tables

Writes under each run's `analysis/`: predictions.parquet/.csv, selections.csv and three image grids
(most confident correct, least confident, most confident wrong — per class), confusion_matrix.png,
per_class.csv (precision/recall/F1), aspect_ratio.csv/.png, gradcam.png; images also go to TensorBoard
(`tb/analysis`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from harness.errors import UserError
from harness.records.record import RECORD
from harness.reports.analysis.experiment import experiment_tables
from harness.reports.analysis.runs import analyze_run

log = logging.getLogger("harness.analyze")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.analyze", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="a run directory (with record.json) or an experiment directory")
    parser.add_argument("--split", choices=["val", "test"], default="val")
    parser.add_argument("--top", type=int, default=6, help="images per class in each of the three selections")
    parser.add_argument("--gradcam", type=int, default=4, help="Grad-CAM images per class")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = Path(args.path)
    try:
        if (path / RECORD).exists():
            analyze_run(path, args.split, top=args.top, cams=args.gradcam)
            return 0
        runs = sorted(p.parent for p in path.glob(f"*/{RECORD}"))
        if not runs:
            raise UserError(f"{path} holds no run (no */{RECORD}): give a run or an experiment directory")
        missing = [r.name for r in runs if not (r / "model.keras").exists()]
        for run_dir in runs:
            if run_dir.name not in missing:
                analyze_run(run_dir, args.split, top=args.top, cams=args.gradcam)
        if missing:
            log.warning("not analysed (no model.keras; re-run with analysis=true): %s", ", ".join(missing))
        for name, frame in experiment_tables(path).items():
            print(f"\n{name}:\n{frame.to_markdown(index=False, floatfmt='.3f')}")
        return 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
