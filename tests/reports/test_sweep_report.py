"""The end-of-sweep report: tables, plot and TensorBoard views, replaced (never duplicated) when re-run."""

from __future__ import annotations

import pandas as pd

from harness.reports import sweep_report as report
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
    assert "_hparams_/experiment" in tb_tags(tmp_path / "_hparams")["."]  # one for the whole results folder
    assert not (exp / "hparams").exists()
    markdown = (exp / "summary.md").read_text()
    assert "95% interval" in markdown and "epochs to 95% of best" in markdown
    report.write_report(exp)  # a second report replaces the TensorBoard views instead of adding to them
    assert len(list((exp / "lr=0.01" / "tb" / "normalized").iterdir())) == 1


def test_planned_runs_without_a_record_count_as_not_started(tmp_path, capsys):
    from harness.records.planned import write_planned

    exp = tmp_path / "exp"
    fake_run(exp, "lr=0.01", 0.01, 0.8)
    write_planned(exp, ["lr=0.1", "lr=0.01", "lr=0.001"])  # the sweep was stopped before two of its runs
    assert report.main([str(exp)]) == 1
    assert capsys.readouterr().out.splitlines()[0] == "sweep exp: 3 runs, 1 completed, 2 not started"
    assert "## Not started\n\n2 planned run(s) have no record yet" in (exp / "summary.md").read_text()
    assert "lr=0.1, lr=0.001" in (exp / "summary.md").read_text()

    write_planned(exp, ["lr=0.01"])
    assert report.main([str(exp)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "sweep exp: 1 run, all completed"
    assert "Not started" not in (exp / "summary.md").read_text()


def test_one_wording_says_how_many_runs_completed_and_what_the_others_are():
    assert report.status_words(1, 0, 0) == "1 run, all completed"
    assert report.status_words(27, 0, 0) == "27 runs, all completed"
    assert (
        report.status_words(4, 1, 1, "interrupted: 1")
        == "4 runs, 2 completed, 1 did not complete (interrupted: 1), 1 not started"
    )
    assert report.status_words(3, 0, 3) == "3 runs, 0 completed, 3 not started"


def test_normalized_curves_sit_on_keras_epoch_steps(tmp_path):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    exp = tmp_path / "exp"
    fake_run(exp, "lr=0.01", 0.01, 0.8, curve=[0.4, 0.6, 0.8])
    report.write_report(exp)
    steps = sorted(
        event.step
        for events in (exp / "lr=0.01" / "tb" / "normalized").glob("events.*")
        for event in EventFileLoader(str(events)).Load()
        if any(v.tag == "normalized_val_accuracy" for v in event.summary.value)
    )
    assert steps == [0, 1, 2]  # Keras's TensorBoard callback logs epoch 1 at step 0


def test_per_value_table_shows_intervals_only_with_seeds(tmp_path):
    exp = tmp_path / "exp"
    fake_run(exp, "lr=0.01,seed=42", 0.01, 0.8)
    fake_run(exp, "lr=0.01,seed=43", 0.01, 0.6, seed=43)
    fake_run(exp, "lr=0.1", 0.1, 0.7)
    from harness.reports.tables import load_table

    shown = report.per_value_table(report.value_summary(load_table(exp))).set_index("value")
    assert shown.loc["0.1", "95% interval"] == "" and "±" not in shown.loc["0.1", "best val accuracy (± std)"]
    assert shown.loc["0.01", "95% interval"].startswith("[") and "±" in shown.loc["0.01", "best val accuracy (± std)"]


def _search(exp, trials: int) -> None:
    """A search's records: trial k tried learning rate 10^-(k/10) and a dropout, and scored k / (trials + 1)."""
    from harness.records.record import RunRecord, SweepIdentity, write_record

    for number in range(1, trials + 1):
        values = {"train.learning_rate": 10 ** -(number / 10), "model.head.dropout": 0.1 * (number % 3)}
        best = number / (trials + 1)
        write_record(
            exp / f"trial={number:03d}",
            RunRecord(
                name=exp.name,
                run_name=f"trial={number:03d}",
                status="completed",
                config_hash=str(number),
                config={
                    "train": {"learning_rate": values["train.learning_rate"], "seed": 42, "optimizer": "adam"},
                    "model": {"head": {"dropout": values["model.head.dropout"]}},
                },
                started_at="t",
                versions={},
                git={},
                host={},
                sweep=SweepIdentity("tuner", None, number, 42, values),
                best_val_accuracy=best,
                num_classes=10,
                num_val=100,
                history={"epoch": [1, 2], "val_accuracy": [best / 2, best]},
            ),
        )


def test_a_search_labels_trials_by_number_and_tables_what_each_tried(tmp_path):
    exp = tmp_path / "search"
    _search(exp, 3)
    report.write_report(exp)
    markdown = (exp / "summary.md").read_text()
    per_value, trials = markdown.split("## Per value")[1].split("## Trials")
    assert "| trial=001 " in per_value and "learning_rate" not in per_value
    trials = trials.split("## Runs")[0]
    header = next(line for line in trials.splitlines() if line.startswith("| trial "))
    assert "learning_rate" in header and "dropout" in header
    assert "optimizer" not in header  # the same in every trial: not what tells them apart
    assert "| trial=003 " in trials and "0.5012" in trials  # 10^-0.3
    assert "_hparams_/experiment" in tb_tags(tmp_path / "_hparams")["."]


def _shown(fig) -> tuple[list[str], list[str]]:
    """(every tick label, every legend entry) a figure shows."""
    ticks = [t.get_text() for axis in fig.axes for t in axis.get_xticklabels()]
    legends = [t.get_text() for axis in fig.axes if axis.get_legend() for t in axis.get_legend().get_texts()]
    return [t for t in ticks if t], legends


def test_a_search_plot_reads_at_3_and_at_30_trials(tmp_path):
    from harness.reports.tables import load_history, load_table

    for trials in (3, 30):
        exp = tmp_path / f"search{trials}"
        _search(exp, trials)
        table = load_table(exp)
        labels = dict(zip(table["run"], table["label"]))
        table = table.assign(value=table["label"])
        history = load_history(exp)
        history = history.assign(value=history["run"].map(labels))
        fig = report.figure(table, history, report.value_summary(table), exp.name)
        ticks, legend = _shown(fig)
        assert max(map(len, ticks)) <= report.LABEL_LIMIT and f"trial={trials:03d}" in ticks
        named = [entry for entry in legend if entry.startswith("trial=")]
        assert len(named) == min(trials, report.LEGEND_LIMIT)
        if trials == 30:  # the most accurate ones are the ones named
            assert set(named) == {f"trial={n:03d}" for n in range(23, 31)}
        width, height = fig.get_size_inches()
        assert width <= report.MAX_WIDTH and height <= 5


def test_a_long_sweep_value_is_cut_to_the_label_limit():
    assert report.short_label("x" * 40) == "x" * (report.LABEL_LIMIT - 1) + "…"
    assert report.short_label("0.01") == "0.01"


def test_a_sweep_with_one_seed_says_how_large_a_difference_its_val_images_can_resolve(tmp_path, capsys):
    """Two accuracies near 0.9 on 180 val images differ by up to 1.96 * sqrt(2 * 0.9 * 0.1 / 180) = 6.2 points
    by chance alone: the summary and the console say so, and how to get intervals."""
    exp = tmp_path / "exp"
    for rate, best in ((0.01, 0.9), (0.001, 0.92), (0.1, 0.88)):
        fake_run(exp, f"lr={rate}", rate, best, num_val=180)
    report.write_report(exp)
    line = "1 seed per value: on 180 val images, two accuracies near 0.90 differ by up to 6.2 points by chance alone"
    assert line in (exp / "summary.md").read_text() and f"noise: {line}" in capsys.readouterr().out
    assert "sweep.seeds=3 repeats each value" in (exp / "summary.md").read_text()


def test_a_sweep_with_three_seeds_has_intervals_and_no_noise_line(tmp_path, capsys):
    exp = tmp_path / "exp"
    for rate in (0.01, 0.001):
        for seed in (42, 43, 44):
            fake_run(exp, f"lr={rate},seed={seed}", rate, 0.9, seed=seed, num_val=180)
    report.write_report(exp)
    assert "Noise" not in (exp / "summary.md").read_text() and "noise:" not in capsys.readouterr().out


def test_a_search_with_one_execution_per_trial_is_told_how_to_repeat_trials():
    table = pd.DataFrame(
        {
            "status": "completed",
            "sweep": "tuner",
            "value": ["a", "b"],
            "seed": 42,
            "num_val": 40,
            "best_val_accuracy": 0.5,
        }
    )
    assert report.noise_note(table) == (
        "1 seed per value: on 40 val images, two accuracies near 0.50 differ by up to 21.9 points by chance alone "
        "(95 %): a smaller difference is no clear effect. tuner.executions_per_trial=3 repeats each trial and gives "
        "intervals."
    )


def test_an_interval_past_one_is_explained_where_it_is_shown(tmp_path):
    exp = tmp_path / "exp"
    for seed, best in zip((42, 43, 44), (0.9, 0.85, 0.88)):  # normalized 1, 0.94, 0.98: mean ± t·sd passes 1
        fake_run(exp, f"lr=0.01,seed={seed}", 0.01, best, seed=seed)
        fake_run(exp, f"lr=0.1,seed={seed}", 0.1, 0.5, seed=seed)
    report.write_report(exp)
    assert report.ABOVE_ONE in (exp / "summary.md").read_text()
    exp = tmp_path / "tight"
    for seed in (42, 43, 44):
        fake_run(exp, f"lr=0.01,seed={seed}", 0.01, 0.9, seed=seed)
    report.write_report(exp)
    assert report.ABOVE_ONE not in (exp / "summary.md").read_text()


def test_a_report_on_a_folder_with_no_runs_or_garbage_is_one_line_and_exit_2(tmp_path, capsys):
    import json

    from harness.records.planned import planned_runs

    empty = tmp_path / "empty"
    empty.mkdir()
    garbage = tmp_path / "garbage"
    (garbage / "r1").mkdir(parents=True)
    (garbage / "r1" / "record.json").write_text("[1, 2]")  # valid JSON of another shape
    (garbage / "planned.json").write_text(json.dumps({"runs": ["../../etc", "/etc/passwd"]}))
    for folder in (empty, garbage, tmp_path / "missing"):
        assert report.main([str(folder)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ")
    assert planned_runs(garbage) is None  # a plan pointing outside the folder is no plan
    assert not (empty / "summary.md").exists() and not (garbage / "summary.md").exists()


def test_the_sweep_report_says_what_the_runs_data_reports_found_once(tmp_path, capsys):
    from harness.records.record import DatasetReport

    exp = tmp_path / "lr"
    leaky = DatasetReport(
        images={"train": {"a": 5, "b": 5}, "val": {"a": 2, "b": 2}},
        imbalance=1.0,
        duplicates="warn",
        near_duplicate_bits=40,
        shared={"val~train": 2},
        shared_exact={"val~train": 1},
    )
    for value, best in ((0.1, 0.5), (0.01, 0.8)):
        fake_run(exp, f"learning_rate={value}", value, best, dataset=leaky)
    report.write_report(exp)
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("data: ")]
    assert said == [
        "data: val shares images with train (2), 1 of them exact copies (near: perceptual hashes within 40 bits): its "
        "accuracy is inflated; dataset.duplicates=drop leaves them out (listed in data_report.md)"
    ]
