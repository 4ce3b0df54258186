"""Receipts kept centrally: transactions, lines, the auto-created catalog, packed columns, activity."""

from __future__ import annotations

import numpy as np
import pytest

from central.points.receipt_log import LINE_DTYPE

from .conftest import apply_events, sale

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def test_a_purchase_is_kept_with_its_lines_and_creates_the_categories(db, agents):
    a1 = agents["S1"]
    apply_events(
        db,
        a1.registration("c1"),
        sale(
            a1,
            "c1",
            [("SKU-1", "SUSHI", 30_000), (None, None, 500)],
            accrued=450,
            redeemed=100,
            card="2000001",
            channel="delivery",
        ),
    )
    (txn,) = db.rows("SELECT * FROM transactions")
    assert (txn["kind"], txn["channel"], txn["store"], txn["customer_id"], txn["card"]) == (
        "purchase",
        "delivery",
        "S1",
        "c1",
        "2000001",
    )
    assert (txn["amount"], txn["accrued"], txn["redeemed"], txn["line_count"]) == (30_500, 450, 100, 2)
    assert (txn["weekday"], txn["hour"]) == (6, 12)  # Saturday 12:00 in Moscow (FakeAgent's T0)
    assert [r[0] for r in db.conn.execute("SELECT name FROM catalog_categories")] == ["SUSHI"]
    assert db.rows("SELECT sku, name FROM catalog_products") == [{"sku": "SKU-1", "name": "Item SKU-1"}]
    lines = db.lines_of_transactions([txn["id"]])
    assert [(line["sku_id"], line["category_id"], line["amount"], line["accrued"]) for line in lines] == [
        (1, 1, 30_000, 450),
        (None, None, 500, 0),
    ]
    packed = np.frombuffer(txn["columns"], LINE_DTYPE)
    assert [r[:4] for r in packed.tolist()] == [(0, 0, 30_000, 0), (-1, -1, 500, 0)]
    customer = db.customer("c1")
    assert customer["visits"] == 1 and customer["last_purchase_at"] == customer["last_accrual_at"] is not None
    assert customer["last_redemption_at"] is not None


def test_refunds_are_negative_and_anonymous_receipts_count_for_sales(db, agents):
    a1 = agents["S1"]
    apply_events(
        db,
        a1.registration("c1"),
        sale(a1, "c1", [("SKU-1", "SUSHI", 10_000)], accrued=500),
        sale(a1, None, [("SKU-2", "SUSHI", 7_000)]),
    )
    apply_events(db, a1.refund("c1", "S1-a1-1", amount=10_000, accrued=500, redeemed=0))
    rows = db.rows("SELECT kind, customer_id, amount, accrued FROM transactions ORDER BY id")
    assert rows == [
        {"kind": "purchase", "customer_id": "c1", "amount": 10_000, "accrued": 500},
        {"kind": "purchase", "customer_id": None, "amount": 7_000, "accrued": 0},
        {"kind": "refund", "customer_id": "c1", "amount": -10_000, "accrued": -500},
    ]
    assert db.conn.execute("SELECT SUM(amount) FROM transactions").fetchone()[0] == 7_000
    assert db.count("catalog_categories") == 1
