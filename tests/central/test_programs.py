"""Bonus accounts per program: the ledger keeps each program's points apart; migration 7 on existing data."""

from __future__ import annotations

import pytest

import central.storage.connection
from central.points import nightly
from central.points.programs import (
    balances,
    default_program,
    outstanding,
    permanent_lot_id,
)
from central.storage.schema import MIGRATIONS
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


def _lots(db: Store, cid: str) -> dict[str, tuple[int, int]]:
    return {
        i: (p, prog)
        for i, p, prog in db.conn.execute(
            "SELECT id, points, program_id FROM lots WHERE customer_id = ? ORDER BY id", (cid,)
        )
    }


@pytest.fixture
def chain(db) -> tuple[Store, int, int]:
    """S1 without a program (the default one), S2 in program "Coffee"; (db, default id, coffee id)."""
    db.add_store("S1")
    db.add_store("S2")
    db.stream_state("S1", "a1")
    db.stream_state("S2", "a1")
    coffee = db.conn.execute(
        "INSERT INTO programs (name, points_per_money, created_at) VALUES ('Coffee', '0.5', 'x')"
    ).lastrowid
    db.conn.execute("UPDATE stores SET program_id = ? WHERE id = 'S2'", (coffee,))
    return db, default_program(db.conn), coffee


def test_a_fresh_database_has_a_main_program_as_the_default(db):
    (row,) = db.rows("SELECT * FROM programs")
    assert row["name"] == "Main program" and row["points_per_money"] == "1"
    assert default_program(db.conn) == row["id"] == int(db.setting("default_program"))


def test_each_store_accrues_and_redeems_in_its_program(chain):
    db, main, coffee = chain
    a1, a2 = FakeAgent("S1"), FakeAgent("S2")
    _apply(db, a1.registration("c1"), a1.purchase("c1", accrued=500))
    _apply(db, a2.purchase("c1", accrued=300), a2.purchase("c1", accrued=0, redeemed=200))
    assert balances(db.conn, "c1") == {main: 500, coffee: 100}
    assert _lots(db, "c1") == {"c1:permanent": (500, main), f"c1:permanent:{coffee}": (100, coffee)}
    # the customer's balance stays the total over programs, equal to the ledger and the lots
    assert db.customer("c1")["balance"] == 600 == db.ledger_sum("c1")
    entries = db.conn.execute("SELECT kind, points, program_id FROM ledger ORDER BY id").fetchall()
    assert entries == [("accrue", 500, main), ("accrue", 300, coffee), ("redeem", -200, coffee)]
    assert db.debts() == []


def test_a_debt_is_owed_to_one_program_and_leaves_the_others_alone(chain):
    db, main, coffee = chain
    a1, a2 = FakeAgent("S1"), FakeAgent("S2")
    _apply(db, a1.registration("c1"), a1.purchase("c1", accrued=500))
    _apply(db, a2.purchase("c1", accrued=300))
    # S2 redeems more than its program holds (offline): the 500 of the main program do not cover it
    _apply(db, a2.purchase("c1", accrued=0, redeemed=400, offline=True))
    (debt,) = db.debts()
    assert (debt["shortfall"], debt["balance_after"], debt["program_id"], debt["store"]) == (100, -100, coffee, "S2")
    assert balances(db.conn, "c1") == {main: 500, coffee: -100}
    assert db.customer("c1")["balance"] == 400 == db.ledger_sum("c1")
    # each program's account on its own: the debt is not netted against the main program's points
    figures = outstanding(db.conn)
    assert figures[main]["outstanding"] == 500 and figures[coffee] == {
        "outstanding": 0,
        "negative": -100,
        "customers": 1,
    }
    # a manual debit at S1 takes from the main program only
    _apply(db, a1.manual("c1", -50))
    assert balances(db.conn, "c1") == {main: 450, coffee: -100}


