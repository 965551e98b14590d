"""One-knob sweeps on Hydra's multirun: which jobs a sweep has, what each run is called, and the report at the end.

`python -m harness sweep=learning_rate` selects conf/sweep/learning_rate.yaml, which sets
`sweep.knob`/`sweep.values` and `hydra.mode: MULTIRUN`. The KnobSweeper (hydra_plugins/) turns those
into ordinary Hydra sweep overrides (`train.learning_rate=0.1,0.01,...`), so any launcher runs them,
and names every run after its value. `-m key=a,b,c` works the same way without a sweep config.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Iterable

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

OUTCOME: dict[str, Any] = {}  # the last report's counts, for the CLI's exit status


def hydra_value(value: Any) -> str:
    """A Python value as Hydra override syntax."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if re.fullmatch(r"[\w./\-+]+", text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _key_of(argument: str) -> str:
    return argument.split("=", 1)[0].lstrip("+~")


def _is_sweep(argument: str) -> bool:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_override(argument).is_sweep_override()


def knob_arguments(config: DictConfig, arguments: list[str]) -> list[str]:
    """The command line's overrides plus the sweep's own: knob values, seeds, and a fixed experiment name."""
    arguments = list(arguments)
    keys = {_key_of(a) for a in arguments}
    swept = [_key_of(a) for a in arguments if _is_sweep(a)]
    sweep = config.sweep
    extra = []
    if sweep.knob and sweep.knob not in swept:
        values = list(sweep["values"] or [])
        if not values:
            from harness.errors import ConfigError

            raise ConfigError("sweep.values", values, f"a non-empty list of values for {sweep.knob}")
        extra.append(f"{sweep.knob}={','.join(hydra_value(v) for v in values)}")
    elif not sweep.knob and len(swept) == 1:
        extra.append(f"sweep.knob={swept[0]}")
    if sweep.seeds > 1 and "train.seed" not in swept:
        base = config.train.seed
        extra.append("train.seed=" + ",".join(str(base + i) for i in range(sweep.seeds)))
    if "name" not in keys:
        # Every run of one sweep belongs to one experiment, even when the knob changes the default name.
        extra.append(f"name={hydra_value(config.name)}")
    return arguments + extra


def run_label(job: Iterable[str], swept: list[str], config: DictConfig) -> str:
    """A run's folder name: its knob and value (and seed), e.g. `learning_rate=0.01,seed=43`."""
    values = {_key_of(a): a.split("=", 1)[1] for a in job}
    parts = []
    for key in swept:
        if key == "train.seed" and config.sweep.seeds > 1:
            short = "seed"
        elif key == config.sweep.knob and config.sweep.name:
            short = config.sweep.name
        else:
            short = key.split(".")[-1] if len(swept) > 1 else key
        parts.append(f"{short}={values[key].strip(chr(39))}")
    label = ",".join(parts) or "baseline"
    return re.sub(r"[^\w.,=+\-]", "_", label)


def label_jobs(batch: list[list[str]], swept: list[str], config: DictConfig) -> list[list[str]]:
    return [job + [f"run_name={hydra_value(run_label(job, swept, config))}"] for job in batch]


def expand_jobs(config: DictConfig, arguments: list[str]) -> list[list[str]]:
    """The override list of every job a multirun command will launch, as the KnobSweeper makes them."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = OverridesParser.create().parse_overrides(knob_arguments(config, arguments))
    swept = [o.get_key_element() for o in overrides if o.is_sweep_override()]
    jobs = [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]
    return label_jobs(jobs, swept, config)


def sweep_identity(cfg: DictConfig, choices: dict[str, Any] | None = None) -> dict[str, Any]:
    """knob / value / seed of a run, for its record and the tables (knob None outside a sweep)."""
    knob = cfg.sweep.knob
    value = None
    if knob:
        node = OmegaConf.select(cfg, knob, default=None)
        if isinstance(node, DictConfig):  # a config group such as `model`: the option chosen
            value = (choices or {}).get(knob) or node.get("name")
        else:
            value = node
    return {"name": cfg.sweep.name or knob, "knob": knob, "value": value, "seed": cfg.train.seed}


class SweepReport(Callback):
    """Hydra callback: when a multirun ends, normalize the experiment and write its tables, plot and TB views."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from pathlib import Path

        from harness.report import write_report

        outcome = write_report(Path(config.hydra.sweep.dir))
        OUTCOME.clear()
        OUTCOME.update(outcome)
