"""The deployment study (study=deploy) on a real folder: its wall time, and per image size the accuracy, cost and
front it reports, with its answer within a latency budget.

    python benchmarks/deploy_study.py --folder ../shared/datasets/flowers12 \
        --weights ../shared/weights/mobilenet_2_5_128_tf_no_top.h5 --alpha 0.25 --budget-ms 2 \
        --out benchmarks/results/deploy_study_flowers12_mobilenet_epyc.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--backbone", default="mobilenet")
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument("--budget-ms", type=float, default=2.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--work", default="/tmp/deploy_study")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from harness.records.provenance import cpu
    from harness.reports import fronts
    from harness.reports.tables import load_table

    work = Path(args.work)
    command = [
        "dataset=folder",
        f"dataset.path={Path(args.folder).resolve()}",
        f"model.backbone={args.backbone}",
        f"model.alpha={args.alpha}",
        f"model.weights={Path(args.weights).resolve()}",
        "study=deploy",
        f"study.seeds={args.seeds}",
        f"report.latency_budget_ms={args.budget_ms}",
        f"results_dir={work / 'results'}",
        f"cache_dir={work / 'cache'}",
    ]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "harness", *command], capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    study = next((work / "results").glob("*deploy*"))
    table = load_table(study / "image_size")
    values = fronts.with_fronts(fronts.per_value(table))
    answer = fronts.answer(table, values, fronts.Budget(latency_ms=args.budget_ms))
    rows = [
        {
            "image_size": r["value"],
            "seeds": int(r["seeds"]),
            "test_accuracy": round(float(r["accuracy"]), 4),
            "std": round(float(r["accuracy_std"]), 4),
            "ms_per_image": round(float(r["latency_ms"]), 3),
            "images_per_second": round(float(r["images_per_second"]), 0),
            "mmacs": round(float(r["macs"]) / 1e6, 1),
            "weights_mb": round(float(r["weights_mb"]), 3),
            "front": bool(r["front_latency"]),
        }
        for _, r in values.iterrows()
    ]
    unfreeze = load_table(study / "unfreeze")
    out = {
        "date": date.today().isoformat(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "cpu": cpu()},
        "command": "python benchmarks/deploy_study.py " + " ".join(sys.argv[1:]),
        "harness_command": "harness " + " ".join(command),
        "exit_status": done.returncode,
        "seconds": round(seconds, 1),
        "runs": int(len(load_table(study))),
        "answer": answer,
        "unfreeze": {
            str(v): round(float(unfreeze[unfreeze["value"] == v]["test_accuracy"].mean()), 4)
            for v in sorted(unfreeze["value"].unique())
        },
        "study_console": done.stdout.strip().splitlines()[-3:],
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
