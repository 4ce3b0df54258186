"""``loyalty-agent --help`` and every ``loyalty-agent COMMAND --help`` start without the heavy parts.

Technicians run the command line many times: it must not import Flask, the
MQTT client, python-escpos, Pillow, numpy (sqlite-utils pulls it) or the
database layer just to print help (issue 12). What a command imports when it
runs is its own business. Checked by module names, not by a timing: a timing
would fail on a loaded machine.
"""

from __future__ import annotations

import os
import subprocess
import sys

import click

from agent.cli import cli
from tests.conftest import ROOT

#: top-level packages (and agent modules) that --help must not import
HEAVY = (
    "flask",
    "werkzeug",
    "flask_babel",
    "babel",
    "paho",
    "escpos",
    "PIL",
    "numpy",
    "sqlite_utils",
    "waitress",
    "serial",
    "usb",
    "msgpack",
    "agent.store",
    "agent.service",
    "agent.app",
    "agent.sync",
    "shared.accrual",
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _heavy(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def _imported(importtime_stderr: str) -> list[str]:
    """Module names of ``python -X importtime`` output."""
    return [
        line.rsplit("|", 1)[1].strip()
        for line in importtime_stderr.splitlines()
        if line.startswith("import time:") and not line.endswith("imported package")
    ]


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
    return paths


def test_help_imports_nothing_heavy() -> None:
    done = _run("-X", "importtime", "-m", "agent.cli", "--help")
    assert done.returncode == 0, done.stderr
    assert "Commands:" in done.stdout and "quote" in done.stdout and "serve" in done.stdout
    modules = _imported(done.stderr)
    assert "agent.cli" in modules and "click" in modules
    assert _heavy(modules) == []


def test_every_command_help_imports_nothing_heavy() -> None:
    paths = _command_paths(cli)
    assert {("serve",), ("setup",), ("devices", "test-print"), ("outbox", "list"), ("quote",)} <= set(paths)
    # one process asks every command for its help, then says what was imported
    script = (
        "import sys\nfrom agent.cli import cli\n"
        f"for path in {paths!r}:\n"
        "    try:\n"
        "        cli([*path, '--help'])\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, (path, exc.code)\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = _run("-c", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Usage:") == len(paths)
    modules = done.stderr.split()
    assert "agent.cli.commands" in modules
    assert _heavy(modules) == []


def test_simulator_help_imports_nothing_heavy() -> None:
    """``loyalty-sim --help`` (firmware_sim/cli.py) already loads its printer and reader only when run."""
    done = _run("-X", "importtime", "-m", "firmware_sim", "--help")
    assert done.returncode == 0, done.stderr
    assert "printer" in done.stdout
    assert _heavy(_imported(done.stderr)) == []
