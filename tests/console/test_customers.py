"""The customer list: newest first, keyset pages, quick search, AND/OR filters, a manager's scope."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from central.services import customers
from central.services.access import Forbidden, FormError
from central.services.filters import CustomerQuery

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

ZONE = "Europe/Moscow"


def _ids(db, actor, **args) -> list[str]:
    query = CustomerQuery.from_args(MultiDict(args))
    return [r["id"] for r in customers.list_customers(db, actor, query, ZONE).rows]


def _filter(db, actor, conditions, match="all", **extra) -> list[str]:
    args = MultiDict([("match", match), *extra.items()])
    for f, o, v in conditions:
        args.add("f", f)
        args.add("o", o)
        args.add("v", v)
    return sorted(r["id"] for r in customers.list_customers(db, actor, CustomerQuery.from_args(args), ZONE).rows)


def test_newest_first_with_registered_and_potential(db, people, shoppers):
    admin = people["admin"]
    db.conn.executemany(
        "UPDATE customers SET created_at = ? WHERE id = ?",
        [("2026-01-01T00:00:00+00:00", "c1"), ("2026-02-01T00:00:00+00:00", "c2"), ("2026-03-01T00:00:00+00:00", "c3")],
    )
    assert _ids(db, admin) == ["c3", "c2", "c1"]
    assert _ids(db, admin, kind="registered") == ["c2", "c1"]
    assert _ids(db, admin, kind="potential") == ["c3"]


def test_keyset_pages_walk_forward_and_back(db, people, shoppers):
    db.conn.executemany(
        "INSERT INTO customers (id, version, created_at) VALUES (?, 0, ?)",
        [(f"p{i:03d}", f"2025-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00") for i in range(120)],
    )
    admin, query = people["admin"], CustomerQuery()
    first = customers.list_customers(db, admin, query, ZONE, limit=50)
    second = customers.list_customers(db, admin, query, ZONE, after=first.next_key, limit=50)
    third = customers.list_customers(db, admin, query, ZONE, after=second.next_key, limit=50)
    seen = [r["id"] for page in (first, second, third) for r in page.rows]
    assert len(seen) == len(set(seen)) == 123 and third.next_key is None and first.prev_key is None
    back = customers.list_customers(db, admin, query, ZONE, before=second.prev_key, limit=50)
    assert [r["id"] for r in back.rows] == [r["id"] for r in first.rows]
    assert first.count == 123


def test_quick_search_terms_each_narrow(db, people, shoppers):
    admin = people["admin"]
    assert _ids(db, admin, q="Иван") == ["c2", "c1"]  # Иван Петров, Мария Иванова
    assert sorted(_ids(db, admin, q="Иван Петров")) == ["c1"]
    assert _ids(db, admin, q="иван петр") == ["c1"]  # case-insensitive, Cyrillic too
    assert _ids(db, admin, q="8 (912) 000-00-02") == ["c2"]  # a phone in any usual form
    assert _ids(db, admin, q="2000001") == ["c1"]  # a card number
    assert _ids(db, admin, q="Иван 02") == ["c2"]  # a short term narrows the long one's matches
    assert _ids(db, admin, q="nobody here") == []


def test_filters_combine_with_and_or(db, people, shoppers):
    admin = people["admin"]
    assert _filter(db, admin, [("balance", "ge", "4")]) == ["c1"]  # 500 minor units = 5 points
    assert _filter(db, admin, [("home_store", "is", "S1"), ("balance", "ge", "1")]) == ["c1"]
    assert _filter(db, admin, [("home_store", "is", "S2"), ("balance", "ge", "4")], match="any") == ["c1", "c2"]
    assert _filter(db, admin, [("card", "equals", "2000002")]) == ["c2"]
    assert _filter(db, admin, [("visits", "ge", "1"), ("last_purchase", "never", "")], match="any") == [
        "c1",
        "c2",
        "c3",
    ]
    assert _filter(db, admin, [("spend_period", "ge", "250")], period_from="2026-01-01", period_to="2026-12-31") == [
        "c1"
    ]
    assert _filter(db, admin, [("spend_period", "le", "250")], period_from="2026-01-01") == ["c2", "c3"]
    assert _filter(db, admin, [("consent", "has", "sms")]) == ["c1", "c2", "c3"]
    with pytest.raises(FormError) as caught:
        _filter(db, admin, [("balance", "ge", "lots"), ("birthday", "month", "13")])
    assert set(caught.value.errors) == {"c0", "c1"}


def test_a_store_manager_sees_only_their_stores_customers(db, people, shoppers, agents):
    manager = people["manager"]  # S1
    assert sorted(_ids(db, manager)) == ["c1", "c3"]
    customers.check_customer(db, manager, "c1")
    with pytest.raises(Forbidden):
        customers.check_customer(db, manager, "c2")
    with pytest.raises(Forbidden):
        customers.bonus_history(db, manager, "c2")
    # a customer of S2 who bought in S1 is S1's customer too
    from .conftest import apply_events, sale

    apply_events(db, sale(agents["S1"], "c2", [("SKU-1", None, 1_000)]))
    assert sorted(_ids(db, manager)) == ["c1", "c2", "c3"]
