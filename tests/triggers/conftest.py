"""Fixtures for the triggers' tests: a real SQLite file per test."""

from __future__ import annotations

import pytest


@pytest.fixture
def db_file(tmp_path) -> str:
    return str(tmp_path / "central.sqlite")
