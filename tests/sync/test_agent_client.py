"""agent/sync.py in-process against a real Mosquitto: a test client plays the central server
where the test must control the answers (acks with foreign ids, resend requests, garbage), the
real ingest where it must not."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from agent.service import Service
from agent.store import Store
from agent.sync import SyncClient
from agent.testing import EXAMPLE_RULES
from shared import wire
from tests.polling import wait_for

from .broker import Mosquitto
from .clients import Listener
from .conftest import IngestRunner

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


class Agent:
    """An agent's store, service and sync client in this process (store S1, agent a1)."""

    def __init__(self, folder: Path, url: str, **settings: Any) -> None:
        self.config = load_config(
            env={},
            use_file=False,
            overrides={
                "store_id": "S1",
                "agent_id": "a1",
                "database": str(folder / "agent.sqlite"),
                "broker_url": url,
                "broker_reconnect_max": 1,
                **settings,
            },
        )
        self.store = Store(self.config.database, agent_id="a1")
        self.store.set_rules(EXAMPLE_RULES.read_text(encoding="utf-8"))
        self.service = Service(self.store, self.config)
        self.sync = SyncClient(self.store, self.config)

    def sell(self, count: int) -> None:
        for n in range(count):
            self.service.commit(
                "P01",
                {
                    "receipt_id": f"R{self.store.outbox_depth()}-{n}",
                    "at": dt.datetime.now(dt.UTC).isoformat(),
                    "lines": [{"amount": 20_000}],
                },
            )

    def outbox(self) -> list[Any]:
        return self.store.outbox_batch(0, 1000)


@pytest.fixture
def agent(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Agent]:
    made = Agent(tmp_path, mosquitto.url)
    yield made
    made.sync.stop()
    made.store.close()


@pytest.fixture
def fake_central(mosquitto: Mosquitto) -> Iterator[Listener]:
    """A bare client on the central server's subscriptions: it hears the agent and answers as told."""
    listener = Listener(mosquitto.url, wire.central_subscriptions(), "fake-central")
    yield listener
    listener.stop()


def _down(listener: Listener, channel: str, kind: str, payload: dict[str, Any]) -> None:
    listener.link.publish(wire.agent_topic("S1", "a1", channel), wire.encode(kind, payload))


def _sent_seqs(listener: Listener) -> list[int]:
    return [env["seq"] for msg in listener.kinds("events") for env in msg["events"]]


def test_hello_first_then_events_and_only_our_own_acks_delete(agent, fake_central):
    agent.sell(3)
    agent.sync.start()
    assert wait_for(lambda: len(_sent_seqs(fake_central)) == 3, 10)
    kinds = [m.kind for _, m in fake_central.decoded()]
    assert kinds.index("hello") < kinds.index("events")
    assert fake_central.kinds("hello")[0]["next_seq"] == 4
    ids = [e.id for e in agent.outbox()]
    # an ack about seq 3 with an id that is not ours (a seq reused after a restore): nothing deleted
    _down(fake_central, "acks", "ack", {"through": 3, "id": "f" * 32})
    _down(fake_central, "acks", "ack", {"through": 2, "id": ids[1]})
    assert wait_for(lambda: [e.seq for e in agent.outbox()] == [3], 10)
    # each events message says where the outbox starts (a restored agent's recovery counts from it)
    assert fake_central.kinds("events")[0]["acked"] == 0
    agent.sell(1)
    assert wait_for(lambda: any(m.get("acked") == 2 for m in fake_central.kinds("events")), 10)
    # and the ack counts as a sync with the central server
    assert agent.store.state("last_sync_at") is not None


def test_the_hello_names_the_last_event_from_the_outbox_or_the_last_ack(agent, fake_central):
    """Issue 12: the central server knows a stale hello by the agent's last event id (last_id)."""
    agent.sell(2)
    agent.sync.start()
    assert wait_for(lambda: len(_sent_seqs(fake_central)) == 2, 10)
    ids = [e.id for e in agent.outbox()]
    assert fake_central.kinds("hello")[0]["last_id"] == ids[1]  # the newest outbox row
    _down(fake_central, "acks", "ack", {"through": 2, "id": ids[1]})
    assert wait_for(lambda: agent.outbox() == [], 10)
    assert agent.store.state("last_acked") == f"2 {ids[1]}"
    agent.sync.stop()  # a new connection (the agent restarted), a new hello: the outbox is empty now
    agent.sync = SyncClient(agent.store, agent.config).start()
    assert wait_for(lambda: len(fake_central.kinds("hello")) >= 2, 20)
    hello = fake_central.kinds("hello")[-1]
    assert (hello["next_seq"], hello["last_id"]) == (3, ids[1])


