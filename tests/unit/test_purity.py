"""shared/ is the pure core: no I/O modules may be imported there (shared/README.md)."""

from __future__ import annotations

import ast
from pathlib import Path

FORBIDDEN = {
    "sqlite3",
    "sqlite_utils",
    "serial",
    "usb",
    "paho",
    "flask",
    "socket",
    "requests",
    "urllib",
    "http",
    "subprocess",
    "escpos",
    "click",
    "os.path",
    "shutil",
    "io",
}
SHARED = Path(__file__).resolve().parents[2] / "shared"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_shared_imports_no_io_modules():
    offenders = {}
    for path in SHARED.rglob("*.py"):
        bad = {m for m in imported_modules(path) if m in FORBIDDEN or m.split(".")[0] in FORBIDDEN}
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}


def test_shared_has_no_open_calls():
    for path in SHARED.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "open", f"{path.name} opens a file"
