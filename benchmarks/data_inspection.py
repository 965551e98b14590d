"""What the data report finds on real folders and what it costs: copies in the shared folders, planted copies found
and the test accuracy they inflate, accuracy against balanced accuracy on an imbalanced folder with and without
class weights, and the report's cost on a 10,000-image folder.

    python benchmarks/data_inspection.py --flowers ../shared/datasets/flowers12 --chest ../shared/datasets/chest_xray \
        --weights ../shared/weights/mobilenet_2_5_128_tf_no_top.h5 --out benchmarks/results/data_inspection.json

Parts (`--parts`, all by default):
- folders: each folder's data report (counts, copies across and inside splits, exact ones), every pair of
  copies found with its Hamming distance and, for images of one size, the mean absolute pixel difference.
- planted: each folder's train, its val halved into val and test, and copies of 40 training images planted in
  test (resized to 2/3, re-encoded at JPEG quality 60, and cropped 2 % a side, a third each): copies found at
  the default threshold, pairs found among the folder's own images before planting, and the test accuracy of
  `--seeds` runs with the copies kept (dataset.duplicates=warn) and left out (drop).
- imbalance: chest_xray with NORMAL cut to 10 % of its training images, tested on chest_xray's val (as it is):
  accuracy, balanced accuracy and macro-F1 of `--seeds` runs with train.class_weight=none and balanced.
- cost: a 10,000-image folder made from flowers12 (random crops at its own 224 px, flips and colour shifts), prepared as a first
  run prepares it (the folder scan and the image cache, no cache before) with fingerprints and the copy search,
  and again with fingerprinting replaced by nothing; then a whole first run both ways (`python -m harness`, one
  epoch, 20 % carved for test: the scan, the image and feature caches, the epoch, the test).
Every training run is `python -m harness` in its own process (MobileNet alpha 0.25 with the weights file,
128 px, the harness's defaults otherwise).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PLANTED = 40
KINDS = ("resized", "reencoded", "cropped")


def images_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def copy_of(path: Path, kind: str) -> Image.Image:
    image = Image.open(path).convert("RGB")
    w, h = image.size
    if kind == "resized":
        return image.resize((w * 2 // 3, h * 2 // 3), Image.LANCZOS)
    if kind == "reencoded":
        encoded = io.BytesIO()
        image.save(encoded, "JPEG", quality=60)
        return Image.open(encoded).convert("RGB")
    mw, mh = round(w * 0.02), round(h * 0.02)
    return image.crop((mw, mh, w - mw, h - mh))


def load(path: Path, *overrides: str, cache: Path | None = None):
    """The splits (with their data report) as a run loads them."""
    from hydra import compose, initialize_config_dir

    from harness.config.schema import CONF_DIR
    from harness.data.sources import load_splits

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = compose("config", overrides=["dataset=folder", f"dataset.path={path}", *overrides])
    return load_splits(cfg.dataset, cfg.data, cache)


def pairs_found(splits) -> list[dict]:
    """Every pair of copies in the splits' pools (within the near threshold), with how far apart they are."""
    pools = {}
    for split in (splits.train, splits.val, splits.test):
        if split is not None:
            pools[id(split.pool)] = split.pool
    from harness.data.fingerprints import distance

    ids = np.concatenate([p.ids for p in pools.values()])
    perceptual = np.concatenate([p.fingerprints.perceptual for p in pools.values()])
    groups = np.concatenate([p.near_groups for p in pools.values()])
    found = []
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                pa, pb = (np.asarray(Image.open(ids[x]).convert("RGB"), dtype=float) for x in (a, b))
                found.append(
                    {
                        "a": str(ids[a]),
                        "b": str(ids[b]),
                        "bits": int(distance(perceptual[a], perceptual[b])),
                        "mean_abs_pixel_difference": round(float(np.abs(pa - pb).mean()), 2)
                        if pa.shape == pb.shape
                        else None,
                    }
                )
    return found


def nearest_other(splits) -> int:
    """The fewest bits between two images of different groups: how close distinct photos come."""
    from harness.data.fingerprints import distance

    pools = {id(s.pool): s.pool for s in (splits.train, splits.val, splits.test) if s is not None}
    hashes = np.concatenate([p.fingerprints.perceptual for p in pools.values()])
    groups = np.concatenate([p.near_groups for p in pools.values()])
    nearest = 256
    for start in range(0, len(hashes), 256):
        d = distance(hashes[start : start + 256, None], hashes[None, :]).astype(int)
        d[groups[start : start + 256, None] == groups[None, :]] = 256
        nearest = min(nearest, int(d.min()))
    return nearest


