"""Sources: an image folder, TensorFlow Datasets by name, scikit-learn's bundled digits; each becomes Pools.

`load_splits(dataset, data, cache_root)` is the one entry point: the `dataset` section says where the
images are, the `data` section how to carve and subset them.
"""

from __future__ import annotations

import functools
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from harness.config.folders import (
    IMAGE_EXTENSIONS,
    class_dirs,
    folder_layout,
    misnamed,
    printable,
    split_classes,
    unmatched_classes,
    utf8,
)
from harness.config.geometry import Geometry, geometry
from harness.config.reachable import network_available
from harness.data import duplicates, fingerprints, inspection
from harness.data.fingerprints import Fingerprints
from harness.data.images import resized_path
from harness.data.pipeline import resize
from harness.data.splits import Pool, Source, Splits, assemble
from harness.errors import OFFLINE_HINT, ConfigError, UserError
from harness.process import quiet, stopping
from harness.process.progress import Meter
from harness.storage import cache

log = logging.getLogger(__name__)


def decode(contents):
    import tensorflow as tf

    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _files_pool(
    paths: list[str], labels: list[int], sizes: list[tuple[int, int]], found: list, fingerprint: str
) -> Pool:
    import tensorflow as tf

    paths_arr = np.asarray(paths)

    def load(index: np.ndarray, then=None):
        then = then or (lambda image: image)
        ds = tf.data.Dataset.from_tensor_slices(paths_arr[index])
        return ds.map(lambda p: then(decode(tf.io.read_file(p))), num_parallel_calls=tf.data.AUTOTUNE)

    sizes_arr = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
    return Pool(
        np.asarray(labels, dtype=np.int64), paths_arr, load, sizes_arr, fingerprint, Fingerprints.from_lists(found)
    )


# What libjpeg says, on stderr only, when a JPEG's data is damaged: it still returns pixels (grey or garbage),
# which a run would train on. A file it says this of is skipped like one that does not decode.
_DAMAGED = re.compile(r"Corrupt JPEG data|Premature end of JPEG|Invalid JPEG|Bogus|Unsupported marker|JPEG datastream")
_JPEG = (".jpg", ".jpeg")
PROBE_CHUNK = 256  # files decoded together; only a chunk in which libjpeg complained is decoded again one by one


