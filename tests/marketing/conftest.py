"""Fixtures for the marketing tests: a real SQLite file per test."""

from __future__ import annotations

import pytest


@pytest.fixture
def db_file(central_database) -> str:
    """A SQLite path, or a PostgreSQL URL with ``--backend=postgresql`` (tests/conftest.py)."""
    return central_database


@pytest.fixture
def app(db_file):
    from central import create_app

    return create_app({"TESTING": True, "DATABASE": db_file, "MQTT_URL": "mqtt://broker.example:1883"})
