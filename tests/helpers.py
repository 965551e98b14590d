"""Helpers shared by the tests: compose like the CLI, run the CLI, generate images, fake records, read TensorBoard."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from PIL import Image

from harness.config.geometry import geometry
from harness.config.schema import CONF_DIR
from harness.records.record import RunRecord, SweepIdentity, write_record

ROOT = Path(__file__).resolve().parent.parent
# Presets the tests share, beside conf/'s (`--config-dir` on the command line): study=mini.
TEST_CONF = ROOT / "tests" / "conf"


def needs_extra(module: str, extra: str):
    """Skip a test whose launcher plugin comes with an optional extra that is not installed (`dev` installs both)."""
    return pytest.mark.skipif(
        importlib.util.find_spec(module) is None,
        reason=f'needs the {extra} extra: pip install -e ".[{extra}]" (or ".[dev]")',
    )


NEEDS_RAY = needs_extra("ray", "ray")
NEEDS_SLURM = needs_extra("hydra_plugins.hydra_submitit_launcher", "slurm")
NEEDS_AUTOML = needs_extra("autokeras", "automl")

# Fast mode: tiny images, one training step, one epoch. Validation still sees the whole split.
FAST = ["data.image_size=32", "train.epochs=1", "train.steps_per_epoch=1", "train.verbose=0", "train.batch_size=8"]
# A quickstart run small enough to repeat, long enough (2 epochs of 2 compiled blocks) to show what a kept model keeps.
KEPT_RUN = [
    "experiment=quickstart",
    "data.image_size=32",
    "train.epochs=2",
    "train.steps_per_epoch=4",
    "train.verbose=0",
    "train.batch_size=8",
    "train.steps_per_execution=2",
]


def make_cfg(*overrides: str, searchpath: Path | None = None):
    """The config `python -m harness <overrides>` would run (the CLI composes with the same API)."""
    extra = [f"hydra.searchpath=[file://{searchpath}]"] if searchpath else []
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[*extra, *overrides])


def start_cli(*args: str, env: dict | None = None, new_session: bool = False) -> subprocess.Popen:
    """`python -m harness ...` started in the background from the checkout, its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        env=env or {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "HYDRA_FULL_ERROR": "0"},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=new_session,
    )


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd or ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def experiment_dir(*args: str) -> Path:
    """The experiment folder a command line's runs go to (args include results_dir=...), as the CLI names it."""
    from harness.command import compose_cli, hydra_argv

    command = compose_cli(list(args))
    hydra_argv(list(args), command)  # names a search as the CLI does
    cfg = command.configs[0]
    return Path(cfg.results_dir) / str(cfg.name).split("/")[0]


def single_run_dir(*args: str) -> Path:
    """The folder a single run's command line writes, as the CLI names it."""
    from harness.command import compose_cli, single_run_name

    command = compose_cli(list(args))
    single_run_name(list(args), command)
    cfg = command.configs[0]
    return Path(cfg.results_dir) / cfg.name / cfg.run_name


def sweep_line(stdout: str) -> str:
    """The line a sweep ends with: `sweep <name>: N runs, ...`."""
    return next(line for line in stdout.splitlines() if line.startswith("sweep "))


def splits_of(cfg):
    from harness.training.run import load_data

    return load_data(cfg)


def batches(split, cfg, training: bool):
    """The pipeline a run of `cfg` trains (training=True) or validates on."""
    from harness.data.pipeline import pipeline

    return pipeline(
        split,
        geometry(cfg.data),
        cfg.data,
        batch_size=cfg.train.batch_size,
        seed=cfg.train.seed,
        training=training,
        classes=len(set(split.pool.labels.tolist())),
    )


