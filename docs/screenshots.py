"""Regenerates the docs' TensorBoard screenshots: hparams_parallel.png (README), hparams_table.png and
normalized_curves.png, and with --analysed, projector.png and pr_curves.png (Looking inside a run).

    python docs/screenshots.py [--results DIR] [--chromium /usr/bin/chromium]
    python docs/screenshots.py --analysed RESULTS/EXPERIMENT/RUN     # a run analysed with analysis=true

Without --results it first makes a results folder as a new user would: a quickstart learning-rate sweep,
a quickstart random search and a single run (about 5 minutes on 2 CPU cores). Then it starts TensorBoard
on the folder and saves the HParams table and the normalized curves from a headless Chromium driven by
Playwright (`pip install playwright`; Debian's `chromium` package, no browser download). Not part of CI.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

IMAGES = Path(__file__).resolve().parent / "images"
MAKE = [
    ["experiment=quickstart", "sweep=learning_rate", "sweep.values=[0.03,0.01,0.001]", "train.epochs=3"],
    ["experiment=quickstart", "tuner=random", "tuner.max_trials=3", "train.epochs=3"],
    ["experiment=quickstart", "train.epochs=3", "train.learning_rate=0.01"],
]
# Chromium on a machine with no network: no background connections, no first-run or sync.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def make_results(results: Path) -> None:
    for overrides in MAKE:
        subprocess.run([sys.executable, "-m", "harness", f"results_dir={results}", *overrides], check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_hparams(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(
                f"{url}/data/plugin/hparams/experiment",
                data=b'{"experimentName": ""}',
                headers={"Content-Type": "application/json"},
            )
            if json.loads(urllib.request.urlopen(request, timeout=10).read()).get("hparamInfos"):
                return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit("TensorBoard did not serve the HParams experiment")


def shoot(url: str, chromium: str, pages: list[tuple], extra_args: tuple[str, ...] = ()) -> None:
    """Each (address under url, file under docs/images, milliseconds to wait[, a tab's text to click first]) as a
    1600 x 900 screenshot."""
    from playwright.sync_api import sync_playwright

    IMAGES.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[*CHROMIUM_ARGS, *extra_args])
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        for address, name, wait, *tab in pages:
            page.goto(f"{url}/{address}")
            page.wait_for_timeout(wait)
            if tab:
                page.get_by_role("tab", name=tab[0]).click()
                page.wait_for_timeout(wait)
            page.screenshot(path=str(IMAGES / name))
        browser.close()


SWEEP_PAGES = [
    ("#hparams", "hparams_table.png", 10_000),
    ("#hparams", "hparams_parallel.png", 10_000, "PARALLEL COORDINATES VIEW"),
    ("?tagFilter=normalized_val_accuracy#timeseries", "normalized_curves.png", 10_000),
]
# An analysed run's Projector tab (penultimate-layer vectors as thumbnails) and PR Curves tab. The projector
# draws with WebGL, which Chromium's software renderer (SwiftShader) serves without a GPU.
ANALYSIS_PAGES = [("#projector", "projector.png", 20_000), ("#pr_curves", "pr_curves.png", 10_000)]
SOFTWARE_GL = ("--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader")


def serve(logdir: Path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--port", str(port)]
        + ["--host", "127.0.0.1", "--load_fast", "false"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="an existing results folder (default: make one)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--analysed", type=Path, help="a run folder with tb/analysis: projector and PR curves only")
    args = parser.parse_args()
    if args.analysed:
        server, url = serve(args.analysed / "tb" / "analysis")
        try:
            time.sleep(8)
            shoot(url, args.chromium, ANALYSIS_PAGES, SOFTWARE_GL)
        finally:
            server.terminate()
            server.wait(timeout=30)
        print(f"wrote {IMAGES / 'projector.png'} and {IMAGES / 'pr_curves.png'}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        results = args.results or Path(tmp) / "results"
        if args.results is None:
            make_results(results)
        server, url = serve(results)
        try:
            wait_for_hparams(url)
            shoot(url, args.chromium, SWEEP_PAGES)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"wrote {', '.join(str(IMAGES / name) for _, name, *_ in SWEEP_PAGES)}")


if __name__ == "__main__":
    main()
