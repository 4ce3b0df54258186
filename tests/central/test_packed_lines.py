"""Migration 44: a receipt's lines only packed in its row (central/storage/line_pack.py), read back as they were."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import central.storage.connection
from central.storage import line_pack
from central.storage.schema import MIGRATIONS
from central.storage.store import Store

pytestmark = pytest.mark.postgresql

LINES = [
    # (transaction_id, idx, sku_id, category_id, name, quantity, price, discount, amount, accrued, redeemed)
    (1, 0, 1, 1, "Milk 1%", "1", 8_900, 0, 8_900, 89, 0),
    (1, 1, None, None, None, "0.455", None, 100, 4_450, 0, 300),
    (1, 2, 2, None, "a\x1fname\x1ewith separators", "12.500", 1_000, 0, 12_500, 125, 0),
    (3, 0, 2, 2, "Bread", "2", 5_000, 500, 9_500, 0, 0),
]


def _old_database(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database at migration 43 with two purchases' lines in ``transaction_lines`` and a refund between."""
    monkeypatch.setattr(central.storage.connection, "MIGRATIONS", [m for m in MIGRATIONS if m[0] < 44])
    old = Store(url)
    monkeypatch.setattr(central.storage.connection, "MIGRATIONS", MIGRATIONS)
    central.storage.connection._MIGRATED.discard(url)  # PostgreSQL: migrated once per process and URL
    with old.transaction() as conn:
        conn.execute("INSERT INTO catalog_categories (id, name, source, created_at) VALUES (1, 'DAIRY', 'r', 'x')")
        conn.execute("INSERT INTO catalog_categories (id, name, source, created_at) VALUES (2, 'BAKERY', 'r', 'x')")
        conn.execute("INSERT INTO catalog_products (id, sku, created_at) VALUES (1, 'M1', 'x')")
        conn.execute("INSERT INTO catalog_products (id, sku, created_at) VALUES (2, 'B1', 'x')")
        for tid, kind, count in ((1, "purchase", 3), (2, "refund", 0), (3, "purchase", 1)):
            conn.execute(
                "INSERT INTO transactions (id, kind, channel, store, at, at_epoch, amount, line_count, columns,"
                " recorded_at) VALUES (?, ?, 'till', 'S1', '2026-01-01T10:00:00+00:00', 1767261600, 1, ?, ?, 'x')",
                (tid, kind, count, b"\x00" * 24 * count or None),
            )
        conn.executemany(
            f"INSERT INTO transaction_lines ({', '.join(line_pack.LINE_ROW)}) VALUES ({','.join('?' * 11)})", LINES
        )
    old.close()


def test_migration_44_moves_every_line_into_its_purchase_and_drops_the_table(central_database, monkeypatch):
    _old_database(central_database, monkeypatch)
    db = Store(central_database)
    try:
        assert not line_pack.has_line_table(db.conn)
        assert list(line_pack.lines_between(db.conn, 0, 10)) == LINES
        assert list(line_pack.lines_of(db.conn, [3])) == LINES[3:]
        blob = db.conn.execute("SELECT columns FROM transactions WHERE id = 1").fetchone()[0]
        packed = np.frombuffer(bytes(blob), line_pack.LINE_DTYPE)
        assert packed[["sku", "category", "amount", "discount"]].tolist() == [
            (0, 0, 8_900, 0),
            (-1, -1, 4_450, 100),
            (1, -1, 12_500, 0),
        ]
        assert db.conn.execute("SELECT columns, line_texts FROM transactions WHERE id = 2").fetchone() == (None, None)
        view = db.lines_of_transactions([1, 3])
        assert [(v["sku"], v["category"], v["name"], v["quantity"]) for v in view] == [
            ("M1", "DAIRY", "Milk 1%", "1"),
            (None, None, None, "0.455"),
            ("B1", None, "a\x1fname\x1ewith separators", "12.500"),
            ("B1", "BAKERY", "Bread", "2"),
        ]
    finally:
        db.close()


names = st.one_of(st.none(), st.text(min_size=1, max_size=8, alphabet=st.sampled_from('ab \x1e\x1fя["\\')))
quantities = st.from_regex(r"\A-?[0-9]{1,4}(\.[0-9]{1,3})?\Z")