@functools.lru_cache(maxsize=8)
def _decode_and_fit(geometry: Geometry):
    """A file decoded, and fitted to `geometry` as the training pipeline fits it, as one traced function: the same
    bytes as the pipeline's (both are graphs of the same ops), at a third of what the fitting costs as eager ops."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
    def decode_and_fit(path):
        image = decode(tf.io.read_file(path))
        return image, resize(image, *geometry)

    return decode_and_fit.get_concrete_function()  # traced once here, not by each decoding thread that calls it first


def _decoded(path: Path, geometry: Geometry | None) -> tuple[tuple[int, int], tuple, np.ndarray | None] | None:
    """((width, height), what its fingerprints are made of, the image fitted to `geometry`) if TensorFlow, the
    decoder training uses, decodes the file to an image, else None. The fingerprints and the fitted image are taken
    here, from the one decode the scan makes anyway."""
    import tensorflow as tf

    try:
        if geometry is None:
            image, fitted = decode(tf.io.read_file(str(path))), None
        else:
            image, fitted = _decode_and_fit(geometry)(tf.constant(str(path)))
            fitted = fitted.numpy()
    except (tf.errors.OpError, ValueError):
        return None
    return (int(image.shape[1]), int(image.shape[0])), fingerprints.taken(image.numpy()), fitted


def _probe_chunk(files: list[Path], geometry: Geometry | None) -> list[tuple | None]:
    """Each file's size, fingerprints and fitted image as decoded by TensorFlow, None where it does not decode or
    libjpeg calls it damaged."""
    # TensorFlow's eager ops release the GIL, so threads decode in parallel.
    with ThreadPoolExecutor(max_workers=8) as pool, quiet.native_stderr_captured() as said:
        decoded = list(pool.map(lambda f: _decoded(f, geometry), files))
    if not any(_DAMAGED.search(line) for line in said):
        return decoded
    for i, f in enumerate(files):  # which one: libjpeg's message names no file
        if decoded[i] is not None and f.suffix.lower() in _JPEG:
            with quiet.native_stderr_captured() as one:
                _decoded(f, None)
            if any(_DAMAGED.search(line) for line in one):
                decoded[i] = None
    return decoded


def _probe_all(
    candidates: list[tuple[Path, int]], skipped: list[str], images=None, geometry: Geometry | None = None
) -> tuple[list, list, list, list, list]:
    """One decoder decides: a file is trained on only if the training pipeline's decoder reads it cleanly. With
    `images` (rows to write into) each readable file's image fitted to `geometry` is written there, in order."""
    files, probed, written = [f for f, _ in candidates], [], 0
    meter = Meter("checking that every file decodes", len(files))
    for i in range(0, len(files), PROBE_CHUNK):
        chunk = _probe_chunk(files[i : i + PROBE_CHUNK], geometry if images is not None else None)
        read = [d for d in chunk if d is not None]  # thumbnails hashed a chunk at a time, never all held at once
        rows = iter(fingerprints.assembled([d[1] for d in read]).as_lists())
        probed += [None if d is None else (d[0], next(rows)) for d in chunk]
        if images is not None and read:
            images[written : written + len(read)] = np.stack([d[2] for d in read])
            written += len(read)
        meter.update(len(files[i : i + PROBE_CHUNK]))
        stopping.check()  # minutes on a big folder; nothing is stored until every file is checked
    paths, labels, sizes, skipped, found = [], [], [], list(skipped), []
    for (f, label), decoded in zip(candidates, probed):
        if decoded is None:
            skipped.append(str(f))
            continue
        paths.append(str(f))
        labels.append(label)
        sizes.append(list(decoded[0]))
        found.append(decoded[1])
    return paths, labels, sizes, skipped, found


def _probed(
    candidates: list[tuple[Path, int]], skipped: list[str], fingerprint: str, cache_root: Path | None, geometry
) -> tuple[list, list, list, list, list]:
    """What _probe_all finds; with a cache, the readable images fitted to `geometry` are kept from the same decode
    as the pool's image entry (harness.data.images), unless it is there already."""
    if cache_root is None or geometry is None:
        return _probe_all(candidates, skipped)
    scanned: list = []

    def write(out) -> int:
        scanned.append(_probe_all(candidates, skipped, out, geometry))
        return len(scanned[0][0])

    path = resized_path(cache_root, fingerprint, geometry)
    cache.rows_entry(path, len(candidates), geometry.shape, "uint8", write)
    return scanned[0] if scanned else _probe_all(candidates, skipped)


