"""`python -m harness.export <results path> --format csv|parquet|markdown|json [--out FILE] [--history]`.

Exports `harness.reports.tables.load_table` (one row per run) or, with --history, `load_history` (one row
per run and epoch) for any results directory: one run, one experiment or many.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from harness.errors import ArgumentParser
from harness.reports.tables import CONCISE_COLUMNS, load_history, load_table
from harness.storage.atomic import replacing, write_atomic

FORMATS = ("csv", "parquet", "markdown", "json")


def _arrow_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns mixing numbers and strings (a `value` column across experiments) become strings for Parquet."""
    frame = frame.copy()
    for column in frame.select_dtypes(include="object").columns:
        kinds = {type(v) for v in frame[column].dropna()}
        if len(kinds) > 1:
            frame[column] = frame[column].map(lambda v: None if v is None or v != v else str(v))
    return frame


def concise_columns(table: pd.DataFrame) -> list[str]:
    """What a reader needs: identity, status, accuracies, chance, convergence and timing, then every
    hyperparameter that differs between the runs shown."""
    varying = [
        c
        for c in table.columns
        if "." in c and c not in ("dataset.name", "train.seed") and table[c].astype(str).nunique() > 1
    ]
    return [c for c in CONCISE_COLUMNS if c in table.columns] + varying


def export(frame: pd.DataFrame, fmt: str, out: Path | None) -> str | None:
    """Write `frame` to `out` in `fmt` (atomically); return the text instead when there is no `out`."""
    if fmt == "parquet":
        assert out is not None
        with replacing(out) as tmp:
            _arrow_safe(frame).to_parquet(tmp, index=False)
        return None
    if fmt == "csv":
        text = frame.to_csv(index=False)
    elif fmt == "json":
        text = frame.to_json(orient="records", indent=2)
    else:
        text = frame.to_markdown(index=False, floatfmt=".4f") + "\n"
    if out is None:
        return text
    write_atomic(out, text)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m harness.export", description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a results directory (a run, an experiment, or many)")
    parser.add_argument("--format", choices=FORMATS, default="markdown")
    parser.add_argument("--out", type=Path, help="output file (default: standard output; required for parquet)")
    parser.add_argument("--history", action="store_true", help="one row per run and epoch instead of one per run")
    parser.add_argument(
        "--columns",
        help="comma-separated columns to keep, `concise` or `all` (default: concise for "
        "markdown, all for csv, json and parquet)",
    )
    args = parser.parse_args(argv)
    if not args.path.exists():
        print(f"export: path={str(args.path)!r} does not exist", file=sys.stderr)
        return 2
    if args.format == "parquet" and args.out is None:
        print("export: --format parquet needs --out FILE (it is binary)", file=sys.stderr)
        return 2
    frame = load_history(args.path) if args.history else load_table(args.path)
    if frame.empty:
        print(f"export: {args.path} holds no run (no readable <run>/record.json)", file=sys.stderr)
        return 2
    choice = args.columns or ("concise" if args.format == "markdown" else "all")
    if choice == "concise" and not args.history:
        frame = frame[concise_columns(frame)]
    elif choice not in ("all", "concise"):
        wanted = [c.strip() for c in choice.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in frame.columns]
        if unknown:
            print(
                f"export: --columns {','.join(unknown)} not in the table; known: {', '.join(frame.columns)}",
                file=sys.stderr,
            )
            return 2
        frame = frame[wanted]
    text = export(frame, args.format, args.out)
    if text is not None:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
