"""A corpus of bad inputs and faults on data, disks, paths, claims, search spaces and files read back, each run
as a user would (`python -m harness ...` in a fresh process), each judged strict, partial or failed.

    python benchmarks/bad_inputs.py [--checkout DIR] [--only NAME ...] [--out benchmarks/results/bad_inputs.json]

strict: the expected outcome exactly, with nothing written under a fresh, empty $HOME: a refusal is exit status 2,
one line on stderr and nothing written under results_dir; a recorded failure is a record whose status and error say what happened, with no temporary file
left and no traceback; a skipped file is trained around and listed in the record. partial: the right exit status
but more than one line, a traceback, or something written. failed: anything else (a wrong exit status, a file
trained on that should not be, a traceback instead of a refusal). `--checkout` runs another checkout of the
harness (an older commit in a git worktree) with the same corpus, so totals compare before and after.
Mounting a tmpfs (the full-disk cases) needs root; without it those cases are reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers import write_bmp, write_garbled_jpeg  # noqa: E402 - the same bad files the tests make

TINY = [
    "model.alpha=0.25",
    "data.image_size=32",
    "train.epochs=1",
    "train.steps_per_epoch=1",
    "train.verbose=0",
    "train.batch_size=8",
]
# Where folder_args' single run sits: its experiment, and its run named after its overrides.
FOLDER_RUN = "baseline_data_mobilenet/alpha=0.25,batch_size=8,epochs=1,image_size=32,steps_per_epoch=1,weights=null"
BENIGN = (
    "WARNING: All log messages",
    "I0000",
    "W0000",
    "E0000",
    "oneDNN",
    "cpu_feature_guard",
    "To enable the following",
    "cuda",
    "absl",
)


@dataclass
class Case:
    name: str
    kind: str  # data | disk | path | claim | space | files | small | fault | knob
    args: list[str]
    expect: str  # refuse | recorded | skipped | works | interrupted
    setup: Callable[[Path], None] = lambda work: None
    check: Callable[[Path, dict], bool] | None = (
        None  # extra condition on (work, the record found) for recorded/skipped/works
    )
    needs_mount: bool = False
    notes: list[str] = field(default_factory=list)
    module: str = "harness"  # python -m <module> <args>: the harness, or one of its tools (harness.report, ...)
    # A fault while it runs: called in a thread with (work, the process) once the process has started.
    during: Callable[[Path, subprocess.Popen], None] | None = None


def images(folder: Path, count: int, color: int, size=(40, 30), seed: int = 0) -> None:
    rng = np.random.default_rng(seed + color)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        pixels = rng.integers(0, 80, (size[1], size[0], 3), dtype=np.uint8)
        pixels[..., color % 3] += 150
        Image.fromarray(pixels).save(folder / f"img_{i:03d}.jpg")


def dataset(work: Path, test: bool = False) -> Path:
    root = work / "data"
    for c, name in enumerate(("red", "green", "blue")):
        images(root / "train" / name, 6, c)
        images(root / "val" / name, 3, c, seed=10)
        if test:
            images(root / "test" / name, 2, c, seed=20)
    return root


def weights(path: Path, filters: int = 8, nan: bool = False, weight_names: bool = True) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"input_1", b"conv1"]
        group = f.create_group("conv1")
        if weight_names:
            group.attrs["weight_names"] = [b"conv1/kernel:0"]
        kernel = np.zeros((3, 3, 3, filters), dtype="float32")
        if nan:
            kernel[0, 0, 0, 0] = np.nan
        group.create_dataset("conv1/kernel:0", data=kernel)


def folder_args(work: Path, *extra: str) -> list[str]:
    return ["dataset=folder", f"dataset.path={work / 'data'}", "model.weights=null", *TINY, *extra]


def mount(point: Path, size_kb: int, read_only: bool = False) -> bool:
    point.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kb}k" + (",ro" if read_only else "")
    return (
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True).returncode
        == 0
    )


def skipped_listed(*names: str):
    return lambda work, record: (
        bool(record)
        and record.get("status") == "completed"
        and {Path(p).name for p in record.get("skipped_paths", [])} >= set(names)
    )


def trained_on(name: str):
    return lambda work, record: (
        bool(record)
        and record.get("status") == "completed"
        and name not in {Path(p).name for p in record.get("skipped_paths", [])}
        and record.get("num_train") == 18 + 1  # the 18 images of the folder and this one
    )


def record_error(text: str):
    return lambda work, record: (
        bool(record) and record.get("status") == "failed" and text in (record.get("error") or "")
    )


def corpus() -> list[Case]:
    cases: list[Case] = []

    def data_case(name, make, listed):
        def setup(work):
            dataset(work)
            make(work / "data" / "train" / "red")

        cases.append(Case(name, "data", [], "skipped", setup, skipped_listed(listed)))

    data_case("1-bit BMP among JPEGs", lambda d: Image.new("1", (40, 30), 1).save(d / "x.bmp"), "x.bmp")
    data_case(
        "RLE8 BMP",
        lambda d: write_bmp(d / "x.bmp", 8, 1, b"".join(bytes([16, y % 4]) + b"\0\0" for y in range(8)) + b"\0\1"),
        "x.bmp",
    )
    data_case("16-bit BMP", lambda d: write_bmp(d / "x.bmp", 16, 0, b"\x1f\x00" * 128), "x.bmp")
    data_case("JPEG with garbage scan data", lambda d: write_garbled_jpeg(d / "img_000.jpg", d / "x.jpg"), "x.jpg")
    data_case("dangling .jpg link", lambda d: (d / "x.jpg").symlink_to(d / "nowhere.jpg"), "x.jpg")
    data_case("symlink loop", lambda d: (d / "x.jpg").symlink_to(d / "x.jpg"), "x.jpg")
    data_case("truncated PNG", lambda d: (d / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20), "x.png")
    data_case("text file named .jpg", lambda d: (d / "x.jpg").write_text("hello"), "x.jpg")

    def folders_case(name, change):
        def setup(work):
            dataset(work, test=True)
            change(work / "data")

        cases.append(Case(name, "data", [], "refuse", setup))

    folders_case("val/ with an extra class", lambda r: images(r / "val" / "purple", 2, 1))
    folders_case("a class missing from val/", lambda r: shutil.rmtree(r / "val" / "green"))
    folders_case("an unknown class in test/", lambda r: images(r / "test" / "purple", 2, 1))
    folders_case(
        "val/ names all differ (cat vs cats)",
        lambda r: [(r / "val" / c).rename(r / "val" / f"{c}s") for c in ("red", "green", "blue")],
    )
    folders_case(
        "a class of unreadable files",
        lambda r: [
            (p.unlink(), (r / "train" / "red" / f"{p.stem}.jpg").write_text("x"))
            for p in list((r / "train" / "red").iterdir())
        ],
    )

    def leaking(work):  # a training image copied into val: the same pixels in two splits
        dataset(work)
        shutil.copy(work / "data" / "train" / "red" / "img_000.jpg", work / "data" / "val" / "red" / "copy.jpg")

    cases.append(
        Case(
            "dataset.duplicates=error on a folder whose val copies train",
            "data",
            ["{folder}", "dataset.duplicates=error"],
            "refuse",
            leaking,
        )
    )

    def one_image_class(work):  # carving val at 60 % takes the one image of class c out of train
        for c, (name, count) in enumerate((("a", 4), ("b", 4), ("c", 1))):
            images(work / "data" / name, count, c)

    cases.append(
        Case(
            "train.class_weight=balanced with a class that has no training images",
            "data",
            ["{folder}", "dataset.val_fraction=0.6", "dataset.test_fraction=0", "train.class_weight=balanced"],
            "refuse",
            one_image_class,
        )
    )
    cases.append(
        Case(
            "explain.occlusion_patch larger than the image",
            "small",
            ["{folder}", "analysis=true", "explain.occlusion_patch=40"],
            "refuse",
            dataset,
        )
    )

    cases.append(
        Case(
            "cache_dir on a full filesystem",
            "disk",
            ["cache_dir={work}/tiny"],
            "recorded",
            lambda w: (dataset(w), mount(w / "tiny", 64)),
            record_error("no space left on"),
            needs_mount=True,
        )
    )
    cases.append(
        Case(
            "cache_dir is a file",
            "disk",
            ["cache_dir={work}/cache_file"],
            "refuse",
            lambda w: (dataset(w), (w / "cache_file").write_text("")),
        )
    )
    cases.append(
        Case(
            "cache_dir read-only",
            "disk",
            ["cache_dir={work}/ro"],
            "refuse",
            lambda w: (dataset(w), mount(w / "ro", 64, read_only=True)),
            needs_mount=True,
        )
    )
    cases.append(Case("cache_dir unwritable (/proc)", "disk", ["cache_dir=/proc/harness-cache"], "refuse", dataset))

    def zeroed(work):  # the image cache filled once, then zeroed at the same shape
        dataset(work)
        warm(work, results="warm", cache="cache")
        for entry in (work / "cache").rglob("*.npy"):
            array = np.lib.format.open_memmap(entry, mode="r+")
            array[:] = 0
            array.flush()
            del array

    cases.append(
        Case(
            "cached .npy zeroed at the right shape",
            "disk",
            ["cache_dir={work}/cache"],
            "works",
            zeroed,
            lambda work, record: (
                bool(record) and record.get("status") == "completed" and "rebuilding it" in output(work)
            ),
        )
    )

    cases.append(Case("results_dir= (an unset variable)", "path", ["results_dir="], "refuse", dataset))
    cases.append(Case("name over 255 characters", "path", ["name=" + "n" * 260], "refuse", dataset))
    cases.append(
        Case(
            "results path over 4096 bytes",
            "path",
            ["results_dir={work}/" + "d" * 200 + "/" + "/".join(["e" * 200] * 20)],
            "refuse",
            dataset,
        )
    )
    cases.append(
        Case(
            "a file where the experiment folder should be",
            "path",
            [],
            "refuse",
            lambda w: (dataset(w), (w / "results").mkdir(), (w / "results" / "baseline_data_mobilenet").write_text("")),
        )
    )

    def claim(content: bytes, age: float):
        def setup(work):
            dataset(work)
            run_dir = work / "results" / FOLDER_RUN
            run_dir.mkdir(parents=True)
            (run_dir / ".claim").write_bytes(content)
            old = datetime.now().timestamp() - age
            os.utime(run_dir / ".claim", (old, old))

        return setup

    completed = lambda work, record: bool(record) and record.get("status") == "completed"  # noqa: E731
    cases.append(
        Case("a zero-byte .claim (owner killed while writing it)", "claim", [], "works", claim(b"", 60), completed)
    )
    cases.append(Case("a garbage .claim", "claim", [], "works", claim(b"\x00garbage{", 60), completed))

    space = ["experiment=quickstart", "tuner=random", "tuner.max_trials=1", "~tuner.space"]
    for name, entry in (
        ("int with step: 0", "{train:{batch_size:{type:int,min:8,max:16,step:0}}}"),
        ("default not among the values", "{train:{optimizer:{type:choice,values:[adam,sgd],default:lion}}}"),
        ("ordered: maybe", "{train:{optimizer:{type:choice,values:[adam,sgd],ordered:maybe}}}"),
        ("out-of-range default", "{train:{learning_rate:{type:float,min:0.001,max:0.1,default:5}}}"),
        (
            "parent_values the parent never takes",
            "{train:{optimizer:{type:choice,values:[adam,sgd]},"
            "learning_rate:{type:float,min:0.001,max:0.1,parent_name:train.optimizer,parent_values:[lion]}}}",
        ),
        (
            "a cycle of parents",
            "{train:{optimizer:{type:choice,values:[adam,sgd],parent_name:train.batch_size,"
            "parent_values:[16]},batch_size:{type:choice,values:[16,32],parent_name:train.optimizer,parent_values:[adam]}}}",
        ),
    ):
        cases.append(Case(f"search space: {name}", "space", [*space, f"+tuner.space={entry}", *TINY[1:]], "refuse"))
    searching = ["experiment=quickstart", "tuner=optuna", "tuner.max_trials=1", *TINY[1:]]
    for name, extra in (
        ("an objective the records do not have", ["tuner.objectives=[val_accuracy,speed]", "tuner.sampler=nsga2"]),
        ("two objectives with a single-objective sampler", ["tuner.objectives=[val_accuracy,latency_ms]"]),
        ("a malformed storage URL", ["tuner.storage=not a url"]),
        ("a storage server that cannot be reached", ["tuner.storage=postgresql://nobody@127.0.0.1:9/nothing"]),
        (
            "reverse_log sampling",
            ["tuner.space.train.learning_rate={type:float,min:0.001,max:0.1,sampling:reverse_log}"],
        ),
    ):
        cases.append(Case(f"tuner=optuna: {name}", "space", [*searching, *extra], "refuse"))
    cases.append(
        Case(
            "search space over train.epochs is applied",
            "space",
            [
                *space,
                "+tuner.space={train:{epochs:{type:choice,values:[2]}}}",
                "data.image_size=32",
                "train.steps_per_epoch=1",
                "train.verbose=0",
            ],
            "works",
            check=lambda work, record: (
                bool(record) and record["config"]["train"]["epochs"] == 2 and record["epochs_run"] == 2
            ),
        )
    )

    def hostile_best(work):
        exp = work / "search"
        (exp / "experiment").mkdir(parents=True)
        (exp / "search.json").write_text("{}")
        (exp / "experiment" / "best.yaml").write_text(
            "# @package _global_\ndefaults:\n- override /dataset: digits\npreset: best\nname: s_best\n"
            f"hydra:\n  callbacks:\n    copy:\n      _target_: shutil.copyfile\n      src: /etc/hostname\n      dst: {work}/stolen\n"
        )

    cases.append(
        Case(
            "best.yaml with a hydra callback",
            "files",
            ["--config-dir", "{work}/search", "experiment=best"],
            "refuse",
            hostile_best,
            check=lambda work, record: not (work / "stolen").exists(),
        )
    )

    def wrong_shape(work):
        dataset(work)
        run_dir = work / "results" / FOLDER_RUN
        run_dir.mkdir(parents=True)
        (run_dir / "record.json").write_text('{"status": "completed", "config": "not a dict", "history": [1, 2]}')

    cases.append(Case("record.json of the wrong shape", "files", [], "works", wrong_shape, completed))

    def user_preset(body: str):
        def setup(work):
            (work / "conf" / "experiment").mkdir(parents=True)
            (work / "conf" / "experiment" / "mine.yaml").write_text(
                "# @package _global_\ndefaults:\n  - quickstart\n  - _self_\n" + body.replace("{work}", str(work))
            )

        return setup

    nowhere = lambda work, record: not (work / "elsewhere").exists() and not (work / "stolen").exists()  # noqa: E731
    for name, body in (
        ("a preset moving the run (hydra.run.dir)", "hydra:\n  run:\n    dir: {work}/elsewhere\n"),
        (
            "a preset logging to a file of its own",
            "hydra:\n  job_logging:\n    handlers:\n      file:\n        class: logging.FileHandler\n"
            "        filename: {work}/elsewhere.log\n",
        ),
        (
            "a preset with a hydra callback",
            "hydra:\n  callbacks:\n    x:\n      _target_: shutil.copyfile\n      src: /etc/hostname\n"
            "      dst: {work}/stolen\n",
        ),
        ("a preset with a YAML tag", "x: !!python/object/apply:os.system ['touch {work}/stolen']\n"),
        ("a preset saying save_model: yes", "train:\n  save_model: yes\n  epochs: 1\n"),
    ):
        cases.append(
            Case(
                name, "files", ["--config-dir", "{work}/conf", "experiment=mine"], "refuse", user_preset(body), nowhere
            )
        )

    def garbage_runs(work):
        (work / "exp" / "r1").mkdir(parents=True)
        (work / "exp" / "r1" / "record.json").write_text("[1, 2]")

    def plan_outside(work):
        (work / "exp").mkdir()
        (work / "exp" / "planned.json").write_text('{"runs": ["../../etc", "/etc/passwd"]}')

    for name, module, args, setup in (
        ("report on an empty folder", "harness.report", ["{work}/exp"], lambda w: (w / "exp").mkdir()),
        ("report on /proc", "harness.report", ["/proc"], lambda w: None),
        ("report on records of another shape", "harness.report", ["{work}/exp"], garbage_runs),
        ("report on a plan naming paths outside its folder", "harness.report", ["{work}/exp"], plan_outside),
        ("analyze on records of another shape", "harness.analyze", ["{work}/exp"], garbage_runs),
        (
            "analyze compare with a missing folder",
            "harness.analyze",
            ["compare", "{work}/nope", "{work}/exp"],
            garbage_runs,
        ),
    ):
        cases.append(Case(name, "files", args, "refuse", setup, module=module))

    quick = ["experiment=quickstart", *TINY[1:]]
    for override in ("overwrite=2", "analysis=yes", "train.save_model=1"):
        cases.append(Case(f"yes/no key: {override}", "small", [*quick, override], "refuse"))
    cases.append(Case("model.weights=/proc/self/mem", "small", [*quick, "model.weights=/proc/self/mem"], "refuse"))

    def loop(work):
        (work / "a").symlink_to(work / "b")
        (work / "b").symlink_to(work / "a")

    cases.append(
        Case("dataset.path a symlink loop", "small", ["dataset=folder", "dataset.path={work}/a", *TINY], "refuse", loop)
    )

    def misnamed_class(work):
        dataset(work)
        for split in ("train", "val"):
            images(Path(os.fsdecode(os.path.join(bytes(work / "data" / split), b"bl\xffck"))), 3, 1)

    cases.append(
        Case(
            "a class folder named in invalid UTF-8",
            "data",
            [],
            "works",
            misnamed_class,
            lambda work, record: bool(record) and any("not valid UTF-8" in n for n in record.get("data_notes", [])),
        )
    )

    def misnamed_file(work):
        dataset(work)
        red = work / "data" / "train" / "red"
        os.rename(bytes(red / "img_000.jpg"), os.path.join(bytes(red), b"im\xfeg.jpg"))

    cases.append(
        Case(
            "a file named in invalid UTF-8",
            "data",
            [],
            "skipped",
            misnamed_file,
            skipped_listed(os.fsdecode(b"im\xfeg.jpg")),
        )
    )

    def format_case(name: str, file: str, save, expect: str):
        def setup(work):
            dataset(work)
            save(work / "data" / "train" / "red" / file)

        check = skipped_listed(file) if expect == "skipped" else trained_on(file)
        cases.append(Case(name, "data", [], expect, setup, check))

    rgb = np.random.default_rng(0).integers(0, 255, (30, 40, 3)).astype(np.uint8)

    def animated(path):
        frames = [Image.fromarray(np.roll(rgb, k, axis=0)) for k in range(3)]
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)

    format_case("an animated GIF (its first frame)", "anim.gif", animated, "works")
    format_case("a CMYK JPEG", "cmyk.jpg", lambda f: Image.fromarray(rgb).convert("CMYK").save(f), "works")
    format_case(
        "a 16-bit PNG", "deep.png", lambda f: Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(f), "works"
    )
    format_case("a palette PNG", "palette.png", lambda f: Image.fromarray(rgb).convert("P").save(f), "works")
    format_case("an RGBA PNG", "rgba.png", lambda f: Image.fromarray(rgb).convert("RGBA").save(f), "works")
    format_case("a WebP", "photo.webp", lambda f: Image.fromarray(rgb).save(f), "works")
    format_case("a TIFF", "scan.tiff", lambda f: Image.fromarray(rgb).save(f), "skipped")
    format_case("a FIFO named .jpg", "pipe.jpg", lambda f: os.mkfifo(f), "skipped")
    format_case("/dev/zero linked as .jpg", "zero.jpg", lambda f: f.symlink_to("/dev/zero"), "skipped")
    format_case("a file name with a newline", "two\nlines.jpg", lambda f: Image.fromarray(rgb).save(f, "JPEG"), "works")
    format_case(
        "a file name ${oc.env:HOME}.jpg", "${oc.env:HOME}.jpg", lambda f: Image.fromarray(rgb).save(f, "JPEG"), "works"
    )

    def interpolated_class(work):
        dataset(work)
        for split, count in (("train", 6), ("val", 3)):
            images(work / "data" / split / "${oc.env:HOME}", count, 1, seed=40)

    cases.append(
        Case(
            "a class folder named ${oc.env:HOME}",
            "data",
            [],
            "works",
            interpolated_class,
            lambda work, record: bool(record) and "${oc.env:HOME}" in record.get("class_names", []),
        )
    )
    cases.append(Case("model.head.units=1e12", "small", [*quick, "model.head.units=1000000000000"], "refuse"))
    cases.append(Case("${oc.env:NOPE}", "small", [*quick, "cache_dir=${oc.env:HARNESS_NOPE}"], "refuse"))
    cases.append(Case("interpolation to a missing key", "small", [*quick, "results_dir=${nope}"], "refuse"))
    cases.append(Case("-m train.epochs=range(5,1)", "small", [*quick, "-m", "train.epochs=range(5,1)"], "refuse"))
    cases.append(
        Case(
            "weights for another alpha",
            "small",
            [*quick, "model.weights={work}/w.h5", "model.alpha=0.5"],
            "refuse",
            lambda w: weights(w / "w.h5"),
        )
    )
    cases.append(
        Case(
            "weights file without weight_names",
            "small",
            [*quick, "model.weights={work}/w.h5"],
            "refuse",
            lambda w: weights(w / "w.h5", weight_names=False),
        )
    )
    cases.append(
        Case(
            "NaN-filled weights",
            "small",
            [*quick, "model.weights={work}/w.h5"],
            "refuse",
            lambda w: weights(w / "w.h5", nan=True),
        )
    )
    cases.extend(fault_cases())
    cases.extend(file_cases())
    cases.extend(knob_cases())
    return cases


LONG = [  # a run that trains long enough (epochs of about 20 ms) to be hit by a fault mid-way
    "model.alpha=0.25",
    "data.image_size=32",
    "train.epochs=400",
    "train.patience=null",
    "train.batch_size=8",
    "train.verbose=2",
]


def long_args(work: Path, *extra: str) -> list[str]:
    return ["dataset=folder", f"dataset.path={work / 'data'}", "model.weights=null", *LONG, *extra]


def printed(work: Path, text: str, timeout: float = 180) -> bool:
    return wait_for(lambda: text in output(work), timeout)


def signal_at(text: str, signum: int, timeout: float = 180):
    def during(work, process):
        if printed(work, text, timeout):
            process.send_signal(signum)

    return during


def resumes(status: str, error: str = ""):
    """The record says what stopped the run, and the same command run again completes it."""

    def check(work, record):
        if not (record and record.get("status") == status and error in (record.get("error") or "")):
            return False
        done = again(work)
        records = [r for p in (work / "results").rglob("record.json") if (r := _json(p)) is not None]
        return done.returncode == 0 and bool(records) and all(r.get("status") == "completed" for r in records)

    return check


def fault_cases() -> list[Case]:
    cases: list[Case] = []
    cases.append(
        Case(
            "SIGINT during training",
            "fault",
            ["{long}", "model.unfreeze=1.0"],
            "interrupted",
            dataset,
            resumes("interrupted", "stopped by SIGINT"),
            during=signal_at("Epoch 5/", signal.SIGINT),
        )
    )
    cases.append(
        Case(
            "SIGTERM during training",
            "fault",
            ["{long}", "model.unfreeze=1.0"],
            "interrupted",
            dataset,
            resumes("interrupted", "stopped by SIGTERM"),
            during=signal_at("Epoch 5/", signal.SIGTERM),
        )
    )

    def big_folder(work):  # enough pixels that the image cache takes seconds to build
        root = work / "data"
        for c, name in enumerate(("red", "green", "blue")):
            images(root / "train" / name, 150, c, size=(640, 480))
            images(root / "val" / name, 20, c, size=(640, 480), seed=10)

    def building(work):
        return (
            any((work / "own_cache" / "images").glob("*.building"))
            if (work / "own_cache" / "images").exists()
            else False
        )

    def term_while_building(work, process):
        if wait_for(lambda: building(work)):
            process.send_signal(signal.SIGTERM)

    cases.append(
        Case(
            "SIGTERM during a cache build",
            "fault",
            [
                "dataset=folder",
                "dataset.path={work}/data",
                "model.weights=null",
                "model.alpha=0.25",
                "data.image_size=64",
                "model.unfreeze=1.0",
                "train.epochs=1",
                "train.steps_per_epoch=2",
            ],
            "interrupted",
            big_folder,
            lambda work, record: (
                not list((work / "own_cache").rglob("*.building"))
                and (record is None or record.get("status") == "interrupted")
                and resumes("interrupted")(work, record or {"status": "interrupted"})
            ),
            during=term_while_building,
        )
    )

    def kill_worker(work, process):
        if not printed(work, "Epoch 5/"):
            return
        for pid in children(process.pid):
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"resource_tracker" not in command:
                os.kill(pid, signal.SIGKILL)
                return

    cases.append(
        Case(
            "kill -9 of a sweep's training worker",
            "fault",
            ["{long}", "model.unfreeze=1.0", "-m", "train.learning_rate=0.01,0.001"],
            "recorded",
            dataset,
            lambda work, record: resumed_sweep(work, 2),
            during=kill_worker,
        )
    )

    def kill_tracker(work, process):
        if not printed(work, "Epoch 5/"):
            return
        for pid in children(process.pid):
            if b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)

    cases.append(
        Case(
            "kill -9 of the resource tracker during a sweep",
            "fault",
            ["{long}", "model.unfreeze=1.0", "train.epochs=150", "-m", "train.learning_rate=0.01,0.001"],
            "works",
            dataset,
            lambda work, record: len(completed_runs(work)) == 2,
            during=kill_tracker,
        )
    )

    def second_run(work, process):
        if not printed(work, "Epoch 2/"):
            return
        done = subprocess.run(work.command, capture_output=True, text=True, cwd=work / "cwd", env=work.env)
        (work / "second.txt").write_text(json.dumps({"exit": done.returncode, "stderr": done.stderr}))

    def one_trained(work, record):
        second = json.loads((work / "second.txt").read_text())
        lines = _lines(second["stderr"])
        return (
            bool(record)
            and record.get("status") == "completed"
            and record.get("epochs_run") == 400
            and second["exit"] == 1
            and len(lines) == 1
            and "already running" in lines[0]
        )

    cases.append(
        Case(
            "two identical single runs at once",
            "fault",
            ["{long}", "model.unfreeze=1.0"],
            "works",
            dataset,
            one_trained,
            during=second_run,
        )
    )

    def fill_disk(work, process):
        if printed(work, "Epoch 3/"):
            with open(work / "results" / "filler", "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass

    def freed_and_resumed(work, record):
        records = [r for p in (work / "results").rglob("record.json") if (r := _json(p)) is not None]
        if any(r.get("status") == "completed" for r in records):
            return False  # the run did not finish: nothing may say it did
        (work / "results" / "filler").unlink(missing_ok=True)
        done = again(work)
        return done.returncode == 0 and len(completed_runs(work)) == 1

    cases.append(
        Case(
            "the results disk filling during training",
            "fault",
            ["{long}", "model.unfreeze=1.0", "train.epochs=100", "results_dir={work}/results"],
            "recorded",
            lambda w: (dataset(w), mount(w / "results", 150 * 1024)),
            freed_and_resumed,
            needs_mount=True,
            during=fill_disk,
        )
    )

    def truncate_during(folder: str):
        def during(work, process):
            if printed(work, "Epoch 5/"):
                for entry in (work / "own_cache" / folder).glob("*.npy"):
                    os.truncate(entry, entry.stat().st_size // 2)

        return during

    for folder, extra in (("features", []), ("images", ["model.unfreeze=1.0"])):
        cases.append(
            Case(
                f"a cached {folder} file truncated while a run streams from it",
                "fault",
                ["{long}", "data.memory_mb=0", *extra],
                "recorded",
                dataset,
                resumes("failed", "cache"),
                during=truncate_during(folder),
            )
        )
    return cases


def warm(work: Path, *extra: str, data: str = "data", results: str = "results", cache: str = "own_cache") -> None:
    """A tiny run of the case's folder `data` into `results` and `cache` before the case (what a tampered file was
    before it was tampered)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "dataset=folder",
            f"dataset.path={work / data}",
            "model.weights=null",
            *TINY,
            *extra,
            f"results_dir={work / results}",
            f"cache_dir={work / cache}",
        ],
        capture_output=True,
        cwd=work.checkout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(work.checkout)},
    )


