"""Where a full-training run's first epoch goes, and which TensorFlow switches would change that.

    python benchmarks/trace_cost.py            # about 4 min on 2 cores

A study's runs that train every layer (`random_init`, `unfreeze=1.0`) pay a first epoch several times their
later ones. Each variant below fits the same plain Keras MobileNet (alpha 0.25, 128 px, random weights, 12
classes, 720 train / 240 val random images, batch 32, `steps_per_execution=32`, as the harness compiles it) in
a fresh process and prints the first epoch, the median later epoch and the first epoch's loss (equal losses:
the same numbers):
  default          as the harness trains;
  second_model     a second model built and fitted in the same process (per-process set-up is paid once);
  grappler_off     TensorFlow's graph optimizer off (is the first epoch graph optimisation?);
  xla              jit_compile=True (XLA on CPU);
  one_thread       one intra-op thread (would two workers on two cores do better with a core each?).
Writes JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("default", "second_model", "grappler_off", "xla", "one_thread")


def child(variant: str, epochs: int) -> dict:
    if variant == "one_thread":
        os.environ["TF_NUM_INTRAOP_THREADS"] = "1"
    import keras
    import numpy as np
    import tensorflow as tf

    if variant == "grappler_off":
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (720, 128, 128, 3), dtype=np.uint8)
    y = rng.integers(0, 12, 720)
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(32).prefetch(2)
    val = tf.data.Dataset.from_tensor_slices((x[:240], y[:240])).batch(32)

    def fit() -> dict:
        keras.utils.set_random_seed(0)
        image = keras.Input((128, 128, 3), dtype="uint8")
        h = keras.layers.Rescaling(1 / 127.5, -1)(keras.ops.cast(image, "float32"))
        h = keras.applications.MobileNet(input_shape=(128, 128, 3), alpha=0.25, weights=None, include_top=False)(h)
        h = keras.layers.GlobalAveragePooling2D()(h)
        model = keras.Model(image, keras.layers.Dense(12, activation="softmax")(h))
        model.compile(
            optimizer="adam",
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=32,
            jit_compile=variant == "xla",
        )
        seconds = []

        class Clock(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                seconds.append(time.perf_counter() - self.start)

        history = model.fit(train, validation_data=val, epochs=epochs, verbose=0, callbacks=[Clock()])
        return {
            "first_epoch_s": seconds[0],
            "later_epoch_s": statistics.median(seconds[1:]),
            "first_loss": history.history["loss"][0],
        }

    first = fit()
    return {"variant": variant, **(fit() if variant == "second_model" else first)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "trace_cost.json"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.epochs)))
        return 0
    rows = []
    for variant in args.variants.split(","):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        done = subprocess.run(
            [sys.executable, __file__, "--child", variant, "--epochs", str(args.epochs)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(
            f"{variant:13s} first epoch {r['first_epoch_s']:6.1f} s  later {r['later_epoch_s']:5.2f} s  "
            f"first loss {r['first_loss']:.8f}",
            flush=True,
        )
    Path(args.out).write_text(
        json.dumps({"cpus": os.cpu_count(), "epochs": args.epochs, "rows": rows}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
