"""What augmentation costs per batch: this harness's policies against Keras's own layers and keras-aug's.

    python benchmarks/augment_speed.py --dataset-path ../shared/datasets/flowers12 \
        --out benchmarks/results/augment_speed.json

Each contender augments batches of 32 real images (decoded and resized to 128 x 128 once, float32 in 0..255)
inside a tf.data map, as a training pipeline runs it: milliseconds per batch after a warm-up, with tf.data's
default threading (every core) and with one thread. Each row also says whether the contender draws its random
choices per image and per batch inside tf.data (the same check as tests/data/test_augment.py: the same image fed
everywhere; a pipeline that chose its operations while tracing gives one image per batch and one per epoch).
keras-aug is not a dependency of the harness: `pip install keras-aug` to include its rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

BATCH, SIDE = 32, 128


def images(folder: Path, count: int):
    import numpy as np
    import tensorflow as tf

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:count]
    out = [
        tf.image.resize(tf.io.decode_image(p.read_bytes(), channels=3, expand_animations=False), (SIDE, SIDE)).numpy()
        for p in files
    ]
    return np.clip(np.round(np.stack(out)), 0, 255).astype("float32")


def contenders(classes: int) -> dict[str, tuple[str, object]]:
    """name -> (library, fn(dataset of (images, one-hot labels) batches, seed) -> augmented dataset)."""
    import keras
    import tensorflow as tf
    from omegaconf import OmegaConf

    from harness.config.schema import Augmentation
    from harness.data.augment import augmenting

    settings = OmegaConf.structured(Augmentation)

    def harness(policy, mix="none"):
        return lambda ds, seed: augmenting(ds, policy, settings, mix, 1.0 if mix == "cutmix" else 0.2, seed)

    def layer(make, mixing=False):
        def build(ds, seed):
            augment = make(seed)
            if mixing:

                def step(x, y):
                    out = augment({"images": x, "labels": y}, training=True)
                    return out["images"], out["labels"]
            else:

                def step(x, y):
                    return augment(x, training=True), y

            return ds.map(step, num_parallel_calls=tf.data.AUTOTUNE)

        return build

    rows = {
        "harness flip": ("harness", harness("flip")),
        "harness basic": ("harness", harness("basic")),
        "harness randaugment": ("harness", harness("randaugment")),
        "harness trivialaugment": ("harness", harness("trivialaugment")),
        "harness autoaugment": ("harness", harness("autoaugment")),
        "harness mixup": ("harness", harness("none", "mixup")),
        "harness cutmix": ("harness", harness("none", "cutmix")),
        "keras RandomFlip": ("keras", layer(lambda s: keras.layers.RandomFlip("horizontal", seed=s))),
        "keras basic (Pipeline)": (
            "keras",
            layer(
                lambda s: keras.layers.Pipeline(
                    [
                        keras.layers.RandomFlip("horizontal", seed=s),
                        keras.layers.RandomBrightness(0.2, value_range=(0, 255), seed=s + 1),
                        keras.layers.RandomContrast(0.2, value_range=(0, 255), seed=s + 2),
                    ]
                )
            ),
        ),
        "keras RandAugment": ("keras", layer(lambda s: keras.layers.RandAugment(value_range=(0, 255), seed=s))),
        "keras MixUp": ("keras", layer(lambda s: keras.layers.MixUp(alpha=0.2, seed=s), mixing=True)),
        "keras CutMix": ("keras", layer(lambda s: keras.layers.CutMix(factor=1.0, seed=s), mixing=True)),
    }
    try:
        from keras_aug.layers import vision as ka
    except ImportError:
        return rows

    def kaug(make):  # keras-aug's layers take images in 0..1
        def build(ds, seed):
            augment = make()

            def step(x, y):
                return augment(x / 255.0, training=True) * 255.0, y

            return ds.map(step, num_parallel_calls=tf.data.AUTOTUNE)

        return build

    rows.update(
        {
            "keras-aug RandomFlip": ("keras-aug", kaug(lambda: ka.RandomFlip())),
            "keras-aug RandAugment": ("keras-aug", kaug(lambda: ka.RandAugment())),
            "keras-aug TrivialAugmentWide": ("keras-aug", kaug(lambda: ka.TrivialAugmentWide())),
        }
    )
    return rows


def batches(pixels, classes: int, threads: int | None):
    import numpy as np
    import tensorflow as tf

    labels = tf.one_hot(np.arange(len(pixels)) % classes, classes)
    ds = tf.data.Dataset.from_tensor_slices((pixels, labels)).cache().repeat().batch(BATCH, drop_remainder=True)
    if threads:
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        ds = ds.with_options(options)
    return ds


def time_batches(ds, warmup: int, count: int) -> float:
    it = iter(ds.prefetch(2))
    for _ in range(warmup):
        next(it)
    started = time.perf_counter()
    for _ in range(count):
        next(it)
    return (time.perf_counter() - started) / count * 1000


def variation(build) -> tuple[bool, bool]:
    """(differs between images of a batch, differs between batches) for one image fed everywhere, over 8
    batches (a flip, with two outcomes, repeats its first image 8 times by chance once in 128)."""
    import numpy as np
    import tensorflow as tf

    image = np.random.default_rng(0).integers(0, 256, (SIDE, SIDE, 3)).astype("float32")
    pixels = np.repeat(image[None], 8 * 16, axis=0)
    labels = tf.one_hot(np.zeros(len(pixels), int), 4)
    ds = build(tf.data.Dataset.from_tensor_slices((pixels, labels)).batch(16), 0)
    out = [x.numpy() if hasattr(x, "numpy") else np.asarray(x) for x, _ in ds]
    within = len({im.tobytes() for im in out[0]}) > 1
    across = len({b[0].tobytes() for b in out}) > 1
    return within, across


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset-path", type=Path, required=True, help="a folder of images (any layout)")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batches", type=int, default=30, help="timed batches per try")
    parser.add_argument("--tries", type=int, default=3, help="the median of this many tries is reported")
    parser.add_argument("--only", nargs="*", help="contenders whose name contains one of these")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sweep_speed import stamp

    pixels = images(args.dataset_path, args.images)
    classes = 12
    rows = []
    for name, (library, build) in contenders(classes).items():
        if args.only and not any(o in name for o in args.only):
            continue
        row = {"contender": name, "library": library}
        try:
            for threads, key in ((None, "ms_per_batch"), (1, "ms_per_batch_one_thread")):
                tries = [
                    time_batches(build(batches(pixels, classes, threads), 0), 3, args.batches)
                    for _ in range(args.tries)
                ]
                row[key] = round(statistics.median(tries), 2)
            if not any(m in name.lower() for m in ("mix",)):  # mixing one image with itself changes nothing
                row["per_image"], row["per_batch"] = variation(build)
        except Exception as exc:  # a library's layer that does not run inside tf.data is a result too
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        rows.append(row)
        shown = (
            f"{row['ms_per_batch']:8.1f} ms/batch, {row['ms_per_batch_one_thread']:8.1f} on one thread,"
            f" per image {row.get('per_image', 'n/a')}, per batch {row.get('per_batch', 'n/a')}"
            if "error" not in row
            else row["error"]
        )
        print(f"{name:32} {shown}", flush=True)
    report = {**stamp("augment_speed"), "batch": BATCH, "side": SIDE, "images": len(pixels), "rows": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
        print(f"written: {args.out}")


if __name__ == "__main__":
    main()