def test_resend_request_and_silence_send_again(tmp_path, mosquitto, fake_central):
    made = Agent(tmp_path, mosquitto.url)
    made.sync = SyncClient(made.store, made.config, ack_timeout=1.0)
    try:
        made.sell(5)
        made.sync.start()
        assert wait_for(lambda: _sent_seqs(fake_central) == [1, 2, 3, 4, 5], 10)
        _down(fake_central, "resend", "resend", {"from_seq": 4})
        assert wait_for(lambda: _sent_seqs(fake_central)[5:7] == [4, 5], 10)
        # no ack at all: after the ack timeout everything unacknowledged goes again
        assert wait_for(lambda: _sent_seqs(fake_central)[7:12] == [1, 2, 3, 4, 5], 10)
        assert made.sync.stats["timeouts"] >= 1 and made.store.outbox_depth() == 5
    finally:
        made.sync.stop()
        made.store.close()


def test_garbage_and_foreign_messages_are_dropped_and_the_client_goes_on(agent, fake_central):
    agent.sell(1)
    agent.sync.start()
    assert wait_for(lambda: _sent_seqs(fake_central) == [1], 10)
    topic = wire.agent_topic("S1", "a1", "acks")
    fake_central.link.publish(topic, b"\xc1 not msgpack")
    fake_central.link.publish(topic, wire.encode("resend", {"from_seq": 1}))  # wrong kind for the channel
    _down(fake_central, "acks", "ack", {"through": 1, "id": agent.outbox()[0].id})
    assert wait_for(lambda: agent.store.outbox_depth() == 0, 10)
    assert agent.sync.stats["dropped"] == 2


def test_rule_sets_only_move_forward(agent, fake_central):
    doc = json.loads(EXAMPLE_RULES.read_text(encoding="utf-8"))
    agent.sync.start()
    assert agent.sync.link.wait_connected(10)
    for version in (19, 18):
        fake_central.link.publish(
            wire.store_topic("S1", "rules"),
            wire.encode(
                "rules", {"store": "S1", "version": version, "rules": {**doc, "store": "S1", "version": version}}
            ),
        )
    assert wait_for(lambda: agent.store.rules()[0] == 19, 10)
    fake_central.link.publish(
        wire.store_topic("S1", "messages"),
        wire.encode("messages", {"store": "S1", "version": 3, "messages": [{"id": "m1", "text": "Sushi x2"}]}),
    )
    assert wait_for(lambda: agent.store.state("store_messages") is not None, 10)
    assert json.loads(agent.store.state("store_messages"))["messages"][0]["text"] == "Sushi x2"
    assert agent.store.rules()[0] == 19  # 18 came later and was older: ignored


def test_a_refused_or_older_rules_message_changes_nothing_beside_the_rule_set(agent, fake_central):
    doc = json.loads(EXAMPLE_RULES.read_text(encoding="utf-8"))
    topic = wire.store_topic("S1", "rules")
    fake_central.link.publish(topic, b"\xc1 garbage", retain=True)  # waiting for the agent when it subscribes
    agent.sync.start()
    assert agent.sync.link.wait_connected(10)
    assert wait_for(lambda: agent.sync.stats["dropped"] == 1, 10)
    held = agent.store.rules()[0]
    refused = {"store": "S1", "version": held + 1, "rules": {"store": "S1"}, "confirm_redemption": True}
    older = {**refused, "version": held - 1, "rules": {**doc, "store": "S1", "version": held - 1}}
    good = {**refused, "version": held + 2, "rules": {**doc, "store": "S1", "version": held + 2}}
    for payload in (refused, older, good):
        fake_central.link.publish(topic, wire.encode("rules", payload), retain=True)
    assert wait_for(lambda: agent.store.rules()[0] == held + 2, 10)
    assert agent.store.state("confirm_redemption") == "1"  # from the good one only
    agent.store.set_state("confirm_redemption", "0")
    for payload in (refused, older):
        fake_central.link.publish(topic, wire.encode("rules", payload), retain=True)
    fake_central.link.publish(topic, b"", retain=True)  # clears the retained message
    fake_central.link.publish(
        wire.store_topic("S1", "messages"),
        wire.encode("messages", {"store": "S1", "version": 3, "messages": [{"id": "m1", "text": "after"}]}),
    )
    assert wait_for(lambda: agent.store.state("store_messages") is not None, 10)
    assert agent.store.rules()[0] == held + 2 and agent.store.state("confirm_redemption") == "0"


