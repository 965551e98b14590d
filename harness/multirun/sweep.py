"""One-knob sweeps on Hydra's multirun: which jobs a sweep has, what each run is called, where each run sits.

`python -m harness sweep=learning_rate` selects conf/sweep/learning_rate.yaml, which sets
`sweep.knob`/`sweep.values` and `hydra.mode: MULTIRUN`. The KnobSweeper (hydra_plugins/) turns those
into ordinary Hydra sweep overrides (`train.learning_rate=0.1,0.01,...`), so any launcher runs them,
and names every run after its value. `-m key=a,b,c` works the same way without a sweep config.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf

from harness.config import naming
from harness.config.identity import canonical
from harness.config.naming import hydra_value, is_sweep, key_of, short_key
from harness.errors import ConfigError
from harness.records.record import SweepIdentity


def _short_name(key: str) -> str:
    return "seed" if key == "train.seed" else key.split(".")[-1]


def baseline_value(config: DictConfig, knob: str) -> Any:
    """The composed baseline's value of a knob: a config group's chosen option (`model`: transfer), else the key's."""
    choice = OmegaConf.select(config, f"hydra.runtime.choices.{knob}", default=None)
    node = OmegaConf.select(config, knob, default=None)
    if isinstance(node, DictConfig):
        return choice if choice is not None else node.get("name")
    return node


def knob_arguments(config: DictConfig, arguments: list[str]) -> list[str]:
    """The command line's overrides plus the sweep's own: knob values, seeds, the baseline's value of the knob
    and the experiment's name.

    The name is the preset's name with the sweep's (`-m train.optimizer=sgd,adam` is the `optimizer`
    sweep) and a hash of the command line's fixed overrides (harness.config.naming): a sweep over another
    baseline is another experiment, and never shares run folders with this one."""
    arguments = list(arguments)
    if "sweep" not in config:  # an app without the harness's sweep section: a plain Hydra multirun
        return arguments
    keys = {key_of(a) for a in arguments}
    swept = [key_of(a) for a in arguments if is_sweep(a)]
    sweep = config.sweep
    extra = []
    if sweep.knob and sweep.knob not in swept:
        values = list(sweep["values"] or [])
        if not values:
            raise ConfigError("sweep.values", values, f"a non-empty list of values for {sweep.knob}")
        extra.append(f"{sweep.knob}={','.join(hydra_value(v) for v in values)}")
    elif not sweep.knob and swept:
        if len(swept) == 1:
            extra.append(f"sweep.knob={swept[0]}")
        if not sweep.name and "sweep.name" not in keys:
            extra.append(f"sweep.name={hydra_value('+'.join(_short_name(k) for k in swept))}")
    knob = sweep.knob or (swept[0] if len(swept) == 1 else None)
    if knob and "sweep.baseline" not in keys:
        extra.append(f"sweep.baseline='{canonical(baseline_value(config, knob))}'")
    if sweep.seeds > 1 and "train.seed" not in swept:
        base = config.train.seed
        extra.append("train.seed=" + ",".join(str(base + i) for i in range(sweep.seeds)))
    if "name" not in keys:
        extra.append(f"name={hydra_value(experiment_name(config, arguments + extra))}")
    return arguments + extra


def _named(config: DictConfig, arguments: list[str]) -> DictConfig:
    """The config with the sweep's name a command line gives (`sweep.name=...`), which the default name includes."""
    named = [a for a in arguments if key_of(a) == "sweep.name"]
    if named:
        config = OmegaConf.merge(config, {"sweep": {"name": named[-1].split("=", 1)[1].strip(chr(39))}})
    return config


def experiment_name(config: DictConfig, arguments: list[str]) -> str:
    """The name every run of this multirun shares: the default name given the sweep's name, plus a short hash of
    the command line's fixed overrides."""
    return naming.experiment_name(str(_named(config, arguments).name), arguments)


def legacy_experiment_name(config: DictConfig, arguments: list[str]) -> str:
    """The name earlier versions gave the same multirun (the fixed overrides comma-joined), to find its runs."""
    config = _named(config, arguments)
    return naming.legacy_experiment_name(str(config.name), arguments, config)


