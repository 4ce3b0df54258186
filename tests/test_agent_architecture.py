"""agent/ has no import cycle, not even one hidden by an import inside a function.

The graph is the one of tests/test_architecture.py (read with ``ast``: imports
at module level and inside functions alike, each an edge to the agent module
it names; a package's ``__init__`` is not counted as imported by its
submodules). Imports inside functions stay allowed for lazy loading (the
command line loads Flask and the database only when a command runs), never
to close a cycle. On failure this test names every edge of each cycle with
its line.
"""

from __future__ import annotations

import ast

from tests.test_architecture import ROOT, cycles, import_graph


def _lines(module: str, target: str) -> list[int]:
    """Lines of ``module`` that import ``target`` (for the failure message)."""
    parts = module.split(".")
    path = ROOT.joinpath(*parts).with_suffix(".py")
    if not path.exists():
        path = ROOT.joinpath(*parts, "__init__.py")
    here = parts if path.name == "__init__.py" else parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + [node.module or ""])
            else:
                base = node.module or ""
            names = [base.rstrip("."), *(f"{base.rstrip('.')}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        if any(n == target or n.startswith(target + ".") for n in names):
            found.append(node.lineno)
    return found


def test_agent_has_no_import_cycle() -> None:
    graph = import_graph("agent")
    found = cycles(graph)
    described = [
        "\n".join(f"  {a} imports {b} (lines {_lines(a, b)})" for a in cycle for b in sorted(graph[a]) if b in cycle)
        for cycle in found
    ]
    assert found == [], "import cycles in agent/:\n" + "\n\n".join(described)


def test_the_cycles_that_were_are_one_way_now() -> None:
    """cli <-> commands <-> cli_sync, config <-> devices/config, agent <-> service (issue 11)."""
    graph = import_graph("agent")
    assert "agent.devices.settings" in graph["agent.config"]
    assert not any(m.startswith("agent.config") for m in graph["agent.devices.settings"])
    assert {"agent.cli.commands", "agent.cli.outbox", "agent.cli.devices", "agent.cli.quote"} <= graph["agent.cli"]
    for module in ("agent.cli.commands", "agent.cli.outbox", "agent.cli.devices", "agent.cli.quote"):
        assert "agent.cli" not in graph[module] and "agent.cli.common" in graph[module]
    assert graph["agent"] == set()  # the package imports nothing: no module imports it back
    assert "agent.version" in graph["agent.service"] and "agent" not in graph["agent.service"]
