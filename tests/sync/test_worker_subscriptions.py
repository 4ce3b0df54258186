"""Several ingest workers (docs/scale.md): each receives only the events of its own partitions' agents (it
subscribes to their events topics, not to every agent's), and what moves with a partition is its agents'
subscriptions. Two in-process workers, four simulated agents, a real Mosquitto."""

from __future__ import annotations

import time

import pytest

from central.storage.partitions import partition_of
from central.storage.store import Store
from central.sync.ingest import Ingest
from shared import wire
from tests.polling import wait_for
from transport.mqtt import LinkConfig

from .sim_agent import SimAgent

pytestmark = pytest.mark.postgresql

PARTS = 16
STORES = ("S1", "S2", "S3", "S4")  # partitions 3, 13, 8, 1 of 16 (agent a1)


def _worker(db_path: str, url: str, name: str) -> Ingest:
    config = LinkConfig(url=url, client_id=f"central-{name}", backoff_max=1.0)
    ingest = Ingest(db_path, config, worker=name, partitions=PARTS, lease_ttl=2.0, gap_wait=0.5, publish_interval=0.2)
    ingest.start()
    assert ingest.link is not None and ingest.link.wait_connected(10)
    return ingest


def _followed(ingest: Ingest) -> set[str]:
    assert ingest.link is not None
    return {t for t in ingest.link.subscriptions if t.endswith("/events")}


def test_each_worker_receives_only_its_own_agents_events(mosquitto, db_path, monkeypatch):
    broker = mosquitto
    # a slow start (as a worker process's on a loaded machine): its first leases come after the broker has
    # delivered the retained statuses, which it then drops unapplied
    rebalance, first = Store.rebalance_partitions, set()

    def slow_first(self, worker, parts, ttl):
        if worker not in first:
            first.add(worker)
            time.sleep(1.0)
        return rebalance(self, worker, parts, ttl)

    monkeypatch.setattr(Store, "rebalance_partitions", slow_first)
    db = Store(db_path)
    db.add_store("S4", "Store S4")
    # the agents first: no worker hears their hellos, and their retained statuses reach the workers before
    # either holds a partition; the events must still find their way (the agents' rows are made from those)
    agents = [SimAgent(broker.url, store, "a1", ack_timeout=2.0).start() for store in STORES]
    for agent in agents:
        assert agent.link.wait_connected(10)
    workers = [_worker(db_path, broker.url, "w1"), _worker(db_path, broker.url, "w2")]
    try:
        for agent in agents:
            agent.write_all([agent.registration(f"{agent.store}-c")])
        assert all(a.wait_drained(60) for a in agents)

        def settled() -> bool:  # 8 partitions each, and each following exactly its partitions' agents
            owned = [w.owned for w in workers]
            if sorted(len(o) for o in owned) != [PARTS // 2, PARTS // 2]:
                return False
            return all(
                _followed(w)
                == {wire.agent_topic(s, "a1", "events") for s in STORES if partition_of(s, "a1", PARTS) in w.owned}
                for w in workers
            )

        assert wait_for(settled, 30), [(w.owned, _followed(w)) for w in workers]
        assert not _followed(workers[0]) & _followed(workers[1])
        assert all(_followed(w) for w in workers)  # S1..S4 fall two and two (partitions 3, 13, 8, 1)
        before = [w.stats["foreign_events"] for w in workers]
        for agent in agents:
            agent.write_all([agent.purchase(f"{agent.store}-c", accrued=10) for _ in range(200)])
        assert all(a.wait_drained(90) for a in agents), [len(a.outbox) for a in agents]
        # no worker was handed another's events once settled (before: every worker got every message)
        assert [w.stats["foreign_events"] for w in workers] == before
        assert db.count("applied_events") == 4 * 201
        assert db.count("ledger") == 4 * 200
    finally:
        for agent in agents:
            agent.stop()
        for worker in workers:
            worker.stop()
        db.close()
