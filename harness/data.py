"""Data: load a split (tfds | folder | digits) -> subset -> decode+resize -> cache -> batch -> augment.

Every source is reduced to a Pool (labels + a way to load images by index), so carving val/test from
train, the samples_per_class subset and the tf.data pipeline are the same code for all of them.
"""

from __future__ import annotations

import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from omegaconf import DictConfig

from harness import cache
from harness.config import IMAGE_EXTENSIONS, class_dirs, folder_layout, target_hw
from harness.errors import ConfigError, UserError

log = logging.getLogger(__name__)

OFFLINE_HINT = (
    "offline options: experiment=quickstart (bundled digits), dataset=folder dataset.path=DIR (your images), "
    "dataset.data_dir=DIR (a prepared TFDS store), model.weights=<file> (local ImageNet weights)"
)


@dataclass
class Pool:
    """All examples of one source split. `load(sorted indices)` yields uint8 HxWx3 images in that order."""

    labels: np.ndarray
    ids: np.ndarray
    load: Callable[[np.ndarray], "tf.data.Dataset"]  # noqa: F821
    sizes: np.ndarray | None = None  # original (width, height) per example, where known without decoding twice
    fingerprint: str = ""  # identity of the source content: part of every cache key built on this pool


@dataclass
class Split:
    pool: Pool
    index: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        return self.pool.labels[self.index]

    @property
    def ids(self) -> np.ndarray:
        return self.pool.ids[self.index]

    def __len__(self) -> int:
        return len(self.index)

    def images(self):
        return self.pool.load(self.index)


@dataclass
class Splits:
    train: Split
    val: Split
    test: Split | None
    class_names: list[str]
    skipped: int = 0  # unreadable files left out of a folder dataset
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


# --- carving and subsetting (pure numpy, seeded) -----------------------------------------------


def stratified_split(labels: np.ndarray, fractions: list[float], seed: int) -> list[np.ndarray]:
    """Split positions 0..n-1 into len(fractions)+1 sorted parts (the last gets the rest), stratified by label.

    Each example gets a key = (its rank within its shuffled class + 0.5) / class size, so taking
    examples in key order takes every class in proportion (within one example), even when classes are tiny.
    """
    rng = np.random.default_rng(seed)
    n = len(labels)
    keys = np.empty(n)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        keys[members] = (np.arange(len(members)) + 0.5) / len(members)
    order = np.lexsort((rng.random(n), keys))  # equal keys (classes of equal size) in seeded random order
    parts, start = [], 0
    for fraction in fractions:
        count = int(round(n * fraction))
        parts.append(np.sort(order[start : start + count]))
        start += count
    parts.append(np.sort(order[start:]))
    return parts


def per_class_subset(labels: np.ndarray, k: int, seed: int, class_names: list[str]) -> np.ndarray:
    """Positions of a seeded subset with exactly k examples of every class present in `labels`."""
    rng = np.random.default_rng(seed)
    present, counts = np.unique(labels, return_counts=True)
    if k > counts.min():
        smallest = present[np.argmin(counts)]
        raise ConfigError(
            "data.samples_per_class", k, f"at most {counts.min()} (class {class_names[smallest]!r} has that many training images)"
        )
    chosen = [rng.permutation(np.flatnonzero(labels == label))[:k] for label in present]
    return np.sort(np.concatenate(chosen))


# --- sources -----------------------------------------------------------------------------------


def _decode(contents):
    import tensorflow as tf

    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _files_pool(paths: list[str], labels: list[int], sizes: list[tuple[int, int]], fingerprint: str) -> Pool:
    import tensorflow as tf

    paths_arr = np.asarray(paths)

    def load(index: np.ndarray):
        ds = tf.data.Dataset.from_tensor_slices(paths_arr[index])
        return ds.map(lambda p: _decode(tf.io.read_file(p)), num_parallel_calls=tf.data.AUTOTUNE)

    sizes_arr = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
    return Pool(np.asarray(labels, dtype=np.int64), paths_arr, load, sizes_arr, fingerprint)