@given(st.lists(st.lists(st.tuples(quantities, names), max_size=4), max_size=5))
def test_the_texts_of_any_lines_come_back_as_written(purchases):
    flat_q = [q for p in purchases for q, _n in p]
    flat_n = [n for p in purchases for _q, n in p]
    texts = line_pack.texts_of(flat_q, flat_n)
    plain = line_pack.safe(flat_n)
    at = 0
    for lines in purchases:
        text = line_pack.joined(texts, at, at + len(lines), plain)
        at += len(lines)
        if not lines:
            assert text is None
            continue
        assert line_pack.split_texts(text, len(lines)) == ([q for q, _n in lines], [n for _q, n in lines])


def test_the_backfills_of_migrations_9_and_11_read_the_lines_still_in_their_table(central_database, monkeypatch):
    """An old database migrating from before 9: the aggregates' and rollups' backfills run while the lines are in
    ``transaction_lines`` (44 packs them later); their rows are the same as the ingest's fold gives."""
    monkeypatch.setattr(central.storage.connection, "MIGRATIONS", [m for m in MIGRATIONS if m[0] < 9])
    old = Store(central_database)
    with old.transaction() as conn:
        conn.execute("INSERT INTO stores (id, name, timezone, created_at) VALUES ('S1', 'S1', 'UTC', 'x')")
        conn.execute("INSERT INTO customers (id, balance, version, created_at) VALUES ('c1', 0, 1, 'x')")
        conn.execute("INSERT INTO catalog_categories (id, name, source, created_at) VALUES (1, 'DAIRY', 'r', 'x')")
        conn.execute("INSERT INTO catalog_products (id, sku, created_at) VALUES (1, 'M1', 'x')")
        conn.execute(
            "INSERT INTO transactions (id, kind, channel, store, customer_id, at, at_epoch, amount, line_count,"
            " columns, recorded_at) VALUES (1, 'purchase', 'till', 'S1', 'c1', '2026-01-01T10:00:00+00:00',"
            " 1767261600, 13350, 2, NULL, 'x')"
        )
        conn.executemany(
            f"INSERT INTO transaction_lines ({', '.join(line_pack.LINE_ROW)}) VALUES ({','.join('?' * 11)})",
            [LINES[0][:1] + (0,) + LINES[0][2:], (1, 1, None, None, None, "0.455", None, 100, 4_450, 0, 300)],
        )
    old.close()
    monkeypatch.setattr(central.storage.connection, "MIGRATIONS", MIGRATIONS)
    central.storage.connection._MIGRATED.discard(central_database)
    db = Store(central_database)
    try:
        assert sorted(db.conn.execute("SELECT category, lines, quantity, sales FROM report_categories").fetchall()) == [
            (0, 1, 455, 4_450),
            (1, 1, 1000, 8_900),
        ]
        # the product's and the category's rows of the first line (the second names neither)
        assert sorted(db.conn.execute("SELECT kind, item, quantity FROM agg_items").fetchall()) == [
            (0, 1, 1000),
            (1, 1, 1000),
        ]
        assert [r[5] for r in line_pack.lines_between(db.conn, 0, 10)] == ["1", "0.455"]
    finally:
        db.close()


def test_a_line_given_a_number_for_its_quantity_reads_back_as_its_text(central_database):
    """The contract sends quantities as text; a caller passing a number gets what the old TEXT column kept."""
    from central.points.receipt_log import ReceiptLog

    db = Store(central_database)
    try:
        with db.transaction() as conn:
            log = ReceiptLog(conn, "2026-01-01T10:00:00+00:00")
            line = {"sku": "M1", "name": 7, "category": None, "quantity": 2, "price": 100, "discount": 0}
            body = {"receipt_id": "R1", "total": 200, "accrued": 0, "redeemed": 0, "lines": [line | {"amount": 200}]}
            log.purchase({"store": None, "agent": None, "id": "e1"}, body, "2026-01-01T10:00:00+00:00", None, None)
            log.flush()
        assert [(r[4], r[5], r[6]) for r in line_pack.lines_between(db.conn, 0, 10)] == [("7", "2", 100)]
    finally:
        db.close()
