"""The study report counts every run the study planned: a stopped study says how many runs are missing
and warns that its verdicts rest on the runs that finished; a finished one says all completed."""

from __future__ import annotations

import json

from harness.records.planned import write_planned
from harness.reports import study_report
from tests.helpers import fake_run

SPEC = {
    "name": "mini",
    "seeds": 1,
    "findings": [],
    "experiments": {
        "learning_rate": {"knob": "train.learning_rate", "values": [0.1, 0.01], "baseline": 0.01},
        "optimizer": {"knob": "train.optimizer", "values": ["adam", "sgd"], "baseline": "adam"},
    },
}
PLANNED = [
    "learning_rate/learning_rate=0.1",
    "learning_rate/learning_rate=0.01",
    "optimizer/optimizer=adam",
    "optimizer/optimizer=sgd",
]


def _study(tmp_path):
    study = tmp_path / "mini"
    study.mkdir()
    (study / "study.json").write_text(json.dumps(SPEC))
    write_planned(study, PLANNED)
    return study


def test_a_stopped_study_counts_the_runs_it_never_started_and_says_it_is_not_finished(tmp_path):
    study = _study(tmp_path)
    fake_run(study / "learning_rate", "learning_rate=0.01", 0.01, 0.8)
    fake_run(study / "learning_rate", "learning_rate=0.1", 0.1, 0.5, status="interrupted")
    assert study_report.main([str(study)]) == 1
    markdown = (study / "report.md").read_text()
    assert "4 runs, 1 completed, 1 did not complete, 2 not started" in markdown
    assert "**Not finished**: 3 of 4 runs were stopped or not started" in markdown
    assert "<strong>Not finished</strong>: 3 of 4 runs" in (study / "report.html").read_text()


def test_a_finished_study_says_all_completed_and_warns_of_nothing(tmp_path):
    study = _study(tmp_path)
    for value, best in ((0.1, 0.5), (0.01, 0.8)):
        fake_run(study / "learning_rate", f"learning_rate={value}", value, best)
    write_planned(study, PLANNED[:2])
    assert study_report.main([str(study)]) == 0
    markdown = (study / "report.md").read_text()
    assert "2 runs, all completed" in markdown and "Not finished" not in markdown


def test_a_diverged_run_did_not_complete_but_leaves_the_study_finished(tmp_path):
    study = _study(tmp_path)
    fake_run(study / "learning_rate", "learning_rate=0.1", 0.1, 0.1, status="diverged")
    fake_run(study / "learning_rate", "learning_rate=0.01", 0.01, 0.8)
    write_planned(study, PLANNED[:2])
    assert study_report.main([str(study)]) == 1  # as a sweep's report: a diverged run is not a completed one
    markdown = (study / "report.md").read_text()
    assert "2 runs, 1 completed, 1 did not complete" in markdown and "Not finished" not in markdown


def _trained_on(study, run: str, threads: int) -> None:
    path = study / "learning_rate" / run / "record.json"
    record = json.loads(path.read_text())
    record.update(
        started_at="2026-11-25T06:00:00+00:00",
        finished_at="2026-11-25T06:02:00+00:00",
        host={
            "hostname": "box",
            "cpus": 2,
            "cpu": "AMD EPYC (family 25, model 17), avx512",
            "intra_op_threads": threads,
        },
        versions={"tensorflow": "2.21.0", "keras": "3.15.1", "tl-harness": "0.2.0"},
        git={"commit": "0123456789ab" if threads else None, "dirty": False if threads else None},
    )
    path.write_text(json.dumps(record))


def test_the_report_names_the_host_its_cpu_and_a_thread_count_other_than_tensorflows_default(tmp_path):
    # The thread count changes training's numbers, as another machine's core count or CPU model does.
    study = _study(tmp_path)
    for value, best, threads in ((0.1, 0.5, 1), (0.01, 0.8, 0)):
        fake_run(study / "learning_rate", f"learning_rate={value}", value, best)
        _trained_on(study, f"learning_rate={value}", threads)
    write_planned(study, PLANNED[:2])
    study_report.main([str(study)])
    markdown = (study / "report.md").read_text()
    # An installed wheel knows no commit: the report names the version and leaves the commit out, never "None".
    assert (
        "on box (2 CPUs: AMD EPYC (family 25, model 17), avx512), tl-harness 0.2.0, TensorFlow 2.21.0, Keras 3.15.1; "
        "box (2 CPUs: AMD EPYC (family 25, model 17), avx512, 1 intra-op thread(s) per run), tl-harness 0.2.0 (commit 01234567), "
        "TensorFlow 2.21.0"
    ) in markdown and "None" not in markdown.split("## ")[0]


