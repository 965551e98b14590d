"""What a command line asks for: Hydra's flags apart from its overrides, the config of every job as Hydra
will compose it, a single run's name, and whether the results folder already holds its runs.

The CLI composes the command line here once, before Hydra's own entry point runs, so a typo is one line
and exit status 2 after about a second, with nothing written under results_dir.
"""

from __future__ import annotations

import importlib.util
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

from omegaconf import DictConfig, OmegaConf, open_dict

from harness.config import naming
from harness.config.identity import config_hash
from harness.config.naming import hydra_value, key_of, override_label
from harness.config.presets import check_config_dir
from harness.config.schema import CONF_DIR
from harness.config.validate import validate, yes_no, yes_no_keys
from harness.errors import ConfigError
from harness.multirun.search_identity import IDENTITY, check_best_preset, same_baseline
from harness.multirun.study import study_jobs
from harness.multirun.sweep import expand_jobs
from harness.plugins import register_plugins
from harness.records.record import read_record

# Flags after which Hydra prints something and exits, or reads the next argument as a value.
PASSTHROUGH = {"--help", "-h", "--hydra-help", "--info", "-i", "--version", "--shell-completion", "-sc"}
WITH_VALUE = {
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--package",
    "-p",
    "--experimental-rerun",
    "--cfg",
    "-c",
}
SHOW = {"--cfg", "-c"}  # print the config that would run, and stop


class Command(NamedTuple):
    configs: list[DictConfig]  # every job's config, as Hydra will compose it
    multirun: bool
    overrides: list[str]  # the command line's overrides
    legacy: str | None = (
        None  # the folder under results_dir that versions before 0.2 gave the same runs, where it differs
    )
    launcher: dict | None = None  # the isolated launcher's settings, when a multirun uses it


class Argv(NamedTuple):
    flags: list[str]  # Hydra's own flags, each with its value
    overrides: list[str]
    config_name: str
    search: list[str]  # --config-dir folders, as the search-path override Hydra makes of them
    multirun: bool
    config_dirs: list[Path] = []  # the --config-dir folders themselves


def split_argv(argv: list[str]) -> Argv:
    """Hydra's flags apart from the overrides: argparse rejects overrides after a flag (`a=1 -m b=2`)."""
    flags, overrides, search, config_name, multirun = [], [], [], "config", False
    args = iter(argv)
    for arg in args:
        if arg in WITH_VALUE:
            value = next(args, "")
            flags += [arg, value]
            if arg in ("--config-name", "-cn"):
                config_name = value
            if arg in ("--config-dir", "-cd"):
                search.append(f"hydra.searchpath=[file://{Path(value).resolve()}]")
        elif arg.startswith("-"):
            flags.append(arg)
            multirun = multirun or arg in ("-m", "--multirun")
            if arg.startswith("--config-name="):
                config_name = arg.split("=", 1)[1]
            if arg.startswith("--config-dir="):
                search.append(f"hydra.searchpath=[file://{Path(arg.split('=', 1)[1]).resolve()}]")
        else:
            overrides.append(arg)
    dirs = [Path(entry.split("file://", 1)[1].rstrip("]")) for entry in search]
    return Argv(flags, overrides, config_name, search, multirun, dirs)


def compose_cli(argv: list[str]) -> Command | None:
    """What the command line asks for, or None when it is not a run (--help, --info, ...)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser

    register_plugins()
    if any(a in PASSTHROUGH for a in argv):
        return None
    parts = split_argv(argv)
    yes_no(parts.overrides)
    for folder in parts.config_dirs:  # every preset read as data first; a search's best-trial one more strictly
        if (folder / "experiment" / "best.yaml").is_file() and (
            (folder / IDENTITY).exists() or (folder / "keras_tuner").is_dir()
        ):
            check_best_preset(folder / "experiment" / "best.yaml")
        check_config_dir(folder, set(yes_no_keys()), parts.config_name)
    overrides = parts.search + parts.overrides
    parser = OverridesParser.create()
    fixed = [o for o in overrides if not parser.parse_override(o).is_sweep_override()]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        base = compose(parts.config_name, overrides=fixed, return_hydra_config=True)
        multirun = parts.multirun or str(base.hydra.mode).endswith("MULTIRUN")
        if not multirun:
            single = compose(parts.config_name, overrides=overrides)
            ignored = hyperband_ignores(single, parts.overrides)
            if ignored is not None:
                raise ignored
            return Command([single], False, parts.overrides, _legacy_single(single, parts.overrides))
        plain, groups = _without_hydra(base), set(base.hydra.runtime.choices)
        choice = base.hydra.runtime.choices.get("hydra/launcher")
        bad = launcher_missing(choice) or (launcher_counts(base.hydra.launcher) if choice == "isolated" else None)
        if bad is not None:
            raise bad
        if base.get("study") is not None:
            validate(plain)  # the study's own keys, before its experiments become overrides
        jobs = study_jobs(base, overrides)[1] if base.get("study") is not None else expand_jobs(base, overrides)
        configs = [
            _applied(plain, job, set(fixed), groups) or compose(parts.config_name, overrides=job) for job in jobs
        ]
        isolated = OmegaConf.to_container(base.hydra.launcher, resolve=True) if choice == "isolated" else None
        return Command(
            configs,
            True,
            parts.overrides,
            _legacy_multirun(configs[0] if configs else None, base, parts.overrides),
            isolated,
        )


def hyperband_ignores(cfg: DictConfig, overrides: list[str]) -> ConfigError | None:
    """The error for `train.epochs` given to a Hyperband search, which sets every trial's epochs itself, or None."""
    tuner = cfg.get("tuner")
    given = [o for o in overrides if key_of(o) == "train.epochs"]
    if tuner is None or tuner.get("algorithm") != "hyperband" or not given:
        return None
    return ConfigError(
        "train.epochs",
        given[-1].split("=", 1)[1],
        "unset: tuner=hyperband trains each trial for the epochs "
        "of its bracket, up to tuner.max_epochs (set that instead)",
    )


