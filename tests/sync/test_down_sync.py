"""Down-sync: retained rule sets and messages, customer deltas, snapshots in pages, presence."""

from __future__ import annotations

import json

import pytest

from central.storage.store import Store
from shared import wire
from tests.polling import wait_for

from .conftest import ROOT_EXAMPLES
from .sim_agent import SimAgent

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def test_rules_are_retained_and_versioned(mosquitto, central, db_path):
    db = Store(db_path)
    doc = json.loads((ROOT_EXAMPLES / "rules.json").read_text())
    assert db.add_rules("S1", doc) == max(1, doc["version"])
    second = db.add_rules("S1", doc)
    assert second == max(1, doc["version"]) + 1
    # an agent that connects later gets the latest version at once (retained)
    assert wait_for(lambda: db.published("S1")["rules"] == second, 10)
    agent = SimAgent(mosquitto.url, "S1", "a1").start()
    try:
        assert wait_for(lambda: agent.rules is not None, 10)
        assert agent.rules["version"] == second and agent.rules["rules"]["store"] == "S1"
        assert agent.rules["rules"]["base_percent"] == doc["base_percent"]
    finally:
        agent.stop()
    db.add_store_message("S1", "Double points on sushi today")
    late = SimAgent(mosquitto.url, "S1", "a2").start()
    try:
        assert wait_for(lambda: late.messages is not None and late.rules is not None, 10)
        assert [m["text"] for m in late.messages["messages"]] == ["Double points on sushi today"]
    finally:
        late.stop()


def test_customer_deltas_reach_every_store_with_their_versions(mosquitto, central, db_path):
    s1 = SimAgent(mosquitto.url, "S1", "a1").start()
    s2 = SimAgent(mosquitto.url, "S2", "a1").start()
    try:
        s1.write_all([s1.registration("c1", phone="+79120000001", card="2000001"), s1.purchase("c1", accrued=700)])
        assert s1.wait_drained(10)
        db = Store(db_path)
        version = db.customer("c1")["version"]
        for agent in (s1, s2):
            assert wait_for(lambda a=agent: a.customers.get("c1", {}).get("version") == version, 10)
        delta = s2.customers["c1"]
        wire.check_delta(delta)
        assert delta["phone"] == "+79120000001" and delta["cards"] == [{"number": "2000001", "status": "active"}]
        assert delta["lots"] == [{"id": "c1:permanent", "points": 700, "expires_at": None}]
        assert s1.customers["c1"]["applied"] == {"a1": 2}  # S1's agent: its seqs 1..2 are in the lots
        assert s2.cursor >= version and s2.gaps_seen == 0
    finally:
        s1.stop()
        s2.stop()


def test_new_agent_gets_a_snapshot_in_pages_while_events_flow(mosquitto, central, db_path, monkeypatch):
    seeder = SimAgent(mosquitto.url, "S1", "a1").start()
    try:
        seeder.write_all([seeder.registration(f"c{i}") for i in range(1200)])
        assert seeder.wait_drained(20)
        db = Store(db_path)
        # both stores' live pages are out before the newcomer subscribes (else it rightly takes some
        # of the base from live pages and needs fewer snapshot pages than this test counts)
        assert wait_for(lambda: min(db.published(s)["customers"] for s in ("S1", "S2")) >= 1200, 10)
        # a new agent of another store: its cursor is 0, so it pulls the whole customer base
        # page by page (500 a page) while the first agent keeps selling
        newcomer = SimAgent(mosquitto.url, "S2", "a1").start()
        seeder.write_all([seeder.purchase(f"c{i}", accrued=5) for i in range(0, 1200, 7)])
        assert wait_for(lambda: len(newcomer.customers) == 1200 and not newcomer.pulling, 20)
        pages = [m for m in newcomer.received if m.kind == "snapshot"]
        assert len(pages) >= 3 and pages[0]["more"] and not pages[-1]["more"]
        assert all(len(p["deltas"]) <= 500 for p in pages)
        assert seeder.wait_drained(10)
        final = db.customer("c0")["version"]
        assert wait_for(lambda: newcomer.customers["c0"]["version"] == final, 10)
        newcomer.stop()
    finally:
        seeder.stop()


def test_presence_status_and_last_will(mosquitto, central, db_path):
    agent = SimAgent(mosquitto.url, "S1", "a1").start()
    db = Store(db_path)
    assert wait_for(lambda: db.get_agent("S1", "a1")["state"] == "online" if db.agents("S1") else False, 10)
    row = db.get_agent("S1", "a1")
    assert row["outbox_depth"] == 0 and row["customers_version"] == 0
    agent.crash()  # no clean disconnect: the broker publishes the will (retained "offline")
    assert wait_for(lambda: db.get_agent("S1", "a1")["state"] == "offline", 20)
