"""The docs say what is true: every `python -m harness ...` / `harness ...` command the README and the docs show
composes (as `--cfg job` would: the CLI's own composition and checks, nothing run) and every shown error is the one
printed; the pages made from data (configuration reference, benchmarks) are what docs/generate.py makes now.
Placeholders: DIR is an image folder, WEIGHTS.h5 a weights file, my_conf a folder of the user's presets."""

from __future__ import annotations

import importlib.util
import re
import shlex

import pytest

from harness.__main__ import preflight
from harness.command import LAUNCHER_PLUGINS
from tests.helpers import ROOT, write_images, write_weights_file

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def readme_commands() -> list[tuple[str, str | None]]:
    """(command line, the output line shown under it or None) for every harness command in a code block."""
    found = []
    blocks = [b for page in PAGES for b in re.findall(r"```[a-z]*\n(.*?)```", page.read_text(), flags=re.S)]
    for block in blocks:
        lines = block.replace("\\\n", " ").splitlines()
        for i, line in enumerate(lines):
            prompt = line.startswith("$ ")
            text = line[2:] if prompt else line
            if not re.match(r"\s*(\$ )?(\w+=\S*\s+)*(python -m harness|harness)(\s|$)", line):
                continue
            words = shlex.split(text, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # environment assignments
                words = words[1:]
            if words[:3] == ["python", "-m", "harness"] or words[:1] == ["harness"]:
                shown = lines[i + 1] if prompt and i + 1 < len(lines) and not lines[i + 1].startswith("$") else None
                found.append((" ".join(shlex.quote(w) for w in words if w != "&"), shown))
    return list(dict.fromkeys(found))


COMMANDS = readme_commands()


def test_the_docs_show_commands():
    assert len(COMMANDS) >= 25


@pytest.fixture(scope="module")
def placeholders(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme")
    for split, count in (
        ("train", 15),
        ("val", 3),
    ):  # 10 per class left after a study's test split: samples_per_class=10
        for c in range(3):
            write_images(root / "DIR" / split / f"class{c}", count, seed=c, color=c)
    write_weights_file(root / "WEIGHTS.h5")
    for group, text in (
        ("experiment", "# @package _global_\ndefaults:\n  - quickstart\n  - _self_\npreset: mine\n"),
        (
            "sweep",
            "# @package _global_\nsweep:\n  name: mine\n  knob: train.learning_rate\n  values: [0.1, 0.01]\n"
            "hydra:\n  mode: MULTIRUN\n",
        ),
        (
            "study",
            "# @package _global_\nstudy:\n  name: mine\n  seeds: 2\n  experiments:\n"
            "    learning_rate: {knob: train.learning_rate, values: [0.01, 0.001]}\nhydra:\n  mode: MULTIRUN\n",
        ),
    ):
        (root / "my_conf" / group).mkdir(parents=True)
        (root / "my_conf" / group / "mine.yaml").write_text(text)
    return root


@pytest.mark.parametrize("command, shown", COMMANDS, ids=[c for c, _ in COMMANDS])
def test_a_readme_command_composes_or_prints_what_the_readme_shows(command, shown, placeholders, capsys, monkeypatch):
    for launcher, (module, extra) in LAUNCHER_PLUGINS.items():
        if f"hydra/launcher={launcher}" in command and importlib.util.find_spec(module) is None:
            pytest.skip(f'needs the {extra} extra: pip install -e ".[{extra}]" (or ".[dev]")')
    monkeypatch.chdir(placeholders)
    words = shlex.split(command)
    args = words[3:] if words[0] == "python" else words[1:]
    if shown is None:
        assert preflight(args) is not None or any(a.startswith("--") for a in args), command
        return
    with pytest.raises(SystemExit) as done:
        preflight(args)
    assert done.value.code == 2 and capsys.readouterr().err.strip() == shown.strip()


def test_the_readme_installs_what_its_test_command_needs():
    import tomllib

    text = (ROOT / "README.md").read_text()
    test_block = re.search(r"## Test\n\n```bash\n(.*?)```", text, flags=re.S).group(1)
    install, command = [line.split("#")[0].strip() for line in test_block.strip().splitlines()]
    assert install == 'pip install -e ".[dev]"' and command.startswith("python -m pytest -n 2")
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    assert any(d.startswith("pytest>") for d in dev) and any(d.startswith("pytest-xdist") for d in dev)
    assert (ROOT / ".ci" / "run").read_text().count(command) == 1  # CI runs the README's command


def test_the_pages_made_from_data_are_up_to_date():
    """docs/configuration.md (from the schema) and docs/benchmarks.md (from benchmarks/results): `python docs/generate.py`."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate", ROOT / "docs" / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    for name, make in generate.PAGES.items():
        assert (ROOT / "docs" / name).read_text() == make(), f"docs/{name} is stale: run python docs/generate.py"


def test_every_knob_of_the_schema_is_in_the_configuration_reference():
    import dataclasses

    from harness.config import schema

    page = (ROOT / "docs" / "configuration.md").read_text()
    for section, cls in schema.SCHEMAS.items():
        prefix = section.split(" ")[0]
        for f in dataclasses.fields(cls):
            assert f"`{prefix + '.' if prefix else ''}{f.name}" in page, f"{prefix}.{f.name}"
