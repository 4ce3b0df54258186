"""Broker and central server killed mid-stream: afterwards every event is applied exactly once."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict

import pytest

from central.storage.store import Store
from tests.polling import wait_for

from .broker import Mosquitto
from .conftest import IngestRunner
from .sim_agent import SimAgent

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]  # broker kills and an offline day: a minute of real outages


def _traffic(
    agent: SimAgent, customers: list[str], receipts: int, expected: dict, rng: random.Random, pause_every: int = 0
) -> None:
    """Write receipts (with redemptions and refunds) into the agent's outbox, like tills would."""
    for i in range(receipts):
        cid = rng.choice(customers)
        roll = rng.random()
        if roll < 0.2:
            redeemed = rng.randint(1, 300)
            env = agent.purchase(cid, total=5000, accrued=0, redeemed=redeemed)
            expected[cid] -= redeemed
        elif roll < 0.3:
            env = agent.refund(cid, "R-any", amount=1000, accrued=50, redeemed=20)
            expected[cid] += -50 + 20
        else:
            accrued = rng.randint(1, 500)
            env = agent.purchase(cid, total=10_000, accrued=accrued)
            expected[cid] += accrued
        agent.write(env)
        if pause_every and i % pause_every == 0:
            time.sleep(0.01)


def _check_exactly_once(db: Store, expected: dict, total_events: int) -> None:
    assert db.count("applied_events") == total_events
    assert db.count("dead_letters") == 0
    for cid, points in expected.items():
        customer = db.customer(cid)
        assert customer["balance"] == points == db.ledger_sum(cid), cid


def test_broker_killed_ten_times_and_central_once_mid_stream(tmp_path, db_path):
    broker = Mosquitto(tmp_path / "broker").start()
    central = IngestRunner(db_path, broker.url)
    central.start()
    agents = [SimAgent(broker.url, store, "a1", ack_timeout=2.0, batch=200).start() for store in ("S1", "S2", "S3")]
    expected: dict[str, int] = defaultdict(int)
    customers = [f"c{i}" for i in range(60)]
    try:
        for i, cid in enumerate(customers):
            agents[i % 3].write(agents[i % 3].registration(cid))
        assert all(a.wait_drained(15) for a in agents)
        writers = [
            threading.Thread(target=_traffic, args=(a, customers, 3334, expected, random.Random(i), 5))
            for i, a in enumerate(agents)
        ]
        for w in writers:
            w.start()
        busy = 0
        for kill in range(10):
            time.sleep(0.3)
            busy += sum(len(a.outbox) for a in agents) > 0
            broker.restart(down_for=0.1)
            if kill == 5:
                central.crash()  # the central server dies too, without a clean disconnect
                central.start()
        for w in writers:
            w.join()
        assert all(a.wait_drained(60) for a in agents), [len(a.outbox) for a in agents]
        assert busy >= 8, "the broker was not killed in the middle of traffic"
        db = Store(db_path)
        _check_exactly_once(db, expected, 60 + 3 * 3334)
    finally:
        for a in agents:
            a.stop()
        central.stop()
        broker.stop()


def test_offline_day_catches_up_although_the_broker_drops_queued_messages(tmp_path, db_path):
    # a broker that keeps only 10 queued messages per offline client: most of the backlog
    # published while the central server is down is dropped by the broker, as a default
    # Mosquitto would past 1000
    broker = Mosquitto(tmp_path / "broker", max_queued=10).start()
    central = IngestRunner(db_path, broker.url)
    central.start()
    central.crash()  # the central's persistent session now queues (at most 10) for it
    agent = SimAgent(broker.url, "S1", "a1", ack_timeout=1.0, batch=500, window=50_000).start()
    expected: dict[str, int] = defaultdict(int)
    try:
        agent.write(agent.registration("c1"))
        _traffic(agent, ["c1"], 20_000, expected, random.Random(1))
        # all published into the void (the broker has acknowledged every one of them)
        assert wait_for(lambda: agent.sent_through >= agent.seq and agent.last_info.is_published(), 30)
        central.start()
        assert agent.wait_drained(60), len(agent.outbox)
        db = Store(db_path)
        _check_exactly_once(db, expected, 20_001)
    finally:
        agent.stop()
        central.stop()
        broker.stop()
    # Mosquitto writes its log lazily: read it once it has stopped
    assert "Outgoing messages are being dropped for client central-ingest" in broker.log_text()


def test_agent_offline_for_a_day_catches_up_alone(mosquitto, central, db_path):
    agent = SimAgent(mosquitto.url, "S1", "a1", batch=500).start()
    expected: dict[str, int] = defaultdict(int)
    try:
        agent.write(agent.registration("c1"))
        assert agent.wait_drained(10)
        agent.go_offline()  # the store's internet is down for a day of sales
        _traffic(agent, ["c1"], 20_000, expected, random.Random(2))
        agent.go_online()
        assert agent.wait_drained(60), len(agent.outbox)
        _check_exactly_once(Store(db_path), expected, 20_001)
    finally:
        agent.stop()
