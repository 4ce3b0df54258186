"""Fixtures for the console: an app on a temporary database with one user of each role."""

from __future__ import annotations

import pytest

from central import create_app
from central.console import users
from central.console.access import SYSTEM, Actor
from central.store import Store

PASSWORD = "correct horse"


@pytest.fixture
def db_file(tmp_path) -> str:
    return str(tmp_path / "central.sqlite")


@pytest.fixture
def db(db_file):
    store = Store(db_file)
    store.add_store("S1", "Tverskaya 7", "Europe/Moscow")
    store.add_store("S2", "Nevsky 20", "Europe/Moscow")
    yield store
    store.close()


@pytest.fixture
def people(db) -> dict[str, Actor]:
    """One console user per role; the store manager manages S1 only."""
    made = {}
    for name, role, stores in (("admin", "admin", ()), ("marketer", "marketer", ()),
                               ("manager", "store_manager", ("S1",)), ("viewer", "viewer", ())):
        uid = users.add_user(db, SYSTEM, name, PASSWORD, role, stores=stores)
        made[name] = users.actor_for(db, uid, 1)
    return made


@pytest.fixture
def app(db_file, db, people):
    return create_app({"TESTING": True, "DATABASE": db_file, "MQTT_URL": "mqtt://broker.example:1883",
                       "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test"})


@pytest.fixture
def client(app):
    return app.test_client()


def login(client, username: str, password: str = PASSWORD):
    return client.post("/login", data={"username": username, "password": password})
