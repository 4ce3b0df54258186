"""Isolation: with broker-config's password file and ACL, an agent only reaches its own store.

A real Mosquitto runs with the files ``loyalty-central broker-config`` wrote
(its ``loyalty.conf`` lines after the listener); agents connect with the credentials
enrollment gave them. Nothing here waits a fixed time to conclude that
something did not arrive: a marker published after it, which the same client
may receive, arrives in publish order, so once it is in, anything forged
before it would be too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from central.cli import cli
from central.storage.store import Store
from shared import wire
from tests.polling import wait_for

from .broker import Mosquitto
from .clients import Listener

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


@pytest.fixture
def secured(tmp_path: Path, central_database: str):
    """A Mosquitto with generated passwd + ACL; agents S1/a1 and S2/a1 enrolled."""
    db_file = central_database
    db = Store(db_file)
    creds = {}
    for store in ("S1", "S2"):
        db.add_store(store)
        agent, password = db.enroll(db.new_enrollment_token(store))
        creds[store] = (agent["username"], password)
    central = db.central_credentials()
    db.close()
    result = CliRunner().invoke(cli, ["broker-config", "--out", str(tmp_path / "etc"), "--db", db_file])
    assert result.exit_code == 0, result.output
    settings = (tmp_path / "etc" / "loyalty.conf").read_text().splitlines()
    broker = Mosquitto(tmp_path / "broker", extra=settings, max_queued=None).start()
    yield broker, creds, central
    broker.stop()


def _agent(broker, creds, store, topics, name=None):
    user, password = creds[store]
    return Listener(broker.url, topics, name or f"agent-{store}-a1", username=user, password=password)


@pytest.mark.parametrize("own,other", [("S1", "S2"), ("S2", "S1")])
def test_an_agent_cannot_publish_under_another_store(secured, own, other):
    broker, creds, (cuser, cpass) = secured
    central = Listener(broker.url, wire.central_subscriptions(), "central", username=cuser, password=cpass)
    agent = _agent(broker, creds, own, [])
    payload = wire.encode(
        "status", {"store": other, "agent": "a1", "state": "online", "at": "2026-11-21T12:00:00+03:00"}
    )
    agent.link.publish(wire.agent_topic(other, "a1", "status"), payload)  # someone else's store
    agent.link.publish(wire.agent_topic(other, "a1", "events"), b"forged")
    agent.link.publish(wire.agent_topic(own, "a2", "events"), b"another agent of my own store")
    own_payload = wire.encode(
        "status", {"store": own, "agent": "a1", "state": "online", "at": "2026-11-21T12:00:00+03:00"}
    )
    agent.link.publish(wire.agent_topic(own, "a1", "status"), own_payload)
    # the marker: published after the forged ones, by the same client, so delivered after them
    assert wait_for(lambda: wire.agent_topic(own, "a1", "status") in central.topics(), 10)
    assert central.topics() == {wire.agent_topic(own, "a1", "status")}
    agent.stop()
    central.stop()


@pytest.mark.parametrize("own,other", [("S1", "S2"), ("S2", "S1")])
def test_an_agent_cannot_subscribe_under_another_store(secured, own, other):
    broker, creds, (cuser, cpass) = secured
    spy_topics = [
        wire.store_topic(other, "rules"),
        wire.agent_topic(other, "a1", "acks"),
        "loyalty/v1/#",
        wire.store_topic(own, "rules"),
        wire.store_topic(own, "messages"),
    ]
    spy = _agent(broker, creds, own, spy_topics)
    victim = _agent(broker, creds, other, wire.agent_subscriptions(other, "a1"))
    central = Listener(broker.url, [], "central", username=cuser, password=cpass)
    for store in (other, own):
        central.link.publish(
            wire.store_topic(store, "rules"),
            wire.encode("rules", {"store": store, "version": 1, "rules": {}}),
            retain=True,
        )
    central.link.publish(wire.agent_topic(other, "a1", "acks"), wire.encode("ack", {"through": 1, "id": "x"}))
    # the marker, after everything of the other store: the spy may read its own store's messages
    central.link.publish(
        wire.store_topic(own, "messages"), wire.encode("messages", {"store": own, "version": 1, "messages": []})
    )
    assert wait_for(lambda: len(victim.messages) >= 2, 10)  # the rightful agent gets both
    assert wait_for(lambda: wire.store_topic(own, "messages") in spy.topics(), 10)
    assert spy.topics() == {wire.store_topic(own, "rules"), wire.store_topic(own, "messages")}  # never the other's
    for client in (spy, victim, central):
        client.stop()


def test_wrong_password_and_anonymous_are_refused(secured):
    broker, creds, _ = secured
    user, _ = creds["S1"]
    intruder = Listener(broker.url, [], "x1", username=user, password="wrong", wait=False)
    anonymous = Listener(broker.url, [], "x2", wait=False)
    # the positive signal: the broker's CONNACK saying no
    assert wait_for(lambda: intruder.link.refusals and anonymous.link.refusals, 10)
    assert not intruder.link.connects and not anonymous.link.connects
    intruder.stop()
    anonymous.stop()


def test_a_login_cannot_take_over_another_agents_session(secured):
    """S1's valid login with S2's client id must not close S2's connection (issue 12).

    broker-config's ``use_username_as_clientid true`` makes the broker use the login as the client
    id, so the intruder gets S1's own id, never S2's.
    """
    broker, creds, (cuser, cpass) = secured
    victim = _agent(broker, creds, "S2", wire.agent_subscriptions("S2", "a1"))
    assert victim.link.connects == 1
    intruders = [_agent(broker, creds, "S1", [], name=creds["S2"][0]) for _ in range(3)]
    central = Listener(broker.url, [], "central", username=cuser, password=cpass)
    # the marker, published after every intruder was accepted: it reaches S2 on the connection it
    # had; had S2 been knocked off, it would come only after a reconnect
    central.link.publish(wire.agent_topic("S2", "a1", "acks"), wire.encode("ack", {"through": 7, "id": "marker"}))
    assert wait_for(lambda: any(t == wire.agent_topic("S2", "a1", "acks") for t in victim.topics()), 10)
    assert victim.link.connects == 1 and victim.link.connected.is_set()
    assert f"{creds['S2'][0]} already connected" not in broker.log_text()  # (S1's own id: they take turns)
    for client in (*intruders, victim, central):
        client.stop()


def test_the_broker_keeps_an_ingest_backlog_past_mosquittos_default_queue(secured):
    """Issue 12: past Mosquitto's default 1,000 queued messages the ingest's were dropped while it
    reconnected, and the agents waited out their ack timeout. broker-config's loyalty.conf sizes it."""
    broker, creds, (cuser, cpass) = secured
    central = Listener(broker.url, wire.central_subscriptions(), cuser, username=cuser, password=cpass)
    central.stop()  # away (its session stays: MQTT v5 session expiry), as while it reconnects
    agent = _agent(broker, creds, "S1", [])
    topic = wire.agent_topic("S1", "a1", "status")
    count = 3_000
    sent = [
        agent.link.publish(
            topic,
            wire.encode(
                "status",
                {"store": "S1", "agent": "a1", "state": "online", "at": "2026-11-21T12:00:00+03:00", "outbox_depth": n},
            ),
        )
        for n in range(count)
    ]
    assert wait_for(lambda: all(info.is_published() for info in sent), 30)  # the broker has every one
    back = Listener(broker.url, wire.central_subscriptions(), cuser, username=cuser, password=cpass)
    assert wait_for(lambda: len(back.messages) >= count, 30), len(back.messages)
    # every one kept, none twice (the order is not this test's: under load a QoS 1 redelivery may swap two, which
    # the ingest orders by seq anyway)
    assert sorted(m["outbox_depth"] for _, m in back.decoded()) == list(range(count))
    assert "Outgoing messages are being dropped" not in broker.log_text()
    for client in (agent, back):
        client.stop()
