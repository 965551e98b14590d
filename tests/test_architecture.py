"""The package's shape: imports point down the layers (no cycle, not even through a function-level import),
no function over 60 lines. docs/architecture.md draws the same picture."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "harness"

# Lower numbers are lower layers; a module may import only modules of a strictly lower layer
# (within a subpackage the order is given by its own entries).
LAYERS = {
    "harness.errors": 0, "harness.atomic": 0, "harness.backbones": 0, "harness.folders": 0, "harness.provenance": 0,
    "harness.heap": 0, "harness.stopping": 0, "harness.claims": 0, "harness.progress": 0,
    "harness.quiet": 1, "harness.reachable": 1, "harness.schema": 1, "harness.cache": 1, "harness.planned": 1, "harness.tensorboard": 1, "harness.weights_file": 1,
    "harness.records": 2, "harness.space": 2, "harness.naming": 2,
    "harness.validate": 3, "harness.hparams": 3, "harness.searches": 3,
    "harness.data.splits": 4, "harness.data.pipeline": 5, "harness.data.sources": 5, "harness.data.images": 6,
    "harness.data": 7, "harness.models": 4, "harness.compiled": 4, "harness.features": 5, "harness.train": 5,
    "harness.inputs": 8,
    "harness.run": 9, "harness.isolate": 9, "harness.results": 9,
    "harness.ray_tasks": 10, "harness.analyze.tables": 10, "harness.analyze.gradcam": 10, "harness.analyze.pictures": 10,
    "harness.analyze.experiment": 11, "harness.analyze.runs": 12, "harness.analyze": 12, "harness.sweep": 10,
    "harness.export": 10, "harness.compare": 10, "harness.study": 11, "harness.command": 12,
    "harness.report": 13,
    "harness.analyze.__main__": 14, "harness.tune": 14, "harness.study_report": 14,
    "harness.callbacks": 15,
    "harness.__main__": 16, "harness": 17,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def harness_imports(path: Path) -> set[str]:
    """Every harness module `path` imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("harness"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
            for alias in node.names:  # `from harness import data` imports the module harness.data
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in LAYERS else node.module)
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_has_a_layer():
    assert sorted(set(MODULES) - set(LAYERS)) == [] and sorted(set(LAYERS) - set(MODULES)) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down(name):
    upward = [m for m in harness_imports(MODULES[name]) if m != "harness" and LAYERS[m] >= LAYERS[name]]
    assert upward == [], f"{name} (layer {LAYERS[name]}) imports {upward}"


def test_no_import_cycle():
    graph = {name: harness_imports(path) - {"harness", name} for name, path in MODULES.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(trail[trail.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_small_functions(name):
    source = MODULES[name].read_text()
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in ast.walk(ast.parse(source))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 60]
    assert long == [], f"{name}: {long}"


def test_no_private_api_of_another_package():
    """Private modules or attributes of Hydra, Keras, TensorFlow, Keras Tuner are not used (they change in patch releases)."""
    roots = [*MODULES.values(), *(PACKAGE.parent / "hydra_plugins").rglob("*.py")]
    for path in roots:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith("harness"):
                assert not any(p.startswith("_") and not p.endswith("__") for p in node.module.split(".")), f"{path.name}: from {node.module}"
            if isinstance(node, ast.Attribute) and node.attr in ("_inbound_nodes", "_keras_history", "_internal"):
                pytest.fail(f"{path.name} reads .{node.attr}")
