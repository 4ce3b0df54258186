"""The central ledger: spending order of lots, debts, refunds, registrations, idempotency register."""

from __future__ import annotations

import sqlite3

import pytest

from central.storage import line_pack
from central.storage.store import IngestUnit, Store
from central.sync.deltas import customer_page
from tests.sync.fakes import FakeAgent

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def _apply(db: Store, *events) -> set[str]:
    last = events[-1]
    return db.commit_ingest(
        IngestUnit(events=list(events), pointers={(last["store"], last["agent"]): (last["seq"], last["id"])})
    )


@pytest.fixture
def store(db) -> Store:
    db.add_store("S1")
    db.add_store("S2")
    db.stream_state("S1", "a1")
    db.stream_state("S2", "a1")
    return db


def _lots(db: Store, cid: str) -> dict[str, int]:
    return dict(db.conn.execute("SELECT id, points FROM lots WHERE customer_id = ? ORDER BY id", (cid,)).fetchall())


def test_spending_takes_temporary_lots_first_earliest_expiry_first(store):
    agent = FakeAgent("S1", "a1")
    _apply(store, agent.registration("c1"), agent.purchase("c1", accrued=1000))
    # head office gave two temporary lots (campaigns); one not yet started, one expired
    rows = [
        ("t-late", 300, None, "2027-03-01T00:00:00+00:00"),
        ("t-soon", 200, None, "2026-12-01T00:00:00+00:00"),
        ("t-expired", 500, None, "2026-11-01T00:00:00+00:00"),
        ("t-future", 400, "2027-01-01T00:00:00+00:00", None),
    ]
    store.conn.executemany(
        "INSERT INTO lots (id, customer_id, points, initial, starts_at, expires_at, created_at) VALUES (?, 'c1', ?,"
        " ?, ?, ?, 'x')",
        [(i, p, p, s, e) for i, p, s, e in rows],
    )
    store.conn.execute("UPDATE customers SET balance = balance + 1400 WHERE id = 'c1'")
    _apply(store, agent.purchase("c1", accrued=0, redeemed=600))
    lots = _lots(store, "c1")
    # 200 from the soonest-expiring, 300 from the next, 100 from permanent; expired and
    # not-yet-started lots are not touched
    assert lots == {"c1:permanent": 900, "t-expired": 500, "t-future": 400, "t-late": 0, "t-soon": 0}
    assert store.debts() == []


def test_redemption_beyond_the_balance_is_applied_and_flagged(store):
    a1, a2 = FakeAgent("S1", "a1"), FakeAgent("S2", "a1")
    _apply(store, a1.registration("c1"), a1.purchase("c1", accrued=500))
    _apply(store, a2.purchase("c1", accrued=0, redeemed=800, offline=True))
    assert store.customer("c1")["balance"] == -300 == store.ledger_sum("c1")
    (debt,) = store.debts()
    assert debt["shortfall"] == 300 and debt["store"] == "S2" and debt["customer_id"] == "c1"


def test_refund_taking_back_points_may_go_negative_without_a_debt(store):
    agent = FakeAgent("S1", "a1")
    _apply(
        store,
        agent.registration("c1"),
        agent.purchase("c1", total=10_000, accrued=500, redeemed=0),
        agent.manual("c1", -400),
        agent.refund("c1", "S1-a1-1", amount=10_000, accrued=500, redeemed=0),
    )
    customer = store.customer("c1")
    assert customer["balance"] == -400 == store.ledger_sum("c1")
    assert customer["spend"] == 0
    assert store.debts() == []
    kinds = [r[0] for r in store.conn.execute("SELECT kind FROM ledger ORDER BY id")]
    assert kinds == ["accrue", "manual", "refund_accrued"]


def test_registration_keeps_the_agent_id_and_flags_conflicts(store):
    a1, a2 = FakeAgent("S1", "a1"), FakeAgent("S2", "a1")
    _apply(store, a1.registration("c1", phone="+79120000001", card="2000001"))
    _apply(store, a2.registration("c2", phone="+79120000001", card="2000001"))
    assert store.customer("c2")["home_store"] == "S2"
    assert {f["kind"] for f in store.flags()} == {"phone_conflict", "card_conflict"}
    assert store.conn.execute("SELECT customer_id FROM cards WHERE number = '2000001'").fetchone()[0] == "c1"


