"""The quick search finds the same customers on SQLite (FTS5 trigram) and PostgreSQL (pg_trgm on ICU-folded
text, migration 28): one test fills both databases alike and compares every query's answer."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from central.services.access import SYSTEM
from central.services.filters import CustomerQuery, where
from central.storage.store import Store
from tests.conftest import create_pg_database, drop_pg_database

pytestmark = pytest.mark.postgresql

CUSTOMERS = [
    # id, name, phone, email, cards, tags
    ("c1", "Иван Петров", "+79120000001", "ivan@example.com", ["2000001"], ["vip"]),
    ("c2", "Мария Иванова", "+79120000002", "MARIA@Example.com", ["2000002", "3000002"], []),
    ("c3", "ИВАНОВ Ёжик", "+79120000003", None, [], ["опт", "50%_off"]),
    ("c4", "Ann O'Neil", None, "ann_o@mail.test", ["77 01"], ["Straße"]),
    ("c5", "Ολγα Σμιθ", "+79120000005", "olga\\x@test", [], []),
    ("c6", None, None, None, [], []),
]

QUERIES = [
    ("Иван", ["c1", "c2", "c3"]),
    ("иван", ["c1", "c2", "c3"]),
    ("ИВАН петр", ["c1"]),
    ("иванов", ["c2", "c3"]),
    ("ёжик", ["c3"]),
    ("ежик", []),  # ё and е differ on both (no diacritics folding)
    ("Иван 02", ["c2"]),
    ("ив", []),  # a short term alone: LIKE folds ASCII only (Cyrillic case kept) on both
    ("Ив", ["c1", "c2"]),
    ("example.com", ["c1", "c2"]),
    ("EXAMPLE", ["c1", "c2"]),
    ("maria@", ["c2"]),
    ("2000002", ["c2"]),
    ("3000002 Мария", ["c2"]),
    ("8 (912) 000-00-01", ["c1"]),
    ("vip", ["c1"]),
    ("ОПТ", ["c3"]),
    ("50%_", ["c3"]),
    ("0%_o", ["c3"]),
    ("%_o", ["c3"]),  # % and _ are letters to the long terms, not patterns
    ("n%o", []),
    ("o_l", []),
    ("n_o", ["c4"]),
    ("o'n", ["c4"]),
    ("STRASSE", []),
    ("straße", ["c4"]),
    ("77 01", ["c4"]),
    ("ολγα", ["c5"]),
    ("\\x@", ["c5"]),
    ("a", ["c1", "c2", "c4", "c5"]),
    ("c6", ["c6"]),
    ("nobody here", []),
]


def _fill(store: Store) -> None:
    with store.transaction() as conn:
        for cid, name, phone, email, cards, tags in CUSTOMERS:
            conn.execute(
                "INSERT INTO customers (id, version, created_at, name, phone, email) VALUES (?, 0, ?, ?, ?, ?)",
                (cid, "2026-01-01T00:00:00+00:00", name, phone, email),
            )
            for number in cards:
                conn.execute(
                    "INSERT INTO cards (number, customer_id, created_at) VALUES (?, ?, ?)",
                    (number, cid, "2026-01-01T00:00:00+00:00"),
                )
            for tag in tags:
                conn.execute("INSERT INTO customer_tags (customer_id, tag) VALUES (?, ?)", (cid, tag))


@pytest.fixture
def stores(tmp_path):
    try:
        url = create_pg_database()
    except Exception as exc:  # noqa: BLE001 (psycopg's connection errors)
        pytest.skip(f"no PostgreSQL at LOYALTY_TEST_PG_URL ({exc}): scripts/postgres starts one")
    both = {"sqlite": Store(str(tmp_path / "central.sqlite")), "postgresql": Store(url)}
    for store in both.values():
        _fill(store)
    yield both
    for store in both.values():
        store.close()
    drop_pg_database(url)


def _found(store: Store, q: str) -> list[str]:
    sql, params = where(CustomerQuery.from_args(MultiDict({"q": q})), SYSTEM, "UTC", store.dialect)
    return sorted(store.customer_ids_where(sql, params))


def test_the_quick_search_finds_the_same_customers_on_both_backends(stores):
    for q, expected in QUERIES:
        answers = {name: _found(store, q) for name, store in stores.items()}
        assert answers == {"sqlite": expected, "postgresql": expected}, q


def test_the_search_index_follows_renames_cards_and_tags_on_both(stores):
    for store in stores.values():
        with store.transaction() as conn:
            conn.execute("UPDATE customers SET name = 'Пётр Сидоров' WHERE id = 'c1'")
            conn.execute("UPDATE cards SET customer_id = 'c6' WHERE number = '2000002'")
            conn.execute("DELETE FROM customer_tags WHERE customer_id = 'c3'")
            conn.execute("DELETE FROM customers WHERE id = 'c5'")
    for q, expected in [
        ("сидоров", ["c1"]),
        ("ИВАН ПЕТР", []),
        ("2000002", ["c6"]),
        ("опт", []),
        ("ολγα", []),
    ]:
        assert {name: _found(store, q) for name, store in stores.items()} == {
            "sqlite": expected,
            "postgresql": expected,
        }, q


def test_a_tag_written_is_found_and_rewrites_no_search_row_on_both(stores):
    """Migration 38: tags are searched through their distinct names; adding one leaves the customer's row alone."""
    for store in stores.values():
        before = store.rows("SELECT customer_id, doc FROM customer_search ORDER BY customer_id")
        with store.transaction() as conn:
            conn.execute("INSERT INTO customer_tags (customer_id, tag) VALUES ('c2', 'Золото')")
            conn.execute("INSERT INTO customer_tags (customer_id, tag) VALUES ('c6', 'vip')")  # a known name
        assert store.rows("SELECT customer_id, doc FROM customer_search ORDER BY customer_id") == before
        names = [r["tag"] for r in store.rows("SELECT tag FROM customer_search_tag_names ORDER BY tag")]
        assert names == sorted(["vip", "опт", "50%_off", "Straße", "Золото"])
    for q, expected in [
        ("золото", ["c2"]),
        ("ЗОЛ мария", ["c2"]),
        ("vip", ["c1", "c6"]),
        ("ip", ["c1", "c6"]),
        ("vip c6", ["c6"]),
        ("золото c1", []),
    ]:
        assert {name: _found(store, q) for name, store in stores.items()} == {
            "sqlite": expected,
            "postgresql": expected,
        }, q
