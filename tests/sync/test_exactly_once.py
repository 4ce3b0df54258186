"""Events reach the ledger exactly once, in each agent's order, whatever the broker repeats."""

from __future__ import annotations

from central.storage.store import Store
from shared import wire
from tests.polling import wait_for
from transport.mqtt import LinkConfig, MqttLink

from .sim_agent import SimAgent


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
