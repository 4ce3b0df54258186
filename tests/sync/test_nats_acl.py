"""NATS with the logins and permissions ``broker-config --nats`` writes from the enrollment (bcrypt hashes):
a real nats-server (JetStream + MQTT 3.1.1); an agent reaches only its own store's topics, as with
Mosquitto's ACL (tests/sync/test_acl.py). The same markers: a message published after the forged ones by the
same client arrives after them, so once the marker is in, anything forged would be too."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from central.cli import cli
from central.storage.store import Store
from shared import wire
from tests.polling import wait_for

from .clients import Listener
from .nats import NatsCluster, nats_server

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.skipif(nats_server() is None, reason="nats-server is not installed (Debian: nats-server)"),
]


@pytest.fixture
def secured(tmp_path: Path, central_database: str):
    """One nats-server with broker-config --nats's authorization block; agents S1/a1 and S2/a1 enrolled."""
    db = Store(central_database)
    creds = {}
    for store in ("S1", "S2"):
        db.add_store(store)
        agent, password = db.enroll(db.new_enrollment_token(store))
        creds[store] = (agent["username"], password)
    central = db.central_credentials()
    db.close()
    result = CliRunner().invoke(
        cli, ["broker-config", "--nats", "--out", str(tmp_path / "etc"), "--db", central_database]
    )
    assert result.exit_code == 0, result.output
    auth = (tmp_path / "etc" / "nats-auth.conf").read_text()
    assert auth.count("{user:") == 3
    broker = NatsCluster(tmp_path / "nats", nodes=1, auth=auth).start()
    yield broker, creds, central
    broker.stop()


def _client(broker, topics, name, user, password, wait=True):
    return Listener(broker.url("n1"), topics, name, username=user, password=password, protocol=4, wait=wait)


def _status(store: str) -> bytes:
    return wire.encode("status", {"store": store, "agent": "a1", "state": "online", "at": "2026-11-21T12:00:00+03:00"})


@pytest.mark.parametrize("own,other", [("S1", "S2"), ("S2", "S1")])
def test_an_agent_can_publish_only_under_its_own_topics(secured, own, other):
    broker, creds, (cuser, cpass) = secured
    central = _client(broker, wire.central_subscriptions(), "central", cuser, cpass)
    agent = _client(broker, [], f"agent-{own}-a1", *creds[own])
    time.sleep(0.5)  # NATS makes the central server's subscriptions' consumers after the CONNACK
    agent.link.publish(wire.agent_topic(other, "a1", "status"), _status(other))  # someone else's store
    agent.link.publish(wire.agent_topic(other, "a1", "events"), b"forged")
    agent.link.publish(wire.agent_topic(own, "a2", "events"), b"another agent of my own store")
    agent.link.publish(wire.agent_topic(own, "a1", "status"), _status(own))  # the marker
    assert wait_for(lambda: wire.agent_topic(own, "a1", "status") in central.topics(), 15), broker.log("n1")
    assert central.topics() == {wire.agent_topic(own, "a1", "status")}
    agent.stop()
    central.stop()


@pytest.mark.parametrize("own,other", [("S1", "S2"), ("S2", "S1")])
def test_an_agent_cannot_read_another_stores_topics(secured, own, other):
    broker, creds, (cuser, cpass) = secured
    spy = _client(
        broker,
        [wire.store_topic(other, "rules"), wire.agent_topic(other, "a1", "acks"), "loyalty/v1/#", "$MQTT/sub/#"]
        + [wire.store_topic(own, "rules"), wire.store_topic(own, "messages")],
        f"agent-{own}-a1",
        *creds[own],
    )
    victim = _client(broker, wire.agent_subscriptions(other, "a1"), f"agent-{other}-a1", *creds[other])
    central = _client(broker, [], "central", cuser, cpass)
    time.sleep(0.5)
    for store in (other, own):
        central.link.publish(
            wire.store_topic(store, "rules"), wire.encode("rules", {"store": store, "version": 1, "rules": {}})
        )
    central.link.publish(wire.agent_topic(other, "a1", "acks"), wire.encode("ack", {"through": 1, "id": "x"}))
    central.link.publish(
        wire.store_topic(own, "messages"), wire.encode("messages", {"store": own, "version": 1, "messages": []})
    )
    assert wait_for(lambda: len(victim.messages) >= 2, 15)  # the rightful agent gets both
    assert wait_for(lambda: wire.store_topic(own, "messages") in spy.topics(), 15)
    assert spy.topics() == {wire.store_topic(own, "rules"), wire.store_topic(own, "messages")}
    for client in (spy, victim, central):
        client.stop()


def test_a_wrong_password_and_anonymous_are_refused(secured):
    broker, creds, _ = secured
    user, _ = creds["S1"]
    intruder = _client(broker, [], "x1", user, "wrong", wait=False)
    anonymous = _client(broker, [], "x2", None, None, wait=False)
    assert wait_for(lambda: intruder.link.refusals and anonymous.link.refusals, 15)
    assert not intruder.link.connects and not anonymous.link.connects
    intruder.stop()
    anonymous.stop()
