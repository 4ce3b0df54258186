"""agent/store: migrations (upgrade in place, refuse newer), outbox contract, deltas, rules."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from sqlite_utils import Database

from agent.store import DeltaError, SchemaTooNew, Store, StoreError
from agent.store.schema import KNOWN, MIGRATIONS
from tests.agent.conftest import CARD, CARD2, NOW, RULES, delta


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "a.sqlite", agent_id="S001-1", clock=lambda: NOW)
    yield s
    s.close()


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fresh_database_is_wal_with_every_migration(store):
    db = Database(store.path)
    assert db.journal_mode == "wal"
    assert [m.name for m in MIGRATIONS.applied(db)] == list(KNOWN)
    assert store.integrity_check() == ["ok"]
    assert store._writer.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_old_database_upgrades_in_place(tmp_path):
    path = tmp_path / "old.sqlite"
    db = Database(path)
    MIGRATIONS.apply(db, stop_before="0002_shifts")
    db["sync_state"].insert({"key": "last_sync_at", "value": "2026-01-01T00:00:00+00:00"})
    db.close()
    store = Store(path)
    assert store.state("last_sync_at") == "2026-01-01T00:00:00+00:00"
    with store.write() as tx:
        tx.close_shift("P01", NOW)
        assert tx.last_shift_close("P01")
    store.close()


def test_newer_database_is_refused_untouched(tmp_path):
    path = tmp_path / "new.sqlite"
    Store(path).close()
    db = Database(path)
    db["_sqlite_migrations"].insert({"migration_set": "loyalty-agent", "name": "0099_future", "applied_at": "x"})
    db.close()
    before = digest(path)
    with pytest.raises(SchemaTooNew, match="newer loyalty-agent.*0099_future.*not changed"):
        Store(path)
    assert digest(path) == before


def test_garbage_file_is_refused(tmp_path):
    path = tmp_path / "garbage.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a loyalty-agent database"):
        Store(path)
    with pytest.raises(StoreError, match="folder .* does not exist"):
        Store(tmp_path / "missing" / "a.sqlite")


def test_outbox_contract(store):
    with store.write() as tx:
        for i in range(5):
            tx.add_event("manual", NOW, {"operation_id": f"op{i}", "points": i}, NOW)
    batch = store.outbox_batch(0, 3)
    assert [e.seq for e in batch] == [1, 2, 3] and batch[0].body == {"operation_id": "op0", "points": 0}
    assert len({e.id for e in batch}) == 3 and all(len(e.id) == 32 for e in batch)
    assert [e.seq for e in store.outbox_batch(3, 10)] == [4, 5]
    assert store.outbox_depth() == 5 and store.oldest_outbox_age() == 0
    assert store.outbox_delete_through(2) == 2
    assert store.outbox_delete_ids([batch[2].id, "nope"]) == 1
    assert [e.seq for e in store.outbox_batch()] == [4, 5]
    store.outbox_delete_through(5)
    assert store.oldest_outbox_age() is None
    # seq keeps growing after deletes: never reused
    with store.write() as tx:
        assert tx.add_event("manual", NOW, {}, NOW) == 6


def test_rolled_back_event_leaves_no_gap(store):
    with pytest.raises(RuntimeError):
        with store.write() as tx:
            tx.add_event("manual", NOW, {}, NOW)
            raise RuntimeError("the effect failed")
    with store.write() as tx:
        assert tx.add_event("manual", NOW, {}, NOW) == 1
    with pytest.raises(ValueError, match="unknown event kind"):
        with store.write() as tx:
            tx.add_event("gift", NOW, {}, NOW)


def test_delta_replaces_cards_lots_messages(store):
    assert store.apply_customer_delta(delta("c1", card=CARD, messages=[{"id": "m", "text": "hi"}])) is True
    assert store.apply_customer_delta(delta("c1", version=1)) is False
    new = delta(
        "c1",
        version=2,
        card=CARD2,
        points=0,
        lots=[{"id": "A", "points": 5, "expires_at": "2027-01-01T00:00:00+00:00"}],
    )
    assert store.apply_customer_delta(new) is True
    with store.read() as tx:
        assert tx.card(CARD) is None and tx.card(CARD2)["customer_id"] == "c1"
        assert tx.messages("c1") == [] and tx.ledger_sum("c1") == 5
    # a card moving to another customer follows the newer delta
    store.apply_customer_delta(delta("c2", card=CARD2, phone="+79990000000"))
    with store.read() as tx:
        assert tx.card(CARD2)["customer_id"] == "c2"


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {
            "customer_id": 1,
            "version": 1,
            "cards": [],
            "lots": [],
            "applied": {},
            "messages": [],
            "consents": {},
            "blocked": False,
        },
    ],
)
def test_malformed_delta(store, bad):
    with pytest.raises(DeltaError):
        store.apply_customer_delta(bad)


def test_bulk_deltas(store):
    assert store.apply_customer_deltas(delta(f"c{i}", card=None, phone=None) for i in range(50)) == 50


def test_rules_versions(store):
    assert store.rules() is None
    assert store.set_rules(RULES) is True
    assert store.set_rules(RULES) is False  # same version and content: nothing to do
    with pytest.raises(StoreError, match="different content"):
        store.set_rules({**RULES, "base_percent": "6"})
    store.set_rules({**RULES, "version": 18})
    with pytest.raises(StoreError, match="older than the installed version 18"):
        store.set_rules(RULES)
    assert store.set_rules(RULES, force=True) is True
    assert store.rules()[0] == 17


def test_sync_state(store):
    store.set_state("link", "online")
    store.set_state("link", "offline")
    assert store.sync_state() == {"link": "offline"}


def test_readers_cannot_write(store):
    with pytest.raises(sqlite3.OperationalError):
        with store.read() as tx:
            tx.set_state("x", "y")


def test_only_the_store_talks_to_sqlite():
    import ast
    from pathlib import Path

    agent = Path(__file__).resolve().parents[2] / "agent"
    offenders = []
    for path in agent.rglob("*.py"):
        if path.parent.name == "store":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            if any(n.split(".")[0] in ("sqlite3", "sqlite_utils") for n in names):
                offenders.append(path.name)
    assert offenders == []
