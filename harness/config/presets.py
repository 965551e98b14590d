"""A user's config folder (`--config-dir`) read as data before Hydra composes it: the harness alone decides where
a run writes, what it logs to and what runs at its end.

A preset may set the config's values (interpolations such as `${oc.env:DATA}` included), pick group options in
its `defaults` list (also `override hydra/launcher` and `override hydra/sweeper`) and set `hydra.mode`. It may not
set any other part of Hydra's own config (`hydra.run`/`hydra.sweep` directories, logging, callbacks), hold a key
such as `_target_` that Hydra instantiates, use a YAML tag, give a yes/no knob anything but true or false, or
replace the harness's primary config (a `config.yaml` at the folder's top). Files in hidden folders (`.hydra/`,
which Hydra writes into every run) are not presets and are not read.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, UserError

# All of Hydra's own config a preset may set, and the groups of Hydra's config its defaults list may pick.
HYDRA_KEYS = ("mode",)
HYDRA_GROUPS = ("hydra/launcher", "hydra/sweeper")
ALLOWED = (
    "a preset sets config values, group options and hydra.mode only (docs/configuration.md: what a preset may set)"
)


def preset_files(folder: Path, config_name: str = "config") -> Iterator[Path]:
    """The YAML files Hydra could read from a config folder: its group folders' (not hidden ones'), and a
    primary config of the harness's name."""
    folder = Path(folder)
    top = folder / f"{config_name}.yaml"
    if top.is_file():
        yield top
    for path in sorted(folder.rglob("*.yaml")):
        inside = path.relative_to(folder).parts
        if len(inside) > 1 and not any(part.startswith(".") for part in inside):
            yield path


def _flat(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _flat(value, f"{prefix}{key}.")
    yield prefix.rstrip("."), node


def _package(path: Path, folder: Path, text: str) -> str:
    """Where a preset's keys land: the top for `# @package _global_`, else its group's section."""
    if "@package _global_" in "\n".join(text.splitlines()[:5]):
        return ""
    return ".".join(path.relative_to(folder).parts[:-1]) + "."


def _defaults(entries: Any, where: str) -> None:
    if entries is None:
        return
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: defaults", entries, "a list of group options")
    for entry in entries:
        if isinstance(entry, str):
            continue
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigError(f"{where}: defaults", entry, "a list of group options (`group: option`)")
        group, option = next(iter(entry.items()))
        group = str(group).removeprefix("override ").strip().lstrip("/")
        if group.startswith("hydra") and group not in HYDRA_GROUPS:
            raise ConfigError(f"{where}: defaults", entry, f"of Hydra's groups, only {', '.join(HYDRA_GROUPS)}")
        if option is not None and not isinstance(option, (str, list)):
            raise ConfigError(f"{where}: defaults", entry, "a group option's name")


@functools.cache
def _loader():
    """PyYAML's safe loader reading booleans as YAML 1.2 and OmegaConf do: true and false only, so `yes`, `on`
    and the like stay text here, as they are text to OmegaConf (which would then read them as true)."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return Loader


def check_preset(path: Path, folder: Path, yes_no_keys: set[str]) -> None:
    """ConfigError (one line naming the file and the key) for a preset that does more than set values."""
    import yaml

    where = str(path)
    if path.parts[len(Path(folder).parts) : len(Path(folder).parts) + 1] == ("hydra",):
        raise UserError(f"config error: {where}: Hydra's own config (hydra/ in a config folder) is the harness's")
    if path.parent == Path(folder):
        raise UserError(f"config error: {where}: would replace the harness's config; presets go in group folders")
    try:
        text = path.read_text()
        data = yaml.load(text, Loader=_loader())  # a YAML tag (!!python/...) is refused here
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"config error: {where}: not a readable YAML preset ({str(exc).splitlines()[0]})") from None
    if data is None:
        return
    if not isinstance(data, dict):
        raise ConfigError(where, type(data).__name__, "a mapping of config keys")
    _defaults(data.get("defaults"), where)
    hydra = data.get("hydra")
    if hydra is not None:
        if not isinstance(hydra, dict):
            raise ConfigError(f"{where}: hydra", hydra, ALLOWED)
        for key, value in hydra.items():
            if key not in HYDRA_KEYS:
                raise ConfigError(f"{where}: hydra.{key}", value, ALLOWED)
    package = _package(path, Path(folder), text)
    for key, value in _flat({k: v for k, v in data.items() if k not in ("defaults", "hydra")}, ""):
        leaf = key.rsplit(".", 1)[-1]
        if leaf.startswith("_") and leaf.endswith("_") and len(leaf) > 1:
            raise ConfigError(f"{where}: {key}", value, f"{ALLOWED}; no {leaf}")
        if f"{package}{key}" in yes_no_keys and not isinstance(value, bool):
            raise ConfigError(f"{where}: {key}", value, "true or false (not 1/0 or yes/no)")


def check_config_dir(folder: Path, yes_no_keys: set[str], config_name: str = "config") -> None:
    """Every preset of a --config-dir folder read as data first (check_preset)."""
    for path in preset_files(folder, config_name):
        check_preset(path, folder, yes_no_keys)
