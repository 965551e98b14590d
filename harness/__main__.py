"""`python -m harness [overrides]`: compose the config with Hydra, check it, hand Hydra the job, exit.

The command line is composed and validated once before Hydra's own entry point runs, so a typo is
one line and exit status 2 after about a second, with nothing written under results_dir. What each job
does (claim, skip, train, record) is harness.job's; this module keeps the entry, the sweep's prestarted
worker, the checks before anything runs, and the exit status.
"""

from __future__ import annotations

# ruff: noqa: E402 - the imports wait until a sweep's worker has been started (_prestart_if_sweep)
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter; errors still show


def _launcher_setting(argv: list[str], key: str) -> int | None:
    """A launcher setting as the command line gives it: a guess made before Hydra can compose anything. The launcher
    adopts the prestarted worker only where the composed settings agree (harness.process.workers.adopted)."""
    given = [a.split("=", 1)[1] for a in argv if a.startswith(f"hydra.launcher.{key}=")]
    return int(given[-1]) if given and given[-1].isdigit() else None


def reads_as_sweep(argv: list[str]) -> bool:
    """Whether a command line reads as a sweep or study on the isolated launcher, from its words alone (no flags
    but -m, no search, no other launcher)."""
    words = [a.lstrip("+") for a in argv]
    multirun = any(a in ("-m", "--multirun") or a.split("=", 1)[0] in ("sweep", "study") for a in words)
    other_launcher = any(a.startswith("hydra/launcher=") and a != "hydra/launcher=isolated" for a in words)
    flags = any(a.startswith("-") and a not in ("-m", "--multirun") for a in words)
    return multirun and not other_launcher and not flags and not any(a.startswith("tuner=") for a in words)


def _prestart_if_sweep(argv: list[str]) -> None:
    """Start the isolated launcher's first worker before anything else is imported when the command line reads as
    a sweep or study: its TensorFlow import (3 to 5 s on 2 cores) then overlaps this process's imports and Hydra's
    composition. main stops the worker if the command turns out otherwise."""
    if not reads_as_sweep(argv):
        return
    from harness.process import devices, workers

    n_jobs = _launcher_setting(argv, "n_jobs") or 1
    env = devices.worker_env(0, n_jobs, devices.visible_gpus(), _launcher_setting(argv, "gpu_memory_mb"))
    workers.prestart(_launcher_setting(argv, "threads_per_worker"), env)


if __name__ == "__main__":  # not where a spawned worker imports this module to unpickle its task
    from harness.process.homes import tool_homes

    tool_homes(sys.argv[1:])  # before the worker starts: it inherits them
    _prestart_if_sweep(sys.argv[1:])

import contextlib
import io
import signal
from pathlib import Path

import hydra
from omegaconf import DictConfig

from harness.command import (
    LAUNCHER_PLUGINS,
    SHOW,
    Command,
    compose_cli,
    hydra_argv,
    in_the_way,
    moved,
    occupied,
    running_elsewhere,
    unwritable,
)
from harness.config.schema import CONF_DIR  # also registers the schemas that conf/ builds on
from harness.config.validate import schema_error, validate
from harness.errors import ConfigError, UserError
from harness.job import task
from harness.process import devices, stopping, workers
from harness.process.quiet import import_tensorflow
from harness.records.record import read_record


