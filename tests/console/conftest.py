"""Fixtures for the console: an app on a temporary database with one user of each role."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from central import create_app
from central.services import users
from central.services.access import SYSTEM, Actor
from central.storage.store import Store
from tests.conftest import create_pg_database, drop_pg_database, on_postgresql

PASSWORD = "correct horse"


ROLES = (
    ("admin", "admin", ()),
    ("marketer", "marketer", ()),
    ("manager", "store_manager", ("S1",)),
    ("viewer", "viewer", ()),
)


@pytest.fixture(scope="session")
def template_db(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[str]:
    """Two stores and one console user per role, made once (scrypt is slow on purpose) and copied per test
    (on ``--backend=postgresql`` a template database, each test's made from it)."""
    if on_postgresql(request.config):
        url = create_pg_database()
        _fill_template(url)
        yield url
        drop_pg_database(url)
        return
    path = str(tmp_path_factory.mktemp("template") / "central.sqlite")
    _fill_template(path)
    yield path


def _fill_template(path: str) -> None:
    store = Store(path)
    store.add_store("S1", "Tverskaya 7", "Europe/Moscow")
    store.add_store("S2", "Nevsky 20", "Europe/Moscow")
    for name, role, stores in ROLES:
        users.add_user(store, SYSTEM, name, PASSWORD, role, stores=stores)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


@pytest.fixture
def db_file(request: pytest.FixtureRequest, tmp_path, template_db) -> Iterator[str]:
    if on_postgresql(request.config):
        url = create_pg_database(template_db.rsplit("/", 1)[1])
        yield url
        drop_pg_database(url)
        return
    path = str(tmp_path / "central.sqlite")
    shutil.copy(template_db, path)
    yield path


@pytest.fixture
def people(db) -> dict[str, Actor]:
    """One console user per role; the store manager manages S1 only."""
    return {name: users.actor_for(db, users.user_id_by_name(db, name), 1) for name, _, _ in ROLES}


@pytest.fixture
def app(db_file, db, people, tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "DATABASE": db_file,
            "MQTT_URL": "mqtt://broker.example:1883",
            "WTF_CSRF_ENABLED": False,
            "SECRET_KEY": "test",
        }
    )
    app.instance_path = str(tmp_path / "instance")  # a server database's uploads and exports (not the checkout's)
    return app


def login(client, username: str, password: str = PASSWORD):
    return client.post("/login", data={"username": username, "password": password})


def apply_events(db, *events):
    """Apply agents' events through the real ingest path (one unit of work)."""
    from central.storage.store import IngestUnit

    last = events[-1]
    return db.commit_ingest(
        IngestUnit(events=list(events), pointers={(last["store"], last["agent"]): (last["seq"], last["id"])})
    )


def sale(agent, customer_id, lines, *, accrued=0, redeemed=0, at=None, card=None, channel=None):
    """A purchase event with real lines: [(sku, category, amount), ...]."""
    event = agent.purchase(customer_id, total=sum(a for _, _, a in lines), accrued=accrued, redeemed=redeemed)
    body = event["body"]
    body["lines"] = [
        {
            "sku": sku,
            "name": f"Item {sku}",
            "category": cat,
            "quantity": "1",
            "price": amount,
            "discount": 0,
            "amount": amount,
            "accrued": 0,
            "redeemed": 0,
        }
        for sku, cat, amount in lines
    ]
    if lines:
        body["lines"][0]["accrued"], body["lines"][0]["redeemed"] = accrued, redeemed
    if at is not None:
        body["at"] = event["at"] = at
    if card is not None:
        body["card"] = card
    if channel is not None:
        body["channel"] = channel
    return event


@pytest.fixture
def agents(db):
    from tests.sync.fakes import FakeAgent

    db.stream_state("S1", "a1")
    db.stream_state("S2", "a1")
    return {"S1": FakeAgent("S1", "a1"), "S2": FakeAgent("S2", "a1")}


@pytest.fixture
def shoppers(db, agents):
    """c1 (S1, card 2000001, 500 points), c2 (S2, 300 points), c3 (S1, no card, a potential customer)."""
    a1, a2 = agents["S1"], agents["S2"]
    apply_events(
        db,
        a1.registration("c1", phone="+79120000001", card="2000001"),
        sale(a1, "c1", [("SKU-1", "SUSHI", 30_000), ("SKU-2", "DRINKS", 10_000)], accrued=500),
    )
    apply_events(
        db,
        a2.registration("c2", phone="+79120000002", card="2000002"),
        sale(a2, "c2", [("SKU-3", "SUSHI", 20_000)], accrued=300),
    )
    apply_events(db, a1.registration("c3", phone="+79120000003"))
    db.conn.execute("UPDATE customers SET name = 'Иван Петров' WHERE id = 'c1'")
    db.conn.execute("UPDATE customers SET name = 'Мария Иванова' WHERE id = 'c2'")
    return ["c1", "c2", "c3"]
