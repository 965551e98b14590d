"""What measuring inference cost costs and how repeatable it is, and what TFLite conversion does to a trained model.

    python benchmarks/inference_cost.py --folder ../shared/datasets/flowers12 \
        --weights ../shared/weights/mobilenet_2_5_128_tf_no_top.h5 --alpha 0.25 --image-size 128 \
        --out benchmarks/results/inference_cost_epyc.json

1. A learning-rate sweep on the folder with cost.latency=true and with cost.latency=false, in this invocation:
   the share of the sweep's wall time that measuring latency takes.
2. The sweep's first model, loaded from model.keras and measured 5 times afresh (harness.models.cost.measure,
   reuse=False): the spread of the medians.
3. That run exported with python -m harness.deploy at each quantization: accuracy and agreement against the Keras
   model on the val split, size, latency at batch 1 with LiteRT (one thread and all).
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

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")


def run_harness(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness", *args], check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--work", default="/tmp/inference_cost")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from harness.records.provenance import cpu
    from harness.records.record import read_record

    work = Path(args.work)
    base = [
        "dataset=folder",
        f"dataset.path={Path(args.folder).resolve()}",
        f"model.alpha={args.alpha}",
        f"model.weights={Path(args.weights).resolve()}",
        f"data.image_size={args.image_size}",
        f"train.epochs={args.epochs}",
        "sweep=learning_rate",
        "train.save_model=true",
        f"cache_dir={work / 'cache'}",
    ]
    run_harness([*base, f"results_dir={work / 'warm'}", "cost.latency=false"])  # fills the image and feature caches
    sweeps = {}
    for latency in ("false", "true", "false", "true"):  # interleaved: drift hits both sides alike
        folder = work / f"sweep_{latency}_{len(sweeps)}"
        sweeps.setdefault(latency, []).append(run_harness([*base, f"results_dir={folder}", f"cost.latency={latency}"]))
    runs = sorted((work / "sweep_true_1").glob("*/*/record.json"))
    records = [read_record(r.parent) for r in runs]
    measured_seconds = [r.cost.seconds for r in records if r.cost and r.cost.seconds is not None]

    import keras

    import harness.models.build  # noqa: F401 - the saved model's layers
    from harness.models.cost import measure

    first = runs[0].parent
    model = keras.saving.load_model(first / "model.keras")
    shape = (args.image_size, args.image_size, 3)
    repeats = [measure(model, shape, reuse=False) for _ in range(5)]
    medians = [c.latency_ms for c in repeats]

    exports = []
    for quantize in QUANTIZATIONS:
        subprocess.run(
            [sys.executable, "-m", "harness.deploy", str(first), "--quantize", quantize, "--overwrite"],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        result = json.loads((first / "deploy" / f"tflite-{quantize}" / "deployed.json").read_text())
        exports.append(
            {
                "quantize": quantize,
                "accuracy": round(result["accuracy"], 4),
                "keras_accuracy": round(result["keras_accuracy"], 4),
                "agreement": round(result["agreement"], 4),
                "max_probability_change": round(result["max_probability_change"], 4),
                "size_mb": result["size_mb"],
                "keras_size_mb": result["keras_size_mb"],
                "ms_1_thread": round(result["latency_ms_1_thread"], 3),
                "ms_all_threads": round(result["latency_ms_all_threads"], 3),
                "images": result["images"],
            }
        )
    on, off = min(sweeps["true"]), min(sweeps["false"])
    out = {
        "date": date.today().isoformat(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "cpu": cpu()},
        "command": "python benchmarks/inference_cost.py " + " ".join(sys.argv[1:]),
        "sweep": {
            "runs": len(records),
            "seconds_latency_on": sweeps["true"],
            "seconds_latency_off": sweeps["false"],
            "share": round((on - off) / on, 4),
            "measure_seconds_per_run": measured_seconds,
        },
        "repeatability": {
            "medians_ms": medians,
            "spread": round((max(medians) - min(medians)) / (sum(medians) / len(medians)), 4),
            "p90_ms": [c.latency_p90_ms for c in repeats],
            "images_per_second": [c.images_per_second for c in repeats],
            "seconds": [c.seconds for c in repeats],
            "macs": repeats[0].macs,
            "weights_mb": repeats[0].weights_mb,
        },
        "rows": exports,
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