def _unparsable(argv: list[str]) -> str | None:
    """The first command-line override Hydra's grammar cannot parse, with its parser's complaint."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for arg in (a for a in argv if "=" in a and not a.startswith("-")):
        try:
            parser.parse_override(arg)
        except HydraException as exc:  # Hydra's grammar errors (OverrideParseException is one of its subclasses)
            reason = str(exc).splitlines()[0].strip()
            return f"config error: {arg!r} is not a valid override ({reason[:80]}); write key=value, e.g. train.learning_rate=0.1"
    return None


def _one_line(exc: Exception, argv: list[str]) -> str:
    from hydra.errors import MissingConfigException
    from omegaconf.errors import OmegaConfBaseException

    unparsable = _unparsable(argv)  # Hydra raises its grammar errors as several exception types
    if unparsable:
        return unparsable
    cause = exc.__cause__
    if isinstance(cause, OmegaConfBaseException) and cause.full_key:
        given = {a.split("=", 1)[0].lstrip("+~"): a.split("=", 1)[1] for a in argv if "=" in a}
        error = schema_error(cause, given.get(cause.full_key, getattr(cause, "value", None)))
        if error is not None:
            return str(error)
    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file and exc.options:
        group, _, option = exc.missing_cfg_file.rpartition("/")
        allowed = "one of " + ", ".join(o for o in exc.options if not o.startswith("_"))
        if group == "hydra/launcher" and option in LAUNCHER_PLUGINS:
            allowed += f'; pip install "tl-harness[{LAUNCHER_PLUGINS[option][1]}]" adds {option}'
        return str(ConfigError(group, option, allowed))
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = f" ({str(cause).splitlines()[0]})" if cause is not None and str(cause) else ""
    return f"config error: {' '.join(lines[:2])}{detail}"


def preflight(argv: list[str]) -> Command | None:
    """What the command line asks for (None for --help and the like); exit 2 with one line if it does not
    compose into valid configs."""
    try:
        command = compose_cli(argv)
        for cfg in command.configs if command else []:
            validate(cfg)
        return command
    except UserError as exc:
        print(exc, file=sys.stderr)
        sys.exit(exc.exit_code)
    except Exception as exc:  # Hydra's own composition errors: unknown group option, key, syntax
        print(_one_line(exc, argv), file=sys.stderr)
        sys.exit(2)


# An absolute config path: Hydra reads a relative one as a module path when the console script, not
# `python -m`, is the entry point.
hydra_main = hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(task)


def incomplete_runs(configs: list[DictConfig]) -> list[str]:
    """The jobs of a multirun that have no completed record (a search sets its own exit status)."""
    if any(cfg.get("tuner") is not None for cfg in configs):
        return []
    dirs = [Path(cfg.results_dir) / cfg.name / cfg.run_name for cfg in configs]
    found = (read_record(d) for d in dirs)
    return [d.name for d, record in zip(dirs, found) if record is None or not record.status.scored]


def main() -> None:
    from harness.process.homes import tool_homes

    tool_homes(sys.argv[1:])
    try:
        _main()
    finally:  # a worker started for a command that stopped early, or that it did not need
        workers.discard_prestarted()


def _main() -> None:
    command = preflight(sys.argv[1:])
    if command is not None:
        sys.argv[1:] = hydra_argv(sys.argv[1:], command)  # Hydra reads its command line from sys.argv
        stop = (
            None
            if SHOW & set(sys.argv)
            else moved(command) or occupied(command) or _unwritable(command) or _offline(command)
        )
        if stop is not None:
            print(stop[0], file=sys.stderr if stop[1] else sys.stdout)
            sys.exit(stop[1])
        if not command.multirun and not SHOW & set(sys.argv):
            import_tensorflow()
        elif command.launcher is not None and not SHOW & set(sys.argv) and not _searches(command):
            _prestart_worker(
                command.launcher
            )  # unless one started before the imports; the launcher checks its settings
        if command.launcher is None or _searches(command):
            workers.discard_prestarted()
        _warn_few_seeds(command)
    if command is None and HELP & set(sys.argv[1:]):
        _help()
    stopping.install()
    try:
        hydra_main()
    except stopping.Interrupted:
        pass  # the run's record says interrupted; the line below says what to do
    if stopping.requested() is not None and command is not None:
        print(stopped_line(command), file=sys.stderr, flush=True)
        sys.exit(stopping.exit_code())
    if command is not None and command.multirun and incomplete_runs(command.configs):
        sys.exit(1)


HELP = {"--help", "-h"}


def without_internal_options(text: str) -> str:
    """Hydra's help with its config groups listed without the options whose names start with `_`: the schemas and
    defaults the presets build on (`_data_schema`, `_tuner_defaults`), which no command line selects."""
    lines, in_groups = [], False
    for line in text.splitlines():
        if line.startswith("== "):
            in_groups = line.startswith("== Configuration groups")
        elif in_groups and ": " in line:
            group, _, options = line.partition(": ")
            line = f"{group}: {', '.join(o for o in options.split(', ') if not o.startswith('_'))}"
        lines.append(line)
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def _help() -> None:
    """`harness --help`: Hydra's own help, printed without the internal options."""
    shown = io.StringIO()
    try:
        with contextlib.redirect_stdout(shown):
            hydra_main()
    finally:
        sys.stdout.write(without_internal_options(shown.getvalue()))
        sys.stdout.flush()


def _searches(command: Command) -> bool:
    return any(cfg.get("tuner") is not None for cfg in command.configs)


def _prestart_worker(launcher: dict) -> None:
    """The isolated launcher's first worker, started before Hydra composes the jobs (harness.process.workers)."""
    n_jobs = max(1, int(launcher.get("n_jobs") or 1))
    env = devices.worker_env(0, n_jobs, devices.visible_gpus(), launcher.get("gpu_memory_mb"))
    workers.prestart(launcher.get("threads_per_worker"), env)


def _warn_few_seeds(command: Command) -> None:
    """A study whose seeds cannot decide a verdict is told so before its runs start, not only in its report."""
    study = command.configs[0].get("study") if command.multirun and command.configs else None
    if study is None:
        return
    from harness.reports.study_report import few_seeds_note

    note = few_seeds_note(int(study.seeds)).replace("*", "")
    if note:
        print(f"warning: {note}", file=sys.stderr, flush=True)


def _offline(command: Command) -> tuple[str, int] | None:
    from harness.config.reachable import unreachable

    problem = unreachable(command.configs)
    return None if problem is None else (problem, 2)


def _unwritable(command: Command) -> tuple[str, int] | None:
    caches = {str(cfg.cache_dir) for cfg in command.configs if cfg.train.cache == "auto"}
    problem = (
        unwritable({str(cfg.results_dir) for cfg in command.configs})
        or unwritable(caches, 0, "cache_dir")
        or in_the_way(command)
    )
    if problem is not None:
        return problem, 2
    busy = running_elsewhere(command)
    return None if busy is None else (busy, 1)


def stopped_line(command: Command) -> str:
    """What a stopped command finished and how to go on."""
    signame = signal.Signals(stopping.requested()).name
    again = "run the same command again to resume"
    if any(cfg.get("tuner") is not None for cfg in command.configs):
        cfg = command.configs[0]
        trials = len(list((Path(cfg.results_dir) / cfg.name).glob("trial=*/record.json")))
        return f"stopped by {signame}: search {cfg.name} has {trials} trial(s); {again}"
    left = incomplete_runs(command.configs)
    done = len(command.configs) - len(left)
    if not command.multirun:
        cfg = command.configs[0]
        record = read_record(Path(cfg.results_dir) / cfg.name / cfg.run_name)
        status = record.status if record is not None else "not started"
        return f"stopped by {signame}: run {cfg.name}/{cfg.run_name} is {status}; {again}"
    return f"stopped by {signame}: {done} of {len(command.configs)} runs completed; {again}"


if __name__ == "__main__":
    main()
