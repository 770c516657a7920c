"""The layout DESIGN.md draws: energy/ is a leaf, and no module of gsearch imports itself
back through others (imports inside functions count: they are cycles that wait)."""

from __future__ import annotations

import ast
from pathlib import Path

import gsearch

PACKAGE = Path(gsearch.__file__).parent
# What energy/ may use outside itself: it measures, and knows nothing of models or search.
ENERGY_MAY_IMPORT = {"gsearch", "gsearch.errors", "gsearch.paths"}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _import_graph() -> dict[str, set[str]]:
    """Module -> the gsearch modules it imports anywhere in its text."""
    modules = _modules()

    def owner(name: str) -> str:
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.split(".")[0] != "gsearch":
                    continue
                for alias in node.names:  # `from gsearch.energy import epf` names a module
                    full = f"{node.module}.{alias.name}"
                    imported.add(full if full in modules else owner(node.module))
            elif isinstance(node, ast.Import):
                imported |= {owner(a.name) for a in node.names if a.name.startswith("gsearch")}
        graph[name] = imported - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in order:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], order[other])
        if low[node] == order[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return found


def test_energy_imports_nothing_of_gsearch_but_errors_and_paths() -> None:
    graph = _import_graph()
    reaching_up = {
        name: sorted(
            d for d in deps if not d.startswith("gsearch.energy") and d not in ENERGY_MAY_IMPORT
        )
        for name, deps in graph.items()
        if name.startswith("gsearch.energy")
    }
    assert {name: deps for name, deps in reaching_up.items() if deps} == {}


def test_no_import_cycle_in_gsearch() -> None:
    assert _cycles(_import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_the_graph_sees_imports_at_module_and_function_level() -> None:
    graph = _import_graph()
    assert "gsearch.paths" in graph["gsearch.energy.calibrate"]  # module level
    assert "gsearch.calibration_plan" in graph["gsearch.cli.profile"]  # inside a command function