def test_an_idle_link_stays_online_and_a_silent_central_server_means_offline(tmp_path, mosquitto, db_path):
    central = IngestRunner(db_path, mosquitto.url)
    central.start()
    made = Agent(tmp_path, mosquitto.url, offline_after_seconds=4)  # proof of life every second
    try:
        made.sync.start()
        assert wait_for(lambda: made.store.state("last_sync_at") is not None, 10)
        first = made.store.state("last_sync_at")
        # nothing to send for longer than offline_after_seconds: still online (the idle pull answers)
        assert wait_for(lambda: made.store.state("last_sync_at") != first, 5)
        with made.store.read() as tx:
            assert made.service.link(tx, dt.datetime.now(dt.UTC)) == "online"
        central.crash()  # the broker stays up, the central server is gone: nobody answers
        assert wait_for(lambda: _link(made) == "offline", 10)
        assert made.store.state("link") == "online"  # the broker link itself is up
        central.start()
        assert wait_for(lambda: _link(made) == "online", 10)
    finally:
        made.sync.stop()
        made.store.close()
        central.stop()


def _link(made: Agent) -> str:
    with made.store.read() as tx:
        return made.service.link(tx, dt.datetime.now(dt.UTC))


def _sent_after_hello(listener: Listener, number: int) -> list[int]:
    """The seqs sent after the agent's hello number ``number`` (1-based): paho redelivers the messages
    the broker had not acknowledged at the MQTT level before that connection's hello."""
    seen, seqs = 0, []
    for _, msg in listener.decoded():
        if msg.kind == "hello":
            seen += 1
        elif msg.kind == "events" and seen >= number:
            seqs.extend(env["seq"] for env in msg["events"])
    return seqs


def test_after_a_reconnect_the_unacked_go_again_from_the_answer_to_the_hello(agent, fake_central):
    """Issue 12: events in flight when the link dropped are not resent blindly from the last ack
    (the central server may hold them already: QoS 1 copies, applied while we were away), but past
    where its answer to the hello says it stands; without an answer, past the last ack. Events
    written after the reconnect are new and go at once."""
    agent.sell(5)
    agent.sync.start()
    assert wait_for(lambda: _sent_seqs(fake_central) == [1, 2, 3, 4, 5], 10)
    ids = [e.id for e in agent.outbox()]
    agent.sync.link.client.socket().close()  # the link drops (no ack came); paho reconnects
    assert wait_for(lambda: len(fake_central.kinds("hello")) == 2, 20)
    # nothing of what was in flight goes again before the central server has answered; what is
    # written meanwhile goes at once
    agent.sell(2)
    assert wait_for(lambda: len(_sent_after_hello(fake_central, 2)) >= 2, 10)
    assert not wait_for(lambda: len(_sent_after_hello(fake_central, 2)) > 2, 0.5), _sent_after_hello(fake_central, 2)
    assert _sent_after_hello(fake_central, 2) == [6, 7]
    _down(fake_central, "acks", "ack", {"through": 3, "id": ids[2]})  # the answer: it holds 1..3
    assert wait_for(lambda: len(_sent_after_hello(fake_central, 2)) >= 4, 10)
    assert _sent_after_hello(fake_central, 2) == [6, 7, 4, 5]  # only what the answer did not cover
    assert [e.seq for e in agent.outbox()] == [4, 5, 6, 7]
    # no answer at all this time: after HELLO_ANSWER_WAIT the unacked go again past the last ack
    agent.sync.link.client.socket().close()
    assert wait_for(lambda: len(fake_central.kinds("hello")) == 3, 20)
    assert wait_for(lambda: len(_sent_after_hello(fake_central, 3)) >= 4, 10)
    assert _sent_after_hello(fake_central, 3) == [4, 5, 6, 7]
