"""The end-of-sweep report: tables, plot and TensorBoard views, replaced (never duplicated) when re-run."""

from __future__ import annotations

import pandas as pd

from harness import report
from tests.helpers import fake_run, tb_tags


def test_report_writes_tables_plot_and_tensorboard_views(tmp_path):
    exp = tmp_path / "exp"
    fake_run(exp, "lr=0.01", 0.01, 0.8)
    fake_run(exp, "lr=0.1", 0.1, 0.3, status="diverged")
    assert report.main([str(exp)]) == 1  # one run did not complete
    assert pd.read_csv(exp / "summary.csv").shape[0] == 2
    assert "| lr=0.1 " in (exp / "summary.md").read_text()
    assert (exp / "normalized_accuracy.png").stat().st_size > 10_000
    assert {"normalized_val_accuracy", "normalized_accuracy"} <= tb_tags(exp / "lr=0.01" / "tb")["normalized"]
    assert "_hparams_/experiment" in tb_tags(exp / "hparams")["."]
    report.write_report(exp)  # a second report replaces the TensorBoard views instead of adding to them
    assert len(list((exp / "lr=0.01" / "tb" / "normalized").iterdir())) == 1