def run_label(job: Iterable[str], swept: list[str], config: DictConfig, shown=naming.shown_value) -> str:
    """A run's folder name: its knob and value (and seed), e.g. `learning_rate=0.01,seed=43`; a file by its name."""
    values = {key_of(a): a.split("=", 1)[1] for a in job}
    parts = []
    for key in swept:
        if key == "train.seed" and config.sweep.seeds > 1:
            short = "seed"
        elif key == config.sweep.knob and config.sweep.name:
            short = config.sweep.name
        else:
            short = short_key(key, config) if "." in key else key
        parts.append(f"{short}={shown(values[key])}")
    return naming.folder_safe(",".join(parts)) or "baseline"


def label_jobs(batch: list[list[str]], swept: list[str], config: DictConfig) -> list[list[str]]:
    """Each job plus its run_name (an app without the harness's sweep and run_name keys keeps its jobs as they are)."""
    if "sweep" not in config or "run_name" not in config:
        return batch
    return [job + [f"run_name={hydra_value(run_label(job, swept, config))}"] for job in batch]


def job_batches(overrides: Sequence[Override], max_batch_size: int | None) -> list[list[list[str]]]:
    """Every combination of the overrides' values (the last one varying fastest; a key given twice keeps its
    first place and its last value), each job a list of `key=value` strings, in batches of max_batch_size."""
    choices: dict[str, list[str]] = {}
    for override in overrides:
        key = override.get_key_element()
        if override.is_sweep_override() and not override.is_discrete_sweep():
            raise ConfigError(
                key, override.input_line, "a list of values (a,b,c), range() or choice(); intervals need a tuner"
            )
        if override.is_sweep_override():
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
            if not choices[key]:
                raise ConfigError(
                    key, override.input_line.split("=", 1)[1], "a sweep over at least one value (this one has none)"
                )
        else:
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
    jobs = [list(job) for job in itertools.product(*choices.values())]
    size = max_batch_size or len(jobs) or 1
    return [jobs[i : i + size] for i in range(0, len(jobs), size)]


def expand_jobs(config: DictConfig, arguments: list[str]) -> list[list[str]]:
    """The override list of every job a multirun command will launch, as the KnobSweeper makes them."""
    overrides = OverridesParser.create().parse_overrides(knob_arguments(config, arguments))
    swept = [o.get_key_element() for o in overrides if o.is_sweep_override()]
    return label_jobs([job for batch in job_batches(overrides, None) for job in batch], swept, config)


def sweep_identity(cfg: DictConfig, choices: dict[str, Any] | None = None) -> SweepIdentity:
    """The sweep's name, the config key it varies, this run's value and seed (knob None outside a sweep)."""
    knob = cfg.sweep.knob
    value = None
    if knob:
        node = OmegaConf.select(cfg, knob, default=None)
        if isinstance(node, DictConfig):  # a config group such as `model`: the option chosen
            value = (choices or {}).get(knob) or node.get("name")
        else:
            value = node
    baseline = cfg.sweep.get("baseline")
    is_baseline = None if baseline is None or not knob else canonical(value) == baseline
    return SweepIdentity(name=cfg.sweep.name or knob, knob=knob, value=value, seed=cfg.train.seed, baseline=is_baseline)


def run_paths(jobs: list[list[str]], folder: str) -> list[str]:
    """Where each job's run will sit, relative to the multirun's folder (`<experiment>/<run>` in a study); jobs
    without a run_name (an app without the harness's keys) are left out."""
    parser = OverridesParser.create()
    paths = []
    for job in jobs:
        values = {o.get_key_element(): o.value() for o in parser.parse_overrides(job)}
        if "run_name" not in values:
            continue
        name = str(values.get("name", folder))
        inner = name[len(folder) + 1 :] if name.startswith(f"{folder}/") else ""
        paths.append(f"{inner}/{values['run_name']}" if inner else str(values["run_name"]))
    return paths