def test_a_study_with_fewer_than_three_seeds_opens_with_its_warning_and_a_forest_plot(tmp_path, capsys):
    study = _study(tmp_path)
    spec = {**SPEC, "seeds": 2}
    (study / "study.json").write_text(json.dumps(spec))
    for seed in (42, 43):
        for value, best in ((0.1, 0.5), (0.01, 0.8)):
            fake_run(
                study / "learning_rate", f"learning_rate={value},seed={seed}", value, best + (seed - 42) / 20, seed=seed
            )
    write_planned(study, [f"learning_rate/learning_rate={v},seed={s}" for v in (0.1, 0.01) for s in (42, 43)])
    study_report.main([str(study)])
    markdown = (study / "report.md").read_text()
    header = markdown.split("## ")[0]
    assert "**Too few seeds for verdicts**: 2 seeds give intervals with 1 degree(s) of freedom (t = 12.7)" in header
    assert "![every knob against the baseline](effects.png)" in header and (study / "effects.png").exists()
    assert "warning: Too few seeds for verdicts" in capsys.readouterr().out
    import pandas as pd

    assert pd.read_csv(study / "ranking.csv")["verdict"].tolist() == [
        "inconclusive (2 seeds: too few for a verdict)",
        "no runs to compare",
    ]


def test_an_experiment_whose_values_cost_different_amounts_shows_accuracy_against_cost(tmp_path):
    from harness.records.record import Cost

    study = _study(tmp_path)
    for value, best, macs, ms in ((0.1, 0.5, 1_000_000, 1.0), (0.01, 0.8, 4_000_000, 3.0)):  # as image sizes would
        cost = Cost(10, 10, macs, 1.0, [32, 32], ms, ms, 100.0)
        fake_run(study / "learning_rate", f"learning_rate={value}", value, best, cost=cost)
    fake_run(study / "optimizer", "optimizer=adam", 0.01, 0.8, cost=Cost(10, 10, 4_000_000, 1.0, [32, 32], 3.0))
    write_planned(study, PLANNED[:3])
    study_report.main([str(study)])
    markdown = (study / "report.md").read_text()
    assert "**Accuracy and cost**: most accurate within no budget: 0.01" in markdown
    assert "learning_rate/accuracy_cost.png" in markdown and "optimizer/accuracy_cost.png" not in markdown
    assert "<strong>Accuracy and cost</strong>" in (study / "report.html").read_text()


def _imbalanced_runs(study, metric: str | None):
    from harness.records.record import DatasetReport

    imbalanced = DatasetReport(images={"train": {"a": 90, "b": 10}}, imbalance=9.0)
    for value, best, balanced in ((0.1, 0.5, 0.55), (0.01, 0.8, 0.6)):
        config = {"dataset": {"name": "d"}, "train": {"learning_rate": value, "seed": 42}}
        if metric:
            config["report"] = {"metric": metric}
        fake_run(
            study / "learning_rate",
            f"learning_rate={value}",
            value,
            best,
            config=config,
            dataset=imbalanced,
            num_test=10,
            test_accuracy=best,
            test_balanced_accuracy=balanced,
            val_balanced_accuracy=balanced,
        )
    write_planned(study, PLANNED[:2])


def test_a_study_on_imbalanced_classes_says_its_verdicts_use_accuracy_and_what_would_not(tmp_path):
    study = _study(tmp_path)
    _imbalanced_runs(study, None)
    study_report.main([str(study)])
    assert study_report.study_tables(study)["metric"] == "test_accuracy"
    assert "imbalanced (largest to smallest 9.0): accuracy, which the verdicts use" in (study / "report.md").read_text()


def test_report_metric_balanced_accuracy_makes_the_verdicts_compare_the_mean_per_class_recall(tmp_path):
    study = _study(tmp_path)
    _imbalanced_runs(study, "balanced_accuracy")
    study_report.main([str(study)])
    tables = study_report.study_tables(study)
    assert tables["metric"] == "test_balanced_accuracy"
    assert tables["values"] is not None and tables["runs"]["normalized_test_accuracy"].max() == 1.0
    assert sorted(tables["runs"]["normalized_test_accuracy"].round(4)) == [round(0.55 / 0.6, 4), 1.0]
    markdown = (study / "report.md").read_text()
    assert "Verdicts use **balanced accuracy**" in markdown and "test balanced accuracy" in markdown
