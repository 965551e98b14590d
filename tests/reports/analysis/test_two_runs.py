"""Two runs image by image: the agreement table, McNemar's exact test, the disagreement grid, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from harness.errors import UserError
from harness.reports.analysis.two_runs import agreement_table, disagreements, mcnemar, paired


def _predictions(correct: list[bool], ids=None) -> pd.DataFrame:
    n = len(correct)
    return pd.DataFrame(
        {
            "id": ids if ids is not None else [f"img{i}" for i in range(n)],
            "true": ["cat"] * n,
            "predicted": ["cat" if c else "dog" for c in correct],
            "probability": np.linspace(0.5, 0.9, n),
            "correct": correct,
        }
    )


def test_mcnemar_counts_disagreements_and_gives_the_exact_binomial_p_value():
    a = _predictions([True] * 10 + [True] * 6 + [False] * 0 + [False] * 4)
    b = _predictions([True] * 10 + [False] * 6 + [False] * 4)
    test = mcnemar(paired(a, b))
    assert (test.both_right, test.only_a_right, test.only_b_right, test.both_wrong) == (10, 6, 0, 4)
    assert test.p_value == pytest.approx(2 / 2**6) and test.differ  # 6 of 6 disagreements one way
    assert (test.accuracy_a, test.accuracy_b) == (0.8, 0.5)
    table = agreement_table(test, "lr=0.1", "lr=0.001")
    assert table.loc["lr=0.1 right", "lr=0.001 wrong"] == 6 and table.to_numpy().sum() == 20


def test_an_even_split_of_disagreements_or_none_is_no_difference():
    a = _predictions([True, False, True, False, True])
    b = _predictions([False, True, True, False, True])
    assert mcnemar(paired(a, b)).p_value == 1.0
    same = _predictions([True, False])
    assert mcnemar(paired(same, same)).p_value == 1.0


def test_runs_of_other_images_are_not_compared():
    with pytest.raises(UserError, match="different images"):
        paired(_predictions([True, True]), _predictions([True, True], ids=["x", "y"]))


def test_runs_of_other_data_are_refused_before_either_is_analysed(tmp_path):
    from harness.reports.analysis.runs import compare_runs
    from tests.helpers import write_bare_record

    write_bare_record(tmp_path / "e" / "a", config={"dataset": {"name": "flowers"}}, class_names=["daisy", "rose"])
    write_bare_record(tmp_path / "e" / "b", config={"dataset": {"name": "pets"}}, class_names=["cat", "dog"])
    with pytest.raises(UserError, match="different data .flowers: daisy, rose and pets: cat, dog."):
        compare_runs(tmp_path / "e" / "a", tmp_path / "e" / "b")
    assert sorted(p.name for p in (tmp_path / "e").rglob("*")) == ["a", "b", "record.json", "record.json"]


def test_disagreements_list_only_images_one_run_alone_gets_right():
    a, b = _predictions([True, True, False, False]), _predictions([True, False, True, False])
    rows = disagreements(paired(a, b))
    assert list(rows["id"]) == ["img1", "img2"] and list(rows["winner"]) == ["a", "b"]


@pytest.mark.slow
def test_compare_writes_the_grid_and_test_for_two_runs_from_the_command_line(image_folder, tmp_path, weights_file):
    from harness.analyze.__main__ import main
    from harness.reports.analysis.runs import after_run
    from harness.training.run import run
    from tests.helpers import FAST, make_cfg

    common = [
        "dataset=folder",
        f"dataset.path={image_folder}",
        *FAST,
        "model.alpha=0.25",
        f"model.weights={weights_file}",
        f"results_dir={tmp_path / 'results'}",
        f"cache_dir={tmp_path / 'cache'}",
    ]
    analysed = run(make_cfg(*common, "analysis=true", "run_name=seed_a"), after=after_run)
    run(make_cfg(*common, "train.save_model=true", "run_name=seed_b", "train.seed=7"))  # analysed by compare
    exp = tmp_path / "results" / analysed.name
    assert main(["compare", str(exp / "seed_a"), str(exp / "seed_b")]) == 0
    out = exp / "compare" / "seed_a_vs_seed_b"
    result = json.loads((out / "mcnemar.json").read_text())
    assert result["images"] == 9 and 0 <= result["p_value"] <= 1
    assert result["both_right"] + result["only_a_right"] + result["only_b_right"] + result["both_wrong"] == 9
    assert (out / "disagreements.png").read_bytes()[:4] == b"\x89PNG"
    assert pd.read_csv(out / "agreement.csv", index_col=0).to_numpy().sum() == 9
    assert (exp / "seed_b" / "analysis" / "predictions.parquet").exists()
    assert main(["compare", str(exp / "seed_a"), str(exp / "seed_a")]) == 2
    assert main(["compare", str(exp / "seed_a"), str(tmp_path)]) == 2