def test_a_registration_gives_the_language_of_messages_when_the_till_asked(store):
    a1 = FakeAgent("S1", "a1")
    asked = a1.registration("c1", phone="+79120000001")
    asked["body"]["language"] = "en"
    _apply(store, asked, a1.registration("c2", phone="+79120000002"))
    language = dict(store.conn.execute("SELECT id, language FROM customers WHERE id IN ('c1', 'c2')").fetchall())
    assert language == {"c1": "en", "c2": None}  # not asked: Russian, as before
    # the customer existed (points came first, a stub): the registration sets it too
    _apply(store, a1.purchase("c3"))
    late = a1.registration("c3", phone="+79120000003")
    late["body"]["language"] = "ru"
    _apply(store, late)
    assert store.conn.execute("SELECT language FROM customers WHERE id = 'c3'").fetchone()[0] == "ru"


def test_points_for_an_unknown_customer_are_kept_on_a_stub(store):
    agent = FakeAgent("S1", "a1")
    _apply(store, agent.purchase("ghost", accrued=70))
    assert store.customer("ghost")["stub"] == 1 and store.customer("ghost")["balance"] == 70
    assert store.flags("unknown_customer")


def test_the_register_makes_a_second_apply_impossible(store):
    agent = FakeAgent("S1", "a1")
    env = agent.purchase(None)
    _apply(store, env)
    with pytest.raises(sqlite3.IntegrityError):
        _apply(store, env)
    assert store.count("applied_events") == 1


def test_versions_grow_with_every_change(store):
    agent = FakeAgent("S1", "a1")
    _apply(store, agent.registration("c1"))
    first = store.customer("c1")["version"]
    _apply(store, agent.purchase("c1"))
    assert store.customer("c1")["version"] > first
    deltas, upto, more = customer_page(store, "S1", first)
    assert [d["customer_id"] for d in deltas] == ["c1"] and upto == store.customer("c1")["version"] and not more


def test_a_line_of_quantity_zero_is_kept_and_earns_on_its_amount(store):
    agent = FakeAgent("S1", "a1")
    purchase = agent.purchase("c1", total=30000, accrued=900)
    purchase["body"]["lines"][0].update(quantity="0", price=99900)  # a weighed item sent without a quantity
    refund = agent.refund("c1", purchase["body"]["receipt_id"], 30000, 900, 0)  # the agent returns it as one unit
    _apply(store, agent.registration("c1"), purchase)
    assert store.customer("c1")["balance"] == 900 == store.ledger_sum("c1")
    rows = [(r[5], r[8], r[9]) for r in line_pack.lines_between(store.conn, 0, 2**62)]
    assert rows == [("0", 30000, 900)]
    _apply(store, refund)
    assert store.customer("c1")["balance"] == 0 == store.ledger_sum("c1") and store.customer("c1")["spend"] == 0


# -- cards anywhere: a card holder (a card of the ranges a store did not know) joins the registered customer

CARD = "7700000000000024"


def _holder_purchase(agent: FakeAgent, accrued: int, total: int = 10_000, card: str = CARD) -> dict:
    from shared.identifiers import card_holder_id

    env = agent.purchase(card_holder_id(card), total=total, accrued=accrued)
    env["body"]["card"] = card
    return env


def _holder():
    from shared.identifiers import card_holder_id

    return card_holder_id(CARD)


def test_a_card_used_before_its_registration_arrives_joins_the_customer_once(store):
    a1, a2 = FakeAgent("S1", "a1"), FakeAgent("S2", "a1")
    _apply(store, _holder_purchase(a2, 300), _holder_purchase(a2, 200))
    holder = store.customer(_holder())
    assert holder["balance"] == 500 and holder["phone"] is None and not holder["merged_into"]
    assert store.conn.execute("SELECT customer_id FROM cards WHERE number = ?", (CARD,)).fetchone()[0] == _holder()
    assert not store.flags("unknown_customer")  # a card holder is expected, not an anomaly
    _apply(store, a1.registration("x1", card=CARD), a1.purchase("x1", accrued=50))
    x1 = store.customer("x1")
    assert x1["balance"] == 550 == store.ledger_sum("x1") and x1["spend"] == 30_000 and x1["visits"] == 3
    assert store.customer(_holder())["merged_into"] == "x1" and store.ledger_sum(_holder()) == 0
    assert store.conn.execute("SELECT customer_id FROM cards WHERE number = ?", (CARD,)).fetchone()[0] == "x1"
    owners = store.conn.execute("SELECT customer_id FROM transactions WHERE customer_id IS NOT NULL")
    assert {r[0] for r in owners} == {"x1"}
    assert not store.flags("card_conflict")
    # S2 did not hear yet: its next sale on the card holder lands on x1 too, once
    _apply(store, _holder_purchase(a2, 70))
    assert store.customer("x1")["balance"] == 620 == store.ledger_sum("x1")
    deltas, _, _ = customer_page(store, "S2", 0, 1000)
    [mine] = [d for d in deltas if d["customer_id"] == "x1"]
    assert mine["cards"] == [{"number": CARD, "status": "active"}] and sum(lot["points"] for lot in mine["lots"]) == 620
    assert _holder() not in {d["customer_id"] for d in deltas if d["cards"]}