def crops(flowers: Path) -> dict:
    """How far crops of 1, 2 and 3 % a side move a photo's hash, on every fifth flowers12 photo."""
    from harness.data import fingerprints

    found: dict[str, list[int]] = {}
    for path in images_of(flowers)[::5]:
        image = Image.open(path).convert("RGB")
        w, h = image.size
        original = fingerprints.of_images([np.asarray(image)]).perceptual
        for share in (0.01, 0.02, 0.03):
            m, n = round(w * share), round(h * share)
            cropped = np.asarray(image.crop((m, n, w - m, h - n)))
            found.setdefault(f"{share:.0%}", []).append(
                int(fingerprints.distance(fingerprints.of_images([cropped]).perceptual, original)[0])
            )
    within = {c: {t: float(np.mean(np.asarray(d) <= t)) for t in (32, 36, 40, 44, 48)} for c, d in found.items()}
    print("crops found within bits:", within)
    return {"photos": len(found["1%"]), "within": within}


def folders(paths: list[Path]) -> list[dict]:
    out = []
    for path in paths:
        started = time.perf_counter()
        splits = load(path)
        seconds = time.perf_counter() - started
        report = splits.report
        found = pairs_found(splits)
        bits = np.bincount([p["bits"] for p in found]).tolist() if found else []
        out.append(
            {
                "folder": path.name,
                "images": report.images,
                "imbalance": report.imbalance,
                "shared": report.shared,
                "shared_exact": report.shared_exact,
                "within": report.within,
                "conflicting_labels": report.conflicting_labels,
                "pairs": found,
                "pairs_by_bits": bits,
                "nearest_other_bits": nearest_other(splits),
                "seconds_uncached": round(seconds, 2),
            }
        )
        print(
            f"{path.name}: shared {report.shared} (exact {report.shared_exact}), within {report.within}, "
            f"{len(found)} pair(s) by bits {bits}, distinct ones no nearer than {out[-1]['nearest_other_bits']} bits, "
            f"{seconds:.1f} s"
        )
    return out


def harness_run(work: Path, label: str, *overrides: str) -> dict:
    results = work / "results" / label
    done = subprocess.run(
        [sys.executable, "-m", "harness", f"results_dir={results}", *overrides],
        capture_output=True,
        text=True,
        env={**os.environ, "HARNESS_CACHE_DIR": str(work / "cache")},
    )
    if done.returncode != 0:
        raise SystemExit(f"{label} failed:\n{done.stderr[-3000:]}")
    record = json.loads(next(results.glob("*/*/record.json")).read_text())
    return {
        "test_recall": recalls(record),
        "label": label,
        "seed": record["config"]["train"]["seed"],
        "num_test": record["num_test"],
        "best_val_accuracy": record["best_val_accuracy"],
        "test_accuracy": record["test_accuracy"],
        "test_balanced_accuracy": record["test_balanced_accuracy"],
        "test_macro_f1": record["test_macro_f1"],
    }


def recalls(record: dict) -> dict[str, float]:
    """Each class's recall on the test split, from which images the run got right (in split order: class by class,
    as a folder's test split is)."""
    from harness.records.record import unpack_correct

    counts = record["dataset"]["images"]["test"]
    correct = unpack_correct(record["test_correct"], record["num_test"])
    out, start = {}, 0
    for name, n in counts.items():
        out[name] = float(correct[start : start + n].mean()) if n else float("nan")
        start += n
    return out


def interval(values: list[float]) -> dict:
    """Mean and 95 % t interval over seeds (harness.reports.compare.paired on the values themselves)."""
    from harness.reports.compare import paired

    p = paired(values)
    return {"mean": p.mean, "low": p.low, "high": p.high, "n": p.pairs}


def model_overrides(weights: Path) -> list[str]:
    return ["model.alpha=0.25", f"model.weights={weights.resolve()}", "data.image_size=128"]


