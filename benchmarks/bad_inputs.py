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
import subprocess
import sys
import tempfile
from collections.abc import Callable
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
    kind: str  # data | disk | path | claim | space | files | small
    args: list[str]
    expect: str  # refuse | recorded | skipped | works
    setup: Callable[[Path], None] = lambda work: None
    check: Callable[[Path, dict], bool] | None = (
        None  # extra condition on (work, the record found) for recorded/skipped/works
    )
    needs_mount: bool = False
    notes: list[str] = field(default_factory=list)
    module: str = "harness"  # python -m <module> <args>: the harness, or one of its tools (harness.report, ...)


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
        subprocess.run(
            [
                sys.executable,
                "-m",
                "harness",
                *folder_args(work),
                f"results_dir={work}/warm",
                f"cache_dir={work}/cache",
            ],
            capture_output=True,
            cwd=work.checkout,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(work.checkout)},
        )
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
                bool(record)
                and record.get("status") == "completed"
                and "rebuilding it" in (work / "stderr.txt").read_text()
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
    return cases


class Work(type(Path())):  # a Path that also carries the checkout the case runs
    checkout: Path


def run_case(case: Case, checkout: Path, scratch: Path) -> dict:
    work = Work(scratch / "".join(c if c.isalnum() else "_" for c in case.name)[:60])
    work.checkout = checkout
    work.mkdir(parents=True)
    mounted_before = set(Path("/proc/mounts").read_text().split()) if Path("/proc/mounts").exists() else set()
    try:
        outcome = case.setup(work)
        if case.needs_mount and (isinstance(outcome, tuple) and False in outcome):
            return {"case": case.name, "kind": case.kind, "verdict": "skipped", "why": "cannot mount a tmpfs here"}
        args = [a.replace("{work}", str(work)) for a in (case.args or folder_args(work))]
        tool = case.module != "harness"
        if not tool and (
            case.kind in ("data", "claim", "path", "disk")
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
        home = work / "home"
        home.mkdir()
        done = subprocess.run(
            [sys.executable, "-m", case.module, *args],
            capture_output=True,
            text=True,
            errors="backslashreplace",  # a name in invalid UTF-8 printed back
            cwd=checkout,
            timeout=600,
            env={
                **{k: v for k, v in os.environ.items() if k not in ("KERAS_HOME", "MPLCONFIGDIR", "HARNESS_CACHE_DIR")},
                "HOME": str(home),  # a fresh, empty home: a case that writes there is not strict
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "PYTHONPATH": str(checkout),
                "HYDRA_FULL_ERROR": "0",
            },
        )
        (work / "stderr.txt").write_text(done.stdout + done.stderr)
        found = judge(case, work, results, done, before)
        in_home = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
        if in_home:
            found["home_written"] = in_home[:5]
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
    records = [json.loads(p.read_text()) for p in results.rglob("record.json")] if results.exists() else []
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
        status_ok = done.returncode in ((0,) if case.expect in ("skipped", "works") else (1,))
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
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sweep_speed import machine

    cases = [c for c in corpus() if not args.only or any(o in c.name for o in args.only)]
    found = []
    with tempfile.TemporaryDirectory(prefix="bad-inputs-") as scratch:
        for case in cases:
            result = run_case(case, args.checkout.resolve(), Path(scratch))
            found.append(result)
            print(
                f"{result['verdict']:8} {case.kind:6} {case.name}: exit {result.get('exit')}, {result.get('first_line', result.get('why', ''))[:150]}",
                flush=True,
            )
    totals = {v: sum(1 for r in found if r["verdict"] == v) for v in ("strict", "partial", "failed", "skipped")}
    print(f"\n{len(found)} cases: " + ", ".join(f"{n} {v}" for v, n in totals.items()))
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


if __name__ == "__main__":
    main()
