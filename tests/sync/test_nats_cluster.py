"""The clustered-broker option (docs/scale.md): a three-node NATS cluster speaking MQTT 3.1.1, agents on one node,
the central ingest on another, a third node killed mid-stream; every event applied once, rules retained."""

from __future__ import annotations

import time

import pytest

from central.storage.store import Store
from tests.polling import wait_for
from transport.mqtt import LinkConfig

from .conftest import IngestRunner
from .nats import NatsCluster, nats_server
from .sim_agent import SimAgent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgresql,
    pytest.mark.skipif(nats_server() is None, reason="nats-server is not installed (Debian: nats-server)"),
]


class Mqtt311Ingest(IngestRunner):
    """The central ingest on MQTT 3.1.1 (MQTT_PROTOCOL = 4: NATS does not speak MQTT 5)."""

    def start(self, **kwargs):
        from central.sync.ingest import Ingest

        config = LinkConfig(url=self.url, client_id="central-ingest", backoff_max=1.0, protocol=4)
        kwargs.setdefault("gap_wait", 0.5)
        kwargs.setdefault("publish_interval", 0.2)
        self.ingest = Ingest(self.db_path, config, **kwargs).start()
        assert self.ingest.link is not None and self.ingest.link.wait_connected(20)
        return self.ingest


def test_a_nats_cluster_carries_the_sync_through_the_loss_of_a_node(tmp_path, db_path):
    cluster = NatsCluster(tmp_path / "nats").start()
    time.sleep(2)  # the JetStream meta group elects its leader
    central = Mqtt311Ingest(db_path, cluster.url("n3"))
    agents: list[SimAgent] = []
    try:
        central.start()
        db = Store(db_path)
        agents = [
            SimAgent(cluster.url("n1"), "S1", "a1", protocol=4, ack_timeout=2.0).start(),
            SimAgent(cluster.url("n1"), "S2", "a1", protocol=4, ack_timeout=2.0).start(),
        ]
        for agent in agents:
            agent.write_all([agent.registration(f"{agent.store}-c")])
        assert all(a.wait_drained(60) for a in agents), [len(a.outbox) for a in agents]
        for round_ in range(10):
            for agent in agents:
                agent.write_all([agent.purchase(f"{agent.store}-c", accrued=10) for _ in range(50)])
            if round_ == 4:
                cluster.kill("n2")  # a node holding replicas dies mid-stream
        assert all(a.wait_drained(120) for a in agents), [len(a.outbox) for a in agents]
        assert db.count("applied_events") == 2 * 501
        assert db.count("dead_letters") == 0
        for agent in agents:
            assert db.customer(f"{agent.store}-c")["balance"] == 5000 == db.ledger_sum(f"{agent.store}-c")
            assert db.applied_seq(agent.store, "a1") == 501
        # the down-sync reached the agents through the cluster too (customers published by the central server)
        assert wait_for(lambda: all(f"{a.store}-c" in a.customers for a in agents), 30)
        db.close()
    finally:
        for agent in agents:
            agent.stop()
        central.stop()
        cluster.stop()
