"""Studies: a named list of one-knob experiments over one baseline, run as one multirun.

`python -m harness study=chapter5` selects conf/study/chapter5.yaml. Every experiment becomes the jobs a
one-knob sweep of it would have (its values x study.seeds seeds), named `<study>/<experiment>`, so each
keeps its own folder, table and TensorBoard logs under results_dir/<study>/, and all of them go to one
launcher: one command, one progress count, resumable like any sweep.

A run whose config another experiment of the study already trained (the baseline's value appears in
every experiment) is copied from that run, not trained again: same config, same seed, same numbers.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from harness.config.identity import canonical
from harness.config.naming import hydra_value
from harness.errors import ConfigError
from harness.multirun.sweep import baseline_value, experiment_name, job_batches, knob_arguments, label_jobs
from harness.records import lifecycle
from harness.records.record import RunRecord, SweepIdentity, read_record
from harness.records.study_spec import SPEC
from harness.storage.atomic import write_atomic
from harness.training.run import clear_outputs

log = logging.getLogger(__name__)


def experiment_values(config: DictConfig, knob: str, values: list[Any]) -> list[Any]:
    """The experiment's values, plus the baseline's own where they lack it: every knob is compared with the
    baseline on the same seeds."""
    base = baseline_value(config, knob)
    known = {canonical(v) for v in values}
    return list(values) + ([base] if canonical(base) not in known else [])


def study_folder(config: DictConfig, arguments: list[str]) -> str:
    """The study's folder under results_dir: its default name plus a hash of the command line's fixed overrides."""
    return experiment_name(config, arguments)


def _fixed(arguments: list[str]) -> list[str]:
    parser = OverridesParser.create()
    return [a for a in arguments if not parser.parse_override(a).is_sweep_override()]


def experiment_jobs(config: DictConfig, arguments: list[str], folder: str, experiment: str) -> list[list[str]]:
    """One experiment's jobs, as the one-knob sweep `sweep.knob=<knob>` over this baseline would make them."""
    spec = config.study.experiments[experiment]
    values = experiment_values(config, spec.knob, list(spec["values"]))
    sweep = {"name": experiment, "knob": spec.knob, "values": values, "seeds": config.study.seeds}
    own = OmegaConf.merge(config, {"sweep": sweep})
    fixed = [
        *_fixed(arguments),
        f"sweep.name={experiment}",
        f"sweep.knob={spec.knob}",
        f"sweep.seeds={config.study.seeds}",
        f"name={hydra_value(f'{folder}/{experiment}')}",
    ]
    overrides = OverridesParser.create().parse_overrides(knob_arguments(own, fixed))
    swept = [o.get_key_element() for o in overrides if o.is_sweep_override()]
    return label_jobs([job for batch in job_batches(overrides, None) for job in batch], swept, own)


def study_jobs(config: DictConfig, arguments: list[str]) -> tuple[str, list[list[str]]]:
    """(the study's folder name, every job of every experiment, in the study's order)."""
    if config.sweep.knob or any(a.split("=", 1)[0] in ("sweep", "+sweep") for a in arguments):
        raise ConfigError(
            "sweep",
            config.sweep.name or config.sweep.knob,
            "unset: a study sets each experiment's knob (drop sweep=...)",
        )
    folder = study_folder(config, arguments)
    jobs = [
        job for experiment in config.study.experiments for job in experiment_jobs(config, arguments, folder, experiment)
    ]
    return folder, jobs


def spec(config: DictConfig) -> dict[str, Any]:
    """What the report needs besides the records: each experiment's knob, values and baseline value, the findings."""
    study = OmegaConf.to_container(config.study, resolve=True)
    experiments = {
        name: {
            "knob": e["knob"],
            "values": experiment_values(config, e["knob"], e["values"]),
            "baseline": baseline_value(config, e["knob"]),
        }
        for name, e in study["experiments"].items()
    }
    return {"name": study["name"], "seeds": study["seeds"], "experiments": experiments, "findings": study["findings"]}


def write_spec(study_dir: Path, config: DictConfig) -> Path:
    study_dir.mkdir(parents=True, exist_ok=True)
    path = study_dir / SPEC
    write_atomic(path, json.dumps(spec(config), indent=2, default=str))
    return path


def find_twin(study_dir: Path, config_hash: str, run_dir: Path) -> Path | None:
    """Another run of the study with this config that completed and was trained, not itself copied."""
    for record_file in sorted(Path(study_dir).glob("*/*/record.json")):
        other = record_file.parent
        if other.resolve() == Path(run_dir).resolve():
            continue
        record = read_record(other)
        if record and record.status.scored and record.config_hash == config_hash and not record.copied_from:
            return other
    return None


# Keras's per-epoch logs of the twin; what names the run (its HParams session, in tb/ itself) is written
# for the copy, and the report writes its experiment's normalized views.
_COPIED = ("train", "validation")


def copy_twin(twin: Path, run_dir: Path, cfg: DictConfig, identity: SweepIdentity, overrides: list[str]) -> RunRecord:
    """This run as the twin trained it: its record under this run's name and sweep value, its curves."""
    twin_record = read_record(twin)
    run_dir.mkdir(parents=True, exist_ok=True)
    clear_outputs(run_dir)
    for part in _COPIED:
        if (twin / "tb" / part).is_dir():
            shutil.copytree(twin / "tb" / part, run_dir / "tb" / part)
    copy = lifecycle.copied(
        twin_record, cfg, identity, overrides, str(Path("..") / ".." / twin.parent.name / twin.name)
    )
    lifecycle.publish(run_dir, copy)
    log.info(
        "run %s/%s has the config of %s/%s: copied, not trained again",
        cfg.name,
        cfg.run_name,
        twin.parent.name,
        twin.name,
    )
    return copy
