"""Regenerates the README's TensorBoard screenshots: docs/images/hparams_table.png and normalized_curves.png.

    python docs/screenshots.py [--results DIR] [--chromium /usr/bin/chromium]

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


def screenshots(url: str, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    IMAGES.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        page.goto(f"{url}/#hparams")
        page.wait_for_timeout(10_000)
        page.screenshot(path=str(IMAGES / "hparams_table.png"))
        page.goto(f"{url}/?tagFilter=normalized_val_accuracy#timeseries")
        page.wait_for_timeout(10_000)
        page.screenshot(path=str(IMAGES / "normalized_curves.png"))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="an existing results folder (default: make one)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = args.results or Path(tmp) / "results"
        if args.results is None:
            make_results(results)
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tensorboard.main",
                "--logdir",
                str(results),
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--load_fast",
                "false",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_hparams(url)
            screenshots(url, args.chromium)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"wrote {IMAGES / 'hparams_table.png'} and {IMAGES / 'normalized_curves.png'}")


if __name__ == "__main__":
    main()
