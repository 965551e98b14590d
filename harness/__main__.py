"""`python -m harness [overrides]`: compose the config with Hydra, check it, run.

The command line is composed and validated once before Hydra's own entry point runs, so a typo is
one line and exit status 2 after about a second, with nothing written under results_dir.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter; errors still show

import logging  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from harness.config import CONF_DIR, validate  # noqa: E402
from harness.errors import ConfigError, UserError  # noqa: E402

log = logging.getLogger("harness")

# Flags after which Hydra prints something and exits, or reads the next argument as a value.
_PASSTHROUGH = {"--help", "-h", "--hydra-help", "--info", "-i", "--cfg", "-c", "--version", "--shell-completion", "-sc"}
_WITH_VALUE = {"--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--package", "-p", "--experimental-rerun"}


def _one_line(exc: Exception) -> str:
    from hydra.errors import MissingConfigException

    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file and exc.options:
        group, _, option = exc.missing_cfg_file.rpartition("/")
        return str(ConfigError(group, option, "one of " + ", ".join(o for o in exc.options if not o.startswith("_"))))
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    cause = exc.__cause__
    detail = f" ({str(cause).splitlines()[0]})" if cause is not None and str(cause) else ""
    return f"config error: {' '.join(lines[:2])}{detail}"


def compose_cli(argv: list[str]) -> list[DictConfig] | None:
    """Compose what the command line asks for, as Hydra will (one config per job); None = not a run."""
    from hydra import compose, initialize_config_dir

    if any(a in _PASSTHROUGH for a in argv):
        return None
    overrides, config_name, skip = [], "config", False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg in _WITH_VALUE:
            skip = True
            if arg in ("--config-name", "-cn"):
                config_name = argv[i + 1]
            continue
        if arg.startswith("--config-name="):
            config_name = arg.split("=", 1)[1]
        elif not arg.startswith("-"):
            overrides.append(arg)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return [compose(config_name, overrides=overrides)]


def preflight(argv: list[str]) -> None:
    """Exit 2 with one line if the command line does not compose into valid configs."""
    try:
        configs = compose_cli(argv)
        for cfg in configs or []:
            validate(cfg)
    except UserError as exc:
        print(exc, file=sys.stderr)
        sys.exit(exc.exit_code)
    except Exception as exc:  # Hydra's own composition errors: unknown group option, key, syntax
        print(_one_line(exc), file=sys.stderr)
        sys.exit(2)


def _discard_run_dir(run_dir: Path, results_dir: Path) -> None:
    """Remove what Hydra created for a run that never started (it holds no record)."""
    if not run_dir.exists() or (run_dir / "record.json").exists():
        return
    logging.shutdown()
    shutil.rmtree(run_dir, ignore_errors=True)
    parent = run_dir.parent
    results = results_dir.resolve()
    while parent.resolve() != results and results in parent.resolve().parents and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent
    if results.exists() and not any(results.iterdir()):
        results.rmdir()


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def hydra_main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from harness.run import run

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        record = run(cfg, run_dir=run_dir, overrides=list(hydra_cfg.overrides.task))
    except UserError as exc:
        _discard_run_dir(run_dir, Path(cfg.results_dir))
        print(exc, file=sys.stderr)
        sys.exit(exc.exit_code)
    if record["status"] != "completed":
        print(f"run {record['run_name']} did not complete: {record['status']}: {record['error']}", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    preflight(sys.argv[1:])
    hydra_main()


if __name__ == "__main__":
    main()
