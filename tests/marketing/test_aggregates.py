"""Per-customer aggregates: kept by the ledger in the ingest's transaction, and built again by the backfill."""

from __future__ import annotations

import datetime as dt

import pytest

from central.storage import aggregates
from central.storage.portable import SQLITE, dialect
from central.storage.store import IngestUnit, Store
from tests.sync.fakes import T0, FakeAgent

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def apply(db: Store, *events) -> set[str]:
    last = events[-1]
    return db.commit_ingest(
        IngestUnit(events=list(events), pointers={(last["store"], last["agent"]): (last["seq"], last["id"])})
    )


def basket(agent: FakeAgent, cid: str, lines, at: dt.datetime | None = None) -> dict:
    event = agent.purchase(cid, total=sum(a for _, _, _, a in lines), accrued=10)
    event["body"]["lines"] = [
        {
            "sku": sku,
            "name": sku.title(),
            "category": cat,
            "quantity": qty,
            "price": a,
            "discount": 0,
            "amount": a,
            "accrued": 0,
            "redeemed": 0,
        }
        for sku, cat, qty, a in lines
    ]
    if at is not None:
        event["body"]["at"] = at.isoformat()
    return event


def snapshot(db: Store) -> dict[str, list]:
    return {
        t: db.conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3, 4").fetchall()
        for t in ("agg_days", "agg_items", "agg_points")
    }


def test_ingest_keeps_the_aggregates_in_its_transaction(db):
    db.add_store("S1", timezone="Asia/Vladivostok")
    db.stream_state("S1", "a1")
    agent = FakeAgent("S1", "a1")
    apply(
        db,
        agent.registration("c1"),
        basket(agent, "c1", [("shoe", "running", "1", 5000), ("bar", "food", "2.5", 300)]),
        basket(agent, "c1", [("bar", "food", "1", 120)]),
    )
    first = agent.envelope(
        "refund",
        {
            "refund_id": "r1",
            "receipt_id": "S1-a1-1",
            "terminal": "T1",
            "customer_id": "c1",
            "at": T0.isoformat(),
            "amount": 300,
            "accrued": 0,
            "redeemed": 0,
            "lines": [{"index": 1, "quantity": "2.5", "amount": 300, "accrued": 0, "redeemed": 0}],
        },
    )
    apply(db, first)
    key = db.conn.execute("SELECT key FROM customer_keys WHERE customer_id = 'c1'").fetchone()[0]
    (day_row,) = db.conn.execute(
        "SELECT purchases, refunds, spend, items FROM agg_days WHERE key = ?", (key,)
    ).fetchall()
    assert day_row == (2, 1, 5000 + 300 + 120 - 300, 4500)
    products = dict(
        db.conn.execute(
            "SELECT p.sku, a.quantity FROM agg_items a JOIN catalog_products p ON p.id = a.item WHERE a.kind = 1"
        )
    )
    assert products == {"shoe": 1000, "bar": 3500}
    points = db.conn.execute("SELECT type, accrued FROM agg_points WHERE key = ?", (key,)).fetchall()
    assert points == [("purchase", 20)]
    facts = aggregates.load_facts(db.conn, [key])[key]
    assert facts.has_card is False and sum(d.purchases for d in facts.days) == 2


def test_backfill_builds_what_the_ingest_keeps(db):
    db.add_store("S1")
    db.stream_state("S1", "a1")
    agent = FakeAgent("S1", "a1")
    events = [agent.registration("c1"), agent.registration("c2")]
    for i in range(30):
        events.append(
            basket(
                agent,
                f"c{1 + i % 2}",
                [(f"sku{i % 7}", f"cat{i % 3}", str(1 + i % 4), 100 + i)],
                at=T0 + dt.timedelta(hours=7 * i),
            )
        )
    events.append(agent.manual("c1", 70))
    apply(db, *events)
    kept = snapshot(db)
    assert kept["agg_days"] and kept["agg_items"]
    with db.transaction() as conn:
        for table in ("agg_days", "agg_items", "agg_points"):
            conn.execute(f"DELETE FROM {table}")
        aggregates.backfill(conn, batch=7)
    assert snapshot(db) == kept


def test_every_customer_has_a_stable_key(db):
    db.add_store("S1")
    db.stream_state("S1", "a1")
    agent = FakeAgent("S1", "a1")
    apply(db, agent.registration("c1"), agent.registration("c2"))
    keys = dict(db.conn.execute("SELECT customer_id, key FROM customer_keys"))
    apply(db, agent.purchase("c1"), agent.registration("c3"))
    again = dict(db.conn.execute("SELECT customer_id, key FROM customer_keys"))
    assert {k: again[k] for k in keys} == keys and set(again) == {"c1", "c2", "c3"}


def test_facts_read_by_the_known_ids_are_the_same(db):
    """The event path passes the customer ids it already has (``load_facts(id_of=...)``): the same facts, a
    merged-away customer left out the same way."""
    db.add_store("S1")
    db.stream_state("S1", "a1")
    agent = FakeAgent("S1", "a1")
    apply(db, agent.registration("c1"), agent.registration("c2"), agent.registration("c3"))
    apply(db, basket(agent, "c1", [("shoe", "running", "1", 5000)]), agent.purchase("c2"))
    db.conn.execute("UPDATE customers SET merged_into = 'c1' WHERE id = 'c3'")
    id_of = dict(db.conn.execute("SELECT key, customer_id FROM customer_keys"))
    by_key = aggregates.load_facts(db.conn, sorted(id_of))
    by_id = aggregates.load_facts(db.conn, sorted(id_of), id_of=id_of)
    assert len(by_key) == 2 and by_id == by_key


@pytest.mark.parametrize("items", [{(0, 3), (0, 7)}, {(1, 5)}, {(0, 3), (1, 5), (1, 9)}])
def test_a_big_rounds_named_items_are_read_by_customer(db, items):
    """The event path reads the named items' rows of up to 500 customers at once: SQLite must search them by
    customer (the primary key), not read every customer's rows of those items through the (kind, item) index,
    which it prefers from a few hundred keys on once the tables are analyzed (the statistics below are those of
    `bench/segments.py`'s 100,000 customers: the ingest's rounds of 500 were ~20 times slower)."""
    if dialect(db.conn) != SQLITE:
        pytest.skip("a SQLite query plan")
    db.conn.execute("ANALYZE")
    db.conn.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'agg_items'")
    db.conn.execute(
        "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('agg_items', 'agg_items_item', '1662459 831230 330 10 1'),"
        " ('agg_items', 'agg_items', '1662459 20 10 2 1 1')"
    )
    db.conn.execute("ANALYZE sqlite_schema")  # (loads them)
    keys = list(range(1, 1001, 2))
    plan = db.conn.execute(
        f"EXPLAIN QUERY PLAN SELECT key, kind, item, day, store, quantity FROM agg_items"
        f" WHERE key IN ({','.join('?' * len(keys))}){aggregates.items_filter(frozenset(items))}",
        keys,
    ).fetchall()
    assert any("PRIMARY KEY" in row[-1] for row in plan), plan
    assert not any("agg_items_item" in row[-1] for row in plan), plan
