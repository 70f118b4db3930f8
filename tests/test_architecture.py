"""The package's layers: no import cycle, and imports only point down.

Every ``import`` statement counts, including those inside functions and under
``TYPE_CHECKING``: a lazy import hides a cycle from Python, not from a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "unetseg"

#: Each module's layer, from the bottom (0) up; a module may import its own layer's
#: modules and lower layers only. Listed by the first part of the name after
#: ``unetseg.``; docs/architecture.md draws the same picture.
LAYERS = {
    "": 0,  # the package itself: its __init__ imports the foundation only
    "errors": 0,
    "registry": 0,
    "registries": 0,
    "optional": 0,
    "backends": 0,
    "lazy": 0,
    "fileio": 0,
    "info": 0,
    "config": 0,
    "regions": 0,
    "task": 0,
    "targets": 0,
    "transforms": 1,
    "networks": 1,
    "losses": 1,
    "metrics": 1,
    "inference": 2,
    "data": 2,
    "training": 3,
    "recipes": 4,
    "viz": 4,
    "cli": 5,
    "__main__": 5,
}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The unetseg modules ``name`` imports, wherever the import statement is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module in known:
                found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in known}
    found.discard(name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    assert top in LAYERS, f"{module} is in no layer; add it to LAYERS and the docs"
    return LAYERS[top]


def test_there_is_no_import_cycle(graph):
    assert _cycles(graph) == []


def test_imports_only_point_down(graph):
    upward = [
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in graph.items()
        if module != "unetseg"
        for target in targets
        if _layer(target) > _layer(module)
    ]
    assert upward == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
