"""TensorBoard side effects beyond Keras' own callback: HParams session info and summary scalars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


def flat_hparams(cfg: DictConfig) -> dict[str, bool | int | float | str]:
    """The run's knobs as HParams values (dotted keys; the plugin takes only bool, number and string)."""
    container = OmegaConf.to_container(cfg, resolve=True)
    out: dict[str, Any] = {"dataset": container["dataset"]["name"]}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else key, value)
        elif isinstance(node, (bool, int, float, str)):
            out[prefix] = node
        elif node is None:
            out[prefix] = "null"
        else:
            out[prefix] = str(node)

    for section in ("data", "model", "train"):
        walk(section, container[section])
    return out


def write_hparams(log_dir: Path, hparams: dict, trial_id: str) -> None:
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    with tf.summary.create_file_writer(str(log_dir)).as_default():
        hp.hparams(hparams, trial_id=trial_id)


def write_scalars(log_dir: Path, scalars: dict[str, float | None], step: int = 0) -> None:
    import tensorflow as tf

    with tf.summary.create_file_writer(str(log_dir)).as_default():
        for tag, value in scalars.items():
            if value is not None:
                tf.summary.scalar(tag, value, step=step)
