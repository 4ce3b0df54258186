"""agent/ has no import cycle, not even one hidden by an import inside a function.

The graph is read from the source with ``ast``: every ``import`` and ``from
... import`` of an agent module, at module level, under ``if TYPE_CHECKING``
or inside a function, is an edge to the agent module it names (``from .devices
import settings`` names ``agent.devices.settings``; ``from .config import
Config`` names ``agent.config``). A package's own ``__init__`` is not counted
as imported by its submodules: Python runs it first, but that is not a
dependency the code chose. Imports inside functions stay allowed for lazy
loading (the command line loads Flask and the database only when a command
runs), never to hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = "agent"


def _modules(root: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package's __init__)."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, dict[str, int]]:
    """Module -> {imported module of the package: line of the first such import}."""
    modules = _modules(root, package)

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {}
    for name, (path, is_package) in modules.items():
        here = name if is_package else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                targets = [known(alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")[: len(here.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                # a submodule imported by name, else the module the names come from
                targets = [known(f"{source}.{alias.name}") if f"{source}.{alias.name}" in modules else known(source)
                           for alias in node.names]
            for target in targets:
                if target is not None and target != name:
                    edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _describe(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    inside = set(component)
    return "\n".join(f"  {a} imports {b} (line {graph[a][b]})" for a in component for b in sorted(graph[a]) if b in inside)


def test_agent_has_no_import_cycle() -> None:
    graph = import_graph()
    assert {"agent.cli", "agent.cli.commands", "agent.config", "agent.devices.settings", "agent.service"} <= set(graph)
    assert "agent.devices.settings" in graph["agent.config"] and "agent.store" in graph["agent.cli.common"]
    found = cycles(graph)
    assert found == [], "import cycles in agent/:\n" + "\n\n".join(_describe(graph, c) for c in found)


def test_the_graph_sees_imports_inside_functions_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself: a cycle hidden in a function and one through ``from . import x`` are found."""
    pkg = tmp_path / "demo"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import thing\n")
    (pkg / "b.py").write_text("def thing():\n    from . import a\n    return a\n")
    (pkg / "sub" / "__init__.py").write_text("from . import c\n")
    (pkg / "sub" / "c.py").write_text("import demo.sub.d\n")
    (pkg / "sub" / "d.py").write_text("from ..sub import c\n")
    (pkg / "e.py").write_text("import demo.a\nfrom demo import sub\n")
    graph = import_graph(tmp_path, "demo")
    assert graph["demo.a"] == {"demo.b": 1} and graph["demo.b"] == {"demo.a": 2}
    assert graph["demo.sub"] == {"demo.sub.c": 1} and graph["demo.sub.d"] == {"demo.sub.c": 1}
    assert graph["demo.e"] == {"demo.a": 1, "demo.sub": 2}
    assert cycles(graph) == [["demo.a", "demo.b"], ["demo.sub.c", "demo.sub.d"]]
