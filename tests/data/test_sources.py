"""Sources: image folders (with corrupt files), scikit-learn's digits, TensorFlow Datasets (mocked, offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from harness.config.geometry import geometry
from harness.data import sources
from harness.data.images import image_array
from harness.data.pipeline import resized
from harness.errors import ConfigError, UserError
from harness.training.run import cache_root
from tests.helpers import FAST, batches, make_cfg, splits_of, write_bmp, write_garbled_jpeg, write_images


def labels_of(split):
    return np.bincount(split.labels, minlength=3)


def test_folder_with_train_val_test(image_folder):
    splits = splits_of(make_cfg("dataset=folder", f"dataset.path={image_folder}"))
    assert splits.class_names == ["blue", "green", "red"]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (18, 9, 6)
    assert splits.skipped == [] and splits.train.pool.sizes.tolist()[0] == [40, 30]


def test_folder_without_val_is_split_by_val_fraction(image_folder):
    import shutil

    shutil.rmtree(image_folder / "val")
    shutil.rmtree(image_folder / "test")
    splits = splits_of(make_cfg("dataset=folder", f"dataset.path={image_folder}", "dataset.val_fraction=0.33"))
    assert len(splits.val) == 6 and len(splits.train) == 12 and splits.test is None
    assert labels_of(splits.val).tolist() == [2, 2, 2]
    assert not set(splits.val.ids) & set(splits.train.ids)


def test_a_plain_directory_of_class_folders_is_split_too(image_folder):
    cfg = make_cfg("dataset=folder", f"dataset.path={image_folder / 'train'}", "dataset.val_fraction=0.5")
    splits = splits_of(cfg)
    assert (len(splits.train), len(splits.val)) == (9, 9)


def test_corrupt_and_non_image_files_are_skipped_and_counted(image_folder, caplog):
    (image_folder / "train" / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (image_folder / "train" / "red" / "notes.txt").write_text("hello")
    (image_folder / "train" / "blue" / "truncated.png").write_bytes(
        (image_folder / "train" / "blue" / "img_001.png").read_bytes()[:60]
    )
    with caplog.at_level("WARNING"):
        splits = splits_of(make_cfg("dataset=folder", f"dataset.path={image_folder}"))
    assert (
        sorted(Path(f).name for f in splits.skipped) == ["broken.jpg", "notes.txt", "truncated.png"]
        and len(splits.train) == 18
    )
    warned = [r.getMessage() for r in caplog.records if "skipped 3 unreadable" in r.getMessage()]
    assert len(warned) == 1 and "train/red/broken.jpg" in warned[0]  # the log names the files
    batched = list(
        batches(splits.train, make_cfg("dataset=folder", f"dataset.path={image_folder}", "data.image_size=32"), True)
    )
    assert sum(len(y) for _, y in batched) == 18


def test_digits_are_real_rgb_images_split_80_10_10():
    splits = splits_of(make_cfg("experiment=quickstart"))
    assert splits.num_classes == 10 and len(splits.train) + len(splits.val) + len(splits.test) == 1797
    assert abs(len(splits.val) - 180) <= 1 and abs(len(splits.test) - 180) <= 1
    image = next(iter(splits.val.images()))
    assert image.shape == (8, 8, 3) and image.dtype == tf.uint8 and int(tf.reduce_max(image)) == 255


@pytest.fixture
def offline_tfds(monkeypatch, tmp_path):
    """TFDS mock data; the download probe is told the network is up, as the mock downloads nothing."""
    monkeypatch.setattr(sources, "network_available", lambda *a, **k: True)
    with tfds.testing.mock_data(num_examples=40):
        yield


def test_tfds_dataset_with_its_own_validation_and_test_splits(offline_tfds):
    splits = splits_of(make_cfg("dataset=oxford_flowers102"))
    assert splits.num_classes == 102 and len(splits.class_names) == 102
    assert (len(splits.train), len(splits.val), len(splits.test)) == (40, 40, 40)
    assert splits.notes == []
    batch_x, batch_y = next(iter(batches(splits.val, make_cfg("data.image_size=32", "train.batch_size=8"), False)))
    assert batch_x.shape == (8, 32, 32, 3) and batch_x.dtype == tf.float32


def test_tfds_dataset_with_only_train_gets_val_and_test_carved(offline_tfds):
    splits = splits_of(make_cfg("dataset=tf_flowers"))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (32, 4, 4)
    assert splits.notes == ["carved val from train (10%)", "carved test from train (10%)"]
    assert not set(splits.val.ids) & set(splits.train.ids)
    assert len(list(splits.val.images())) == 4


def test_tfds_dataset_without_network_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(sources, "network_available", lambda *a, **k: False)
    with pytest.raises(UserError, match="cannot be downloaded.*experiment=quickstart.*dataset=folder.*model.weights="):
        splits_of(make_cfg("dataset=beans", f"dataset.data_dir={tmp_path}"))


def test_unknown_tfds_name_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="dataset.name"):
        splits_of(make_cfg("dataset=tfds", "dataset.name=no_such_dataset_xyz", f"dataset.data_dir={tmp_path}"))


def folder_cfg(folder: Path, tmp_path: Path, *overrides: str):
    return make_cfg("dataset=folder", f"dataset.path={folder}", f"cache_dir={tmp_path / 'cache'}", *FAST, *overrides)


def test_a_folder_is_checked_by_decoding_once_per_state(image_folder, tmp_path, monkeypatch):
    probed = []
    real = sources._decoded
    monkeypatch.setattr(sources, "_decoded", lambda path, geometry: probed.append(path) or real(path, geometry))
    cfg = folder_cfg(image_folder, tmp_path)
    first = splits_of(cfg)
    count = len(probed)
    assert count == len(first.train) + len(first.val) + len(first.test)
    second = splits_of(cfg)
    assert len(probed) == count, "the scan was served from the cache"
    assert list(second.train.ids) == list(first.train.ids) and (second.train.pool.sizes == first.train.pool.sizes).all()
    splits_of(folder_cfg(image_folder, tmp_path, "train.cache=off"))
    assert len(probed) == 2 * count, "train.cache=off checks every file again"


@pytest.mark.parametrize("stored", ['{"paths": []}', "[[], [], [], []]", "[1, 2, 3, 4]", "directory"])
def test_a_scan_that_is_not_what_the_harness_wrote_is_scanned_again(image_folder, tmp_path, stored):
    cfg = folder_cfg(image_folder, tmp_path)
    first = splits_of(cfg)
    for scan in (tmp_path / "cache").rglob("scans/*.json"):
        if stored == "directory":
            scan.unlink()
            (scan / "inside").mkdir(parents=True)
        else:
            scan.write_text(stored)
    again = splits_of(cfg)
    assert list(again.train.ids) == list(first.train.ids) and len(again.val) == len(first.val)


def test_a_refused_folder_keeps_only_its_scans_in_the_cache(image_folder, tmp_path):
    """What docs/bad-input.md says a refusal keeps: the scans and the images their decode kept (keyed by every
    file's path, size and times, so a changed folder is scanned again), so fixing one class does not decode the
    others again."""
    _unreadable(image_folder / "train" / "green", 4)
    with pytest.raises(ConfigError):
        splits_of(folder_cfg(image_folder, tmp_path))
    kept = [p.relative_to(tmp_path / "cache") for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    scans = [p for p in kept if p.parts[-2] == "scans" and p.suffix == ".json"]
    images = [p for p in kept if p.parts[-2] == "images" and p.name.endswith((".npy", ".npy.crc32"))]
    assert len(scans) == 3 and len(images) == 2 * 3 and len(kept) == len(scans) + len(images), kept


def _unreadable(folder: Path, count: int) -> None:
    for image in folder.iterdir():
        image.unlink()
    for i in range(count):
        (folder / f"fake_{i}.jpg").write_bytes(b"not an image")


def test_a_class_with_no_readable_images_is_bad_input_naming_the_class(image_folder):
    _unreadable(image_folder / "train" / "green", 4)
    with pytest.raises(ConfigError) as err:
        splits_of(make_cfg("dataset=folder", f"dataset.path={image_folder}"))
    assert err.value.key == "dataset.path" and "class 'green' has none (4 file(s) that do not decode" in str(err.value)


def test_one_readable_class_is_bad_input(tmp_path):
    write_images(tmp_path / "data" / "a", 6, color=0)
    (tmp_path / "data" / "b").mkdir()
    (tmp_path / "data" / "b" / "x.jpg").write_bytes(b"not an image")
    with pytest.raises(ConfigError) as err:
        splits_of(make_cfg("dataset=folder", f"dataset.path={tmp_path / 'data'}"))
    assert "class 'b' has none" in str(err.value)


def _bad_formats(folder: Path) -> list[str]:
    """Files Pillow reads but TensorFlow's decoder does not, or reads only with a corruption warning."""
    from PIL import Image

    rng = np.random.default_rng(1)
    Image.new("1", (40, 30), 1).save(folder / "one_bit.bmp")
    write_bmp(
        folder / "rle8.bmp",
        bits=8,
        compression=1,
        rows=b"".join(bytes([16, y % 4]) + b"\x00\x00" for y in range(8)) + b"\x00\x01",
    )
    write_bmp(folder / "sixteen_bit.bmp", bits=16, compression=0, rows=b"\x1f\x00" * 16 * 8)
    Image.fromarray(rng.integers(0, 65535, (30, 40), dtype=np.uint16)).save(folder / "sixteen_bit.png")
    write_garbled_jpeg(next(folder.glob("*.jpg")), folder / "garbled.jpg")
    (folder / "dangling.jpg").symlink_to(folder / "nowhere.jpg")
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    return ["dangling.jpg", "garbled.jpg", "loop.jpg", "one_bit.bmp", "rle8.bmp", "sixteen_bit.bmp"]


@pytest.mark.parametrize("cache", ["off", "auto"])
def test_one_decoder_decides_a_file_trains_or_is_skipped_and_listed_never_both(image_folder, tmp_path, cache):
    """With the cache on, the scan's one decode also keeps the images it passed: the same files, the same bytes."""
    expected = _bad_formats(image_folder / "train" / "red")
    cfg = folder_cfg(image_folder, tmp_path, f"train.cache={cache}")
    splits = splits_of(cfg)
    assert sorted(Path(f).name for f in splits.skipped) == expected
    # Every file kept decodes in the training pipeline (a 16-bit PNG is one TensorFlow reads: it trains).
    assert "sixteen_bit.png" in {Path(f).name for f in splits.train.ids}
    assert sum(len(y) for _, y in batches(splits.train, cfg, True)) == len(splits.train) == 19
    if cache == "auto":
        geo = geometry(cfg.data)
        kept, built = image_array(splits.train, geo, cache_root(cfg))
        assert not built, "kept by the scan"
        np.testing.assert_array_equal(
            kept, np.concatenate(list(resized(splits.train, geo).batch(64).as_numpy_iterator()))
        )


def test_names_that_are_not_valid_utf8_are_skipped_and_listed_without_a_traceback(image_folder, capfd):
    import os

    for split in ("train", "val"):
        bad = os.path.join(bytes(image_folder / split), b"bl\xffck")
        os.makedirs(bad)
        write_images(Path(os.fsdecode(bad)), 3, seed=9, color=1)
    red = image_folder / "train" / "red"
    first = sorted(red.iterdir())[0]
    os.rename(bytes(first), os.path.join(bytes(red), b"im\xfeg.png"))
    splits = splits_of(make_cfg("dataset=folder", f"dataset.path={image_folder}"))
    assert splits.class_names == ["blue", "green", "red"] and len(splits.train) == 17
    assert any("train/bl\\xffck, val/bl\\xffck" in note for note in splits.notes)
    assert [Path(p).name for p in splits.skipped] == [os.fsdecode(b"im\xfeg.png")]
    assert "Logging error" not in capfd.readouterr().err


def test_webp_cmyk_palette_and_animated_images_are_trained_on_and_a_tiff_is_skipped(image_folder):
    from PIL import Image

    rgb = np.random.default_rng(0).integers(0, 255, (30, 40, 3)).astype(np.uint8)
    red = image_folder / "train" / "red"
    Image.fromarray(rgb).save(red / "photo.webp")
    Image.fromarray(rgb).convert("CMYK").save(red / "cmyk.jpg")
    Image.fromarray(rgb).convert("P").save(red / "palette.png")
    frames = [Image.fromarray(np.roll(rgb, k, axis=0)) for k in range(3)]
    frames[0].save(red / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    Image.fromarray(rgb).save(red / "scan.tiff")
    splits = splits_of(make_cfg("dataset=folder", f"dataset.path={image_folder}"))
    assert len(splits.train) == 18 + 4 and [Path(p).name for p in splits.skipped] == ["scan.tiff"]
