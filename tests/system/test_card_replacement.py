"""A card replaced at an offline till, with real agents, real Mosquitto and the central ingest: the
replacement reaches the central server once, and another store identifies the customer by the new card
(same balance) while the old card is refused with a clear message (docs/sync.md, "Card replacement")."""

from __future__ import annotations

from agent.testing import card_number, free_port
from central.storage.store import Store as CentralStore
from tests.polling import wait_for as wait_until

from .conftest import RealAgent, receipt
from .test_cards_anywhere import _relink


def test_a_card_replaced_offline_reaches_central_and_the_other_store(broker, central, db_path, spawn):
    s1, s2 = spawn("S1"), spawn("S2")
    assert s1.wait_online(30) and s2.wait_online(30)
    cid = s1.register(5)
    status, bought = s1.commit("S1-R1", 5, 20_000)
    assert status == 201 and bought["accrued"] > 0
    status, at_s2 = s2.commit("S2-R1", 5, 10_000)  # the customer shops at S2 too: S2 gets their deltas
    assert status == 201
    assert s1.wait_drained(30) and s2.wait_drained(30)
    db = CentralStore(db_path)
    balance = bought["accrued"] + at_s2["accrued"]
    assert wait_until(lambda: s2.identify(5)[1].get("customer_id") == cid, 30)
    assert wait_until(lambda: s2.identify(5)[1].get("balance") == balance, 30)

    _relink(s1, f"mqtt://127.0.0.1:{free_port()}")  # S1's internet is down
    assert wait_until(lambda: s1.health()["link"] == "offline", 10)
    new = card_number(6)
    status, replaced = s1.post(f"/v1/cards/{card_number(5)}/replace", {"new_card": new, "reason": "damaged"})
    assert status == 200, replaced
    assert (replaced["customer_id"], replaced["customer"]["balance"]) == (cid, balance)
    assert s1.outbox_depth() >= 1
    status, refused = s1.commit("S1-R2", 5, 10_000)
    assert (status, refused["code"]) == (409, "card_reassigned")

    _relink(s1, broker.url)
    assert s1.wait_drained(60), s1.outbox_depth()
    cards = {
        r["number"]: r["status"] for r in db.rows("SELECT number, status FROM cards WHERE customer_id = ?", (cid,))
    }
    assert cards == {card_number(5): "replaced", new: "active"}
    assert db.customer(cid)["balance"] == db.ledger_sum(cid) == balance
    assert db.count("applied_events") == s1.last_seq() + s2.last_seq()  # exactly once
    assert not db.rows("SELECT * FROM flags WHERE kind = 'card_conflict'")

    # the other store: the new card names the customer with the balance, the old one is refused clearly
    assert wait_until(lambda: _agent_view(s2, new).get("customer_id") == cid, 30)
    assert _agent_view(s2, new)["balance"] == balance
    assert _agent_view(s2, card_number(5))["card_status"] == "reassigned"
    status, refused = s2.commit("S2-R2", 5, 10_000)
    assert (status, refused["code"]) == (409, "card_reassigned")
    assert card_number(5) in refused["detail"] and "new card" in refused["detail"]
    status, spent = s2.post("/v1/receipts", {**receipt("S2-R3", 6, 10_000, redeem=100), "customer": {"card": new}})
    assert status == 201 and spent["customer_id"] == cid and spent["redeemed"] == 100, spent


def test_a_number_taken_meanwhile_is_flagged_and_the_event_kept(broker, central, db_path, spawn):
    s1, s2 = spawn("S1"), spawn("S2")
    assert s1.wait_online(30) and s2.wait_online(30)
    cid = s1.register(5)
    assert s1.wait_drained(30)
    _relink(s1, f"mqtt://127.0.0.1:{free_port()}")
    assert wait_until(lambda: s1.health()["link"] == "offline", 10)
    status, _ = s1.post(f"/v1/cards/{card_number(5)}/replace", {"new_card": card_number(6)})
    assert status == 200
    other = s2.register(6)  # meanwhile S2 registered another customer with that card number
    assert s2.wait_drained(30)
    _relink(s1, broker.url)
    assert s1.wait_drained(60)
    db = CentralStore(db_path)
    assert db.card_owner(card_number(6)) == other
    statuses = {
        r["number"]: r["status"] for r in db.rows("SELECT number, status FROM cards WHERE customer_id = ?", (cid,))
    }
    assert statuses == {card_number(5): "active"}  # nothing changed for the customer
    [flag] = db.rows("SELECT * FROM flags WHERE kind = 'card_conflict'")
    assert flag["customer_id"] == cid and f"belongs to customer {other}" in flag["detail"]
    # S1 hears the central truth: the customer's old card is active again, the number is not theirs
    assert wait_until(lambda: _agent_view(s1, card_number(5)).get("card_status") == "active", 30)
    assert _agent_view(s1, card_number(6)).get("customer_id") != cid


def _agent_view(agent: RealAgent, card: str) -> dict:
    return agent.post("/v1/identify", {"card": card})[1]
