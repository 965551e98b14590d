"""TensorBoard files beyond Keras's own callback (HParams sessions, summary scalars, images), written without TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.config.space import as_meant

# A number column with at most this many distinct values gets them as its domain; more, an interval.
DISCRETE_LIMIT = 12


def hparam_values(values: dict[str, Any]) -> dict[str, bool | int | float | str]:
    """Values as the HParams plugin takes them: bool, number or string (lists as text); a null is left
    out, so each key keeps one type across runs and TensorBoard shows an empty cell. A float keeps 12
    significant digits, as it was written: 0.1 * 3 is 0.3, not a second value 0.30000000000000004."""
    out: dict[str, bool | int | float | str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = as_meant(value)
        out[key] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return out


def hparam_domain(values: list[Any]):
    """The HParams domain of one column given every run's value: the distinct values (strings,
    booleans, a few numbers) or the interval they span. Mixed types fall back to text."""
    from tensorboard.plugins.hparams import summary_v2 as hp

    kinds = {bool if isinstance(v, bool) else float if isinstance(v, (int, float)) else str for v in values}
    if kinds == {float}:
        numbers = sorted({float(v) for v in values})
        if len(numbers) <= DISCRETE_LIMIT:
            return hp.Discrete(numbers)
        return hp.RealInterval(numbers[0], numbers[-1])
    if kinds == {bool}:
        return hp.Discrete(sorted(set(values)))
    return hp.Discrete(sorted({str(v) for v in values}))


def hparams_experiment(sessions: list[dict[str, Any]], columns: list[str], metrics: list[tuple[str, str, str]]):
    """The experiment-level HParams summary: a typed column per key in `columns` (in that order) with
    the domain its sessions' values span, and metrics given as (tag, run group, display name)."""
    from tensorboard.plugins.hparams import summary_v2 as hp

    hparams = []
    for key in columns:
        values = [s[key] for s in sessions if s.get(key) is not None]
        if values:
            hparams.append(
                hp.HParam(key, hparam_domain(values), display_name=key.lower() if key[0].isupper() else None)
            )
    return hp.hparams_config_pb(
        hparams=hparams, metrics=[hp.Metric(t, group=g or None, display_name=d) for t, g, d in metrics]
    )


def write_events(log_dir: Path, summaries: list[tuple[int, Any]]) -> None:
    """Write (step, Summary proto) events to a new event file in log_dir.

    TensorBoard's own record format and protos, written without TensorFlow: TensorBoard's EventFileWriter
    would import it (via tensorboard.compat.tf, about 5 s on 2 cores) just to open a file, and the
    process that reports a sweep otherwise never needs it.
    """
    import socket
    import time

    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.record_writer import RecordWriter

    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    now = time.time()
    path = log_dir / f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}.{time.perf_counter_ns()}.v2"
    with open(path, "wb") as f:
        writer = RecordWriter(f)
        writer.write(Event(wall_time=now, file_version="brain.Event:2").SerializeToString())
        for step, summary in summaries:
            # With TensorFlow loaded the plugins build TF's Summary class: same wire format, other class.
            proto = Summary.FromString(summary.SerializeToString())
            writer.write(Event(wall_time=time.time(), step=step, summary=proto).SerializeToString())


def scalar(tag: str, value: float):
    """A scalar summary tagged exactly `tag`, as tf.summary.scalar writes it (the v1 pb() appends '/scalar_summary')."""
    import numpy as np
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.scalar import metadata
    from tensorboard.util import tensor_util

    tensor = tensor_util.make_tensor_proto(np.float32(value))
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata("", ""), tensor=tensor)])


def image(tag: str, png: Path):
    """An image summary of a PNG file, as tf.summary.image writes it: [width, height, encoded bytes]."""
    from PIL import Image
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.image import metadata
    from tensorboard.util import tensor_util

    with Image.open(png) as im:
        width, height = im.size
    tensor = tensor_util.make_tensor_proto([str(width).encode(), str(height).encode(), Path(png).read_bytes()])
    meta = metadata.create_summary_metadata(display_name=tag, description="")
    return Summary(value=[Summary.Value(tag=tag, metadata=meta, tensor=tensor)])


def write_hparams(log_dir: Path, hparams: dict, trial_id: str) -> None:
    from tensorboard.plugins.hparams import summary_v2

    write_events(log_dir, [(0, summary_v2.hparams_pb(hparams, trial_id=trial_id))])


def write_scalars(log_dir: Path, scalars: dict[str, float | None], step: int = 0) -> None:
    write_events(log_dir, [(step, scalar(tag, value)) for tag, value in scalars.items() if value is not None])


def text(tag: str, markdown: str):
    """A text summary (TensorBoard's Text tab renders it as Markdown, tables included), as tf.summary.text writes it."""
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.text import metadata
    from tensorboard.util import tensor_util

    tensor = tensor_util.make_tensor_proto(markdown.encode())
    return Summary(
        value=[
            Summary.Value(
                tag=tag, metadata=metadata.create_summary_metadata(display_name=tag, description=""), tensor=tensor
            )
        ]
    )
