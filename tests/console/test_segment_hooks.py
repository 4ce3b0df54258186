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
        monkeypatch.setattr(engine, "COLUMNS_SHARE", 0)
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


def test_card_writes_move_customers_at_once(db, people, shoppers):
    from central.services import cards, customer_admin

    registered = dynamic(db, people["marketer"], "Registered", {"type": "kind", "values": ["registered"]})
    carded = dynamic(db, people["marketer"], "Active card", {"type": "card", "number_from": "1"})
    assert members(db, registered) == ["c1", "c2"] and members(db, carded) == ["c1", "c2"]
    number = cards.issue_card(db, people["admin"], "c3", {"number": "7700000099"})
    assert members(db, registered) == ["c1", "c2", "c3"] and members(db, carded) == ["c1", "c2", "c3"]
    cards.block_card(db, people["admin"], "2000001", "lost at the till")
    assert members(db, carded) == ["c2", "c3"]
    assert members(db, registered) == ["c1", "c2", "c3"]  # a blocked card is still a card (kind)
    cards.unblock_card(db, people["admin"], "2000001")
    assert members(db, carded) == ["c1", "c2", "c3"]
    customer_admin.set_card_status(db, people["admin"], number, "lost", "dropped it")
    assert members(db, carded) == ["c1", "c2"]
    cards.reassign_card(db, people["admin"], "2000002", "c3")
    assert members(db, carded) == ["c1", "c3"] and members(db, registered) == ["c1", "c3"]  # c2 has no card now
    assert causes(db, registered)[2:] == [("c3", 1, "card"), ("c2", 0, "card")]
    assert {cause for _, _, cause in causes(db, carded)[2:]} == {"card"}


def test_a_level_set_by_hand_and_a_consent_move_customers(db, people, shoppers):
    from central.services import customer_admin, messages

    levels.save(
        db,
        people["marketer"],
        MultiDict({"levels-0-name": "Base", "levels-0-from_spend": "0", "levels-0-percent": "3"}),
    )
    base = dynamic(db, people["marketer"], "Base", {"type": "level", "levels": ["Base"]})
    sms = dynamic(db, people["marketer"], "SMS", {"type": "consent", "channels": ["sms"]})
    customer_admin.set_level(db, people["admin"], "c2", "Base")
    assert members(db, base) == ["c2"] and causes(db, base) == [("c2", 1, "level")]
    was = set(members(db, sms))
    messages.set_consent(db, people["admin"], "c3", "sms", "c3" not in was)
    assert set(members(db, sms)) == was ^ {"c3"}
    assert causes(db, sms)[-1] == ("c3", int("c3" not in was), "consent")


def test_customers_imported_from_a_file_enter_a_birthday_segment(db, people, shoppers):
    import datetime as dt

    from central.services import imports
    from central.storage import aggregates

    today = dt.date.fromordinal(aggregates.today(db.conn))
    born = dt.date(1992, today.month, min(today.day, 28)).isoformat()
    birthday = dynamic(db, people["marketer"], "Birthday", {"type": "birthday", "days_before": 5, "days_after": 5})
    vip = dynamic(db, people["marketer"], "VIP", {"type": "tag", "tags": ["vip"]})
    assert members(db, birthday) == []
    data = f"phone;name;birthday;tags\n+79125550001;Вера;{born};\n+79125550002;Глеб;;vip\n".encode()
    table = imports.read_table(data, "people.csv")
    report = imports.check(db, people["marketer"], table)
    assert imports.apply(db, people["marketer"], table, report, good_rows_only=True, source="people.csv") == 2
    vera = db.rows("SELECT id FROM customers WHERE phone = '+79125550001'")[0]["id"]
    gleb = db.rows("SELECT id FROM customers WHERE phone = '+79125550002'")[0]["id"]
    assert members(db, birthday) == [vera] and members(db, vip) == [gleb]
    assert causes(db, birthday) == [(vera, 1, "import")]
    assert pending(db) == 0
    # an update from a file: Vera's birthday moves out of the window, Gleb's tag stays (tags are only added)
    far = dt.date(1992, 1 + (today.month + 5) % 12, 15).isoformat()
    update = imports.read_table(f"phone;birthday\n+79125550001;{far}\n".encode(), "update.csv")
    report = imports.check(db, people["marketer"], update, mode="update")
    assert imports.apply(db, people["marketer"], update, report, good_rows_only=True, source="update.csv") == 1
    assert members(db, birthday) == []
    assert causes(db, birthday)[-1] == (vera, 0, "import")


def test_the_clock_refreshes_at_the_local_midnight_once_per_date(db_file, db, people, shoppers, agents):
    import datetime as dt
    import zoneinfo

    from central.marketing.segment_clock import SegmentClock
    from central.storage import aggregates

    from .conftest import apply_events, sale

    apply_events(db, sale(agents["S1"], "c3", [("SKU-1", None, 1_000)], at=dt.datetime.now(dt.UTC).isoformat()))
    lapsed = dynamic(db, people["marketer"], "Lapsed", {"type": "last_purchase", "days_from": 1})
    assert members(db, lapsed) == ["c1", "c2"]  # c3 bought today, the others long ago
    zone = zoneinfo.ZoneInfo(ZONE)
    today = dt.date.fromordinal(aggregates.today(db.conn))
    midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    now = [midnight - dt.timedelta(minutes=1)]
    clock = SegmentClock(db_file, clock=lambda: now[0])
    clock.tick()  # 23:59 local: today is refreshed (nothing due), tomorrow not yet
    assert members(db, lapsed) == ["c1", "c2"]
    assert clock.tick() is None  # nothing more to do today
    now[0] = midnight + dt.timedelta(seconds=30)
    assert clock.tick() == {lapsed: (1, 0)}
    assert members(db, lapsed) == ["c1", "c2", "c3"]
    assert causes(db, lapsed)[-1] == ("c3", 1, "date")
    now[0] = midnight + dt.timedelta(minutes=5)
    assert clock.tick() is None  # once per local date
    assert len(causes(db, lapsed)) == 3
