"""All transactions with filters and totals for the filtered set."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from central.services import accounts, transactions
from central.services.access import FormError
from central.services.transactions import TxQuery

from .conftest import apply_events, login, sale

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

ZONE = "Europe/Moscow"


@pytest.fixture
def history(db, people, agents):
    a1, a2 = agents["S1"], agents["S2"]
    monday_evening = "2026-11-16T19:30:00+03:00"
    apply_events(
        db,
        a1.registration("c1", card="2000001"),
        sale(a1, "c1", [("SKU-1", "SUSHI", 10_000), ("SKU-2", "DRINKS", 2_000)], accrued=600, card="2000001"),
        sale(a1, "c1", [("SKU-2", "DRINKS", 3_000)], accrued=150, redeemed=500, at=monday_evening),
        sale(a1, None, [("SKU-3", "ROLLS", 4_000)], channel="delivery"),
    )
    apply_events(
        db, a2.registration("c2"), sale(a2, "c2", [("SKU-1", "SUSHI", 20_000)], accrued=1_000, channel="online")
    )
    apply_events(db, a1.refund("c1", "S1-a1-1", amount=2_000, accrued=100, redeemed=0))
    accounts.adjust_points(db, people["admin"], "c1", {"points": "10", "reason": "x"})


def _page(db, actor, **args):
    md = MultiDict()
    for key, value in args.items():
        for item in value if isinstance(value, list) else [value]:
            md.add(key, item)
    return transactions.list_transactions(db, actor, TxQuery.from_args(md), ZONE)


def test_totals_for_the_filtered_set(db, people, history):
    admin = people["admin"]
    everything = _page(db, admin)
    assert everything.totals == {
        "count": 6,
        "sales": 10_000 + 2_000 + 3_000 + 4_000 + 20_000 - 2_000,
        "accrued": 600 + 150 + 1_000 - 100 + 1_000,
        "redeemed": 500,
        "purchases": 4,
        "average_check": (12_000 + 3_000 + 4_000 + 20_000) // 4,
    }
    assert [r["kind"] for r in everything.rows][0] == "admin"  # newest first
    assert _page(db, admin, type="till").totals["count"] == 2
    assert _page(db, admin, type=["delivery", "online"]).totals["sales"] == 24_000
    assert _page(db, admin, type="refund").totals["sales"] == -2_000
    assert _page(db, admin, type="admin").totals["accrued"] == 1_000
    assert _page(db, admin, direction="redemption").totals["count"] == 1
    assert _page(db, admin, card="2000001").totals["count"] == 1
    assert _page(db, admin, category="SUSHI").totals["sales"] == 32_000
    assert _page(db, admin, product="SKU-2").totals["count"] == 2
    # the packed lines are checked at their field: SKU-1's index is 0, whose four zero bytes are in every BLOB
    assert [r["customer_id"] for r in _page(db, admin, product="SKU-1").rows] == ["c2", "c1"]
    assert _page(db, admin, product="SKU-2", category="SUSHI").totals["count"] == 1  # a line of each, not one line
    assert _page(db, admin, product="SKU-3", category="SUSHI").totals["count"] == 0
    assert _page(db, admin, product="SKU-3", type="till").rows == []
    assert _page(db, admin, weekday="1", hour_from="19", hour_to="20").totals["sales"] == 3_000
    assert _page(db, admin, store="S2").totals["count"] == 1
    assert _page(db, admin, period_from="2026-11-16", period_to="2026-11-16").totals["count"] == 1


def test_bad_filters_are_named(db, people, history):
    with pytest.raises(FormError) as caught:
        _page(db, people["admin"], period_from="yesterday", hour_to="25", category="NOPE")
    assert set(caught.value.errors) == {"period_from", "hour_to", "category"}


def test_a_manager_sees_their_stores_transactions(db, people, history):
    page = _page(db, people["manager"])
    assert {r["store"] for r in page.rows} == {"S1", None} and page.totals["count"] == 5


def test_page_and_export(client, history):
    login(client, "viewer")
    html = client.get("/transactions/?type=till").get_data(as_text=True)
    assert "S1-a1-1" in html and 'id="totals"' in html
    text = client.get("/transactions/export.csv").get_data(as_text=True)
    assert text.count("\n") == 7 and "S1-a1-1" in text