def test_a_card_registered_first_sends_the_holders_points_to_the_customer(store):
    a1, a2 = FakeAgent("S1", "a1"), FakeAgent("S2", "a1")
    _apply(store, a1.registration("x1", card=CARD))
    first = _holder_purchase(a2, 300)
    _apply(store, first)
    refund = a2.refund(_holder(), first["body"]["receipt_id"], 10_000, 300, 0)
    _apply(store, _holder_purchase(a2, 200), refund)
    assert store.customer("x1")["balance"] == 200 == store.ledger_sum("x1")
    assert store.customer(_holder())["merged_into"] == "x1" and store.customer(_holder())["version"] == 0


def test_holder_and_registration_in_one_round_either_way(store):
    for order in ("holder first", "registration first"):
        a1 = FakeAgent("S1", "a1", start_seq=store.applied_seq("S1", "a1"))
        a2 = FakeAgent("S2", "a1", start_seq=store.applied_seq("S2", "a1"))
        cid = "x-" + order.split()[0]
        card = "77000000000000" + ("32" if order == "holder first" else "40")
        reg, buy = a1.registration(cid, card=card), _holder_purchase(a2, 400, card=card)
        events = [buy, reg] if order == "holder first" else [reg, buy]
        store.commit_ingest(
            IngestUnit(
                events=events, pointers={("S1", "a1"): (reg["seq"], reg["id"]), ("S2", "a1"): (buy["seq"], buy["id"])}
            )
        )
        assert store.customer(cid)["balance"] == 400 == store.ledger_sum(cid), order
        assert store.conn.execute("SELECT customer_id FROM cards WHERE number = ?", (card,)).fetchone()[0] == cid


def _card(db: Store, number: str) -> tuple:
    row = db.conn.execute("SELECT customer_id, status, main, reason FROM cards WHERE number = ?", (number,)).fetchone()
    return tuple(row) if row else None


def test_a_card_replaced_at_a_till_keeps_the_balance_once(store):
    a1 = FakeAgent("S1", "a1")
    _apply(store, a1.registration("c1", card="2000001"), a1.purchase("c1", accrued=500))
    version = store.customer("c1")["version"]
    event = a1.card_replacement("c1", "2000001", "2000002")
    touched = _apply(store, event)
    assert "c1" in touched and store.customer("c1")["version"] > version
    assert _card(store, "2000001") == ("c1", "replaced", 0, "replaced by 2000002")
    assert _card(store, "2000002") == ("c1", "active", 1, None)
    assert store.customer("c1")["balance"] == 500 == store.ledger_sum("c1")
    (audit,) = store.conn.execute("SELECT username, action, entity_id FROM audit_log WHERE action = 'card.replace'")
    assert tuple(audit) == ("till S1/P01", "card.replace", "2000001")
    # the same replacement again under a new id (a restored agent's till retried it): nothing more happens
    again = a1.envelope("card_replacement", event["body"])
    _apply(store, again)
    assert store.conn.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'card.replace'").fetchone()[0] == 1
    # the delta carries both cards: the replaced one as reassigned, so every till says "ask for the new card"
    deltas, _, _ = customer_page(store, "S1", 0)
    [delta] = [d for d in deltas if d["customer_id"] == "c1"]
    assert {c["number"]: c["status"] for c in delta["cards"]} == {"2000001": "reassigned", "2000002": "active"}