def _legacy_multirun(first: DictConfig | None, base: DictConfig, overrides: list[str]) -> str | None:
    """The folder earlier versions gave this sweep or study (its fixed overrides comma-joined), where it differs."""
    if first is None or any(key_of(o) == "name" for o in overrides):
        return None
    top = str(first.name).split("/")[0]
    digest = naming.overrides_hash(overrides)
    default = top[: -len(digest) - 1] if digest and top.endswith(f"-{digest}") else top
    legacy = naming.legacy_experiment_name(default, overrides, base)
    return legacy if legacy != top else None


def _legacy_single(cfg: DictConfig, overrides: list[str]) -> str | None:
    """The folder earlier versions gave this single run or search, where it differs: a run named with every
    override whole; a search named without its overrides."""
    if any(key_of(o) in ("name", "run_name") for o in overrides):
        return None
    if cfg.get("tuner") is not None:
        return str(cfg.name) if naming.overrides_hash(overrides, tuner=True) else None
    legacy, label = naming.legacy_label(overrides, cfg), override_label(overrides, cfg)
    return f"{cfg.name}/{legacy}" if legacy and legacy != label else None


# hydra/launcher options the harness documents: the plugin module each needs and the extra that installs it.
LAUNCHER_PLUGINS = {
    "harness_ray": ("ray", "ray"),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
}


def launcher_missing(choice: str | None) -> ConfigError | None:
    """The error for a launcher whose plugin is not installed (our `ray` preset composes without it), or None."""
    module, extra = LAUNCHER_PLUGINS.get(str(choice), (None, None))
    if module is None or importlib.util.find_spec(module) is not None:
        return None
    return ConfigError("hydra/launcher", choice, f'its plugin is not installed (pip install "tl-harness[{extra}]")')


def launcher_counts(launcher: DictConfig) -> ConfigError | None:
    """The error for an isolated launcher's worker or thread count below 1 (its schema has already checked the
    types), or None."""
    if launcher.n_jobs < 1:
        return ConfigError("hydra.launcher.n_jobs", launcher.n_jobs, "an integer >= 1")
    if launcher.threads_per_worker is not None and launcher.threads_per_worker < 1:
        return ConfigError("hydra.launcher.threads_per_worker", launcher.threads_per_worker, "null or an integer >= 1")
    return None


def _without_hydra(config: DictConfig) -> DictConfig:
    plain = config.copy()
    with open_dict(plain):
        del plain["hydra"]
    return plain


def _applied(base: DictConfig, job: list[str], fixed: set[str], groups: set[str]) -> DictConfig | None:
    """The job's config as `base` (composed with the fixed overrides) plus the job's own `key=value`
    overrides, set as Hydra would set them; None when one of them selects a config group or adds or
    deletes a key, which only a full composition does right. A study's 100 jobs compose in a second, not 25."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    config = base.copy()
    for argument in job:
        if argument in fixed:
            continue
        override = parser.parse_override(argument)
        key = override.key_or_group
        if key == "hydra" or key.startswith("hydra."):  # Hydra's own settings are not part of a job's config
            continue
        if override.is_add() or override.is_delete() or override.is_force_add() or key in groups or override.package:
            return None
        OmegaConf.update(config, key, override.value(), merge=False)
    return config


def single_run_name(argv: list[str], command: Command) -> list[str]:
    """A single run is named after its overrides (`learning_rate=0.01`), so a baseline and each change to
    it sit side by side in one experiment; a search after its whole config (its default name and a hash of
    the overrides), so a search over another baseline or space never resumes this one's trials. The command
    line with that name added."""
    cfg = command.configs[0]
    given = {key_of(o) for o in command.overrides}
    if cfg.get("tuner") is not None:
        name = naming.experiment_name(str(cfg.name), command.overrides, tuner=True)
        if "name" in given or name == cfg.name:
            return argv
        cfg.name = name
        return [*argv, f"name={hydra_value(name)}"]
    label = override_label(command.overrides, cfg)
    if not label or "run_name" in given:
        return argv
    cfg.run_name = label
    return [*argv, f"run_name={hydra_value(label)}"]


def hydra_argv(argv: list[str], command: Command | None) -> list[str]:
    """The command line Hydra gets: its flags first, then the overrides, a single run's name among them."""
    if command is None:
        return argv
    parts = split_argv(argv)
    overrides = parts.overrides if command.multirun else single_run_name(parts.overrides, command)
    return parts.flags + overrides