def planted(folder: Path, weights: Path, seeds: int, work: Path) -> dict:
    root = work / f"planted_{folder.name}"
    shutil.copytree(folder / "train", root / "train")
    for c in sorted(p.name for p in (folder / "val").iterdir()):
        files = images_of(folder / "val" / c)
        for split, part in (("val", files[::2]), ("test", files[1::2])):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for f in part:
                shutil.copy(f, root / split / c / f.name)
    clean = load(root, "dataset.duplicates=warn").report
    rng = np.random.default_rng(0)
    train = images_of(root / "train")
    chosen = rng.choice(len(train), PLANTED, replace=False)
    planted_names = []
    for i, index in enumerate(chosen):
        source, kind = train[index], KINDS[i % 3]
        name = f"planted_{kind}_{source.stem}.png"
        copy_of(source, kind).save(root / "test" / source.parent.name / name)
        planted_names.append(name)
    splits = load(root, "dataset.duplicates=drop")
    dropped = {Path(p).name for p in splits.dropped}
    found = {kind: sum(1 for n in planted_names if n in dropped and f"_{kind}_" in n) for kind in KINDS}
    print(
        f"planted: found {found} of {PLANTED // 3 + 1}/{PLANTED // 3}/{PLANTED // 3}; before planting: shared {clean.shared}"
    )
    runs = []
    for seed in range(seeds):
        for policy in ("warn", "drop"):
            common = ["dataset=folder", f"dataset.path={root}", *model_overrides(weights), f"train.seed={seed}"]
            label = f"planted_{folder.name}_{policy}_{seed}"
            runs.append({**harness_run(work, label, *common, f"dataset.duplicates={policy}"), "policy": policy})
            print(runs[-1])
    inflation = [
        w["test_accuracy"] - d["test_accuracy"]
        for w, d in zip([r for r in runs if r["policy"] == "warn"], [r for r in runs if r["policy"] == "drop"])
    ]
    return {
        "folder": folder.name,
        "planted": PLANTED,
        "found": found,
        "dropped": len(dropped),
        "shared_before_planting": clean.shared,
        "within_before_planting": clean.within,
        "runs": runs,
        "inflation": interval(inflation),
    }


