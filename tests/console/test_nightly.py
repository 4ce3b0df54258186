"""The nightly job: temporary points burn at expiry (in the ledger), levels follow spend; promotions go down."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from werkzeug.datastructures import MultiDict

from central.cli import cli
from central.points import nightly
from central.services import accounts, reports
from central.services import level_program as levels
from central.sync.deltas import customer_page

from .conftest import apply_events, sale

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

ZONE = "Europe/Moscow"


def _program(db, actor, demotion=False, window=0):
    form = MultiDict(
        {
            "levels-0-name": "Base",
            "levels-0-from_spend": "0",
            "levels-0-percent": "3",
            "levels-1-name": "Gold",
            "levels-1-from_spend": "500",
            "levels-1-percent": "5",
            "window_days": str(window),
            "auto": "1",
        }
    )
    if demotion:
        form["demotion"] = "1"
    levels.save(db, actor, form)


def test_expired_temporary_points_burn_once_and_the_liability_drops(db, people, shoppers):
    lot = accounts.give_temporary(
        db, people["admin"], "c1", {"points": "100", "reason": "promo", "expires": "2099-01-01"}, ZONE
    )
    db.conn.execute("UPDATE lots SET expires_at = '2026-01-01T00:00:00+00:00' WHERE id = ?", (lot,))
    before = reports.liability(db, people["admin"])["total"]
    version = db.customer("c1")["version"]
    report = nightly.run(db)
    assert (report.lots_expired, report.points_burnt) == (1, 10_000)
    assert db.customer("c1")["balance"] == 500 == db.ledger_sum("c1")
    assert db.customer("c1")["version"] > version
    assert db.rows("SELECT kind, points FROM ledger WHERE customer_id = 'c1' ORDER BY id DESC LIMIT 1") == [
        {"kind": "expire", "points": -10_000}
    ]
    assert db.count("transactions", "kind = 'expire'") == 1
    assert reports.liability(db, people["admin"])["total"] == before - 10_000
    assert nightly.run(db).lots_expired == 0


def test_points_spent_before_expiry_are_not_burnt(db, people, shoppers, agents):
    lot = accounts.give_temporary(
        db, people["admin"], "c1", {"points": "3", "reason": "promo", "expires": "2099-01-01"}, ZONE
    )
    apply_events(db, sale(agents["S1"], "c1", [("SKU-1", None, 1_000)], redeemed=200))  # spends the temporary first
    db.conn.execute("UPDATE lots SET expires_at = '2026-01-01T00:00:00+00:00' WHERE id = ?", (lot,))
    assert nightly.run(db).points_burnt == 100
    assert db.customer("c1")["balance"] == 500 + 300 - 200 - 100 == db.ledger_sum("c1")


def test_levels_follow_spend_after_each_purchase_and_nightly(db, people, shoppers, agents):
    _program(db, people["marketer"])
    assert db.customer("c1")["level"] is None  # customers before the program get theirs at the nightly run
    nightly.run(db)
    assert db.customer("c1")["level"] == "Base" and db.customer("c3")["level"] == "Base"
    apply_events(db, sale(agents["S1"], "c1", [("SKU-1", None, 20_000)]))  # spend 400 -> 600
    assert db.customer("c1")["level"] == "Gold"
    deltas, _, _ = customer_page(db, "S1", 0, 100)
    assert next(d for d in deltas if d["customer_id"] == "c1")["level"] == "Gold"
    apply_events(db, agents["S1"].refund("c1", "S1-a1-2", amount=20_000, accrued=0, redeemed=0))
    assert db.customer("c1")["level"] == "Gold"  # no demotion unless the program says so
    _program(db, people["marketer"], demotion=True)
    report = nightly.run(db)
    assert db.customer("c1")["level"] == "Base" and report.demotions == 1


def test_the_scheduler_runs_once_a_day_after_its_hour(db_file):
    scheduler = nightly.NightlyScheduler(db_file, 3, ZONE)
    at = dt.datetime(2026, 11, 22, 0, 30, tzinfo=dt.UTC)  # 03:30 in Moscow
    assert scheduler.due(None, at)
    assert not scheduler.due("2026-11-22T00:10:00+00:00", at)
    assert scheduler.due("2026-11-21T00:10:00+00:00", at)
    assert not scheduler.due(None, dt.datetime(2026, 11, 21, 23, 0, tzinfo=dt.UTC))  # 02:00 local


def test_the_nightly_command(db_file, db, people, shoppers):
    result = CliRunner().invoke(cli, ["nightly", "--db", db_file])
    assert result.exit_code == 0 and "expired 0 lots" in result.output
