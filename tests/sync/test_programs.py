"""Two stores in two bonus programs, through a real broker with real agents: each till sees its
program's balance only, and a store moved to another program is sent that program's balances."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.points.programs import balances, default_program
from central.services import stores as console_stores
from central.services.access import SYSTEM
from central.storage.store import Store as CentralStore
from tests.system.conftest import RULES, broker, spawn, wait_caught_up  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]


@pytest.fixture
def db_path(tmp_path: Path, central_database: str) -> str:
    """S1 in the default program, S2 in "Coffee"; both with the example rule set."""
    path = central_database
    db = CentralStore(path)
    for store in ("S1", "S2"):
        db.add_store(store, f"Store {store}", "Europe/Moscow")
        db.add_rules(store, RULES)
    coffee = db.conn.execute(
        "INSERT INTO programs (name, points_per_money, created_at) VALUES ('Coffee', '1', 'x')"
    ).lastrowid
    db.conn.execute("UPDATE stores SET program_id = ? WHERE id = 'S2'", (coffee,))
    db.close()
    return path


def _balance(agent, i: int) -> int:
    status, seen = agent.identify(i)
    assert status == 200, seen
    return int(seen["balance"])


def test_each_store_sees_its_program_balance_only(broker, central, db_path, spawn):  # noqa: F811
    s1, s2 = spawn("S1"), spawn("S2")
    assert s1.wait_online(30) and s2.wait_online(30)
    db = CentralStore(db_path)
    main = default_program(db.conn)
    coffee = db.conn.execute("SELECT id FROM programs WHERE name = 'Coffee'").fetchone()[0]

    cid = s1.register(1)
    status, sold = s1.commit("S1-1", 1, 100_000)
    assert status == 201, sold
    earned = sold["accrued"]
    assert earned > 0 and s1.wait_drained(20)
    assert wait_caught_up(s1, db, [cid]) and wait_caught_up(s2, db, [cid])
    assert _balance(s1, 1) == earned
    assert _balance(s2, 1) == 0  # S2's program holds nothing of this customer's yet

    # a purchase in S2 accrues into Coffee: S1's balance does not move
    status, sold2 = s2.commit("S2-1", 1, 50_000)
    assert status == 201, sold2
    coffee_points = sold2["accrued"]
    assert s2.wait_drained(20) and wait_caught_up(s1, db, [cid]) and wait_caught_up(s2, db, [cid])
    assert _balance(s2, 1) == coffee_points and _balance(s1, 1) == earned
    assert balances(db.conn, cid) == {main: earned, coffee: coffee_points}
    assert db.customer(cid)["balance"] == earned + coffee_points

    # redeeming at S1 takes from the main program only; S2's till still shows Coffee's points
    status, spent = s1.commit("S1-2", 1, 100_000, redeem=earned // 2)
    assert status == 201 and spent["redeemed"] == earned // 2, spent
    left = earned - earned // 2 + spent["accrued"]
    assert s1.wait_drained(20) and wait_caught_up(s1, db, [cid]) and wait_caught_up(s2, db, [cid])
    assert _balance(s1, 1) == left and _balance(s2, 1) == coffee_points
    assert db.debts() == []

    # S2 moves to the main program: the customer is sent again, S2's till shows the main balance
    console_stores.update_store(
        db, SYSTEM, "S2", {"name": "Store S2", "timezone": "Europe/Moscow", "base_percent": "5", "program_id": ""}, []
    )
    assert wait_caught_up(s2, db, [cid])
    assert _balance(s2, 1) == left and _balance(s1, 1) == left
    assert balances(db.conn, cid) == {main: left, coffee: coffee_points}  # Coffee's points are kept