def _scan_folder(
    root: Path, class_names: list[str], cache_root: Path | None, geometry: Geometry | None = None
) -> tuple[list, list, list, list, list, str]:
    """(paths, labels, (width, height) sizes, skipped files, each image's fingerprints, the folder's fingerprint)
    of one split folder.

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
            if f.name.startswith(".") or f.is_dir():
                continue
            if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS and utf8(f.name):
                candidates.append((f, label))
            else:  # not an image, a link that leads nowhere, a name not in UTF-8: left out and said so
                skipped.append(str(f))
    fingerprint = cache.digest("folder-scan-7", cache.file_listing(f for f, _ in candidates), class_names, skipped)
    files = len(candidates) + len(skipped)
    scanned = cache.json_value(
        cache_root,
        f"scans/{fingerprint}.json",
        lambda: _probed(candidates, skipped, fingerprint, cache_root, geometry),
        lambda v: _is_scan(v, files),
    )
    return (*scanned, fingerprint)


def _is_scan(value: object, files: int) -> bool:
    """What _probe_all makes of `files` files: paths, labels, sizes and fingerprints of the readable ones, the
    skipped ones."""
    return (
        isinstance(value, list)
        and len(value) == 5
        and all(isinstance(part, list) for part in value)
        and len(value[0]) == len(value[1]) == len(value[2]) == len(value[4])
        and len(value[0]) + len(value[3]) == files
        and all(_is_fingerprint(f) for f in value[4])
    )


def _load_folder(dataset: DictConfig, cache_root: Path | None, geometry: Geometry | None = None) -> Source:
    path = Path(str(dataset.path)).expanduser()
    train_root, others = folder_layout(path)
    class_names = [d.name for d in class_dirs(train_root)]
    notes = []
    if dataset.get("unmatched_classes") == "drop" and unmatched_classes(split_classes(path)):
        found = split_classes(path)
        shared = set.intersection(*found.values())
        dropped = sorted(set.union(*found.values()) - shared)
        class_names = [c for c in class_names if c in shared]
        notes.append(f"dropped class(es) not in every split (dataset.unmatched_classes=drop): {', '.join(dropped)}")
        log.warning("%s", notes[-1])
    unnamed = [printable(d.relative_to(path)) for root in (train_root, *others.values()) for d in misnamed(root)]
    if unnamed:
        notes.append(f"skipped class folder(s) whose names are not valid UTF-8: {', '.join(unnamed)}")
        log.warning("%s", notes[-1])
    scanned = {"train": _scan_folder(train_root, class_names, cache_root, geometry)}
    for split, root in others.items():
        scanned[split] = _scan_folder(root, class_names, cache_root, geometry)
    skipped = [f for s in scanned.values() for f in s[3]]
    if skipped:
        shown = ", ".join(
            printable(Path(f).relative_to(path) if Path(f).is_relative_to(path) else f) for f in skipped[:5]
        )
        log.warning(
            "skipped %d unreadable or non-image file(s) under %s: %s%s (all listed in the record)",
            len(skipped),
            path,
            shown,
            ", ..." if len(skipped) > 5 else "",
        )
    _check_readable_classes(scanned["train"], class_names, path)
    pools = {split: _files_pool(*s[:3], s[4], s[5]) for split, s in scanned.items()}
    return Source(pools, class_names, skipped, notes)


def _check_readable_classes(train: tuple, class_names: list[str], path: Path) -> None:
    """A class whose training files do not decode is bad input (exit 2): a head trained with an empty class
    (or, with every other class empty, on one class) would report a meaningless accuracy."""
    readable = np.bincount(np.asarray(train[1], dtype=int), minlength=len(class_names))
    unreadable = {name: sum(1 for f in train[3] if Path(f).parent.name == name) for name in class_names}
    empty = [name for name, count in zip(class_names, readable) if count == 0]
    if empty:
        raise ConfigError(
            "dataset.path",
            str(path),
            f"a folder whose every class has readable training images: class "
            f"{empty[0]!r} has none ({unreadable[empty[0]]} file(s) that do not decode as images)",
        )


def _load_digits(dataset: DictConfig, cache_root: Path | None) -> Source:
    import sklearn
    import tensorflow as tf
    from sklearn.datasets import load_digits

    digits = load_digits()
    # 0..16 intensities -> 0..255 RGB; ink is dark on light like a scanned page would be.
    gray = (255 - np.round(digits.images * (255 / 16))).astype(np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=-1)

    def load(index: np.ndarray, then=None):
        ds = tf.data.Dataset.from_tensor_slices(rgb[index])
        return ds.map(then, num_parallel_calls=tf.data.AUTOTUNE) if then else ds

    ids = np.asarray([f"digits:{i}" for i in range(len(rgb))])
    sizes = np.full((len(rgb), 2), 8, dtype=np.int64)
    pool = Pool(digits.target.astype(np.int64), ids, load, sizes, f"digits:{sklearn.__version__}")
    return Source({"train": pool}, [str(c) for c in digits.target_names])


def _tfds_pool(builder, split: str) -> Pool:
    import tensorflow as tf
    import tensorflow_datasets as tfds

    def source():
        return builder.as_dataset(
            split=split, as_supervised=True, shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()}
        )

    labels = np.fromiter((int(y) for y in source().map(lambda x, y: y).as_numpy_iterator()), dtype=np.int64)
    ids = np.asarray([f"{builder.name}:{split}:{i}" for i in range(len(labels))])

    def load(index: np.ndarray, then=None):
        then = then or (lambda image: image)
        keep = np.zeros(len(labels), dtype=bool)
        keep[index] = True
        mask = tf.constant(keep)
        ds = source().enumerate().filter(lambda i, xy: mask[i])
        return ds.map(lambda i, xy: then(decode(xy[0])), num_parallel_calls=tf.data.AUTOTUNE)

    data_dir = str(Path(builder.data_dir).resolve())
    return Pool(
        labels, ids, load, fingerprint=cache.digest("tfds", builder.name, str(builder.version), data_dir, split)
    )


def _load_tfds(dataset: DictConfig, cache_root: Path | None) -> Source:
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()
    try:
        builder = tfds.builder(dataset.name, data_dir=dataset.data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ConfigError(
            "dataset.name", dataset.name, "a TensorFlow Datasets name (see tfds.list_builders())"
        ) from None
    if not builder.is_prepared():
        if not network_available():
            raise UserError(
                f"dataset {dataset.name!r} is not in the local TFDS store and cannot be downloaded (no network); {OFFLINE_HINT}"
            )
        builder.download_and_prepare()
    _, label_key = builder.info.supervised_keys
    class_names = list(builder.info.features[label_key].names)
    pools = {"train": _tfds_pool(builder, dataset.splits.train)}
    for split in ("val", "test"):
        if dataset.splits[split]:
            pools[split] = _tfds_pool(builder, dataset.splits[split])
    return Source(pools, class_names)


def _fingerprint(pools: dict[str, Pool], cache_root: Path | None) -> None:
    """Fingerprints for the pools no scan took them for (TFDS, digits): one pass, kept by the pool's content."""
    for pool in pools.values():
        if pool.fingerprints is not None:
            continue

        def taken(pool=pool):
            images = pool.load(np.arange(len(pool.labels)), None)
            return fingerprints.of_dataset(images).as_lists()

        rows = cache.json_value(
            cache_root,
            f"fingerprints/{cache.digest('fingerprints-4', pool.fingerprint)}.json",
            taken,
            lambda value, n=len(pool.labels): _is_fingerprints(value, n),
        )
        pool.fingerprints = Fingerprints.from_lists(rows)