def imbalance(chest: Path, weights: Path, seeds: int, work: Path) -> dict:
    root = work / "imbalanced"
    classes = sorted(p.name for p in (chest / "train").iterdir())
    for c in classes:
        files = images_of(chest / "train" / c)
        kept = files[: max(1, len(files) // 10)] if c == "NORMAL" else files
        (root / "train" / c).mkdir(parents=True)
        for f in kept:
            shutil.copy(f, root / "train" / c / f.name)
        shutil.copytree(chest / "val" / c, root / "test" / c)
    report = load(root).report
    runs = []
    for seed in range(seeds):
        for weighting in ("none", "balanced"):
            common = ["dataset=folder", f"dataset.path={root}", *model_overrides(weights), f"train.seed={seed}"]
            label = f"imbalanced_{weighting}_{seed}"
            runs.append(
                {**harness_run(work, label, *common, f"train.class_weight={weighting}"), "weighting": weighting}
            )
            print(runs[-1])
    summary = {}
    for weighting in ("none", "balanced"):
        mine = [r for r in runs if r["weighting"] == weighting]
        summary[weighting] = {
            m: interval([r[m] for r in mine]) for m in ("test_accuracy", "test_balanced_accuracy", "test_macro_f1")
        }
        for c in classes:
            summary[weighting][f"recall_{c}"] = interval([r["test_recall"][c] for r in mine])
        # what accuracy would say on a test split in the training split's proportions (from the per-class recalls)
        share = {c: n / sum(report.images["train"].values()) for c, n in report.images["train"].items()}
        summary[weighting]["accuracy_at_training_proportions"] = interval(
            [sum(share[c] * r["test_recall"][c] for c in classes) for r in mine]
        )
    differences = {
        m: interval(
            [
                b[m] - n[m]
                for n, b in zip(
                    [r for r in runs if r["weighting"] == "none"], [r for r in runs if r["weighting"] == "balanced"]
                )
            ]
        )
        for m in ("test_accuracy", "test_balanced_accuracy", "test_macro_f1")
    }
    return {
        "images": report.images,
        "imbalance": report.imbalance,
        "runs": runs,
        "by_weighting": summary,
        "balanced_minus_none": differences,
    }


def make_large(flowers: Path, count: int, target: Path) -> None:
    rng = np.random.default_rng(0)
    sources = [p for p in images_of(flowers) if p.parent.parent.name == "train"]
    for i in range(count):
        source = sources[i % len(sources)]
        image = Image.open(source).convert("RGB")
        w, h = image.size
        side = int(rng.uniform(0.5, 0.8) * min(w, h))
        x, y = rng.integers(0, w - side + 1), rng.integers(0, h - side + 1)
        crop = image.crop((x, y, x + side, y + side)).resize((224, 224))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        pixels = np.clip(np.asarray(crop, dtype=float) * rng.uniform(0.7, 1.3, 3), 0, 255).astype(np.uint8)
        folder = target / source.parent.name
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{i:05d}.jpg", quality=90)


def prepare_seconds(root: Path, cache: Path, fingerprinting: bool) -> dict:
    """A first run's preparation of `root` in a fresh process: the folder scan (with the copy search) and the
    image cache, timed apart."""
    code = f"""
import json, sys, time
sys.path.insert(0, {str(ROOT)!r})
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from harness.data import fingerprints, images
if not {fingerprinting}:
    fingerprints.taken = lambda image: (0, None)
import data_inspection
from harness.config.geometry import geometry
started = time.perf_counter()
splits = data_inspection.load({str(root)!r}, "data.image_size=128", "dataset.duplicates={"warn" if fingerprinting else "off"}",
                              cache=__import__("pathlib").Path({str(cache)!r}))
scanned = time.perf_counter() - started
from hydra import compose, initialize_config_dir
from harness.config.schema import CONF_DIR
with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
    cfg = compose("config", overrides=["dataset=folder", "dataset.path={root}", "data.image_size=128"])
started = time.perf_counter()
for split in (splits.train, splits.val, splits.test):
    if split is not None:
        images.image_array(split, geometry(cfg.data), __import__("pathlib").Path({str(cache)!r}))
cached = time.perf_counter() - started
print(json.dumps({{"scan_seconds": scanned, "image_cache_seconds": cached, "shared": splits.report.shared}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def first_run_seconds(root: Path, work: Path, weights: Path, fingerprinting: bool) -> float:
    """A whole first run on `root` (no cache before: the scan, the image and feature caches, one epoch, the
    test), as `python -m harness`, with or without fingerprints and the copy search."""
    results, cache = work / "first_run_results", work / "first_run_cache"
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from harness.data import fingerprints\n"
        + ("" if fingerprinting else "fingerprints.taken = lambda image: (0, None)\n")
        + "from harness.__main__ import main\nmain()\n"
    )
    policy = "warn" if fingerprinting else "off"
    args = [
        "dataset=folder",
        f"dataset.path={root}",
        *model_overrides(weights),
        "train.epochs=1",
        f"results_dir={results}",
    ]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *args, "dataset.test_fraction=0.2", f"dataset.duplicates={policy}"],
        capture_output=True,
        text=True,
        env={**os.environ, "HARNESS_CACHE_DIR": str(cache)},
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    shutil.rmtree(results)
    shutil.rmtree(cache)
    return seconds


def cost(flowers: Path, work: Path, count: int, weights: Path) -> dict:
    root = work / "large"
    make_large(flowers, count, root)
    measured, runs = {}, {}
    for fingerprinting in (False, True, False, True):  # alternated, so a slow minute of the machine falls on both
        cache = work / f"cache_{len(measured)}_{fingerprinting}"
        key = "with" if fingerprinting else "without"
        taken = prepare_seconds(root, cache, fingerprinting)
        measured.setdefault(key, []).append(taken)
        shutil.rmtree(cache)
        runs.setdefault(key, []).append(first_run_seconds(root, work, weights, fingerprinting))
        print(key, taken, "first run", runs[key][-1])
    best = {k: min(v, key=lambda t: t["scan_seconds"] + t["image_cache_seconds"]) for k, v in measured.items()}
    total = {k: v["scan_seconds"] + v["image_cache_seconds"] for k, v in best.items()}
    first = {k: min(v) for k, v in runs.items()}
    return {
        "images": count,
        "measured": measured,
        "preparation_seconds": total,
        "added_fraction": (total["with"] - total["without"]) / total["without"],
        "first_run_seconds": runs,
        "first_run_added_fraction": (first["with"] - first["without"]) / first["without"],
    }


def main() -> None:
    from sweep_speed import machine

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flowers", type=Path, required=True)
    parser.add_argument("--chest", type=Path, required=True)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--parts", default="folders,planted,imbalance,cost")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    parts = args.parts.split(",")
    shown = [a for i, a in enumerate(sys.argv[1:]) if a != "--parts" and sys.argv[i] != "--parts"]
    result = {
        "command": "python benchmarks/data_inspection.py " + " ".join(shown),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    if args.out and args.out.exists():
        result = {**json.loads(args.out.read_text()), **result}
    with tempfile.TemporaryDirectory(prefix="data-inspection-") as tmp:
        work = Path(tmp)
        if "folders" in parts:
            result["folders"] = folders([args.flowers.resolve(), args.chest.resolve()])
            result["crops"] = crops(args.flowers.resolve())
        if "planted" in parts:
            result["planted"] = [
                planted(f.resolve(), args.weights, args.seeds, work) for f in (args.chest, args.flowers)
            ]
        if "imbalance" in parts:
            result["imbalance"] = imbalance(args.chest.resolve(), args.weights, args.seeds, work)
        if "cost" in parts:
            result["cost"] = cost(args.flowers.resolve(), work, args.images, args.weights.resolve())
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written: {args.out}")


if __name__ == "__main__":
    main()
