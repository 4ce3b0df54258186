"""Run simulators as real processes for tests (``python -m firmware_sim``)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def simulator(*args: str, endpoints: int = 1, stdin: bool = False) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Start ``loyalty-sim ARGS``; yield the process and the endpoint lines it printed; stop it after."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "firmware_sim", *args],
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        lines = []
        for _ in range(endpoints):
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if not line:
                _, err = proc.communicate(timeout=10)
                raise AssertionError(f"simulator exited: {err}")
            lines.append(line)
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def slip_texts(folder: Path, partial: bool = False) -> list[str]:
    """Texts of the finished slips in ``folder``, in order."""
    pattern = "slip-*.partial.txt" if partial else "slip-[0-9][0-9][0-9][0-9].txt"
    return [p.read_text(encoding="utf-8") for p in sorted(folder.glob(pattern))]