def _probe_image(path: Path) -> tuple[int, int] | None:
    """(width, height) if the file decodes as an image TensorFlow can read, else None."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.format not in ("JPEG", "PNG", "BMP", "GIF"):
                return None
            im.load()  # a truncated file fails here, not at open
            return im.size
    except Exception:
        return None


def _scan_folder(root: Path, class_names: list[str], cache_root: Path | None) -> tuple[list, list, list, int, str]:
    """(paths, labels, (width, height) sizes, skipped count, fingerprint) of one split folder.

    Checking that every file decodes costs a full decode; with a cache the result is kept, keyed by
    every file's path, size and modification time, so only a changed folder is checked again.
    """
    candidates: list[tuple[Path, int]] = []
    skipped = 0
    for label, name in enumerate(class_names):
        class_dir = root / name
        if not class_dir.is_dir():
            continue
        for f in sorted(class_dir.iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS:
                candidates.append((f, label))
            elif f.is_file() and not f.name.startswith("."):
                skipped += 1
    fingerprint = cache.digest("folder", cache.file_listing(f for f, _ in candidates), class_names, skipped)
    if cache_root is None:
        return (*_probe_all(candidates, skipped), fingerprint)
    entry = cache_root / "scans" / f"{fingerprint}.json"
    scanned, _ = cache.json_entry(entry, lambda: _probe_all(candidates, skipped))
    return (*scanned, fingerprint)


def _probe_all(candidates: list[tuple[Path, int]], skipped: int) -> tuple[list, list, list, int]:
    # Pillow releases the GIL while decoding, so threads check files in parallel.
    with ThreadPoolExecutor(max_workers=8) as pool:
        probed = list(pool.map(_probe_image, [f for f, _ in candidates]))
    paths, labels, sizes = [], [], []
    for (f, label), size in zip(candidates, probed):
        if size is None:
            skipped += 1
            continue
        paths.append(str(f))
        labels.append(label)
        sizes.append(list(size))
    return paths, labels, sizes, skipped


def _load_folder(cfg: DictConfig) -> Splits:
    path = Path(str(cfg.dataset.path)).expanduser()
    train_root, others = folder_layout(path)
    class_names = [d.name for d in class_dirs(train_root)]
    cache_root = cache.root(cfg) if cache.enabled(cfg) else None
    scanned = {"train": _scan_folder(train_root, class_names, cache_root)}
    for split, root in others.items():
        scanned[split] = _scan_folder(root, class_names, cache_root)
    skipped = sum(s[3] for s in scanned.values())
    if skipped:
        log.warning("skipped %d unreadable or non-image file(s) under %s", skipped, path)
    pools = {split: _files_pool(*s[:3], s[4]) for split, s in scanned.items()}
    return _assemble(cfg, pools, class_names, skipped)


def _load_digits(cfg: DictConfig) -> Splits:
    import sklearn
    import tensorflow as tf
    from sklearn.datasets import load_digits

    digits = load_digits()
    # 0..16 intensities -> 0..255 RGB; ink is dark on light like a scanned page would be.
    gray = (255 - np.round(digits.images * (255 / 16))).astype(np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=-1)

    def load(index: np.ndarray):
        return tf.data.Dataset.from_tensor_slices(rgb[index])

    ids = np.asarray([f"digits:{i}" for i in range(len(rgb))])
    sizes = np.full((len(rgb), 2), 8, dtype=np.int64)
    pool = Pool(digits.target.astype(np.int64), ids, load, sizes, f"digits:{sklearn.__version__}")
    return _assemble(cfg, {"train": pool}, [str(c) for c in digits.target_names])


def network_available(host: str = "storage.googleapis.com", timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _tfds_pool(builder, split: str) -> Pool:
    import tensorflow as tf
    import tensorflow_datasets as tfds

    def source():
        return builder.as_dataset(
            split=split, as_supervised=True, shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()}
        )

    labels = np.fromiter((int(y) for y in source().map(lambda x, y: y).as_numpy_iterator()), dtype=np.int64)
    ids = np.asarray([f"{builder.name}:{split}:{i}" for i in range(len(labels))])

    def load(index: np.ndarray):
        keep = np.zeros(len(labels), dtype=bool)
        keep[index] = True
        mask = tf.constant(keep)
        ds = source().enumerate().filter(lambda i, xy: mask[i])
        return ds.map(lambda i, xy: _decode(xy[0]), num_parallel_calls=tf.data.AUTOTUNE)

    data_dir = str(Path(builder.data_dir).resolve())
    return Pool(labels, ids, load, fingerprint=cache.digest("tfds", builder.name, str(builder.version), data_dir, split))


def _load_tfds(cfg: DictConfig) -> Splits:
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()
    name = cfg.dataset.name
    try:
        builder = tfds.builder(name, data_dir=cfg.dataset.data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ConfigError("dataset.name", name, "a TensorFlow Datasets name (see tfds.list_builders())") from None
    if not builder.is_prepared():
        if not network_available():
            raise UserError(f"dataset {name!r} is not in the local TFDS store and cannot be downloaded (no network); {OFFLINE_HINT}")
        builder.download_and_prepare()
    image_key, label_key = builder.info.supervised_keys
    class_names = list(builder.info.features[label_key].names)
    pools = {"train": _tfds_pool(builder, cfg.dataset.splits.train)}
    for split in ("val", "test"):
        if cfg.dataset.splits[split]:
            pools[split] = _tfds_pool(builder, cfg.dataset.splits[split])
    return _assemble(cfg, pools, class_names)


def _assemble(cfg: DictConfig, pools: dict[str, Pool], class_names: list[str], skipped: int = 0) -> Splits:
    """Carve missing val/test from train (seeded, stratified), then subset train to samples_per_class."""
    train_pool = pools["train"]
    carve = []
    if "val" not in pools:
        carve.append(("val", cfg.dataset.val_fraction))
    if "test" not in pools and cfg.dataset.test_fraction > 0:
        carve.append(("test", cfg.dataset.test_fraction))
    parts = stratified_split(train_pool.labels, [f for _, f in carve], cfg.data.seed)
    splits = {"train": Split(train_pool, parts[-1])}
    for (split, _), index in zip(carve, parts):
        splits[split] = Split(train_pool, index)
    for split in ("val", "test"):
        if split in pools:
            splits[split] = Split(pools[split], np.arange(len(pools[split].labels)))
    notes = [f"carved {split} from train ({fraction:.0%})" for split, fraction in carve]

    k = cfg.data.samples_per_class
    if k is not None:
        train = splits["train"]
        train.index = train.index[per_class_subset(train.labels, k, cfg.data.seed, class_names)]
    for split in ("train", "val"):
        if len(splits[split]) == 0:
            raise UserError(f"dataset {cfg.dataset.name!r} has no {split} images after splitting; add images or raise dataset.val_fraction")
    test = splits.get("test")
    return Splits(splits["train"], splits["val"], test if test is not None and len(test) else None, class_names, skipped, notes)


def load_splits(cfg: DictConfig) -> Splits:
    loaders = {"tfds": _load_tfds, "folder": _load_folder, "digits": _load_digits}
    return loaders[cfg.dataset.source](cfg)


# --- tf.data pipeline ----------------------------------------------------------------------------


def resize(image, height: int, width: int, mode: str):
    """uint8 HxWx3 (any size) -> uint8 height x width x 3 by squash | pad | crop."""
    import tensorflow as tf

    if mode == "squash":
        out = tf.image.resize(image, (height, width), antialias=True)
    elif mode == "pad":
        out = tf.image.resize_with_pad(tf.cast(image, tf.float32), height, width, antialias=True)
    else:  # crop: scale so the image covers the target, then take the centre
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = tf.maximum(height / shape[0], width / shape[1])
        size = tf.cast(tf.math.ceil(shape * scale), tf.int32)
        out = tf.image.resize(image, size, antialias=True)
        out = tf.image.resize_with_crop_or_pad(out, height, width)
    # uint8 keeps the in-memory cache 4x smaller than float32; the model rescales anyway.
    return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8)


def augmenter(cfg: DictConfig, seed: int):
    """A Keras preprocessing stack applied to whole batches (vectorized), or None when augment is off."""
    if not cfg.data.augment:
        return None
    import keras

    a = cfg.data.augmentation
    layers = []
    if a.flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if a.brightness:
        layers.append(keras.layers.RandomBrightness(a.brightness, value_range=(0, 255), seed=seed + 1))
    if a.contrast:
        layers.append(keras.layers.RandomContrast(a.contrast, value_range=(0, 255), seed=seed + 2))
    if a.rotation:
        layers.append(keras.layers.RandomRotation(a.rotation, seed=seed + 3))
    if a.shift:
        layers.append(keras.layers.RandomTranslation(a.shift, a.shift, seed=seed + 4))
    if a.zoom:
        layers.append(keras.layers.RandomZoom(a.zoom, seed=seed + 5))
    return keras.Sequential(layers, name="augment") if layers else None


def _resized(split: Split, cfg: DictConfig):
    import tensorflow as tf

    height, width = target_hw(cfg.data.image_size, cfg.data.aspect_ratio)
    return split.images().map(lambda im: resize(im, height, width, cfg.data.resize_mode), num_parallel_calls=tf.data.AUTOTUNE)


def image_key(split: Split, cfg: DictConfig) -> str:
    """Identity of a split's decoded+resized images: source content, which examples, geometry, code versions."""
    height, width = target_hw(cfg.data.image_size, cfg.data.aspect_ratio)
    return cache.digest("images", split.pool.fingerprint, split.index, height, width, cfg.data.resize_mode, cache.versions())