def test_spending_takes_temporary_lots_of_the_store_program_only(chain):
    db, main, coffee = chain
    a1, a2 = FakeAgent("S1"), FakeAgent("S2")
    _apply(db, a1.registration("c1"), a1.purchase("c1", accrued=100), a2.purchase("c1", accrued=100))
    db.conn.executemany(
        "INSERT INTO lots (id, customer_id, points, initial, expires_at, created_at, program_id)"
        " VALUES (?, 'c1', ?, ?, '2027-06-01T00:00:00+00:00', 'x', ?)",
        [("t-main", 300, 300, main), ("t-coffee", 200, 200, coffee)],
    )
    db.conn.execute("UPDATE customers SET balance = balance + 500 WHERE id = 'c1'")
    _apply(db, a2.purchase("c1", accrued=0, redeemed=250))
    lots = _lots(db, "c1")
    assert lots["t-coffee"] == (0, coffee) and lots[f"c1:permanent:{coffee}"] == (50, coffee)
    assert lots["t-main"] == (300, main) and lots["c1:permanent"] == (100, main)


def test_expiry_is_recorded_in_the_lot_program(chain):
    db, main, coffee = chain
    a2 = FakeAgent("S2")
    _apply(db, a2.registration("c1"))
    db.conn.execute(
        "INSERT INTO lots (id, customer_id, points, initial, expires_at, created_at, program_id)"
        " VALUES ('t1', 'c1', 70, 70, '2026-11-01T00:00:00+00:00', 'x', ?)",
        (coffee,),
    )
    db.conn.execute("UPDATE customers SET balance = 70 WHERE id = 'c1'")
    assert nightly.expire_lots(db, "2026-12-01T00:00:00+00:00") == (1, 70)
    assert db.conn.execute("SELECT kind, points, program_id FROM ledger WHERE kind = 'expire'").fetchall() == [
        ("expire", -70, coffee)
    ]
    assert db.customer("c1")["balance"] == 0 == sum(balances(db.conn, "c1").values())


def test_each_store_is_sent_its_program_lots_only(chain):
    db, main, coffee = chain
    a1, a2 = FakeAgent("S1"), FakeAgent("S2")
    _apply(db, a1.registration("c1"), a1.purchase("c1", accrued=500), a2.purchase("c1", accrued=300))
    cache: dict = {}
    pages = {s: customer_page(db, s, 0, 500, cache)[0] for s in ("S1", "S2")}
    assert pages["S1"][0]["lots"] == [{"id": "c1:permanent", "points": 500, "expires_at": None}]
    assert pages["S2"][0]["lots"] == [{"id": f"c1:permanent:{coffee}", "points": 300, "expires_at": None}]


def test_permanent_lot_ids():
    assert permanent_lot_id("c1", 1, 1) == "c1:permanent"
    assert permanent_lot_id("c1", 7, 1) == "c1:permanent:7"


# -- migration 7 on a database written before programs ----------------------------------------------


def _old_database(path: str, monkeypatch, *, programs: list[str]) -> None:
    """A database at migration 6 with a customer's points, a temporary lot, ledger entries and a debt."""
    monkeypatch.setattr(central.storage.connection, "MIGRATIONS", [m for m in MIGRATIONS if m[0] <= 6])
    old = Store(path)
    conn = old.conn
    old.add_store("S1")
    old.add_store("S2")
    for i, name in enumerate(programs):
        conn.execute(
            "INSERT INTO programs (name, points_per_money, created_at) VALUES (?, '1', ?)",
            (name, f"2026-0{i + 1}-01T00:00:00+00:00"),
        )
    conn.execute("INSERT INTO counters (name, value) VALUES ('customer_version', 2)")
    for cid, version, balance in (("c1", 1, 450), ("c2", 2, 0)):
        conn.execute(
            "INSERT INTO customers (id, home_store, balance, version, created_at) VALUES (?, 'S1', ?, ?, 'x')",
            (cid, balance, version),
        )
    conn.execute(
        "INSERT INTO lots (id, customer_id, points, initial, created_at) VALUES ('c1:permanent', 'c1', 400, 500, 'x')"
    )
    conn.execute(
        "INSERT INTO lots (id, customer_id, points, initial, expires_at, created_at) VALUES"
        " ('c1:promo:1', 'c1', 50, 50, '2027-01-01T00:00:00+00:00', 'x')"
    )
    conn.executemany(
        "INSERT INTO ledger (customer_id, points, kind, event_id, store, at, recorded_at) VALUES"
        " ('c1', ?, ?, ?, 'S1', 'x', 'x')",
        [(500, "accrue", "e1"), (50, "promo", "e2"), (-100, "redeem", "e3")],
    )
    conn.execute(
        "INSERT INTO debts (event_id, customer_id, store, agent, shortfall, balance_after, at, created_at)"
        " VALUES ('e3', 'c1', 'S1', 'a1', 10, -10, 'x', 'x')"
    )
    if len(programs) > 1:
        newer = conn.execute("SELECT id FROM programs WHERE name = ?", (programs[1],)).fetchone()[0]
        conn.execute("UPDATE stores SET program_id = ? WHERE id = 'S2'", (newer,))
        # a customer of S2, with points and history there
        conn.execute(
            "INSERT INTO customers (id, home_store, balance, version, created_at) VALUES ('c3', 'S2', 70, 2, 'x')"
        )
        conn.execute(
            "INSERT INTO lots (id, customer_id, points, initial, created_at) VALUES ('c3:permanent', 'c3', 70, 70, 'x')"
        )
        conn.execute(
            "INSERT INTO ledger (customer_id, points, kind, event_id, store, at, recorded_at) VALUES"
            " ('c3', 70, 'accrue', 'e4', 'S2', 'x', 'x')"
        )
    old.close()
    monkeypatch.setattr(central.storage.connection, "MIGRATIONS", MIGRATIONS)