def _is_fingerprints(value: object, count: int) -> bool:
    return isinstance(value, list) and len(value) == count and all(_is_fingerprint(f) for f in value)


def _is_fingerprint(value: object) -> bool:
    return isinstance(value, list) and len(value) == fingerprints.WORDS + 2 and all(isinstance(i, int) for i in value)


def load_splits(dataset: DictConfig, data: DictConfig, cache_root: Path | None = None) -> Splits:
    """Train/val/test of the `dataset` section, carved and subset by the `data` section, its copies across splits
    dealt with as dataset.duplicates says, and the data report that says what was found; folder scans,
    fingerprints and duplicate pairs are kept under cache_root (None: no cache)."""
    if dataset.source == "folder":  # its scan keeps the images at the run's geometry from the decode it makes anyway
        source = _load_folder(dataset, cache_root, geometry(data))
    else:
        source = {"tfds": _load_tfds, "digits": _load_digits}[dataset.source](dataset, cache_root)
    policy = dataset.duplicates
    if policy != "off":
        _fingerprint(source.pools, cache_root)
        duplicates.find(source.pools, dataset.near_duplicate_bits, cache_root)
    splits = assemble(dataset, data, source.pools, source.class_names, source.skipped, source.notes)
    splits = duplicates.apply(splits, policy, dataset.near_duplicate_bits)
    splits.report = inspection.inspect(splits, policy, dataset.near_duplicate_bits)
    for line in inspection.concerns(splits.report):
        log.warning("%s", line)
    return splits