def test_a_lost_card_replaced_at_a_till(store):
    a1 = FakeAgent("S1", "a1")
    _apply(store, a1.registration("c1", card="2000001"), a1.card_replacement("c1", "2000001", "2000002", "lost"))
    assert _card(store, "2000001")[1:] == ("lost", 0, "lost, replaced by 2000002")


def test_a_new_card_taken_meanwhile_is_a_conflict_and_changes_nothing(store):
    a1, a2 = FakeAgent("S1", "a1"), FakeAgent("S2", "a1")
    _apply(store, a1.registration("c1", card="2000001"))
    _apply(store, a2.registration("c2", card="2000002"))  # the other store gave the number first
    _apply(store, a1.card_replacement("c1", "2000001", "2000002"))
    assert _card(store, "2000001") == ("c1", "active", 0, None)
    assert _card(store, "2000002")[0] == "c2"
    (flag,) = store.flags("card_conflict")
    assert flag["customer_id"] == "c1" and "2000002 belongs to customer c2" in flag["detail"]
    # the event is consumed (the pointer moved), not lost: it is in the register
    assert store.conn.execute("SELECT COUNT(*) FROM applied_events").fetchone()[0] >= 1


def test_an_old_card_not_the_customers_is_a_conflict(store):
    a1 = FakeAgent("S1", "a1")
    _apply(store, a1.registration("c1", card="2000001"), a1.registration("c2", card="2000003"))
    _apply(store, a1.card_replacement("c1", "2000003", "2000004"))
    assert _card(store, "2000004") is None and _card(store, "2000003")[1] == "active"
    assert "2000003 is customer c2's" in store.flags("card_conflict")[0]["detail"]


def test_a_new_card_used_before_it_was_given_brings_its_points(store):
    a1, a2 = FakeAgent("S1", "a1"), FakeAgent("S2", "a1")
    _apply(store, a1.registration("c1", card="2000001"), a1.purchase("c1", accrued=500))
    _apply(store, _holder_purchase(a2, 200, card="2000009"))  # the new card was used at S2 first
    _apply(store, a1.card_replacement("c1", "2000001", "2000009"))
    assert _card(store, "2000009") == ("c1", "active", 1, None)
    assert _card(store, "2000001")[1:3] == ("replaced", 0)
    assert store.customer("c1")["balance"] == 700 == store.ledger_sum("c1")
    assert not store.flags("card_conflict")


def test_a_card_head_office_replaced_meanwhile_is_a_conflict_not_a_second_new_card(store):
    """Head office replaced the old card (2000001 -> 2000005) while a till's replacement (-> 2000002) was on its
    way: applying the till's would give the customer two new cards; it is a card_conflict, nothing changed."""
    from central.services import customer_admin
    from central.services.access import SYSTEM

    a1 = FakeAgent("S1", "a1")
    _apply(store, a1.registration("c1", card="2000001"), a1.purchase("c1", accrued=500))
    assert customer_admin.replace_card(store, SYSTEM, "2000001", {"number": "2000005"}) == "2000005"
    version = store.customer("c1")["version"]
    touched = _apply(store, a1.card_replacement("c1", "2000001", "2000002"))
    assert _card(store, "2000002") is None  # not given to the customer
    assert _card(store, "2000001") == ("c1", "replaced", 0, "replaced by 2000005")
    assert _card(store, "2000005") == ("c1", "active", 1, None)
    (flag,) = store.flags("card_conflict")
    assert flag["customer_id"] == "c1"
    assert "2000002" in flag["detail"] and "replaced by 2000005 already" in flag["detail"]
    assert "c1" in touched and store.customer("c1")["version"] > version  # the till hears the central truth
    assert store.customer("c1")["balance"] == 500 == store.ledger_sum("c1")
    assert store.conn.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'card.replace'").fetchone()[0] == 1


def test_a_card_head_office_blocked_meanwhile_is_a_conflict(store):
    from central.services import customer_admin
    from central.services.access import SYSTEM

    a1 = FakeAgent("S1", "a1")
    _apply(store, a1.registration("c1", card="2000001"))
    customer_admin.set_card_status(store, SYSTEM, "2000001", "blocked", "fraud check")
    _apply(store, a1.card_replacement("c1", "2000001", "2000002"))
    assert _card(store, "2000002") is None and _card(store, "2000001")[1] == "blocked"
    (flag,) = store.flags("card_conflict")
    assert "head office blocked card 2000001 (fraud check)" in flag["detail"]


