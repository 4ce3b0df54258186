"""Down-sync to real agents: a new rule set, a customer from another store, a blocked card,
cashier messages, and a new agent's full snapshot while its till keeps selling."""

from __future__ import annotations

import threading

import pytest

from agent.testing import card_number
from central.storage.store import Store as CentralStore
from tests.polling import wait_for
from tests.sync.sim_agent import SimAgent

from .conftest import RULES, receipt, wait_caught_up

pytestmark = pytest.mark.slow


def test_rules_customers_blocks_and_messages_reach_real_agents(broker, central, db_path, spawn):
    s1, s2 = spawn("S1"), spawn("S2")
    assert s1.wait_online(30) and s2.wait_online(30)
    db = CentralStore(db_path)

    # a new rule set published centrally is what the next quote uses
    status, before = s1.post("/v1/receipts/quote", receipt("Q1", 0, 20_000) | {"customer": None})
    assert status == 200 and before["rules_version"] == 17
    version = db.add_rules("S1", {**RULES, "receipt_tiers": [{"from": 0, "k": "1"}], "base_percent": "10"})
    assert wait_for(lambda: s1.health()["rules_version"] == version, 10)
    assert s2.health()["rules_version"] == 17  # another store's rule set is its own
    cid = s1.register(1)
    status, after = s1.post("/v1/receipts/quote", receipt("Q2", 1, 5_000))
    assert (
        status == 200 and after["rules_version"] == version and after["accrued"] > 0
    )  # 50.00 accrued nothing under 17

    # registered at store S1, known at store S2 after sync: by card and by phone
    assert wait_caught_up(s2, db, [cid])
    status, seen = s2.identify(1)
    assert status == 200 and seen["customer_id"] == cid and seen["name"] == "Customer 1"
    status, seen = s2.post("/v1/identify", {"phone": "8 912 000-00-01"})
    assert status == 200 and seen["customer_id"] == cid

    # head office blocks the card: refused at the till of every store
    db.set_card_status(card_number(1), "blocked", "reported stolen")
    for agent in (s1, s2):
        assert wait_caught_up(agent, db, [cid])
        status, seen = agent.identify(1)
        assert status == 200 and seen["card_blocked"] is True
        status, refused = agent.commit(f"{agent.store}-B", 1, 20_000)
        assert (status, refused["code"]) == (409, "card_blocked"), refused

    # a cashier message for the store is shown with the next identification there, not elsewhere
    db.add_store_message("S2", "Двойные баллы на суши сегодня")
    s2.register(2)
    assert wait_for(lambda: [m["text"] for m in s2.identify(2)[1]["messages"]] == ["Двойные баллы на суши сегодня"], 10)
    s1.register(3)
    assert s1.identify(3)[1]["messages"] == []


def test_new_agent_gets_the_full_snapshot_while_its_till_keeps_selling(broker, central, db_path, spawn):
    count = 10_000
    seeder = SimAgent(broker.url, "S3", "seeder").start()  # the chain's customers, registered at S3
    try:
        seeder.write_all([seeder.registration(f"c{i:05d}", phone=f"+7913{i:07d}") for i in range(count)])
        assert seeder.wait_drained(60)
    finally:
        seeder.stop()
    db = CentralStore(db_path)
    assert db.count("customers") == count

    agent = spawn("S2", start=False)  # a new store PC: cursor 0, so it pulls every customer, page by page
    sold: list[int] = []
    during: list[int] = []
    stop = threading.Event()

    def till() -> None:
        n = 0
        while not stop.is_set():
            known = agent.query("SELECT COUNT(*) FROM customers")[0][0]
            status, body = agent.post("/v1/receipts", {**receipt(f"N{n}", 0, 20_000), "customer": None})
            if status == 503 and body["code"] == "no_rules" and not sold:
                continue  # the first seconds of a new store: the rule set has not come down yet
            sold.append(status)
            if 0 < known < count and status == 201:
                during.append(known)
            n += 1

    agent.start()
    seller = threading.Thread(target=till, daemon=True)
    seller.start()
    try:
        assert wait_for(lambda: agent.query("SELECT COUNT(*) FROM customers")[0][0] == count, 60)
    finally:
        stop.set()
        seller.join(30)
    assert sold and all(status == 201 for status in sold), sold
    assert len(during) >= 3, "the till did not sell while the snapshot was coming in"
    last = db.customer(f"c{count - 1:05d}")["version"]
    assert wait_for(lambda: int(agent.state("customers_version")) >= last, 20)  # the cursor follows the page
    status, seen = agent.post("/v1/identify", {"phone": f"+7913{count - 1:07d}"})
    assert status == 200 and seen["customer_id"] == f"c{count - 1:05d}"
    assert agent.wait_drained(20)
