"""The package's shape: every package says what it holds, the import-linter contract in pyproject.toml (checked by
`lint-imports` in CI: imports point down the layers, functions' imports included) covers every package, and no
other package's private API is used. docs/architecture.md draws the same picture."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "harness"
PLUGINS = Path(__file__).resolve().parent.parent / "hydra_plugins"
MODULES = {
    p.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", "."): p for p in sorted(PACKAGE.rglob("*.py"))
}
SUBPACKAGES = sorted(p.parent for p in PACKAGE.glob("*/__init__.py") if p.parent.name not in ("conf",))


@pytest.mark.parametrize("package", SUBPACKAGES, ids=lambda p: p.name)
def test_every_package_says_what_it_holds(package):
    """Each package's docstring names each of its modules (and subpackages), so a reader knows the room."""
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    inside = [p.stem for p in package.glob("*.py") if p.stem not in ("__init__", "__main__")]
    inside += [p.parent.name for p in package.glob("*/__init__.py")]
    assert doc and all(re.search(rf"\b{name}\b", doc) for name in inside), (
        f"{package.name}: {[n for n in inside if n not in doc]}"
    )


def test_the_layers_contract_covers_every_package():
    """pyproject's import-linter contract (`lint-imports`, run in CI) names every package of the harness."""
    import tomllib

    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    named = {name.strip() for layer in layers for name in re.split(r"[|:]", layer.split("#")[0])}
    packages = {p.name for p in SUBPACKAGES} | {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert packages == named


def test_no_private_api_of_another_package():
    """Private modules or attributes of Hydra, Keras, TensorFlow, Keras Tuner are not used (they change in patch releases)."""
    roots = [*MODULES.values(), *PLUGINS.rglob("*.py")]
    for path in roots:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and not node.module.startswith(("harness", "hydra_plugins.harness_"))
            ):
                assert not any(p.startswith("_") and not p.endswith("__") for p in node.module.split(".")), (
                    f"{path.name}: from {node.module}"
                )
            if isinstance(node, ast.Attribute) and node.attr in ("_inbound_nodes", "_keras_history", "_internal"):
                pytest.fail(f"{path.name} reads .{node.attr}")
