"""Analysing a run: every table and picture written, TensorBoard images, PR curves and projector, the CLI."""

from __future__ import annotations

from urllib.parse import quote
from urllib.request import urlopen

import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util

from harness.analyze.__main__ import main
from harness.reports.analysis.runs import after_run
from harness.reports.analysis.tables import KINDS
from harness.reports.tables import load_predictions
from harness.training.run import run
from tests.helpers import FAST, get_json, make_cfg, tensorboard_server


def analysed(image_folder, tmp_path, weights_file):
    """A run trained with analysis=true: (record, run folder)."""
    cfg = make_cfg(
        "dataset=folder",
        f"dataset.path={image_folder}",
        *FAST,
        "model.alpha=0.25",
        f"model.weights={weights_file}",
        "analysis=true",
        f"results_dir={tmp_path / 'results'}",
        f"cache_dir={tmp_path / 'cache'}",
    )
    record = run(cfg, after=after_run)  # what the CLI passes for analysis=true
    return record, tmp_path / "results" / record.name / "baseline"


def test_a_run_with_analysis_writes_every_table_and_picture(image_folder, tmp_path, weights_file):
    record, run_dir = analysed(image_folder, tmp_path, weights_file)
    out = run_dir / "analysis"
    for name in (
        "predictions.parquet",
        "predictions.csv",
        "selections.csv",
        "per_class.csv",
        "confusion_matrix.png",
        "aspect_ratio.csv",
        "aspect_ratio.png",
        "gradcam.png",
        "occlusion.png",
        "explanations.csv",
        *(f"{k}.png" for k in KINDS),
    ):
        assert (out / name).exists(), name
    board = EventAccumulator(str(run_dir / "tb" / "analysis"), size_guidance={"tensors": 0}).Reload()
    images = {t for t in board.Tags()["tensors"] if board.SummaryMetadata(t).plugin_data.plugin_name == "images"}
    assert {"confusion_matrix", "gradcam", "occlusion", "aspect_ratio"} <= images
    explained = pd.read_csv(out / "explanations.csv")
    assert len(explained) == record.analysis["explanations"]["images"] > 0
    shares = explained[["border_share_gradcam", "border_share_occlusion"]]
    assert (shares.isna() | ((shares >= 0) & (shares <= 1))).all().all()  # NaN: a map with nothing in it
    assert set(record.analysis["explanations"]["border_share"]) == {"gradcam", "occlusion"}
    curves = {t for t in board.Tags()["tensors"] if board.SummaryMetadata(t).plugin_data.plugin_name == "pr_curves"}
    assert curves == {"red/pr_curves", "green/pr_curves", "blue/pr_curves"}
    width, height, png = tensor_util.make_ndarray(board.Tensors("gradcam")[0].tensor_proto)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int(width) > 0 and int(height) > 0
    predictions = load_predictions(run_dir)
    assert len(predictions) == record.num_val == 9
    assert set(predictions["true"]) == {"red", "green", "blue"} and (predictions["width"] == 40).all()
    assert record.analysis["images"] == 9 and (run_dir / "model.keras").exists()
    # From the command line, on the experiment: the same per run, plus per-value tables.
    assert main([str(run_dir.parent), "--top", "2"]) == 0
    by_class = pd.read_csv(run_dir.parent / "analysis" / "accuracy_by_class.csv")
    assert set(by_class.columns) >= {"run", "value", "images", "accuracy", "red", "green", "blue"}
    assert main([str(tmp_path / "nowhere")]) == 2


@pytest.mark.slow
def test_tensorboard_serves_the_projector_and_pr_curves_of_an_analysed_run(image_folder, tmp_path, weights_file):
    _, run_dir = analysed(image_folder, tmp_path, weights_file)
    run = "baseline/tb/analysis"

    def ready(url):
        return run in get_json(f"{url}/data/plugin/projector/runs")

    with tensorboard_server(run_dir.parent, ready) as url:
        info = get_json(f"{url}/data/plugin/projector/info?run={quote(run)}")
        (embedding,) = info["embeddings"]
        assert embedding["tensorShape"] == [9, 64] and embedding["sprite"]["singleImageDim"] == [64, 64]
        metadata = urlopen(
            f"{url}/data/plugin/projector/metadata?run={quote(run)}&name={quote(embedding['tensorName'])}"
        ).read()
        assert metadata.decode().splitlines()[0] == "true\tpredicted\tcorrect\tprobability\tid"
        tags = get_json(f"{url}/data/plugin/pr_curves/tags")
        assert set(tags[run]) == {"red/pr_curves", "green/pr_curves", "blue/pr_curves"}


def test_analysing_a_folder_of_records_of_another_shape_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "exp" / "r1").mkdir(parents=True)
    (tmp_path / "exp" / "r1" / "record.json").write_text("[1, 2]")
    assert main([str(tmp_path / "exp")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "no readable */record.json" in err[0]
