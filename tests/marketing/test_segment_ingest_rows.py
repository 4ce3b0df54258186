"""The ingest's segment hook takes the customers' rows the ledger read (``LedgerBatch.profile_rows``) instead of
reading them again: those rows must be the rows as they stand after the flush (levels and balances moved by the
unit of work, fields a registration changed), or not be given at all."""

from __future__ import annotations

import datetime as dt

import pytest

from central.points import levels
from central.points.ledger import LedgerBatch
from central.services import segments as service
from central.services.access import SYSTEM, Actor
from central.storage import aggregates
from central.storage.store import IngestUnit, Store
from tests.sync.fakes import FakeAgent

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

MARKETER = Actor(7, "mia", "marketer")


@pytest.fixture
def db(db):
    db.add_store("S1", timezone="Europe/Moscow")
    db.add_store("S2", timezone="Europe/Moscow")
    db.stream_state("S1", "a1")
    db.stream_state("S2", "a2")
    with db.transaction() as conn:
        levels.adopt(conn, [("Base", 0, "3"), ("Gold", 50000, "5")])
    return db


def apply(db: Store, *events) -> set[str]:
    pointers = {(e["store"], e["agent"]): (e["seq"], e["id"]) for e in events}
    return db.commit_ingest(IngestUnit(events=list(events), pointers=pointers))


def bought(agent: FakeAgent, cid: str, total: int, accrued: int = 0):
    event = agent.purchase(cid, total=total, accrued=accrued)
    event["body"]["at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return event


def test_the_ledgers_rows_are_the_rows_after_its_flush(db):
    """Registered again elsewhere, moved up a level, given points, untouched: every row the ledger hands over is
    the row the database holds after the flush; customers whose fields it changed are not handed over."""
    one, two = FakeAgent("S1", "a1"), FakeAgent("S2", "a2")
    apply(db, *(one.registration(c) for c in ("c1", "c2", "c3", "c4")), bought(one, "c4", 100))
    events = [
        two.registration("c1"),  # home store S1 -> S2, consents, phone
        bought(two, "c1", 1000, accrued=10),
        bought(one, "c2", 60000, accrued=600),  # Base -> Gold
        bought(one, "c3", 500, accrued=5),
        one.manual("c4", 40),
    ]
    with db.transaction() as conn:
        ledger = LedgerBatch(conn, profiles=True)
        ledger.prefetch(events)
        for env in events:
            ledger.apply(env)
        ledger.flush(iter(range(1000, 2000)).__next__)
        given = ledger.profile_rows()
        key_of = aggregates.keys_of(conn, ["c1", "c2", "c3", "c4"])
        id_of = {k: cid for cid, k in key_of.items()}
        stored = {row[1]: row[1:] for row in aggregates._customer_rows(conn, sorted(id_of), id_of)}
    assert "c1" not in given  # its registration changed its fields: read again
    assert set(given) == {"c2", "c3", "c4"}
    assert given == {cid: stored[cid] for cid in given}
    assert given["c2"][7] == "Gold" and stored["c1"][6] == "S2"


def test_a_segment_follows_what_the_same_unit_changed(db):
    """One unit registers a customer again at another store, lifts another to Gold and gives a third points:
    segments on the home store, the level and the balance follow within that unit (with 40 other buyers: the
    round is evaluated as arrays, engine._Columns)."""
    one, two = FakeAgent("S1", "a1"), FakeAgent("S2", "a2")
    others = [f"x{i}" for i in range(40)]
    apply(db, *(one.registration(c) for c in ("c1", "c2", "c3", *others)))
    home = service.create(db, MARKETER, "S2's", "dynamic", {"audiences": [[{"type": "home_store", "stores": ["S2"]}]]})
    gold = service.create(db, MARKETER, "Gold", "dynamic", {"audiences": [[{"type": "level", "levels": ["Gold"]}]]})
    rich = service.create(db, MARKETER, "Points", "dynamic", {"audiences": [[{"type": "balance", "from": 300}]]})
    assert [service.members(db, SYSTEM, s)["count"] for s in (home, gold, rich)] == [0, 0, 0]
    apply(
        db,
        two.registration("c1"),
        bought(two, "c1", 100),
        bought(one, "c2", 60000, accrued=10),
        bought(one, "c3", 1000, accrued=400),
        *(bought(one, c, 100) for c in others),
    )
    assert service.members(db, SYSTEM, home)["customers"] == ["c1"]
    assert service.members(db, SYSTEM, gold)["customers"] == ["c2"]
    assert service.members(db, SYSTEM, rich)["customers"] == ["c3"]


def test_a_nesting_segment_follows_in_a_round_of_arrays(db):
    """A round of more than 32 customers is evaluated as arrays; a segment nesting another reads the other's
    memberships as that round wrote them (``in_segment`` has no vector form: its customers' Facts are read)."""
    one = FakeAgent("S1", "a1")
    people = [f"p{i:02d}" for i in range(40)]
    apply(db, *(one.registration(c) for c in people))
    big = service.create(
        db, MARKETER, "Big", "dynamic", {"audiences": [[{"type": "spend", "from": 10000, "period": {"last_days": 30}}]]}
    )
    small = service.create(
        db, MARKETER, "Not big", "dynamic", {"audiences": [[{"type": "in_segment", "segments": [big], "in": False}]]}
    )
    assert service.members(db, SYSTEM, small)["count"] == 40
    apply(db, *(bought(one, c, 20000 if i % 3 == 0 else 500) for i, c in enumerate(people)))
    spenders = sorted(c for i, c in enumerate(people) if i % 3 == 0)
    assert sorted(service.members(db, SYSTEM, big, limit=100)["customers"]) == spenders
    assert sorted(service.members(db, SYSTEM, small, limit=100)["customers"]) == sorted(set(people) - set(spenders))
