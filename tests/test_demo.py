"""README's first command works: the demo runs the whole chain and walks through a sale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_walks_through_a_sale_end_to_end(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--once", "--small", "--work", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "rule set v17 came down from the central server" in out
    assert "sent her level down: Base" in out  # down-sync: the level program's first level
    assert "card swiped on the reader: the till sees Анна Петрова" in out
    assert "Начислено баллов" in out  # the slip, printed by the simulated printer, in Russian
    assert "the central ledger applied agent" in out
    assert "/till/#key=lk_" in out
