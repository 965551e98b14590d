"""Scale: does a run's memory stay flat and its cost per image stay level from a thousand images to a hundred thousand?

    python benchmarks/scale.py --sizes 1000 10000 100000 --work /tmp/scale --out benchmarks/results/scale.json

For each size the script writes a synthetic JPEG folder (varied sizes and aspect ratios, 10, 50 and 100 classes;
80 % train, 20 % val), then runs through `python -m harness` with a fresh cache: a frozen learning-rate sweep
(MobileNet 0.25 with the bundled ImageNet weights, 128 px, `model.unfreeze=0`, 4 values, 5 epochs) and one
partial-unfreeze run (`model.unfreeze=0.33`, 5 epochs) on the cache the sweep built. It prints each stage's wall
time (the folder's scan, the decoded-image cache, the frozen prefix's features, the epochs) from the records,
images per second, the peak resident memory of every process (polled from /proc), and the ratios between sizes;
and, as the yardstick for the image cache, how fast `tf.data` with AUTOTUNE decodes and resizes the same files.

    python benchmarks/scale.py --sizes 100000 --work /tmp/scale --sweep-only --before <checkout> --out ...

runs only each size's first sweep, and the same sweep first with the code at <checkout> (a git worktree of an
earlier commit) on its own fresh cache: the ratio of the two, measured in one invocation.
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


def harness(args: list[str], env: dict[str, str], checkout: Path = ROOT) -> dict:
    """One `python -m harness` command (of the code at `checkout`), its wall time and the peak resident memory of
    each of its processes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=checkout,
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


def first_sweep(common: list[str], results: Path, cache: Path, env: dict, checkout: Path = ROOT) -> dict:
    """The frozen learning-rate sweep on a fresh cache and results folder (nothing built is reused): wall time,
    peak memory, each stage's seconds summed over the runs, and how fast the folder became cached images."""
    for stale in (results, cache):
        shutil.rmtree(stale, ignore_errors=True)
    sweep = harness(
        [*common, "model.unfreeze=0", "sweep=learning_rate", f"results_dir={results}"],
        {**env, "HARNESS_CACHE_DIR": str(cache), "PYTHONPATH": str(checkout)},
        checkout,
    )
    found = records(results)
    # the run that read the folder first: its scan (and, before one decode did both, its image cache) took the time
    first = max(found, key=lambda r: r["cache"]["seconds"]["data"] + r["cache"]["seconds"]["images"])
    decoding = first["cache"]["seconds"]["data"] + first["cache"]["seconds"]["images"]
    return {
        **sweep,
        "stages": stages(found),
        "runs": len(found),
        "epoch_seconds": [round(float(np.mean(r["history"]["seconds"][1:])), 3) for r in found],
        "statuses": sorted({r["status"] for r in found}),
        "worker_peak_rss_mb": max(r["memory"]["peak_rss_mb"] for r in found),
        "scan_and_image_cache_images_per_second": round((first["num_train"] + first["num_val"]) / decoding, 1),
        "best_val_accuracy": {
            str(r["config"]["train"]["learning_rate"]): round(r["best_val_accuracy"], 4) for r in found
        },
    }


def measure(size: int, work: Path, weights: str | None, before: Path | None = None, sweep_only: bool = False) -> dict:
    folder = work / f"folder_{size}"
    generated = generate(folder, size, CLASSES.get(size, 10))
    train = sum(1 for _ in (folder / "train").rglob("*.jpg"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    common = [
        "dataset=folder",
        f"dataset.path={folder}",
        "model.alpha=0.25",
        "train.epochs=5",
        "train.verbose=0",
        *([f"model.weights={weights}"] if weights else []),
    ]
    results, cache = work / f"results_{size}", work / f"cache_{size}"
    report: dict = {"images": size, "train_images": train, "classes": CLASSES.get(size, 10)}
    report["generated_seconds"] = round(generated, 1)
    if before is not None:  # the same sweep with the earlier code, first, on its own fresh cache
        report["sweep_before"] = first_sweep(common, results / "before", cache, env, before)
        report["before_commit"] = _commit(before)
    report["sweep"] = first_sweep(common, results / "sweep", cache, env)
    if before is not None:
        report["sweep_wall_ratio"] = round(report["sweep"]["wall_seconds"] / report["sweep_before"]["wall_seconds"], 3)
    if sweep_only:
        return report
    unfreeze = harness(
        [*common, "model.unfreeze=0.33", f"results_dir={results}/unfreeze"], {**env, "HARNESS_CACHE_DIR": str(cache)}
    )
    unfreeze_records = records(results / "unfreeze")
    yardstick = [tfdata_rate(folder) for _ in range(3)]  # its speed varies from try to try: the median of three
    report["unfreeze"] = {
        **unfreeze,
        "stages": stages(unfreeze_records),
        "epoch_seconds": round(float(np.mean(unfreeze_records[0]["history"]["seconds"][1:])), 3),
        "worker_peak_rss_mb": unfreeze_records[0]["memory"]["peak_rss_mb"],
    }
    report["image_cache_images_per_second"] = report["sweep"]["scan_and_image_cache_images_per_second"]
    report["tfdata_images_per_second"] = round(float(np.median(yardstick)), 1)
    report["tfdata_tries"] = [round(r, 1) for r in yardstick]
    return report


def _commit(checkout: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True
    ).stdout.strip()


def show(report: dict) -> None:
    rows = report["sizes"]
    for r in rows:
        for kind in ("sweep_before", "sweep"):
            if kind in r:
                s = r[kind]
                print(
                    f"{r['images']:>8} images, {kind}: scan {s['stages']['data']} s, image cache {s['stages']['images']} s "
                    f"({s['scan_and_image_cache_images_per_second']:.0f} img/s both), features {s['stages']['features']} s, "
                    f"epochs {s['stages']['epochs']} s, wall {s['wall_seconds']} s, peak RSS {max(s['peak_rss_mb'])} MB"
                )
        if "sweep_wall_ratio" in r:
            print(
                f"{r['images']:>8} images: first sweep x{r['sweep_wall_ratio']:.3f} the time of the code at {r['before_commit']}"
            )
        if "unfreeze" in r:
            u = r["unfreeze"]
            print(f"{r['images']:>8} images, unfreeze: wall {u['wall_seconds']} s, peak RSS {max(u['peak_rss_mb'])} MB")
    full = [r for r in rows if "unfreeze" in r]
    for small, large in zip(full, full[1:]):
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
    parser.add_argument(
        "--before",
        type=Path,
        help="a checkout of earlier code: each size's first sweep is also run with it, for the ratio",
    )
    parser.add_argument(
        "--sweep-only", action="store_true", help="only the first sweep (no unfreeze run, no tf.data yardstick)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sweep_speed import stamp

    args.work.mkdir(parents=True, exist_ok=True)
    report = {**stamp("scale"), "sizes": []}
    for size in args.sizes:
        report["sizes"].append(measure(size, args.work, args.weights, args.before, args.sweep_only))
        print(json.dumps(report["sizes"][-1]), flush=True)
        if args.out:
            args.out.write_text(json.dumps(report, indent=2) + "\n")
    show(report)


if __name__ == "__main__":
    main()
