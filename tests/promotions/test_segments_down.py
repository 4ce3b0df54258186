"""Segment membership down to the agents (issue 14's missing part, built for promotions' audiences):
every customer delta carries the customer's segment ids, a membership change gives the customer a new
version (so the delta goes down), and the agent stores the ids."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from central.services import segments as service
from central.storage.store import IngestUnit, Store
from central.sync.deltas import customer_page
from central.sync.publisher import Publisher
from shared import wire
from tests.sync.fakes import FakeAgent

pytestmark = pytest.mark.postgresql


def apply(db: Store, *events) -> set[str]:
    last = events[-1]
    return db.commit_ingest(
        IngestUnit(events=list(events), pointers={(last["store"], last["agent"]): (last["seq"], last["id"])})
    )


@pytest.fixture
def db(db):
    db.add_store("S1", timezone="Europe/Moscow")
    db.stream_state("S1", "a1")
    return db


def versions(db: Store) -> dict[str, int]:
    return dict(db.conn.execute("SELECT id, version FROM customers"))


def test_membership_changes_bump_versions_and_deltas_carry_segment_ids(db, tmp_path):
    from central.services.access import Actor

    marketer = Actor(7, "mia", "marketer")
    agent = FakeAgent("S1", "a1")
    apply(db, agent.registration("c1"), agent.registration("c2"))
    before = versions(db)
    big = service.create(
        db, marketer, "Big", "dynamic", {"audiences": [[{"type": "spend", "from": 10000, "period": {"last_days": 30}}]]}
    )
    assert versions(db) == before  # nobody entered
    vip = service.create(db, marketer, "VIP", "static", None)
    held = versions(db)["c2"]
    service.change_members(db, marketer, vip, add=["c2"])
    assert versions(db)["c2"] > held  # entering by hand gives a new version
    event = agent.purchase("c1", total=12000, accrued=0)
    event["body"]["at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    apply(db, event)
    deltas, upto, _ = customer_page(db, "S1", 0)
    by_id = {d["customer_id"]: d for d in deltas}
    assert by_id["c1"]["segments"] == [big]
    assert by_id["c2"]["segments"] == [vip]
    # every delta passes the wire contract with its segments
    wire.encode("customers", {"store": "S1", "after": 0, "upto": upto, "more": False, "deltas": deltas})
    # leaving: a refund takes c1 out, its version grows, the next page carries it with no segments
    held = versions(db)["c1"]
    apply(db, agent.refund("c1", "S1-a1-3", amount=5000, accrued=0, redeemed=0))
    assert versions(db)["c1"] > held
    deltas, _, _ = customer_page(db, "S1", upto)
    assert [(d["customer_id"], d["segments"]) for d in deltas] == [("c1", [])]
    # deleting a segment with members bumps them too
    held = versions(db)["c2"]
    service.delete(db, marketer, vip)
    assert versions(db)["c2"] > held


def test_the_agent_keeps_the_segment_ids(tmp_path):
    from agent.store import Store as AgentStore

    store = AgentStore(tmp_path / "agent.db", agent_id="a1")
    delta = {
        "customer_id": "c1",
        "version": 3,
        "name": None,
        "phone": None,
        "phone_verified": False,
        "level": None,
        "network_percent": None,
        "store_percent": None,
        "blocked": False,
        "cards": [],
        "lots": [],
        "applied": {},
        "messages": [],
        "consents": {},
        "segments": [5, 2],
    }
    assert store.apply_customer_delta(delta)
    with store.read() as tx:
        assert json.loads(tx.customer("c1")["segments"]) == [2, 5]
    del delta["segments"]  # an older central server: no segments
    delta["version"] = 4
    assert store.apply_customer_delta(delta)
    with store.read() as tx:
        assert json.loads(tx.customer("c1")["segments"]) == []


def test_a_big_membership_change_owes_versions_the_publisher_gives_first(db, db_file, monkeypatch):
    """A change of DEFER_BUMPS_FROM customers or more (a recompute at 1M customers: tens of thousands) writes the
    versions it owes in its transaction; they are given after, in chunks, by the publisher's next pass before it
    reads its pages, which carry every moved customer with its segments; a store reopened in between loses
    nothing."""
    from central.services.access import Actor
    from central.storage import segments as segment_table

    monkeypatch.setattr(segment_table, "DEFER_BUMPS_FROM", 3)
    marketer = Actor(7, "mia", "marketer")
    agent = FakeAgent("S1", "a1")
    apply(db, *(agent.registration(f"c{i}") for i in range(1, 6)))
    _, upto, _ = customer_page(db, "S1", 0)
    held = versions(db)
    vip = service.create(db, marketer, "VIP", "static", None)
    service.change_members(db, marketer, vip, add=["c1", "c2", "c3", "c4"])  # four: owed
    assert versions(db) == held  # not given in the change's transaction
    assert db.conn.execute("SELECT keys FROM version_bumps").fetchall() != []
    db = Store(db_file)  # (another process, as after a restart between the change and the next page)
    service.change_members(db, marketer, vip, remove=["c4"])  # one: given at once
    assert versions(db)["c4"] > held["c4"]
    assert db.give_owed_versions(chunk=2) == 4  # (in two transactions)
    assert all(versions(db)[f"c{i}"] > held[f"c{i}"] for i in range(1, 4))
    assert versions(db)["c5"] == held["c5"]
    service.change_members(db, marketer, vip, add=["c4", "c5"], remove=["c2"])  # three: owed
    deltas, _, _ = customer_page(db, "S1", upto)
    assert {d["customer_id"] for d in deltas} == {"c1", "c2", "c3", "c4"}  # (c5 and c2's leaving: not yet)
    sent = []

    class Link:  # the broker's side of the publisher, recorded
        connected = type("Set", (), {"is_set": lambda self: True})()

        def publish(self, topic, payload, **kw):
            sent.append((topic, payload))

    db.set_published("S1", "customers", upto)
    Publisher(str(db_file), Link()).publish_once(db)  # its pass gives the owed versions first
    assert db.conn.execute("SELECT COUNT(*) FROM version_bumps").fetchone()[0] == 0
    pages = [wire.decode(p, channel="customers") for t, p in sent if t.endswith("/customers")]
    by_id = {d["customer_id"]: d["segments"] for page in pages for d in page["deltas"]}
    assert by_id == {"c1": [vip], "c2": [], "c3": [vip], "c4": [vip], "c5": [vip]}
    db.close()