def image_array(split: Split, cfg: DictConfig) -> tuple[np.ndarray, bool]:
    """The split's uint8 images at the configured geometry, from the preprocessing cache (built on first use)."""
    height, width = target_hw(cfg.data.image_size, cfg.data.aspect_ratio)

    def fill(out: np.ndarray) -> None:
        start = 0
        for batch in _resized(split, cfg).batch(256).as_numpy_iterator():
            out[start : start + len(batch)] = batch
            start += len(batch)

    path = cache.root(cfg) / "images" / f"{image_key(split, cfg)}.npy"
    return cache.array_entry(path, (len(split), height, width, 3), "uint8", fill)


def split_images(split: Split, cfg: DictConfig) -> np.ndarray:
    """The split's uint8 images at the configured geometry: from the preprocessing cache, or decoded now."""
    if cache.enabled(cfg):
        return np.asarray(image_array(split, cfg)[0])
    return np.concatenate(list(_resized(split, cfg).batch(256).as_numpy_iterator()))


def pipeline(split: Split, cfg: DictConfig, *, training: bool, array: np.ndarray | None = None):
    """Batched (float32 inputs, int labels). Inputs come from `array` (cached images or frozen-prefix features,
    one row per example of `split`) or are decoded+resized once and kept in memory; then shuffle, batch, augment.
    """
    import tensorflow as tf

    if array is not None:
        ds = tf.data.Dataset.from_tensor_slices((np.asarray(array), split.labels))
    else:
        ds = tf.data.Dataset.zip(_resized(split, cfg), tf.data.Dataset.from_tensor_slices(split.labels)).cache()
    if training:
        ds = ds.shuffle(min(cfg.data.shuffle_buffer, len(split)), seed=cfg.train.seed, reshuffle_each_iteration=True)
    ds = ds.batch(cfg.train.batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))
    augment = augmenter(cfg, cfg.train.seed) if training else None
    if augment is not None:
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
