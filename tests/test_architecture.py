"""The house's walls: no import cycle in central/ or agent/; only central/storage/ speaks SQL.

The import graph is read with ``ast`` from the source, with the imports at module level and those
inside functions alike (a function-level import that closes a cycle still is one); imports under
``if TYPE_CHECKING:`` are left out (they never run). Run as a script to print the cycles:
``python tests/test_architecture.py``.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: str) -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, but those under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    walk(other)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            walk(child)

    walk(tree)
    return found


def import_graph(package: str) -> dict[str, set[str]]:
    """module -> the modules of ``package`` it imports (by name, not the parent packages Python runs too)."""
    modules = _modules(package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        here = name.split(".") if is_package else name.split(".")[:-1]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for target in targets:
                while target and target not in modules:  # ``import a.b.c`` of a name inside a module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
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

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_graph_sees_function_level_imports(tmp_path):
    tree = ast.parse("import os\ndef f():\n    from . import x\nif TYPE_CHECKING:\n    from . import y\n")
    assert [type(node).__name__ for node in _imports(tree)] == ["Import", "ImportFrom"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_in_central():
    assert cycles(import_graph("central")) == []


def test_no_import_cycle_in_agent():
    assert cycles(import_graph("agent")) == []  # the edges of a cycle: tests/test_agent_architecture.py


#: what runs SQL: statements on a connection, SQL text
QUERIES = re.compile(
    r"\.execute(many)?\(|\.executescript\(|\._?rows\("
    r"|\b(SELECT|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET)\b"
)
#: what a page, a service, sync/ or cli/ must not do: run SQL itself or hold a raw connection (it calls named
#: central/storage/ methods)
SQL = re.compile(QUERIES.pattern + r"|\.conn\b")


#: the services that still run SQL of their own: none left (issue 11: the receipt import's look-ups and connection
#: settings are central/storage/receipt_import.py's); every module of central/services/, new ones included, must
#: run none
UNCLEAN_SERVICES: tuple[str, ...] = ()


def _sql_lines(paths: list[Path], pattern: re.Pattern[str] = SQL) -> list[str]:
    offenders = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return offenders


def test_web_pages_call_services_not_the_database():
    assert _sql_lines(sorted((ROOT / "central" / "web").rglob("*.py"))) == []


def test_services_call_storage_not_the_database():
    folder = ROOT / "central" / "services"
    assert all((folder / f"{name}.py").exists() for name in UNCLEAN_SERVICES)
    paths = [path for path in sorted(folder.rglob("*.py")) if path.stem not in UNCLEAN_SERVICES]
    assert len(paths) > 20
    assert _sql_lines(paths) == []


#: the room of central/ that runs SQL: the storage layer
SQL_ROOMS = ("storage",)
#: the rooms that hold a transaction's raw connection and hand it to central/storage/'s query functions (the
#: ledger works inside the ingest's transaction), but run no SQL of their own: test_points_call_storage_...
CONN_ROOMS = ("points",)
#: the modules of central/points/ that still run SQL of their own: none left (issue 11: the receipt log's
#: queries are central/storage/receipts.py's); every module of points/, new ones included, must run none
UNCLEAN_POINTS: tuple[str, ...] = ()
#: modules outside those rooms that still run SQL or hold raw connections (issue 11: the segments engine's
#: queries moved to central/storage/segment_engine.py; none is left, and the list only shrinks)
UNCLEAN_MODULES: tuple[str, ...] = ()


def test_only_storage_speaks_sql():
    """Outside the SQL rooms (and the services still listed unclean) no module of central/ runs SQL: sync/, cli/,
    web/, the app factory and the empty rooms call named central/storage/ methods."""
    central = ROOT / "central"
    paths = [
        path
        for path in sorted(central.rglob("*.py"))
        if path.relative_to(central).parts[0] not in SQL_ROOMS + CONN_ROOMS
        and not (path.parent == central / "services" and path.stem in UNCLEAN_SERVICES)
        and path.relative_to(central).as_posix() not in UNCLEAN_MODULES
    ]
    assert any(path.parent == central / "sync" for path in paths)
    assert _sql_lines(paths) == []


def test_points_call_storage_not_the_database():
    """The ledger's domain code (central/points/) runs no SQL: it calls central/storage/'s query functions with
    the transaction's connection (but the modules still listed in UNCLEAN_POINTS)."""
    folder = ROOT / "central" / "points"
    assert all((folder / f"{name}.py").exists() for name in UNCLEAN_POINTS)
    paths = [path for path in sorted(folder.rglob("*.py")) if path.stem not in UNCLEAN_POINTS]
    assert {path.stem for path in paths} >= {
        "ledger",
        "levels",
        "merging",
        "nightly",
        "programs",
        "receipt_log",
        "versions",
    }
    assert _sql_lines(paths, QUERIES) == []


def test_unclean_points_still_run_sql():
    """A module of central/points/ cleaned of SQL leaves UNCLEAN_POINTS (so the list only shrinks)."""
    folder = ROOT / "central" / "points"
    assert [name for name in UNCLEAN_POINTS if not _sql_lines([folder / f"{name}.py"], QUERIES)] == []


def test_unclean_modules_still_run_sql():
    """A module cleaned of SQL leaves UNCLEAN_MODULES (so the list only shrinks)."""
    central = ROOT / "central"
    assert [name for name in UNCLEAN_MODULES if not _sql_lines([central / name])] == []


def test_the_segments_engine_runs_no_sql():
    assert _sql_lines([ROOT / "central" / "marketing" / "engine.py"]) == []


def test_unclean_services_still_run_sql():
    """A module cleaned of SQL leaves UNCLEAN_SERVICES (so the list only shrinks)."""
    folder = ROOT / "central" / "services"
    assert [name for name in UNCLEAN_SERVICES if not _sql_lines([folder / f"{name}.py"])] == []


def test_the_sql_check_sees_sql():
    lines = (
        'db.rows("SELECT 1")',
        "conn.execute(sql)",
        "db.conn",
        '"UPDATE cards SET main = 1"',
        "x = 1",
        "with db.transaction() as conn:",
        "db.update_store(store_id)",
    )
    seen = [line for line in lines if SQL.search(line)]
    assert seen == ['db.rows("SELECT 1")', "conn.execute(sql)", "db.conn", '"UPDATE cards SET main = 1"']
    # central/points/ may hand a connection on (self.conn, queries.lot_rows(conn, ids)) but runs no query
    lines += ("self.conn = conn", "queries.lot_rows(self.conn, chunk)", "conn.executemany(sql, rows)")
    assert [line for line in lines if QUERIES.search(line)] == [
        'db.rows("SELECT 1")',
        "conn.execute(sql)",
        '"UPDATE cards SET main = 1"',
        "conn.executemany(sql, rows)",
    ]


if __name__ == "__main__":
    for package in ("central", "agent"):
        for cycle in cycles(import_graph(package)):
            print(package, " <-> ".join(cycle))
