"""Dynamic segments follow the changes made outside the ingest (docs/segments.md, "Changes outside the ingest"):
the nightly expiry and levels, card writes, consents, levels set by hand, file imports; each move in the history
with its cause."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from central.marketing import engine
from central.points import nightly
from central.services import accounts
from central.services import level_program as levels
from central.services import segments as service
from central.services.access import SYSTEM

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

ZONE = "Europe/Moscow"


@pytest.fixture(autouse=True, params=["per customer", "columns"])
def path(request, monkeypatch):
    """Every test twice: small batches customer by customer, and every batch on the column snapshot."""
    if request.param == "columns":
        monkeypatch.setattr(engine, "COLUMNS_FROM", 1)
    return request.param


def dynamic(db, actor, name, *criteria):
    return service.create(db, actor, name, "dynamic", {"audiences": [[c] for c in criteria]})


def members(db, segment_id):
    return service.members(db, SYSTEM, segment_id)["customers"]


def causes(db, segment_id):
    return [(h["customer_id"], h["entered"], h["cause"]) for h in reversed(db.segment_history(segment_id))]


def pending(db):
    return db.conn.execute("SELECT COUNT(*) FROM segment_pending").fetchone()[0]


def test_expiry_takes_a_customer_out_of_a_balance_segment_at_once(db, people, shoppers):
    lot = accounts.give_temporary(
        db, people["admin"], "c1", {"points": "100", "reason": "promo", "expires": "2099-01-01"}, ZONE
    )
    rich = dynamic(db, people["marketer"], "Rich", {"type": "balance", "from": 10_000})
    assert members(db, rich) == ["c1"]  # 500 + 10,000
    db.conn.execute("UPDATE lots SET expires_at = '2026-01-01T00:00:00+00:00' WHERE id = ?", (lot,))
    nightly.run(db)
    assert db.customer("c1")["balance"] == 500
    assert members(db, rich) == []
    assert causes(db, rich)[-1] == ("c1", 0, "expiry")
    assert pending(db) == 0


def test_a_level_raised_by_the_nightly_job_puts_the_customer_in_a_level_segment(db, people, shoppers):
    gold = dynamic(db, people["marketer"], "Gold", {"type": "level", "levels": ["Gold"]})
    levels.save(
        db,
        people["marketer"],
        MultiDict(
            {
                "levels-0-name": "Base",
                "levels-0-from_spend": "0",
                "levels-0-percent": "3",
                "levels-1-name": "Gold",
                "levels-1-from_spend": "350",
                "levels-1-percent": "5",
                "auto": "1",
            }
        ),
    )
    assert members(db, gold) == []
    nightly.run(db)
    assert db.customer("c1")["level"] == "Gold"  # spend 400
    assert members(db, gold) == ["c1"]
    assert causes(db, gold) == [("c1", 1, "level")]


def test_what_a_crash_left_pending_is_followed_by_the_next_pass(db, people, shoppers):
    rich = dynamic(db, people["marketer"], "Rich", {"type": "balance", "from": 400})
    assert members(db, rich) == ["c1"]
    with db.transaction() as conn:  # a batch committed its change and its pending rows, then the process died
        conn.execute("UPDATE customers SET balance = 0 WHERE id = 'c1'")
        assert engine.follow_later(conn, ["c1"], {"points"}, "expiry") == 1
    assert members(db, rich) == ["c1"] and pending(db) == 1
    with db.transaction() as conn:
        assert engine.follow_pending(conn) == {rich: (0, 1)}
    assert members(db, rich) == [] and pending(db) == 0
    assert causes(db, rich)[-1] == ("c1", 0, "expiry")


def test_nothing_is_kept_pending_while_no_dynamic_segment_reads_the_change(db, people, shoppers):
    dynamic(db, people["marketer"], "Tagged", {"type": "tag", "tags": ["vip"]})
    with db.transaction() as conn:
        assert engine.follow_later(conn, ["c1", "c2"], {"points"}, "expiry") == 0
    assert pending(db) == 0