def test_two_tills_replacing_one_card_in_one_round_give_one_new_card(store):
    a1, a2 = FakeAgent("S1", "a1"), FakeAgent("S2", "a1")
    _apply(store, a1.registration("c1", card="2000001"))
    store.commit_ingest(
        IngestUnit(
            events=[
                first := a1.card_replacement("c1", "2000001", "2000002"),
                a2.card_replacement("c1", "2000001", "2000003"),
            ],
            pointers={("S1", "a1"): (first["seq"], first["id"])},
        )
    )
    assert _card(store, "2000002") == ("c1", "active", 1, None) and _card(store, "2000003") is None
    assert "replaced by 2000002 already" in store.flags("card_conflict")[0]["detail"]


def test_head_office_marked_lost_without_a_new_card_then_a_till_replaces_it(store):
    from central.services import customer_admin
    from central.services.access import SYSTEM

    a1 = FakeAgent("S1", "a1")
    _apply(store, a1.registration("c1", card="2000001"))
    customer_admin.set_card_status(store, SYSTEM, "2000001", "lost", "the customer phoned")
    _apply(store, a1.card_replacement("c1", "2000001", "2000002", "lost"))  # one new card: no conflict
    assert _card(store, "2000002") == ("c1", "active", 1, None)
    assert not store.flags("card_conflict")


def test_a_new_customers_first_receipts_are_recorded_at_the_level_a_spend_of_0_earns(store):
    """accrual.md, "Levels": the level is chosen by spend, so a customer registered with a purchase in the same
    unit of work bought at the program's first level (the reports' level of the receipt), and their row has it."""
    from central.points import levels

    with store.transaction() as conn:
        levels.adopt(conn, [("Base", 0, "3"), ("Gold", 50_000, "5")])
    agent = FakeAgent("S1", "a1")
    _apply(
        store,
        agent.registration("c1"),
        agent.purchase("c1", total=60_000, accrued=100),
        agent.purchase("c1", total=1_000, accrued=10),
    )
    recorded = [r[0] for r in store.conn.execute("SELECT level FROM transactions ORDER BY id")]
    # (the second receipt: the level as the unit of work started; promotion follows at its end)
    assert recorded == ["Base", "Base"] and store.customer("c1")["level"] == "Gold"
    _apply(store, agent.registration("c2"), agent.purchase("c2", total=1_000, accrued=10))
    assert store.customer("c2")["level"] == "Base"
    assert store.conn.execute("SELECT level FROM transactions WHERE customer_id = 'c2'").fetchone() == ("Base",)


def test_without_automatic_promotion_a_new_customer_has_no_level(store):
    from central.points import levels

    with store.transaction() as conn:
        levels.adopt(conn, [("Base", 0, "3")])
        store.replace_levels([("Base", 0, "3")], "0", False, False)
    agent = FakeAgent("S1", "a1")
    _apply(store, agent.registration("c1"), agent.purchase("c1", total=1_000, accrued=10))
    assert store.customer("c1")["level"] is None
    assert store.conn.execute("SELECT level FROM transactions").fetchone() == (None,)


@pytest.mark.parametrize("demotion", [False, True])
def test_a_level_reached_is_kept_when_a_refund_in_the_same_unit_lowers_the_spend(store, demotion):
    """accrual.md, "Levels": a customer moves up when the spend reaches the next from_spend; demotion happens only
    if the program says so. A unit of work (an import's batch of thousands of receipts) holding the purchase and
    then its refund gives the level the purchase reached, as units of one event each would."""
    from central.points import levels

    with store.transaction() as conn:
        levels.adopt(conn, [("Base", 0, "3"), ("Gold", 50_000, "5")])
        store.replace_levels([("Base", 0, "3"), ("Gold", 50_000, "5")], "0", True, demotion)
    agent = FakeAgent("S1", "a1")
    _apply(
        store,
        agent.registration("c1"),
        agent.purchase("c1", total=60_000, accrued=100),
        agent.refund("c1", "S1-a1-1", amount=60_000, accrued=100, redeemed=0),
    )
    customer = store.customer("c1")
    assert customer["spend"] == 0
    assert customer["level"] == ("Base" if demotion else "Gold")