def occupied(command: Command) -> tuple[str, int] | None:
    """(a message, an exit status) when the command must not run because its folders hold records: a
    different config's (2, nothing is replaced) or, for a single run, this very config's, completed (0)."""
    for cfg in command.configs:
        if cfg.get("tuner") is not None or cfg.overwrite:
            continue
        run_dir = Path(cfg.results_dir) / cfg.name / cfg.run_name
        record = read_record(run_dir)
        if record is None:
            continue
        if record.config_hash != config_hash(cfg):
            return (
                f"results error: {run_dir} holds a run of a different config ({record.status}); name this one "
                "with run_name=... or name=..., or replace it with overwrite=true",
                2,
            )
        if not command.multirun and record.status.scored:
            return _completed(cfg, run_dir)
    return None


def _completed(cfg: DictConfig, run_dir: Path) -> tuple[str, int] | None:
    """What a single run that already completed with this config gets: skipped, analysed from its saved model
    (analysis=true: None lets the run's job do it), or told it cannot be analysed without retraining."""
    if not cfg.analysis or (run_dir / "analysis" / "predictions.parquet").exists():
        done = "completed and analysed" if cfg.analysis else "completed"
        return f"already {done} with this config: {run_dir} (overwrite=true re-runs it)", 0
    if (run_dir / "model.keras").exists():
        return None
    return (
        f"results error: {run_dir} completed without saving its model, so analysis=true cannot analyse it without "
        "training it again: overwrite=true analysis=true does both (train.save_model=true keeps the model for later)",
        2,
    )


def moved(command: Command) -> tuple[str, int] | None:
    """(a message, exit status 2) when this command's runs sit in a folder named by an earlier version (0.1),
    which still holds them and the new name does not: the message says how to move them. A search's old
    folder counts only when its trials have this search's baseline (0.1 named every search alike)."""
    if command.legacy is None:
        return None
    cfg = command.configs[0]
    results = Path(cfg.results_dir)
    if cfg.get("tuner") is not None:
        new = results / cfg.name
    elif command.multirun:
        new = results / str(cfg.name).split("/")[0]
    else:
        new = results / cfg.name / cfg.run_name
    old = results / command.legacy
    if not old.is_dir() or new.exists() or (cfg.get("tuner") is not None and not same_baseline(old, cfg)):
        return None
    return (
        f"results error: {old} holds these runs under the name tl-harness 0.1 gave them; move it to resume them: "
        f"mv {shlex.quote(str(old))} {shlex.quote(str(new))} (or name=... starts another experiment)",
        2,
    )


MIN_FREE_MB = 100  # a run writes a few MB (record, TensorBoard events, a saved model); the cache more


def unwritable(results_dirs: set[str], min_free_mb: float = MIN_FREE_MB, key: str = "results_dir") -> str | None:
    """Why results cannot be written under one of these folders (read-only, not a folder, nearly full), or None.

    Probed by writing, not by permission bits: root ignores those, a read-only mount does not."""
    word = "results" if key == "results_dir" else "cache"
    for given in sorted(results_dirs):
        existing = Path(given).expanduser().absolute()
        while not existing.exists() and not existing.is_symlink():
            existing = existing.parent
        if not existing.is_dir():
            return f"{word} error: {key}={given} cannot be created: {existing} is {'a file' if existing.exists() else 'a broken link'}"
        try:
            with tempfile.TemporaryFile(dir=existing, prefix=".harness-probe-"):
                pass
        except OSError as exc:
            return f"{word} error: {key}={given} is not writable ({exc.strerror}: {existing}); choose another {key}=..."
        free = shutil.disk_usage(existing).free / 2**20
        if free < min_free_mb:
            return (
                f"{word} error: {key}={given} has {free:.0f} MB free (at least {min_free_mb:.0f} MB needed); "
                f"free some space or choose another {key}=..."
            )
    return None


def in_the_way(command: Command) -> str | None:
    """A file where a folder of the runs' results tree should be (found now, not after a run has trained)."""
    for cfg in command.configs:
        run_dir = Path(cfg.results_dir).expanduser().absolute() / str(cfg.name) / str(cfg.run_name)
        for folder in (*reversed(run_dir.parents), run_dir):
            if folder.exists() and not folder.is_dir():
                return f"results error: {folder} is a file where a folder of the results should be; move it or choose name=..."
    return None


def running_elsewhere(command: Command) -> str | None:
    """A single run that a live process is training now: said before Hydra writes anything into its folder."""
    from harness.storage import claims

    if command.multirun or command.configs[0].get("tuner") is not None:
        return None
    cfg = command.configs[0]
    run_dir = Path(cfg.results_dir) / cfg.name / cfg.run_name
    owner = claims.holder(run_dir)
    if owner is None or owner == claims.me() or not claims.alive(owner, run_dir / claims.CLAIM):
        return None
    return f"run {cfg.name}/{cfg.run_name} is already running ({owner.describe()}): wait for it to finish"
