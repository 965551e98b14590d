"""Look inside a trained run: predictions, the chapter's three questions, confusion matrix, aspect ratio, Grad-CAM.

    python -m harness.analyze results/<experiment>/<run> [--split val|test]
    python -m harness.analyze results/<experiment>            # every run, plus per-value tables
    python -m harness.analyze compare RUN_A RUN_B [--split val|test] [--out DIR]

Writes under each run's `analysis/`: predictions.parquet/.csv, selections.csv and three image grids
(most confident correct, least confident, most confident wrong — per class), confusion_matrix.png,
per_class.csv (precision/recall/F1), aspect_ratio.csv/.png, gradcam.png; images also go to TensorBoard
(`tb/analysis`) with a precision-recall curve per class and the embedding projector (penultimate-layer vectors,
thumbnails, true and predicted class).

`compare` sets two runs side by side image by image (analysing either where it has not predicted that split):
agreement.csv (the 2 x 2 table), disagreements.csv and disagreements.png (the images one run alone gets right,
both predictions under each) and mcnemar.json (the exact McNemar test: do they differ beyond chance?).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from harness.errors import ArgumentParser, UserError
from harness.process.homes import tool_homes
from harness.records.record import RECORD, is_record_file
from harness.reports.analysis.experiment import experiment_tables
from harness.reports.analysis.runs import analyze_run, compare_runs
from harness.reports.analysis.two_runs import agreement_table

log = logging.getLogger("harness.analyze")


def compare(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="python -m harness.analyze compare", description="two runs, image by image, and McNemar's exact test"
    )
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--split", choices=["val", "test"], default="val")
    parser.add_argument("--out", type=Path, help="default: <run A's experiment>/compare/<A>_vs_<B>")
    args = parser.parse_args(argv)
    out, test = compare_runs(args.run_a, args.run_b, args.split, args.out)
    print(agreement_table(test, "A", "B").to_markdown())
    verdict = "they differ beyond chance" if test.differ else "no clear difference"
    print(
        f"A {args.run_a.name}: {test.accuracy_a:.4f}, B {args.run_b.name}: {test.accuracy_b:.4f} on {test.images} "
        f"{args.split} images; McNemar exact p = {test.p_value:.3g} ({test.only_a_right} vs {test.only_b_right} "
        f"disagreements): {verdict}\n-> {out}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    tool_homes(argv)
    if argv[:1] == ["compare"]:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        try:
            return compare(argv[1:])
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    parser = ArgumentParser(prog="python -m harness.analyze", description=__doc__.split("\n\n")[0])
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
        runs = sorted(p.parent for p in path.glob(f"*/{RECORD}") if is_record_file(p))
        if not runs:
            raise UserError(f"{path} holds no run (no readable */{RECORD}): give a run or an experiment directory")
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