def test_migration_makes_a_main_program_and_gives_it_every_row(tmp_path, monkeypatch):
    path = str(tmp_path / "old.sqlite")
    _old_database(path, monkeypatch, programs=[])
    db = Store(path)
    try:
        main = default_program(db.conn)
        assert db.rows("SELECT name, points_per_money FROM programs") == [
            {"name": "Main program", "points_per_money": "1"}
        ]
        for table in ("lots", "ledger", "debts"):
            assert {r[0] for r in db.conn.execute(f"SELECT program_id FROM {table}")} == {main}
        assert balances(db.conn, "c1") == {main: 450} and db.customer("c1")["balance"] == 450
        # the lot ids are unchanged, so agents' data is too; nothing had to be sent again
        assert set(_lots(db, "c1")) == {"c1:permanent", "c1:promo:1"}
        assert db.customer("c1")["version"] == 1
        # and the ledger goes on in the default program
        db.stream_state("S1", "a1")
        _apply(db, FakeAgent("S1").purchase("c1", accrued=5))
        assert _lots(db, "c1")["c1:permanent"] == (405, main)
    finally:
        db.close()


def test_migration_takes_the_oldest_program_and_resends_when_a_store_is_elsewhere(tmp_path, monkeypatch):
    path = str(tmp_path / "old.sqlite")
    _old_database(path, monkeypatch, programs=["Sushi", "Coffee"])
    db = Store(path)
    try:
        sushi, coffee = (
            db.conn.execute("SELECT id FROM programs WHERE name = ?", (n,)).fetchone()[0] for n in ("Sushi", "Coffee")
        )
        assert default_program(db.conn) == sushi
        assert balances(db.conn, "c1") == {sushi: 450}
        # S2 is in Coffee: its agents must hear that c1 has nothing there, so c1 has a new version
        assert db.customer("c1")["version"] > 2 and db.customer("c2")["version"] == 2
        deltas, _, _ = customer_page(db, "S2", 2)
        assert [(d["customer_id"], d["lots"]) for d in deltas] == [
            ("c1", []),
            ("c3", [{"id": f"c3:permanent:{coffee}", "points": 70, "expires_at": None}]),
        ]
        assert coffee not in balances(db.conn, "c1")
        # c3's home store is in Coffee: their points and history moved there, where their cashier sees them
        assert balances(db.conn, "c3") == {coffee: 70} and db.customer("c3")["balance"] == 70
        assert {r[0] for r in db.conn.execute("SELECT program_id FROM ledger WHERE customer_id = 'c3'")} == {coffee}
        s1, _, _ = customer_page(db, "S1", 2)
        assert [(d["customer_id"], d["lots"]) for d in s1 if d["customer_id"] == "c3"] == [("c3", [])]
    finally:
        db.close()
