"""Export: the results table round-trips through every format, and prints as markdown."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.reports import export
from harness.reports.tables import load_table
from tests.helpers import fake_run


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_round_trips_through_pandas(tmp_path, fmt):
    fake_run(tmp_path / "a", "x", 0.01, 0.5)
    fake_run(tmp_path / "b", "y", "adam", 0.7)  # a string value next to a number: mixed column across experiments
    out = tmp_path / f"table.{fmt}"
    assert export.main([str(tmp_path), "--format", fmt, "--out", str(out)]) == 0
    back = {"csv": pd.read_csv, "json": lambda p: pd.read_json(p, orient="records"), "parquet": pd.read_parquet}[fmt](
        out
    )
    table = load_table(tmp_path)
    assert back.shape == table.shape and list(back.columns) == list(table.columns)
    assert back["normalized_accuracy"].tolist() == table["normalized_accuracy"].tolist()
    assert back["run"].tolist() == ["x", "y"]


def test_export_markdown_prints_the_table(tmp_path, capsys):
    fake_run(tmp_path / "a", "x", 0.01, 0.5)
    assert export.main([str(tmp_path), "--format", "markdown", "--columns", "run,status,normalized_accuracy"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [c.strip() for c in lines[0].split("|")[1:4]] == ["run", "status", "normalized_accuracy"]
    assert [c.strip() for c in lines[2].split("|")[1:4]] == ["x", "completed", "1.0000"]


def test_markdown_is_concise_by_default_and_whole_with_columns_all(tmp_path, capsys):
    fake_run(tmp_path / "a", "x", 0.01, 0.5)
    fake_run(tmp_path / "a", "y", 0.1, 0.7)
    assert export.main([str(tmp_path), "--format", "markdown"]) == 0
    header = [c.strip() for c in capsys.readouterr().out.splitlines()[0].split("|")[1:-1]]
    assert header[:3] == ["name", "run", "value"] and "train.learning_rate" in header  # it differs
    assert "model.unfreeze" not in header and "config_hash" not in header and len(header) < 20
    assert export.main([str(tmp_path), "--format", "markdown", "--columns", "all"]) == 0
    assert "config_hash" in capsys.readouterr().out.splitlines()[0]


def test_a_folder_without_runs_is_refused_in_one_line(tmp_path, capsys):
    assert export.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no run" in err


def test_a_bad_argument_is_one_line_naming_it_and_what_is_allowed(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        export.main([str(tmp_path), "--format", "xlsx"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert "--format: invalid choice: 'xlsx' (choose from" in err and err.startswith("python -m harness.export")