def write_images(folder: Path, count: int, size: tuple[int, int] = (40, 30), seed: int = 0, color: int = 0) -> None:
    """`count` small JPEG/PNG images whose dominant channel depends on `color`, so classes are learnable."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        pixels = rng.integers(0, 80, size=(size[1], size[0], 3), dtype=np.uint8)
        pixels[..., color % 3] += 150
        ext = "png" if i % 2 else "jpg"
        Image.fromarray(pixels).save(folder / f"img_{i:03d}.{ext}")


def smooth_image(seed: int, size: int = 128) -> Image.Image:
    """A photo-like image (a smooth background, eight soft-edged blobs, a faint coarse texture): what a perceptual
    hash is made for."""
    from PIL import ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, size=(3, 3, 3), dtype=np.uint8)).resize((size, size), Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(8):
        x, y = rng.integers(0, size, 2)
        r = rng.integers(size // 16, size // 4)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    texture = rng.integers(0, 256, size=(size // 4, size // 4, 3), dtype=np.uint8)
    image = Image.blend(image, Image.fromarray(texture).resize((size, size), Image.BICUBIC), 0.25)
    return image.filter(ImageFilter.GaussianBlur(1))


def copies_of(image: Image.Image) -> dict[str, Image.Image]:
    """What a folder holds twice in real life: a resized, a re-encoded and a slightly (1.5 % a side) cropped copy."""
    import io

    w, h = image.size
    encoded = io.BytesIO()
    image.save(encoded, "JPEG", quality=60)
    margin_w, margin_h = round(w * 0.015), round(h * 0.015)
    return {
        "resized": image.resize((w * 2 // 3, h * 2 // 3), Image.LANCZOS),
        "reencoded": Image.open(encoded).convert("RGB"),
        "cropped": image.crop((margin_w, margin_h, w - margin_w, h - margin_h)),
    }


def write_photos(folder: Path, seeds: list[int], ext: str = "png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"photo_{seed:04d}.{ext}" for seed in seeds]
    for seed, path in zip(seeds, paths):
        smooth_image(seed).save(path)
    return paths


def write_leaking_folder(root: Path, planted: bool = True) -> Path:
    """train/{a,b}/ 6 photos each, val/ and test/ 3 each, all distinct; `planted` adds to val/a a resized copy of
    a train/a photo, to test/b a re-encoded copy of a train/b photo and an exact copy (as PNG) of a val/b photo."""
    for c, name in enumerate("ab"):
        write_photos(root / "train" / name, [100 * c + i for i in range(6)])
        write_photos(root / "val" / name, [100 * c + 10 + i for i in range(3)])
        write_photos(root / "test" / name, [100 * c + 20 + i for i in range(3)])
    if planted:
        made = copies_of(smooth_image(0))
        made["resized"].save(root / "val" / "a" / "copy_of_train_a_0.png")
        made = copies_of(smooth_image(101))
        made["reencoded"].save(root / "test" / "b" / "copy_of_train_b_1.png")
        smooth_image(110).save(root / "test" / "b" / "copy_of_val_b_0.png")
    return root


def write_bare_record(run_dir: Path, **fields) -> None:
    """A record with only what a RunRecord needs (a completed run named after its folder, with a score), and
    `fields` on top."""
    base = dict(
        best_val_accuracy=0.5 if fields.get("status", "completed") == "completed" else None,
        name=run_dir.parent.name,
        run_name=run_dir.name,
        status="completed",
        config_hash="h",
        config={},
        sweep=SweepIdentity(),
        started_at="t",
        versions={},
        git={},
        host={},
    )
    write_record(run_dir, RunRecord(**{**base, **fields}))


def fake_run(
    exp: Path, run: str, value, best: float | None, status: str = "completed", seed: int = 42, curve=None, **fields
) -> None:
    """A record as a learning-rate sweep's run would leave it, with a chosen best val accuracy and curve (and any
    other record `fields`)."""
    curve = curve if curve is not None else ([best / 2, best] if best is not None else [0.1])
    config = {
        "dataset": {"name": "d"},
        "data": {"image_size": 32},
        "model": {"unfreeze": 0.5},
        "train": {"learning_rate": value, "seed": seed},
    }
    made = {
        "name": exp.name,
        "run_name": run,
        "status": status,
        "error": None if status == "completed" else "boom",
        "config_hash": "h",
        "config": config,
        "sweep": SweepIdentity("learning_rate", "train.learning_rate", value, seed),
        "started_at": "t",
        "versions": {},
        "git": {},
        "host": {},
        "best_val_accuracy": best,
        "final_val_accuracy": curve[-1],
        "best_epoch": 2,
        "epochs_run": len(curve),
        "seconds_per_epoch": 1.5,
        "wall_seconds": 5.0,
        "history": {"epoch": list(range(1, len(curve) + 1)), "val_accuracy": curve, "seconds": [2.0] * len(curve)},
    }
    write_record(exp / run, RunRecord(**{**made, **fields}))


def records(exp: Path, pattern: str = "*") -> dict[str, dict]:
    """{run folder: record} of every run under an experiment folder."""
    return {p.parent.name: json.loads(p.read_text()) for p in exp.glob(f"{pattern}/record.json")}


def tb_tags(log_dir: Path) -> dict[str, set[str]]:
    """{subdir: tags} of every TensorBoard event file under log_dir (plugin tags included), read with TensorBoard."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    out: dict[str, set[str]] = {}
    for events in log_dir.rglob("events.out.tfevents.*"):
        tags = out.setdefault(str(events.parent.relative_to(log_dir)), set())
        for event in EventFileLoader(str(events)).Load():
            tags.update(v.tag for v in event.summary.value)
    return out


