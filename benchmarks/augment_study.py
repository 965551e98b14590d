"""Whether any augmentation policy or mixing beats flips and colour jitter on a folder, over seeds.

    python benchmarks/augment_study.py --dataset-path ../shared/datasets/flowers12 \
        --weights ../shared/weights/mobilenet_2_5_128_tf_no_top.h5 --alpha 0.25 \
        --out benchmarks/results/augment_study_flowers12.json

Runs one study of two experiments on the composed baseline: `data.augment` over every policy and `data.mix`
over none, mixup and cutmix (`--seeds` seeds each, 20 % of train carved once for test), with the findings
below judged on test accuracy paired over seeds. Prints test accuracy per value (mean ± std), each run's
seconds per epoch and the input pipeline's seconds per epoch from its record, and every finding's paired
difference and verdict; writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import folder_study  # noqa: E402

STUDY = """\
# @package _global_
study:
  name: augmentation
  seeds: {seeds}
  experiments:
    augmentation: {{knob: data.augment, values: [none, flip, basic, randaugment, trivialaugment, autoaugment]}}
    mix: {{knob: data.mix, values: [none, mixup, cutmix]}}
  findings:
    - {{claim: "flips and colour jitter beat no augmentation", experiment: augmentation, better: [basic], worse: [none]}}
    - {{claim: "AutoAugment's ImageNet policy beats flips and colour jitter", experiment: augmentation, better: [autoaugment], worse: [basic]}}
    - {{claim: "RandAugment beats flips and colour jitter", experiment: augmentation, better: [randaugment], worse: [basic]}}
    - {{claim: "TrivialAugment beats flips and colour jitter", experiment: augmentation, better: [trivialaugment], worse: [basic]}}
    - {{claim: "MixUp beats no mixing", experiment: mix, better: [mixup], worse: [none]}}
    - {{claim: "CutMix beats no mixing", experiment: mix, better: [cutmix], worse: [none]}}
dataset:
  test_fraction: 0.2
hydra:
  mode: MULTIRUN
"""


def run_study(work: Path, dataset: Path, args: argparse.Namespace) -> dict:
    from harness.reports.study_report import study_tables

    overrides = [
        "dataset=folder",
        f"dataset.path={dataset}",
        f"model.alpha={args.alpha}",
        f"model.weights={args.weights}",
        f"hydra.launcher.n_jobs={args.n_jobs}",
        *args.harness_args,
    ]
    study, wall, command = folder_study.run_study(
        work, "augmentation", STUDY.format(seeds=args.seeds), work / "results", overrides, args.reuse
    )
    tables = study_tables(study)
    runs = tables["runs"]
    experiments = {}
    for (experiment, value), rows in runs.groupby(["sweep", "value"], sort=False):
        records = [json.loads((Path(p) / "record.json").read_text()) for p in rows["path"]]
        experiments.setdefault(experiment, []).append(
            {
                "value": str(value),
                "seeds": int(rows["seed"].nunique()),
                "test_mean": float(rows["test_accuracy"].mean()),
                "test_std": float(rows["test_accuracy"].std(ddof=1)),
                "test": [round(float(v), 4) for v in rows["test_accuracy"]],
                "seconds_per_epoch": round(sum(r["seconds_per_epoch"] for r in records) / len(records), 2),
                "input_seconds_per_epoch": round(
                    sum(r["cache"].get("input_seconds_per_epoch", 0.0) for r in records) / len(records), 2
                ),
                "feature_cache": sorted({r["feature_cache"] for r in records}),
            }
        )
    return {
        "wall_seconds": wall,
        "experiments": experiments,
        "findings": folder_study.findings(tables),
        "harness_command": command,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    folder_study.add_study_options(parser)
    parser.add_argument(
        "--work", type=Path, help="keep the study's results and cache here (default: a temporary folder)"
    )
    parser.add_argument("--reuse", action="store_true", help="judge the study already in --work again")
    args = parser.parse_args()
    from sweep_speed import stamp

    if args.work:
        study = run_study(args.work.resolve(), args.dataset_path.resolve(), args)
    else:
        with tempfile.TemporaryDirectory(prefix="augment-") as tmp:
            study = run_study(Path(tmp), args.dataset_path.resolve(), args)
    report = {**stamp("augment_study"), "dataset": args.dataset_path.name, **study}
    if study["wall_seconds"] is None and args.out and args.out.exists():  # judged again: the run's own time stays
        earlier = json.loads(args.out.read_text())
        report.update(wall_seconds=earlier.get("wall_seconds"), run_by=earlier.get("run_by", earlier.get("command")))
    print(f"{report['dataset']}: {study['wall_seconds']} s")
    for experiment, values in study["experiments"].items():
        print(f"\n{experiment}:")
        for v in values:
            print(
                f"  {v['value']:>14}: test {v['test_mean']:.3f} ± {v['test_std']:.3f} over {v['seeds']} seeds,"
                f" {v['seconds_per_epoch']:.2f} s/epoch (input alone {v['input_seconds_per_epoch']:.2f} s),"
                f" feature cache {'/'.join(v['feature_cache'])}"
            )
    print()
    for f in study["findings"]:
        print(f"  {f['claim']}: {f['shown']} -> {f['verdict']}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str))
        print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
