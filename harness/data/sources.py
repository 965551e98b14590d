"""Sources: an image folder, TensorFlow Datasets by name, scikit-learn's bundled digits; each becomes Pools.

`load_splits(dataset, data, cache_root)` is the one entry point: the `dataset` section says where the
images are, the `data` section how to carve and subset them.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from harness import cache
from harness.data.splits import Pool, Splits, assemble
from harness.errors import OFFLINE_HINT, ConfigError, UserError
from harness.folders import IMAGE_EXTENSIONS, class_dirs, folder_layout
from harness.reachable import network_available

log = logging.getLogger(__name__)


def decode(contents):
    import tensorflow as tf

    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _files_pool(paths: list[str], labels: list[int], sizes: list[tuple[int, int]], fingerprint: str) -> Pool:
    import tensorflow as tf

    paths_arr = np.asarray(paths)

    def load(index: np.ndarray):
        ds = tf.data.Dataset.from_tensor_slices(paths_arr[index])
        return ds.map(lambda p: decode(tf.io.read_file(p)), num_parallel_calls=tf.data.AUTOTUNE)

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


def _probe_all(candidates: list[tuple[Path, int]], skipped: list[str]) -> tuple[list, list, list, list]:
    # Pillow releases the GIL while decoding, so threads check files in parallel.
    with ThreadPoolExecutor(max_workers=8) as pool:
        probed = list(pool.map(_probe_image, [f for f, _ in candidates]))
    paths, labels, sizes, skipped = [], [], [], list(skipped)
    for (f, label), size in zip(candidates, probed):
        if size is None:
            skipped.append(str(f))
            continue
        paths.append(str(f))
        labels.append(label)
        sizes.append(list(size))
    return paths, labels, sizes, skipped


def _scan_folder(root: Path, class_names: list[str], cache_root: Path | None) -> tuple[list, list, list, list, str]:
    """(paths, labels, (width, height) sizes, skipped files, fingerprint) of one split folder.

    Checking that every file decodes costs a full decode; with a cache the result is kept, keyed by
    every file's path, size, modification and inode change time, so only a changed folder is checked again.
    """
    candidates: list[tuple[Path, int]] = []
    skipped: list[str] = []
    for label, name in enumerate(class_names):
        class_dir = root / name
        if not class_dir.is_dir():
            continue
        for f in sorted(class_dir.iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS:
                candidates.append((f, label))
            elif f.is_file() and not f.name.startswith("."):
                skipped.append(str(f))
    fingerprint = cache.digest("folder-scan-2", cache.file_listing(f for f, _ in candidates), class_names, skipped)
    if cache_root is None:
        return (*_probe_all(candidates, skipped), fingerprint)
    scanned, _ = cache.json_entry(cache_root / "scans" / f"{fingerprint}.json", lambda: _probe_all(candidates, skipped))
    return (*scanned, fingerprint)


def _load_folder(dataset: DictConfig, data: DictConfig, cache_root: Path | None) -> Splits:
    path = Path(str(dataset.path)).expanduser()
    train_root, others = folder_layout(path)
    class_names = [d.name for d in class_dirs(train_root)]
    scanned = {"train": _scan_folder(train_root, class_names, cache_root)}
    for split, root in others.items():
        scanned[split] = _scan_folder(root, class_names, cache_root)
    skipped = [f for s in scanned.values() for f in s[3]]
    if skipped:
        shown = ", ".join(str(Path(f).relative_to(path)) if Path(f).is_relative_to(path) else f for f in skipped[:5])
        log.warning("skipped %d unreadable or non-image file(s) under %s: %s%s (all listed in the record)",
                    len(skipped), path, shown, ", ..." if len(skipped) > 5 else "")
    _check_readable_classes(scanned["train"], class_names, path)
    pools = {split: _files_pool(*s[:3], s[4]) for split, s in scanned.items()}
    return assemble(dataset, data, pools, class_names, skipped)


def _check_readable_classes(train: tuple, class_names: list[str], path: Path) -> None:
    """A class whose training files do not decode is bad input (exit 2): a head trained with an empty class
    (or, with every other class empty, on one class) would report a meaningless accuracy."""
    readable = np.bincount(np.asarray(train[1], dtype=int), minlength=len(class_names))
    unreadable = {name: sum(1 for f in train[3] if Path(f).parent.name == name) for name in class_names}
    empty = [name for name, count in zip(class_names, readable) if count == 0]
    if empty:
        raise ConfigError("dataset.path", str(path), f"a folder whose every class has readable training images: class "
                          f"{empty[0]!r} has none ({unreadable[empty[0]]} file(s) that do not decode as images)")


def _load_digits(dataset: DictConfig, data: DictConfig, cache_root: Path | None) -> Splits:
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
    return assemble(dataset, data, {"train": pool}, [str(c) for c in digits.target_names])


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
        return ds.map(lambda i, xy: decode(xy[0]), num_parallel_calls=tf.data.AUTOTUNE)

    data_dir = str(Path(builder.data_dir).resolve())
    return Pool(labels, ids, load, fingerprint=cache.digest("tfds", builder.name, str(builder.version), data_dir, split))


def _load_tfds(dataset: DictConfig, data: DictConfig, cache_root: Path | None) -> Splits:
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()
    try:
        builder = tfds.builder(dataset.name, data_dir=dataset.data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ConfigError("dataset.name", dataset.name, "a TensorFlow Datasets name (see tfds.list_builders())") from None
    if not builder.is_prepared():
        if not network_available():
            raise UserError(f"dataset {dataset.name!r} is not in the local TFDS store and cannot be downloaded (no network); {OFFLINE_HINT}")
        builder.download_and_prepare()
    _, label_key = builder.info.supervised_keys
    class_names = list(builder.info.features[label_key].names)
    pools = {"train": _tfds_pool(builder, dataset.splits.train)}
    for split in ("val", "test"):
        if dataset.splits[split]:
            pools[split] = _tfds_pool(builder, dataset.splits[split])
    return assemble(dataset, data, pools, class_names)


def load_splits(dataset: DictConfig, data: DictConfig, cache_root: Path | None = None) -> Splits:
    """Train/val/test of the `dataset` section, carved and subset by the `data` section; folder scans are
    kept under cache_root (None: no cache)."""
    loaders = {"tfds": _load_tfds, "folder": _load_folder, "digits": _load_digits}
    return loaders[dataset.source](dataset, data, cache_root)