def write_weights_file(path: Path, first_layer: str = "conv1", filters: int = 8, top: bool = False) -> Path:
    """An HDF5 file in keras.applications' weights layout, as far as the pre-TensorFlow check reads it
    (defaults: MobileNet at alpha 0.25, no top)."""
    import h5py

    names = ["input_1", first_layer, *(["conv_preds"] if top else [])]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [n.encode() for n in names]
        group = f.create_group(first_layer)
        group.attrs["weight_names"] = [f"{first_layer}/kernel:0".encode()]
        group.create_dataset(f"{first_layer}/kernel:0", data=np.zeros((3, 3, 3, filters), dtype="float32"))
    return path


def write_bmp(path: Path, bits: int, compression: int, rows: bytes, width: int = 16, height: int = 8) -> None:
    """A BMP with a BITMAPINFOHEADER: 8-bit RLE (compression 1, a 4-colour palette) or 16-bit, as Pillow reads them."""
    import struct

    palette = (
        b"".join(bytes([b, g, r, 0]) for r, g, b in [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]) * 64
        if bits == 8
        else b""
    )
    offset = 14 + 40 + len(palette)
    info = struct.pack(
        "<IiiHHIIiiII", 40, width, height, 1, bits, compression, len(rows), 2835, 2835, 256 if palette else 0, 0
    )
    path.write_bytes(b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset) + info + palette + rows)


def write_garbled_jpeg(source: Path, target: Path) -> None:
    """A JPEG whose scan data is garbage between an intact header and end marker: libjpeg decodes it with a
    'Corrupt JPEG data' warning on stderr and returns pixels."""
    data = bytearray(source.read_bytes())
    start = (
        data.index(b"\xff\xda")
        + 2
        + int.from_bytes(data[data.index(b"\xff\xda") + 2 : data.index(b"\xff\xda") + 4], "big")
    )
    junk = np.random.default_rng(0).integers(0, 254, len(data) - 2 - start, dtype=np.uint8).tobytes()
    data[start:-2] = junk
    target.write_bytes(bytes(data))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def post_json(url: str, body: dict) -> dict:
    import json
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def tensorboard_server(logdir: Path, ready):
    """TensorBoard's own server on `logdir` (its HTTP API, as a browser uses it), yielding its base URL once
    `ready(url)` is true; stopped on the way out."""
    import subprocess
    import sys
    import time

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--port", str(port)]
        + ["--host", "127.0.0.1", "--load_fast", "false", "--reload_interval", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if ready(url):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise AssertionError(f"TensorBoard on {logdir} never became ready")
            time.sleep(1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