def png_header(path: Path, width: int, height: int) -> None:
    """A small PNG whose header claims width x height (its CRC mended, so only the size is a lie)."""
    import struct
    import zlib

    Image.new("RGB", (8, 8), (200, 30, 30)).save(path)
    data = bytearray(path.read_bytes())
    at = data.index(b"IHDR")
    data[at + 4 : at + 12] = struct.pack(">II", width, height)
    data[at + 17 : at + 21] = struct.pack(">I", zlib.crc32(bytes(data[at : at + 17])))
    path.write_bytes(bytes(data))


def jpeg_header(path: Path, width: int, height: int) -> None:
    """A small JPEG whose frame header (SOF0) claims width x height."""
    import struct

    Image.new("RGB", (8, 8), (200, 30, 30)).save(path, "JPEG")
    data = bytearray(path.read_bytes())
    at = data.index(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))


def record_path(work: Path) -> Path:
    return work / "results" / FOLDER_RUN / "record.json"


def retrained(work, record) -> bool:
    """Trained again and recorded whole: a completed record of this run's config with its scores."""
    found = _json(record_path(work))
    return isinstance(found, dict) and found.get("status") == "completed" and found.get("best_val_accuracy") is not None


def file_cases() -> list[Case]:
    cases: list[Case] = []

    def bomb(name: str, make):
        def setup(work):
            dataset(work)
            make(work / "data" / "train" / "red" / name)

        return setup

    for name, file, make in (
        ("a PNG whose header claims 20000 x 20000", "bomb.png", lambda f: png_header(f, 20000, 20000)),
        ("a PNG whose header claims 65535 x 65535", "huge.png", lambda f: png_header(f, 65535, 65535)),
        ("a JPEG whose header claims 30000 x 30000", "bomb.jpg", lambda f: jpeg_header(f, 30000, 30000)),
        ("a JPEG whose header claims 0 x 0", "empty.jpg", lambda f: jpeg_header(f, 0, 0)),
    ):
        cases.append(Case(name, "data", [], "skipped", bomb(file, make), skipped_listed(file)))

    def tampered_record(change):
        def setup(work):
            dataset(work)
            warm(work)
            change(record_path(work))

        return setup

    def rewrite(edit):
        def change(path):
            record = json.loads(path.read_text())
            edit(record)
            path.write_text(json.dumps(record))

        return change

    def replace_with(make):
        def change(path):
            path.unlink()
            make(path)

        return change

    for name, change in (
        ("record.json truncated half-way", lambda f: f.write_text(f.read_text()[: len(f.read_text()) // 2])),
        ("record.json of zero bytes", lambda f: f.write_text("")),
        ("record.json in UTF-16", lambda f: f.write_text(f.read_text(), encoding="utf-16")),
        ("record.json a FIFO", replace_with(os.mkfifo)),
        ("record.json a link to /dev/zero", replace_with(lambda f: f.symlink_to("/dev/zero"))),
        ("record.json a dangling link", replace_with(lambda f: f.symlink_to(f.parent / "gone.json"))),
        ("a completed record without its scores", rewrite(lambda r: r.update(best_val_accuracy=None, history={}))),
        ("a record with an unknown status", rewrite(lambda r: r.update(status="victorious"))),
        ("a record whose status is a list", rewrite(lambda r: r.update(status=["completed"]))),
    ):
        cases.append(Case(name, "files", [], "works", tampered_record(change), retrained))
    cases.append(
        Case("record.json a directory", "files", [], "works", tampered_record(replace_with(Path.mkdir)), retrained)
    )
    cases.append(  # someone else's finished run in the folder this one would use: kept, and the way out named
        Case(
            "a completed record of another config",
            "files",
            [],
            "refuse",
            tampered_record(rewrite(lambda r: r.update(config_hash="0" * len(r.get("config_hash", "0"))))),
            lambda work, record: (_json(record_path(work)) or {}).get("config_hash", "x").strip("0") == "",
        )
    )

    def claimed(write):
        def setup(work):
            dataset(work)
            run_dir = work / "results" / FOLDER_RUN
            run_dir.mkdir(parents=True)
            write(run_dir / ".claim")

        return setup

    def stale(path: Path, owner: dict, age: float = 0) -> None:
        path.write_text(json.dumps(owner))
        then = time.time() - age
        os.utime(path, (then, then))

    completed = lambda work, record: bool(record) and record.get("status") == "completed"  # noqa: E731
    for name, write in (
        (
            "a claim of a live pid that started at another time",
            lambda f: stale(f, {"pid": 1, "host": os.uname().nodename, "started": "1"}),
        ),
        (
            "a claim of a pid that is gone",
            lambda f: stale(f, {"pid": 4194300, "host": os.uname().nodename, "started": "5"}),
        ),
        (
            "a claim from another host, untouched for 2 minutes",
            lambda f: stale(f, {"pid": 1, "host": "elsewhere", "started": "1"}, 120),
        ),
        ("a claim with a pid that is text", lambda f: stale(f, {"pid": "me", "host": "here", "started": ""}, 60)),
        ("a claim that is a FIFO", os.mkfifo),
        ("a claim that is a directory", lambda f: f.mkdir()),
    ):
        cases.append(Case(name, "claim", [], "works", claimed(write), completed))

    def tampered_cache(folder: str, pattern: str, change):
        def setup(work):
            dataset(work)
            warm(work)
            for entry in sorted((work / "own_cache" / folder).glob(pattern)):
                change(entry)

        return setup

    def truncate(fraction: float):
        return lambda f: os.truncate(f, int(f.stat().st_size * fraction))

    def scramble(f: Path) -> None:
        f.write_bytes(np.random.default_rng(0).integers(0, 255, f.stat().st_size, dtype=np.uint8).tobytes())

    def scramble_body(f: Path) -> None:  # the .npy header intact, the numbers replaced
        data = bytearray(f.read_bytes())
        data[-64:] = bytes(range(64))
        f.write_bytes(bytes(data))

    directory = lambda f: (f.unlink(), f.mkdir())  # noqa: E731
    for folder, what in (("images", "images"), ("features", "features")):
        for name, change in (
            ("of zero bytes", truncate(0)),
            ("truncated half-way", truncate(0.5)),
            ("replaced by a directory", directory),
            ("of random bytes", scramble),
            ("with its last numbers changed", scramble_body),
        ):
            cases.append(
                Case(
                    f"cached {what} {name}",
                    "disk",
                    ["cache_dir={work}/own_cache"],
                    "works",
                    tampered_cache(folder, "*.npy", change),
                    completed,
                )
            )
    for name, folder, pattern, change in (
        ("a cache checksum of garbage", "images", "*.crc32", lambda f: f.write_text("not a number")),
        ("a folder scan of another shape", "scans", "*.json", lambda f: f.write_text('[1, 2, "x"]')),
        ("a folder scan of garbage bytes", "scans", "*.json", lambda f: f.write_bytes(b"\xff\x00{")),
        ("a folder scan replaced by a directory", "scans", "*.json", directory),
        (
            "a folder scan naming files that are gone",
            "scans",
            "*.json",
            lambda f: f.write_text(f.read_text().replace("img_0", "gone_0")),
        ),
        (
            "a cache entry left .building by a dead process",
            "images",
            "*.npy",
            lambda f: (
                f.unlink(),
                f.with_name(f.name + ".building").write_text(
                    json.dumps({"pid": 4194300, "host": os.uname().nodename, "started": "5"})
                ),
            ),
        ),
    ):
        cases.append(
            Case(
                name,
                "disk",
                ["cache_dir={work}/own_cache"],
                "works",
                tampered_cache(folder, pattern, change),
                completed,
            )
        )

    def sweep_folder(work):
        dataset(work)
        warm(work, "-m", "train.learning_rate=0.01,0.001")

    def tampered_plan(change):
        def setup(work):
            sweep_folder(work)
            for plan in (work / "results").rglob("planned.json"):
                change(plan)

        return setup

    sweep = lambda work, record: len(completed_runs(work)) == 2  # noqa: E731
    for name, change in (
        ("a sweep's planned.json of garbage", lambda f: f.write_bytes(b"\x00{runs")),
        ("a sweep's planned.json of another shape", lambda f: f.write_text('{"runs": 7}')),
        ("a sweep's planned.json naming /etc", lambda f: f.write_text('{"runs": ["/etc", "../../.."]}')),
        ("a sweep's planned.json a FIFO", replace_with(os.mkfifo)),
    ):
        cases.append(
            Case(
                name,
                "files",
                ["{folder}", "-m", "train.learning_rate=0.01,0.001"],
                "works",
                tampered_plan(change),
                sweep,
            )
        )
        cases.append(
            Case(
                "report on " + name.replace("a sweep's ", "a "),
                "files",
                ["{experiment}"],
                "works",
                tampered_plan(change),
                module="harness.report",
            )
        )

    def two_folders(work):
        dataset(work)
        warm(work, "train.save_model=true")
        other = work / "other"
        for c, name in enumerate(("cats", "dogs")):
            images(other / "train" / name, 6, c)
            images(other / "val" / name, 3, c, seed=10)
        warm(work, "train.save_model=true", data="other")

    for name, module, args, setup, expect in (
        ("report on a folder that does not exist", "harness.report", ["{work}/nope"], lambda w: None, "refuse"),
        ("report on a file", "harness.report", ["/etc/hostname"], lambda w: None, "refuse"),
        ("export on a folder that does not exist", "harness.export", ["{work}/nope"], lambda w: None, "refuse"),
        ("export on /proc", "harness.export", ["/proc"], lambda w: None, "refuse"),
        ("analyze on a folder that does not exist", "harness.analyze", ["{work}/nope"], lambda w: None, "refuse"),
        (
            "analyze compare of runs on different classes",
            "harness.analyze",
            ["compare", "{run}", "{other_run}"],
            two_folders,
            "refuse",
        ),
        (
            "analyze compare of a run with itself",
            "harness.analyze",
            ["compare", "{run}", "{run}"],
            two_folders,
            "refuse",
        ),
        ("deploy of a folder that does not exist", "harness.deploy", ["{work}/nope"], lambda w: None, "refuse"),
        ("deploy of a run that saved no model", "harness.deploy", ["{run}"], lambda w: (dataset(w), warm(w)), "refuse"),
        (
            "deploy --quantize int4",
            "harness.deploy",
            ["{run}", "--quantize", "int4"],
            lambda w: (dataset(w), warm(w, "train.save_model=true")),
            "refuse",
        ),
    ):
        cases.append(Case(name, "files", args, expect, setup, module=module))
    return cases


def knob_cases() -> list[Case]:
    """Every knob of the schema given a value of the wrong type and values outside its range: each refused."""
    import typing

    from harness.config.schema import Config, TransferModel, knobs

    quick = ["experiment=quickstart", *TINY[1:]]
    cases: list[Case] = []
    fields = [*knobs(Config), *knobs(TransferModel, "model.")]
    for name, f in fields:
        meta = f.metadata.get("harness") or f.metadata
        allowed = meta.get("allowed")
        kind = typing.get_args(f.type) or (f.type,)
        kind = next((k for k in kind if k is not type(None)), None)
        kind = (
            {"int": int, "float": float, "bool": bool, "str": str, "Optional[int]": int, "Optional[float]": float}.get(
                kind, kind
            )
            if isinstance(kind, str)
            else kind
        )
        if name in ("train.verbose",):
            continue
        bad: list[str] = []
        if kind is bool:
            bad = ["maybe"]
        elif kind in (int, float) and allowed is not None:
            bad = ["abc", "nan" if kind is float else "1.5"]
            if allowed.low is not None:
                bad.append("-inf" if kind is float else str(int(allowed.low) - 1))
            if allowed.high is not None:
                bad.append(str(allowed.high * 10 if kind is float else int(allowed.high) + 1))
        elif kind is str and allowed is not None and allowed.choices:
            bad = ["bogus"]
        for value in bad:
            cases.append(Case(f"{name}={value}", "knob", [*quick, f"{name}={value}"], "refuse"))
    return cases


def completed_runs(work: Path) -> list[dict]:
    records = [r for p in (work / "results").rglob("record.json") if (r := _json(p)) is not None]
    return [r for r in records if r.get("status") == "completed"]


def resumed_sweep(work: Path, runs: int) -> bool:
    """After a fault a sweep has fewer than `runs` completed runs, and the same command completes the rest
    without training again what had completed."""
    finished = {json.dumps(r["history"]) for r in completed_runs(work)}
    if len(finished) >= runs:
        return False
    done = again(work)
    after = completed_runs(work)
    return done.returncode == 0 and len(after) == runs and finished <= {json.dumps(r["history"]) for r in after}


class Work(type(Path())):  # a Path that also carries the checkout the case runs, and how it ran it
    checkout: Path
    command: list[str]
    env: dict[str, str]


def _json(path: Path):
    """A JSON file's content; None for one that is not a regular file (a FIFO an old checkout left would block
    the reader) or not JSON."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def output(work: Path) -> str:
    return "".join((work / name).read_text(errors="backslashreplace") for name in ("stdout.txt", "stderr.txt"))


def wait_for(condition: Callable[[], bool], timeout: float = 180) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def children(pid: int) -> list[int]:
    """The processes whose parent is pid."""
    found = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(status.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(status.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def again(work: Work, *extra: str) -> subprocess.CompletedProcess:
    """The case's command once more, as the user would type it after the fault."""
    return subprocess.run(
        [*work.command, *extra], capture_output=True, text=True, cwd=work / "cwd", env=work.env, timeout=600
    )


def _files(folder: Path, leave_out: set[Path]) -> set[Path]:
    """Every file and folder under `folder` but those in leave_out (an empty folder made is something written)."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) not in leave_out]
        found.update(Path(dirpath, f) for f in filenames + dirnames)
    return found


def _limits(memory_gb: float | None):
    """Caps the case's address space (an old checkout reading /dev/zero into memory must not take the machine)."""
    if memory_gb is None:
        return None

    def limit() -> None:
        import resource

        size = int(memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return limit


def run_case(case: Case, checkout: Path, scratch: Path, timeout: float = 600, memory_gb: float | None = None) -> dict:
    work = Work(scratch / "".join(c if c.isalnum() else "_" for c in case.name)[:60])
    work.checkout = checkout
    work.mkdir(parents=True)
    mounted_before = set(Path("/proc/mounts").read_text().split()) if Path("/proc/mounts").exists() else set()
    try:
        outcome = case.setup(work)
        if case.needs_mount and (isinstance(outcome, tuple) and False in outcome):
            return {"case": case.name, "kind": case.kind, "verdict": "skipped", "why": "cannot mount a tmpfs here"}
        args = case.args or folder_args(work)
        if "{long}" in args:
            args = [*long_args(work), *(a for a in args if a != "{long}")]
        if "{folder}" in args:
            args = [*folder_args(work), *(a for a in args if a != "{folder}")]
        args = [a.replace("{work}", str(work)) for a in args]
        if any("{experiment}" in a or "run}" in a for a in args):
            runs = sorted(p.parent for p in (work / "results").rglob("record.json"))
            named = {
                "{experiment}": str(runs[0].parent) if runs else "",
                "{run}": str(runs[0]) if runs else "",
                "{other_run}": str(runs[-1]) if runs else "",
            }
            args = [named.get(a, a) for a in args]
        tool = case.module != "harness"
        if not tool and (
            case.kind in ("data", "claim", "path", "disk", "fault")
            and not case.args[:1] == ["--config-dir"]
            and "dataset=folder" not in args
        ):
            args = folder_args(work, *args)
        results = work / "results"
        if not tool and not any(a.startswith("results_dir=") for a in args):
            args.append(f"results_dir={results}")
        if not tool and not any(a.startswith("cache_dir=") for a in args):
            args.append(f"cache_dir={work / 'own_cache'}")
        before = {p for p in results.rglob("*") if p.is_file()} if results.exists() else set()
        # Where the command may write: results_dir and cache_dir. A fresh $HOME, an empty working directory and
        # an empty TMPDIR are the marker folders: anything left in them, or anywhere else in the case's folder,
        # was written outside.
        allowed = {results, work / "own_cache"} | {
            Path(a.split("=", 1)[1]) for a in args if a.startswith(("results_dir=", "cache_dir=")) and "=" in a
        }
        home, cwd, tmp = work / "home", work / "cwd", work / "tmp"
        for marker in (home, cwd, tmp):
            marker.mkdir()
        outside_before = _files(work, allowed)
        work.command = [sys.executable, "-m", case.module, *args]
        work.env = {
            **{k: v for k, v in os.environ.items() if k not in ("KERAS_HOME", "MPLCONFIGDIR", "HARNESS_CACHE_DIR")},
            "HOME": str(home),
            "TMPDIR": str(tmp),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": str(checkout),
            "HYDRA_FULL_ERROR": "0",
            **({"HARNESS_CACHE_DIR": str(work / "own_cache")} if tool else {}),  # the tools' cache_dir
        }
        with open(work / "stdout.txt", "w") as out, open(work / "stderr.txt", "w") as err:
            process = subprocess.Popen(
                work.command, stdout=out, stderr=err, cwd=cwd, env=work.env, preexec_fn=_limits(memory_gb)
            )
            fault = threading.Thread(target=case.during, args=(work, process), daemon=True) if case.during else None
            if fault:
                fault.start()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if fault:
                fault.join(timeout=600)
        read = lambda name: (work / name).read_text(errors="backslashreplace")  # noqa: E731 - a name in invalid UTF-8 printed back
        done = subprocess.CompletedProcess(work.command, process.returncode, read("stdout.txt"), read("stderr.txt"))
        found = judge(case, work, results, done, before)
        leave_out = allowed | {work / "stdout.txt", work / "stderr.txt", work / "second.txt"}
        outside = sorted(str(p.relative_to(work)) for p in _files(work, allowed) - outside_before if p not in leave_out)
        if outside:
            found["written_outside"] = outside[:5]
            found["verdict"] = "partial" if found["verdict"] == "strict" else found["verdict"]
        return found
    finally:
        for line in Path("/proc/mounts").read_text().splitlines() if Path("/proc/mounts").exists() else []:
            point = line.split()[1]
            if point.startswith(str(work)) and point not in mounted_before:
                subprocess.run(["umount", "-l", point], capture_output=True)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not any(b in line for b in BENIGN)]


def judge(case: Case, work: Path, results: Path, done: subprocess.CompletedProcess, before: set[Path]) -> dict:
    err = _lines(done.stderr)
    traceback = "Traceback" in done.stderr or "Traceback" in done.stdout
    written = results.exists() and any(p for p in results.rglob("*") if p.is_file() and p not in before)
    records = [r for p in results.rglob("record.json") if (r := _json(p)) is not None] if results.exists() else []
    record = next((r for r in records if isinstance(r, dict) and isinstance(r.get("config"), dict)), None)
    temporaries = [p.name for p in work.rglob(".*") if ".tmp" in p.name]
    out = {
        "case": case.name,
        "kind": case.kind,
        "expect": case.expect,
        "exit": done.returncode,
        "stderr_lines": len(err),
        "traceback": traceback,
        "first_line": (err[-1] if err else "")[:300],
    }
    extra_ok = case.check(work, record) if case.check else True
    if case.expect == "refuse":
        if done.returncode == 2 and len(err) == 1 and not traceback and not written and extra_ok:
            verdict = "strict"
        elif done.returncode == 2 and extra_ok:
            verdict = "partial"
        else:
            verdict = "failed"
    else:
        good = extra_ok and not traceback and not temporaries
        status_ok = (
            done.returncode
            in {"skipped": (0,), "works": (0,), "recorded": (1,), "interrupted": (130, 143)}[case.expect]
        )
        verdict = (
            "strict" if good and status_ok else "partial" if extra_ok and (status_ok or not traceback) else "failed"
        )
    out["verdict"] = verdict
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--only", nargs="*", help="run only the cases whose name contains one of these")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--kind", nargs="*", help="run only the cases of these kinds (data, disk, fault, knob, ...)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a case may run (a hang is failed)")
    parser.add_argument("--memory-limit-gb", type=float, help="address space of each case's process")
    parser.add_argument("--resume", action="store_true", help="keep the cases --out already holds; run the rest")
    parser.add_argument("--keep", type=Path, help="run the cases in this folder and keep what they left")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sweep_speed import machine

    cases = [
        c
        for c in corpus()
        if (not args.only or any(o in c.name for o in args.only)) and (not args.kind or c.kind in args.kind)
    ]
    found: list[dict] = []
    if args.resume and args.out and args.out.exists():
        found = json.loads(args.out.read_text())["cases"]
        cases = [c for c in cases if c.name not in {r["case"] for r in found}]

    def write() -> dict:  # after every case: a long corpus stopped half-way keeps what it found
        totals = {v: sum(1 for r in found if r["verdict"] == v) for v in ("strict", "partial", "failed", "skipped")}
        if args.out:
            args.out.write_text(
                json.dumps(
                    {
                        "benchmark": "bad_inputs",
                        "machine": machine(),
                        "checkout": str(args.checkout),
                        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        "command": "python " + " ".join(sys.argv),
                        "totals": totals,
                        "cases": found,
                    },
                    indent=2,
                )
            )
        return totals

    with nullcontext(str(args.keep)) if args.keep else tempfile.TemporaryDirectory(prefix="bad-inputs-") as scratch:
        for case in cases:
            result = run_case(case, args.checkout.resolve(), Path(scratch), args.timeout, args.memory_limit_gb)
            found.append(result)
            write()
            print(
                f"{result['verdict']:8} {case.kind:6} {case.name}: exit {result.get('exit')}, {result.get('first_line', result.get('why', ''))[:150]}",
                flush=True,
            )
    totals = write()
    print(f"\n{len(found)} cases: " + ", ".join(f"{n} {v}" for v, n in totals.items()))


if __name__ == "__main__":
    main()
