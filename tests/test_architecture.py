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


def test_no_module_imports_itself_through_others():
    """No import circle in the harness: for every import a -> b, b does not lead back to a (functions' imports
    included; the layers contract allows circles inside one layer, this does not)."""
    import grimp

    graph = grimp.build_graph("harness")
    circles = [
        (a, b)
        for a in sorted(graph.modules)
        for b in graph.find_modules_directly_imported_by(a)
        if b.startswith("harness") and graph.chain_exists(importer=b, imported=a)
    ]
    assert not circles


_NAMED = re.compile(r"(?<![\w./-])(harness(?:\.\w+)+)")
NOT_MODULES = {"harness.log"}  # a run's log file, named like a module


def _resolves(name: str) -> bool:
    import importlib
    import importlib.util

    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            found = importlib.util.find_spec(".".join(parts[:i]))
        except (ModuleNotFoundError, ValueError):
            found = None
        if found is None:
            continue
        obj = importlib.import_module(".".join(parts[:i]))
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def _texts() -> list[tuple[str, str]]:
    """Every docstring and comment of the harness, its plugins and benchmarks; every docs page and the README."""
    root = PACKAGE.parent
    texts = []
    for path in [*MODULES.values(), *PLUGINS.rglob("*.py"), *(root / "benchmarks").glob("*.py")]:
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                texts.append((path.name, ast.get_docstring(node) or ""))
        texts += [(path.name, line) for line in source.splitlines() if line.strip().startswith("#")]
    return texts + [(p.name, p.read_text()) for p in [*(root / "docs").glob("*.md"), root / "README.md"]]


def test_every_module_a_docstring_or_page_names_exists():
    """`harness.x.y` in a docstring, comment or doc page names a module (or something in one) that imports."""
    stale = {
        (where, name.rstrip("."))
        for where, text in _texts()
        for name in _NAMED.findall(text)
        if name.rstrip(".") not in NOT_MODULES and not _resolves(name.rstrip("."))
    }
    assert not stale, sorted(stale)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_the_entry_point_holds_no_job_lifecycle():
    """__main__ composes, checks, prestarts and sets the exit status; claiming, skipping, training and recording
    a run are harness.job's."""
    imported = _imports(PACKAGE / "__main__.py")
    assert "harness.job.task" in imported
    lifecycle = ("harness.storage.claims", "harness.training", "harness.multirun", "harness.records.lifecycle")
    assert not [m for m in imported if m.startswith(lifecycle)]


def test_records_are_made_and_ended_only_by_the_lifecycle():
    """Only harness.records makes a RunRecord, and only its lifecycle changes one: no module sets a record's
    field or copies a record with changes."""
    from harness.records.record import RunRecord

    fields = set(RunRecord.__dataclass_fields__)
    owners = {PACKAGE / "records" / "record.py", PACKAGE / "records" / "lifecycle.py"}
    for path in (p for p in MODULES.values() if p not in owners):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in (
                "RunRecord",
                "replace",
            ):
                assert getattr(node.func, "id", None) != "RunRecord", f"{path.name} makes a RunRecord"
                if (
                    getattr(node.func, "attr", None) == "replace"
                    and getattr(node.func.value, "id", "") == "dataclasses"
                ):
                    pytest.fail(f"{path.name} copies a dataclass with changes")
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AugAssign)
                else []
            )
            for target in (t for t in targets for t in ([t] if not isinstance(t, ast.Tuple) else t.elts)):
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr in fields
                    and "record" in ast.unparse(target.value)
                ):
                    pytest.fail(f"{path.name} sets {ast.unparse(target)}")
