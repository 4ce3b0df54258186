"""Cards anywhere, with real agents: a card registered at one store is used at once at another store
that is offline; a card never registered keeps its points until it is (docs/sync.md, "Cards anywhere")."""

from __future__ import annotations

from agent.testing import card_number, free_port
from central.storage.store import Store as CentralStore
from shared.identifiers import card_holder_id
from tests.polling import wait_for as wait_until

from .conftest import RealAgent


def _relink(agent: RealAgent, broker_url: str) -> None:
    """Restart the agent's process with another broker address (a dead one: the store's internet is down)."""
    agent.kill()
    text = agent.prepared.config.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith("broker_url"))
    agent.prepared.config.write_text(text.replace(old, f'broker_url = "{broker_url}"'), encoding="utf-8")
    agent.start()


def test_a_card_registered_at_one_store_is_used_at_once_at_an_offline_one(broker, central, db_path, spawn):
    s1, s2 = spawn("S1"), spawn("S2")
    assert s1.wait_online(30) and s2.wait_online(30)
    _relink(s2, f"mqtt://127.0.0.1:{free_port()}")  # S2 is offline from now on
    assert wait_until(lambda: s2.health()["link"] == "offline", 10)

    cid = s1.register(5)  # registered at S1, which is online
    status, bought = s1.commit("S1-R1", 5, 20_000)
    assert status == 201 and bought["accrued"] > 0
    assert s1.wait_drained(30)

    # at S2, offline, the card is unknown: it is accepted at once as its holder's
    holder = card_holder_id(card_number(5))
    status, view = s2.identify(5)
    assert status == 200 and (view["customer_id"], view["registered"], view["redeemable_now"]) == (holder, False, 0)
    status, at_s2 = s2.commit("S2-R1", 5, 30_000)
    assert status == 201 and at_s2["customer_id"] == holder and at_s2["accrued"] > 0, at_s2
    status, refused = s2.commit("S2-R2", 5, 30_000, redeem=100)
    assert (status, refused["code"], refused["max_redeemable"]) == (422, "card_not_registered", 0), refused
    # and a card never registered anywhere
    status, never = s2.commit("S2-R3", 7, 15_000)
    assert status == 201 and never["customer_id"] == card_holder_id(card_number(7))

    _relink(s2, broker.url)  # the link comes back
    assert s2.wait_drained(60), s2.outbox_depth()
    db = CentralStore(db_path)
    expected = bought["accrued"] + at_s2["accrued"]
    assert db.customer(cid)["balance"] == db.ledger_sum(cid) == expected  # exactly once
    assert db.customer(holder)["merged_into"] == cid and db.ledger_sum(holder) == 0
    assert db.count("applied_events") == s1.last_seq() + s2.last_seq()
    waiting = card_holder_id(card_number(7))
    assert db.customer(waiting)["balance"] == db.ledger_sum(waiting) == never["accrued"]

    # the registration came down to S2: its holder became the customer, the points accrued there count
    assert wait_until(lambda: s2.identify(5)[1].get("customer_id") == cid, 30)
    status, view = s2.identify(5)
    assert view["registered"] is True and view["balance"] == expected
    assert s2.query("SELECT COUNT(*) FROM customers WHERE id = ?", (holder,))[0][0] == 0
    assert wait_until(lambda: s2.health()["link"] == "online", 10)
    status, spent = s2.commit("S2-R4", 5, 30_000, redeem=100)
    assert status == 201 and spent["redeemed"] == 100, spent

    # the card never registered is registered at S1 now: the points that waited are the customer's
    status, body = s1.post(
        "/v1/customers", {"phone": "+79120000777", "card": card_number(7), "consents": {"personal_data": True}}
    )
    assert status == 201, body
    assert s1.wait_drained(30) and s2.wait_drained(30)
    late = body["customer_id"]
    assert wait_until(lambda: db.customer(late)["balance"] == never["accrued"], 10)
    assert db.ledger_sum(late) == never["accrued"] and db.customer(waiting)["merged_into"] == late
    final = bought["accrued"] + at_s2["accrued"] - 100 + spent["accrued"]
    assert db.customer(cid)["balance"] == db.ledger_sum(cid) == final
