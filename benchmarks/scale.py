"""Scale: does a run's memory stay flat and its cost per image stay level from a thousand images to a hundred thousand?

    python benchmarks/scale.py --sizes 1000 10000 100000 --work /tmp/scale --out benchmarks/results/scale.json

For each size the script writes a synthetic JPEG folder (varied sizes and aspect ratios, 10, 50 and 100 classes;
80 % train, 20 % val), then runs through `python -m harness` with a fresh cache: a frozen learning-rate sweep
(MobileNet 0.25 with the bundled ImageNet weights, 128 px, `model.unfreeze=0`, 4 values, 5 epochs) and one
partial-unfreeze run (`model.unfreeze=0.33`, 5 epochs) on the cache the sweep built. It prints each stage's wall
time (the folder's scan, the decoded-image cache, the frozen prefix's features, the epochs) from the records,
images per second, the peak resident memory of every process (polled from /proc), and the ratios between sizes;
and, as the yardstick for the image cache, how fast `tf.data` with AUTOTUNE decodes and resizes the same files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CLASSES = {1000: 10, 10000: 50, 100000: 100}


def _write(args: tuple[str, int, int, int]) -> None:
    from PIL import Image

    folder, start, stop, classes = args
    rng = np.random.default_rng(start)
    for i in range(start, stop):
        label = i % classes
        width = int(rng.integers(64, 320))
        height = max(32, int(width / rng.uniform(0.5, 2.0)))
        base = np.array([(label * 37) % 256, (label * 91) % 256, (label * 151) % 256], dtype=np.float32)
        gradient = np.linspace(0, 60, width, dtype=np.float32)[None, :, None]
        pixels = np.clip(base + gradient + rng.normal(0, 25, (height, width, 3)), 0, 255).astype(np.uint8)
        split = "val" if (i // classes) % 5 == 4 else "train"
        path = Path(folder) / split / f"class_{label:03d}" / f"img_{i:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path, quality=85)


def generate(folder: Path, count: int, classes: int, workers: int = 2) -> float:
    """A folder of `count` JPEGs (made once; reused when it is already there). Returns seconds spent."""
    done = folder / ".complete"
    if done.exists():
        return 0.0
    started = time.perf_counter()
    chunks = [(str(folder), s, min(s + 2000, count), classes) for s in range(0, count, 2000)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write, chunks))
    done.write_text(str(count))
    return time.perf_counter() - started


def tfdata_rate(folder: Path, size: int = 128) -> float:
    """Images per second of tf.data decoding and resizing the folder's training files with AUTOTUNE (the yardstick)."""
    import tensorflow as tf

    files = sorted(str(p) for p in (folder / "train").rglob("*.jpg"))
    ds = (
        tf.data.Dataset.from_tensor_slices(files)
        .map(
            lambda f: tf.cast(
                tf.image.resize(
                    tf.io.decode_image(tf.io.read_file(f), channels=3, expand_animations=False),
                    (size, size),
                    antialias=True,
                ),
                tf.uint8,
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        .batch(256)
        .prefetch(tf.data.AUTOTUNE)
    )
    started = time.perf_counter()
    for _ in ds:
        pass
    return len(files) / (time.perf_counter() - started)


def _descendants(pid: int) -> list[int]:
    out, queue = [], [pid]
    while queue:
        current = queue.pop()
        out.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                queue += [int(c) for c in task.read_text().split()]
            except OSError:
                pass
    return out


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def harness(args: list[str], env: dict[str, str]) -> dict:
    """One `python -m harness` command, its wall time and the peak resident memory of each of its processes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peaks: dict[int, float] = {}
    total = [0.0]

    def poll() -> None:
        while proc.poll() is None:
            rss = {p: _rss_mb(p) for p in _descendants(proc.pid)}
            for p, r in rss.items():
                peaks[p] = max(peaks.get(p, 0.0), r)
            total[0] = max(total[0], sum(rss.values()))
            time.sleep(0.5)

    started = time.perf_counter()
    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    output = proc.communicate()[0]
    wall = time.perf_counter() - started
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"harness {' '.join(args)} failed:\n{output[-3000:]}")
    return {
        "wall_seconds": round(wall, 1),
        "peak_rss_mb": sorted(round(v) for v in peaks.values() if v > 50),
        "peak_total_rss_mb": round(total[0]),
    }


def records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(results.rglob("record.json"))]


def stages(found: list[dict]) -> dict:
    """Per stage, seconds summed over the runs (data/images/features from each record's cache report)."""
    out = {"data": 0.0, "images": 0.0, "features": 0.0, "epochs": 0.0}
    for r in found:
        seconds = (r.get("cache") or {}).get("seconds") or {}
        for key in ("data", "images", "features"):
            out[key] += seconds.get(key, 0.0)
        out["epochs"] += sum((r.get("history") or {}).get("seconds") or [])
    return {k: round(v, 1) for k, v in out.items()}


def measure(size: int, work: Path, weights: str | None) -> dict:
    folder = work / f"folder_{size}"
    generated = generate(folder, size, CLASSES.get(size, 10))
    train = sum(1 for _ in (folder / "train").rglob("*.jpg"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "HARNESS_CACHE_DIR": str(work / f"cache_{size}")}
    common = [
        "dataset=folder",
        f"dataset.path={folder}",
        "model.alpha=0.25",
        "train.epochs=5",
        "train.verbose=0",
        *([f"model.weights={weights}"] if weights else []),
    ]
    results = work / f"results_{size}"
    for stale in (results, work / f"cache_{size}"):  # a fresh cache and results folder: nothing built is reused
        shutil.rmtree(stale, ignore_errors=True)
    sweep = harness([*common, "model.unfreeze=0", "sweep=learning_rate", f"results_dir={results}/sweep"], env)
    sweep_records = records(results / "sweep")
    unfreeze = harness([*common, "model.unfreeze=0.33", f"results_dir={results}/unfreeze"], env)
    unfreeze_records = records(results / "unfreeze")
    yardstick = [tfdata_rate(folder) for _ in range(3)]  # its speed varies from try to try: the median of three
    first = next(r for r in sweep_records if (r["cache"]["images"] or {}).get("train") == "built")
    image_rate = (first["num_train"] + first["num_val"]) / max(first["cache"]["seconds"]["images"], 1e-9)
    return {
        "images": size,
        "train_images": train,
        "classes": CLASSES.get(size, 10),
        "generated_seconds": round(generated, 1),
        "sweep": {
            **sweep,
            "stages": stages(sweep_records),
            "runs": len(sweep_records),
            "epoch_seconds": [round(float(np.mean(r["history"]["seconds"][1:])), 3) for r in sweep_records],
            "statuses": sorted({r["status"] for r in sweep_records}),
            "worker_peak_rss_mb": max(r["memory"]["peak_rss_mb"] for r in sweep_records),
        },
        "unfreeze": {
            **unfreeze,
            "stages": stages(unfreeze_records),
            "epoch_seconds": round(float(np.mean(unfreeze_records[0]["history"]["seconds"][1:])), 3),
            "worker_peak_rss_mb": unfreeze_records[0]["memory"]["peak_rss_mb"],
        },
        "image_cache_images_per_second": round(image_rate, 1),
        "tfdata_images_per_second": round(float(np.median(yardstick)), 1),
        "tfdata_tries": [round(r, 1) for r in yardstick],
    }


def show(report: dict) -> None:
    rows = report["sizes"]
    print(
        f"\n{'images':>8} {'scan s':>7} {'cache s':>8} {'img/s':>7} {'tf.data':>8} {'feat s':>7} {'epochs s':>9} "
        f"{'sweep s':>8} {'sweep RSS':>10} {'unfreeze s':>11} {'unfr. RSS':>10}"
    )
    for r in rows:
        s, u = r["sweep"], r["unfreeze"]
        print(
            f"{r['images']:>8} {s['stages']['data']:>7} {s['stages']['images']:>8} {r['image_cache_images_per_second']:>7.0f} "
            f"{r['tfdata_images_per_second']:>8.0f} {s['stages']['features']:>7} {s['stages']['epochs']:>9} {s['wall_seconds']:>8} "
            f"{max(s['peak_rss_mb']):>8} MB {u['wall_seconds']:>11} {max(u['peak_rss_mb']):>8} MB"
        )
    for small, large in zip(rows, rows[1:]):
        per = lambda r, k: r[k]["wall_seconds"] / r["images"]  # noqa: E731
        print(
            f"{large['images']} vs {small['images']}: time per image x{per(large, 'sweep') / per(small, 'sweep'):.2f} (sweep), "
            f"x{per(large, 'unfreeze') / per(small, 'unfreeze'):.2f} (unfreeze); peak RSS x"
            f"{max(large['sweep']['peak_rss_mb']) / max(small['sweep']['peak_rss_mb']):.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument(
        "--work", type=Path, required=True, help="where the folders, caches and results go (GBs at 100k)"
    )
    parser.add_argument("--weights", help="a no-top weights file (default: the bundled ImageNet weights)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sweep_speed import stamp

    args.work.mkdir(parents=True, exist_ok=True)
    report = {**stamp("scale"), "sizes": []}
    for size in args.sizes:
        report["sizes"].append(measure(size, args.work, args.weights))
        print(json.dumps(report["sizes"][-1]), flush=True)
        if args.out:
            args.out.write_text(json.dumps(report, indent=2) + "\n")
    show(report)


if __name__ == "__main__":
    main()
