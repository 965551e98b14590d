"""How accuracy grows with images per class, at an equal training budget and at the old fixed number of epochs.

    python benchmarks/samples_per_class.py --dataset-path ../shared/datasets/flowers12 \
        --weights ../shared/weights/mobilenet_2_5_128_tf_no_top.h5 --alpha 0.25 --out benchmarks/results/samples_per_class_flowers12.json

Runs the chapter's samples-per-class experiment as a one-experiment study (values 1, 5, 10 and all, the
chapter's finding "accuracy rises from 1 to 10 images per class", `--seeds` seeds, 20 % of train carved
once for test) twice on the same data: `train.budget=full_data` (every epoch of a subset has the optimizer
steps of one over the whole training split: the harness's default) and `train.budget=subset` (one pass over
the subset per epoch: what the harness did before, where 1, 5 and 10 images per class may all fit in one
batch and so get the same few steps). Prints, per budget, test accuracy per value (mean ± std over seeds),
the optimizer steps each run took, and the finding's paired difference and verdict; writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import folder_study  # noqa: E402

STUDY = """\
# @package _global_
study:
  name: samples_per_class
  seeds: {seeds}
  experiments:
    samples_per_class: {{knob: data.samples_per_class, values: [1, 5, 10, null]}}
  findings:
    - {{claim: "accuracy rises from 1 to 10 images per class", experiment: samples_per_class, better: [10], worse: [1]}}
    - {{claim: "10 images per class are within 5% of all", experiment: samples_per_class, test: within, better: [10], worse: [null], margin: 0.05}}
dataset:
  test_fraction: 0.2
hydra:
  mode: MULTIRUN
"""


def run_study(work: Path, dataset: Path, budget: str, args: argparse.Namespace) -> dict:
    from harness.reports.study_report import study_tables

    overrides = [
        "dataset=folder",
        f"dataset.path={dataset}",
        f"model.alpha={args.alpha}",
        f"model.weights={args.weights}",
        f"train.budget={budget}",
        f"hydra.launcher.n_jobs={args.n_jobs}",
        *args.harness_args,
    ]
    study, wall, command = folder_study.run_study(
        work, "spc", STUDY.format(seeds=args.seeds), work / f"results_{budget}", overrides
    )
    tables = study_tables(study)
    runs = tables["runs"]
    values = []
    for value, rows in runs.groupby(
        runs["value"].map(lambda v: "all" if v != v or v is None else str(int(v))), sort=False
    ):
        records = [json.loads((Path(p) / "record.json").read_text()) for p in rows["path"]]
        steps = sorted({r["steps_per_epoch"] * r["epochs_run"] for r in records})
        values.append(
            {
                "value": value,
                "seeds": int(rows["seed"].nunique()),
                "num_train": int(rows["num_train"].iloc[0]),
                "test_mean": float(rows["test_accuracy"].mean()),
                "test_std": float(rows["test_accuracy"].std(ddof=1)),
                "test": [round(float(v), 4) for v in rows["test_accuracy"]],
                "steps_per_epoch": records[0]["steps_per_epoch"],
                "optimizer_steps": steps,
            }
        )
    return {
        "budget": budget,
        "wall_seconds": wall,
        "values": values,
        "findings": folder_study.findings(tables),
        "command": command,
    }


def rejudge(report_path: Path, test_images: int) -> None:
    """The report's findings judged again by harness.reports.compare from its per-seed test accuracies (records
    of that time hold no per-image results: the test-image term is its bound), written into the report as
    `rejudged` beside the findings as first judged."""
    import pandas as pd
    import yaml

    from harness.reports.compare import findings

    report = json.loads(report_path.read_text())
    claims = yaml.safe_load(STUDY.format(seeds=3))["study"]["findings"]
    for study in report["studies"]:
        rows = [
            {
                "sweep": "samples_per_class",
                "value": None if v["value"] == "all" else int(v["value"]),
                "seed": seed,
                "test_accuracy": accuracy,
                "best_val_accuracy": accuracy,
                "status": "completed",
                "chance": None,
                "num_test": test_images,
            }
            for v in study["values"]
            for seed, accuracy in enumerate(v["test"])
        ]
        study["rejudged"] = folder_study.findings({"findings": findings(pd.DataFrame(rows), claims)})
        study["rejudged_with"] = f"{test_images} test images, the bound"
        for f in study["rejudged"]:
            print(f"train.budget={study['budget']}: {f['claim']}: {f['shown']} -> {f['verdict']}")
    report["rejudged_by"] = "python " + " ".join(sys.argv)
    report_path.write_text(json.dumps(report, indent=2, default=str))
    print(f"written: {report_path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    folder_study.add_study_options(parser)
    parser.add_argument("--budgets", nargs="+", default=["full_data", "subset"])
    parser.add_argument(
        "--rejudge", type=Path, help="an earlier report: judge its per-seed accuracies again with today's intervals"
    )
    parser.add_argument("--test-images", type=int, help="with --rejudge: the test images every run was scored on")
    args = parser.parse_args()
    from sweep_speed import machine

    if args.rejudge:
        return rejudge(args.rejudge, args.test_images)
    with tempfile.TemporaryDirectory(prefix="spc-") as tmp:
        studies = [run_study(Path(tmp), args.dataset_path.resolve(), budget, args) for budget in args.budgets]
    report = {
        "benchmark": "samples_per_class",
        "dataset": args.dataset_path.name,
        "machine": machine(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join(sys.argv),
        "studies": studies,
    }
    for study in studies:
        print(f"\ntrain.budget={study['budget']} ({study['wall_seconds']:.0f} s)")
        for v in study["values"]:
            print(
                f"  {v['value']:>4} per class ({v['num_train']} images): test {v['test_mean']:.3f} ± {v['test_std']:.3f} "
                f"over {v['seeds']} seeds, {v['optimizer_steps']} optimizer steps"
            )
        for f in study["findings"]:
            print(f"  {f['claim']}: {f['shown']} -> {f['verdict']}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str))
        print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
