"""Events reach the ledger exactly once, in each agent's order, whatever the broker repeats."""

from __future__ import annotations

import pytest

from central.storage.store import Store
from shared import wire
from tests.polling import wait_for
from transport.mqtt import LinkConfig, MqttLink

from .sim_agent import SimAgent

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def _raw_client(url: str, name: str = "raw") -> MqttLink:
    link = MqttLink(LinkConfig(url=url, client_id=name), [], lambda t, p: None).start()
    assert link.wait_connected(10)
    return link


def test_events_applied_once_and_acked(mosquitto, central, db_path):
    agent = SimAgent(mosquitto.url, "S1", "a1").start()
    try:
        events = [agent.registration("c1")] + [agent.purchase("c1", accrued=100) for _ in range(300)]
        agent.write_all(events)
        assert agent.wait_drained(20), "the agent's outbox was not acknowledged"
        db = Store(db_path)
        assert db.count("applied_events", "agent = 'a1'") == 301
        assert db.customer("c1")["balance"] == 30_000 == db.ledger_sum("c1")
        assert db.applied_seq("S1", "a1") == 301
    finally:
        agent.stop()


def test_duplicates_change_nothing(mosquitto, central, db_path):
    agent = SimAgent(mosquitto.url, "S1", "a1")
    events = [agent.registration("c1")] + [agent.purchase("c1", accrued=100) for _ in range(10)]
    raw = _raw_client(mosquitto.url)
    topic = wire.agent_topic("S1", "a1", "events")
    for _ in range(3):  # the same batch three times, then each event alone, twice
        raw.publish(topic, wire.encode("events", {"store": "S1", "agent": "a1", "events": events}))
    for env in events * 2:
        raw.publish(topic, wire.encode("events", {"store": "S1", "agent": "a1", "events": [env]}))
    db = Store(db_path)
    assert wait_for(lambda: central.ingest.stats["messages"] >= 25 and db.count("applied_events") == 11, 10)
    assert wait_for(lambda: central.ingest.inbox.empty(), 5)
    assert db.customer("c1")["balance"] == 1000 == db.ledger_sum("c1")
    assert central.ingest.stats["duplicates"] >= 40
    raw.stop()


def test_copies_of_handled_events_are_skipped_before_their_bodies_and_acked_once(db_path):
    """Issue 12: after a reconnect the same events come again (the resent window, QoS 1 copies). A
    copy at or below the pointer whose id the register holds at that seq is skipped before its body
    is checked (no validation work, and no dead letter even if today's checks would refuse it), and
    the copies of one round get one ack per agent beside the pointer's, not one per message."""
    from central.sync.ingest import Ingest

    from .fakes import FakeAgent

    ingest = Ingest(db_path, None)
    try:
        agent = FakeAgent("S1", "a1")
        events = [agent.registration("c1")] + [agent.purchase("c1", accrued=100) for _ in range(2)]
        topic = wire.agent_topic("S1", "a1", "events")

        def message(envs: list) -> tuple[str, bytes]:
            return topic, wire.encode("events", {"store": "S1", "agent": "a1", "events": envs}, validate=False)

        ingest.process([message(events)])
        db = Store(db_path)
        assert db.applied_seq("S1", "a1") == 3
        changed = {**events[1], "body": {"not": "a purchase"}}  # refused by the checks, same id and seq
        replies = ingest.process([message(events[:1]), message([events[0], changed]), message(events[2:])])
        assert db.count("dead_letters") == 0, db.dead_letters()
        assert ingest.stats["duplicates"] == 4 and ingest.stats["applied"] == 3
        acks = sorted(wire.decode(r.payload)["through"] for r in replies if r.kind == "ack")
        assert acks == [2, 3]  # the highest copy-only batch (seq 2) and the pointer (seq 3)
        assert db.customer("c1")["balance"] == 200 == db.ledger_sum("c1")
    finally:
        ingest.stop()
