"""Order per agent: a gap is waited for, then re-requested; never skipped."""

from __future__ import annotations

import msgpack
import pytest

from central.storage.store import Store
from shared import wire
from tests.polling import wait_for

from .clients import Listener
from .fakes import FakeAgent

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def test_reordered_events_wait_for_the_gap_then_ask_for_a_resend(mosquitto, central, db_path):
    fake = FakeAgent("S1", "a1")
    events = [fake.registration("c1")] + [fake.purchase("c1", accrued=10 * (i + 1)) for i in range(9)]
    agent = Listener(mosquitto.url, wire.agent_subscriptions("S1", "a1"), "agent-S1-a1")
    agent.send("S1", "a1", events[5:])  # 6..10 arrive first
    agent.send("S1", "a1", events[:2])  # then 1..2; 3..5 are missing
    db = Store(db_path)
    assert wait_for(lambda: db.applied_seq("S1", "a1") == 2, 10)
    # the central server waits (gap_wait 0.5 s), then asks for everything from seq 3
    assert wait_for(lambda: agent.kinds("resend"), 10)
    assert agent.kinds("resend")[0]["from_seq"] == 3
    assert db.count("applied_events") == 2  # 6..10 are held, not applied out of order
    acks = agent.kinds("ack")
    assert acks and max(a["through"] for a in acks) == 2 and acks[-1]["id"] == events[1]["id"]
    agent.send("S1", "a1", events[2:5])
    assert wait_for(lambda: db.applied_seq("S1", "a1") == 10, 10)
    assert db.count("applied_events") == 10
    ledger = [row[0] for row in db.conn.execute("SELECT points FROM ledger ORDER BY id")]
    assert ledger == [10 * (i + 1) for i in range(9)]  # applied in sequence order
    assert wait_for(lambda: any(a["through"] == 10 and a["id"] == events[-1]["id"] for a in agent.kinds("ack")), 5)
    agent.link.stop()


def test_bad_messages_are_dead_lettered_and_the_rest_flows(mosquitto, central, db_path):
    fake = FakeAgent("S1", "a1")
    agent = Listener(mosquitto.url, wire.agent_subscriptions("S1", "a1"), "agent-S1-a1")
    events_topic = wire.agent_topic("S1", "a1", "events")
    good1 = [fake.registration("c1"), fake.purchase("c1", accrued=100)]
    agent.send("S1", "a1", good1)
    agent.link.publish(events_topic, b"\xc1 not msgpack")  # malformed
    agent.link.publish(events_topic, msgpack.packb({"v": 99, "k": "events"}))  # unknown frame version
    agent.link.publish(events_topic, b"\x00" * (wire.MAX_MESSAGE_BYTES + 1))  # oversized
    # a batch that claims another store on S1's topic
    agent.link.publish(
        events_topic, wire.encode("events", {"store": "S2", "agent": "a1", "events": good1}, validate=False)
    )
    bad_body = fake.purchase("c1", accrued=100)
    bad_body["body"]["accrued"] = 1.5  # floats are never points
    newer = fake.purchase("c1", accrued=100)
    newer["v"] = 2  # an event schema this central server does not know
    wrong_store = fake.purchase("c1", accrued=100)
    wrong_store["store"] = "S2"
    good2 = [fake.purchase("c1", accrued=100) for _ in range(3)]
    agent.send("S1", "a1", [bad_body, newer, wrong_store, *good2])
    db = Store(db_path)
    assert wait_for(lambda: db.applied_seq("S1", "a1") == fake.seq, 10)
    reasons = sorted(row["reason"] for row in db.dead_letters())
    assert reasons == [
        "invalid",
        "malformed",
        "oversized",
        "unknown_version",
        "unknown_version",
        "wrong_store",
        "wrong_store",
    ]
    detail = {row["seq"]: row["detail"] for row in db.dead_letters() if row["seq"]}
    assert "body.accrued: must be an integer" in detail[bad_body["seq"]]
    assert "schema version 2" in detail[newer["seq"]]
    assert "says store 'S2'" in detail[wrong_store["seq"]]
    # the good events around them were applied, the bad ones consumed without effect (kept as dead letters)
    assert db.customer("c1")["balance"] == 400 == db.ledger_sum("c1")
    assert db.count("applied_events", "status = 'dead'") == 3
    assert wait_for(lambda: any(a["through"] == fake.seq for a in agent.kinds("ack")), 5)
    agent.link.stop()
