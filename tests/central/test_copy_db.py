"""``loyalty-central migrate`` on both backends and ``copy-db``: a SQLite ledger into PostgreSQL, checked by totals."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from werkzeug.datastructures import MultiDict

from central.cli import cli
from central.services.access import SYSTEM
from central.services.filters import CustomerQuery, where
from central.storage.store import IngestUnit, Store
from tests.sync.fakes import FakeAgent

pytestmark = pytest.mark.postgresql


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _apply(db: Store, *events) -> None:
    last = events[-1]
    db.commit_ingest(
        IngestUnit(events=list(events), pointers={(last["store"], last["agent"]): (last["seq"], last["id"])})
    )


def _ledger(path: str) -> Store:
    db = Store(path)
    db.add_store("S1")
    db.stream_state("S1", "a1")
    agent = FakeAgent("S1", "a1")
    for i in range(30):
        _apply(
            db,
            agent.registration(f"c{i}", card=f"77{i:04}"),
            agent.purchase(f"c{i}", total=10_000 + i, accrued=500 + i),
        )
    _apply(db, agent.purchase("c1", accrued=0, redeemed=300))
    db.conn.execute("INSERT INTO customer_tags (customer_id, tag) VALUES ('c7', 'Золото')")
    return db


def _figures(db: Store) -> tuple:
    c = db.conn
    return (
        c.execute("SELECT COUNT(*), SUM(balance), SUM(spend) FROM customers").fetchone(),
        c.execute("SELECT COUNT(*), SUM(points) FROM lots").fetchone(),
        c.execute("SELECT COUNT(*), SUM(points) FROM ledger").fetchone(),
        c.execute("SELECT COUNT(*), SUM(amount), SUM(accrued), SUM(redeemed) FROM transactions").fetchone(),
        c.execute("SELECT customer_id, points FROM lots ORDER BY customer_id").fetchall(),
    )


def test_migrate_on_the_test_backend(central_database):
    result = run("migrate", "--db", central_database)
    assert result.exit_code == 0, result.output
    dialect = "postgresql" if central_database.startswith("postgresql://") else "sqlite"
    assert result.output.startswith(f"{dialect}: schema version ")
    assert run("migrate", "--db", central_database).output == result.output  # twice changes nothing


def test_copy_db_moves_a_sqlite_ledger_into_postgresql_with_equal_totals(central_database, tmp_path):
    if not central_database.startswith("postgresql://"):
        pytest.skip("needs --backend=postgresql (a PostgreSQL database to copy into)")
    source_path = str(tmp_path / "central.sqlite")
    source = _ledger(source_path)
    want = _figures(source)
    c2 = source.conn.execute("SELECT balance FROM customers WHERE id = 'c2'").fetchone()[0]
    source.close()
    assert run("migrate", "--db", central_database).exit_code == 0
    result = run("copy-db", source_path, central_database)
    assert result.exit_code == 0, result.output
    assert "totals match" in result.output
    target = Store(central_database)
    try:
        assert [tuple(r) for r in _figures(target)[:4]] == [tuple(r) for r in want[:4]]
        assert [tuple(r) for r in _figures(target)[4]] == [tuple(r) for r in want[4]]
        assert want[0][1] > 0
        # the quick search is rebuilt there: cards in the customers' rows, tags through their names (migration 38)
        for q, found in (("770003", ["c3"]), ("золото", ["c7"])):
            sql, params = where(CustomerQuery.from_args(MultiDict({"q": q})), SYSTEM, "UTC", target.dialect)
            assert target.customer_ids_where(sql, params) == found, q
        # the copy is a working ledger: new events go on (identity columns continue past the copied ids)
        agent = FakeAgent("S1", "a1")
        agent.seq = target.conn.execute("SELECT applied_seq FROM agents WHERE store = 'S1'").fetchone()[0]
        _apply(target, agent.purchase("c2", accrued=100))
        assert target.conn.execute("SELECT balance FROM customers WHERE id = 'c2'").fetchone()[0] == c2 + 100
        # a second copy into a database that holds customers is refused and changes nothing
        again = CliRunner().invoke(cli, ["copy-db", source_path, central_database])
        assert again.exit_code != 0 and "already holds customers" in again.output
    finally:
        target.close()
