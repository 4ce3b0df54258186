"""The central server's side of promo codes (central/storage/promotions.py): each use is one conditional
update, an over-use is kept as a conflict (both receipts stand), a cancel gives the use back; concurrent
writers never over-redeem."""

from __future__ import annotations

import threading

import pytest

from central.services import promotions as service
from central.services.access import SYSTEM
from central.storage import promotions as queries
from central.storage.store import Store

pytestmark = pytest.mark.postgresql


def purchase(receipt_id: str, code: str, store: str = "S1") -> dict:
    return {
        "id": f"e-{receipt_id}",
        "kind": "purchase",
        "store": store,
        "agent": "a1",
        "body": {
            "receipt_id": receipt_id,
            "customer_id": "c1",
            "at": "2026-11-24T12:00:00+03:00",
            "total": 10000,
            "promotions": [{"id": "p", "name": "P", "points": 100, "discount": 0, "promo_code": code}],
        },
    }


def test_conflict_then_cancel(db):
    service.create_code_list(db, SYSTEM, "L", count=2, length=6)
    code = db.list_codes("L")[0][0]
    with db.transaction() as conn:
        queries.apply_purchases(conn, [purchase("R1", code), purchase("R2", code, "S2")], "now")
    page = service.code_list_page(db, "L")
    assert (page["list"]["used"], page["list"]["conflicts"]) == (1, 1)
    assert [(c["receipt_id"], c["accepted"]) for c in page["conflicts"]] == [("R1", 1), ("R2", 0)]
    with db.transaction() as conn:
        cancel = {"id": "c", "kind": "cancel", "store": "S1", "agent": "a1", "body": {"receipt_id": "R1"}}
        queries.apply_purchases(conn, [cancel], "now")
    assert db.list_codes("L")[0][1] == 0  # the use is given back
    assert [r["promotion_id"] for r in db.rows("SELECT promotion_id FROM promotion_results")] == ["p"]  # R2's


def test_concurrent_uses_of_one_single_use_code_never_over_redeem(db_file, db):
    service.create_code_list(db, SYSTEM, "L", count=1, length=6)
    code = db.list_codes("L")[0][0]
    db.close()

    def use(n: int) -> None:
        store = Store(db_file)
        try:
            with store.transaction() as conn:
                queries.apply_purchases(conn, [purchase(f"R{n}", code, f"S{n}")], "now")
        finally:
            store.close()

    threads = [threading.Thread(target=use, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check = Store(db_file)
    try:
        assert check.list_codes("L")[0][1] == 1  # exactly one use counted, never more
        uses = check.rows("SELECT accepted FROM promo_code_uses")
        assert len(uses) == 8 and sum(u["accepted"] for u in uses) == 1  # every receipt recorded
    finally:
        check.close()


def test_deltas_carry_the_customers_promotion_uses(db):
    from central.storage.store import IngestUnit
    from central.sync.deltas import customer_page
    from tests.sync.fakes import FakeAgent

    db.add_store("S1", timezone="Europe/Moscow")
    db.stream_state("S1", "a1")
    agent = FakeAgent("S1", "a1")
    event = agent.purchase("c1", total=10000, accrued=100)
    event["body"]["promotions"] = [{"id": "weekly", "name": "W", "points": 100, "discount": 0}]
    reg = agent.registration("c1")
    db.commit_ingest(IngestUnit(events=[reg, event], pointers={("S1", "a1"): (event["seq"], event["id"])}))
    [found] = [d for d in customer_page(db, "S1", 0)[0] if d["customer_id"] == "c1"]
    assert found["promotion_uses"] == [
        {"promotion": "weekly", "day": event["body"]["at"][:10], "receipt_id": event["body"]["receipt_id"]}
    ]


def test_temporary_points_of_a_promotion_are_their_own_lot(db):
    from central.storage.store import IngestUnit
    from tests.sync.fakes import FakeAgent

    db.add_store("S1", timezone="Europe/Moscow")
    db.stream_state("S1", "a1")
    agent = FakeAgent("S1", "a1")
    reg = agent.registration("c1")
    event = agent.purchase("c1", total=10000, accrued=1500)
    event["body"]["promotions"] = [{"id": "t", "name": "T", "points": 1000, "discount": 0, "expires_days": 30}]
    db.commit_ingest(IngestUnit(events=[reg, event], pointers={("S1", "a1"): (event["seq"], event["id"])}))
    lots = {r["id"]: r for r in db.rows("SELECT id, points, expires_at FROM lots WHERE customer_id = 'c1'")}
    temporary = lots[f"{event['id']}:promo:t"]
    assert temporary["points"] == 1000 and temporary["expires_at"] > event["body"]["at"][:10]
    assert sum(r["points"] for r in lots.values()) == 1500 == db.customer("c1")["balance"]
