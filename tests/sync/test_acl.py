"""Isolation: with broker-config's password file and ACL, an agent only reaches its own store.

A real Mosquitto runs with the files ``loyalty-central broker-config`` wrote;
agents connect with the credentials enrollment gave them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from central.cli import cli
from central.storage.store import Store
from shared import wire
from tests.polling import wait_for

from .broker import Mosquitto
from .clients import Listener


@pytest.fixture
def secured(tmp_path: Path):
    """A Mosquitto with generated passwd + ACL; agents S1/a1 and S2/a1 enrolled."""
    db_file = str(tmp_path / "central.sqlite")
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
    broker = Mosquitto(tmp_path / "broker", password_file=tmp_path / "etc" / "passwd",
                       acl_file=tmp_path / "etc" / "acl").start()
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
    payload = wire.encode("status", {"store": other, "agent": "a1", "state": "online", "at": "2026-11-21T12:00:00+03:00"})
    agent.link.publish(wire.agent_topic(other, "a1", "status"), payload)  # someone else's store
    agent.link.publish(wire.agent_topic(other, "a1", "events"), b"forged")
    agent.link.publish(wire.agent_topic(own, "a2", "events"), b"another agent of my own store")
    own_payload = wire.encode("status", {"store": own, "agent": "a1", "state": "online", "at": "2026-11-21T12:00:00+03:00"})
    agent.link.publish(wire.agent_topic(own, "a1", "status"), own_payload)
    assert wait_for(lambda: wire.agent_topic(own, "a1", "status") in central.topics(), 10)
    time.sleep(0.3)  # anything forged would have arrived by now, in publish order
    assert central.topics() == {wire.agent_topic(own, "a1", "status")}
    agent.stop()
    central.stop()


@pytest.mark.parametrize("own,other", [("S1", "S2"), ("S2", "S1")])
def test_an_agent_cannot_subscribe_under_another_store(secured, own, other):
    broker, creds, (cuser, cpass) = secured
    spy_topics = [wire.store_topic(other, "rules"), wire.agent_topic(other, "a1", "acks"), "loyalty/v1/#",
                  wire.store_topic(own, "rules")]
    spy = _agent(broker, creds, own, spy_topics)
    victim = _agent(broker, creds, other, wire.agent_subscriptions(other, "a1"))
    central = Listener(broker.url, [], "central", username=cuser, password=cpass)
    for store in (other, own):
        central.link.publish(wire.store_topic(store, "rules"),
                             wire.encode("rules", {"store": store, "version": 1, "rules": {}}), retain=True)
    central.link.publish(wire.agent_topic(other, "a1", "acks"), wire.encode("ack", {"through": 1, "id": "x"}))
    assert wait_for(lambda: len(victim.messages) >= 2, 10)  # the rightful agent gets both
    assert wait_for(lambda: wire.store_topic(own, "rules") in spy.topics(), 10)
    time.sleep(0.3)
    assert spy.topics() == {wire.store_topic(own, "rules")}  # never the other store's
    for client in (spy, victim, central):
        client.stop()


def test_wrong_password_and_anonymous_are_refused(secured):
    broker, creds, _ = secured
    user, _ = creds["S1"]
    intruder = Listener(broker.url, [], "x1", username=user, password="wrong", wait=False)
    anonymous = Listener(broker.url, [], "x2", wait=False)
    time.sleep(1.0)
    assert not intruder.link.connected.is_set() and not anonymous.link.connected.is_set()
    intruder.stop()
    anonymous.stop()
