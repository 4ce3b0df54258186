"""Fixtures for the marketing tests: a real SQLite file per test."""

from __future__ import annotations

import pytest


@pytest.fixture
def db_file(tmp_path) -> str:
    return str(tmp_path / "central.sqlite")


@pytest.fixture
def app(db_file):
    from central import create_app

    return create_app({"TESTING": True, "DATABASE": db_file, "MQTT_URL": "mqtt://broker.example:1883"})
