"""Events fed to the triggers besides the ingest's (docs/triggers.md): message outcomes, promo codes issued and
used, console edits (tags, points by hand, level, block); each written in its write's transaction and waking
only the customers concerned. And the nightly job's pruning of old processed events."""

from __future__ import annotations

import datetime as dt

import pytest

from central.marketing import trigger_engine as engine
from central.points import nightly
from central.services import accounts, customer_admin
from central.services import messages as message_service
from central.services import triggers as service
from central.services.access import SYSTEM
from central.storage import messages as outbox
from central.storage.clock import now_utc
from tests.sync.fakes import FakeAgent
from tests.triggers.test_engine import ALL_HOURS, MARKETER, NOW, apply, doc, promo

pytestmark = pytest.mark.postgresql


@pytest.fixture
def db(db):
    db.add_store("S1", timezone="Europe/Moscow")
    db.stream_state("S1", "a1")
    return db


def tags(db, cid: str) -> set[str]:
    return {r["tag"] for r in db.rows("SELECT tag FROM customer_tags WHERE customer_id = ?", (cid,))}


def events(db, kind: str) -> list[dict]:
    return db.rows("SELECT customer_id, ref, detail, amount FROM trigger_events WHERE kind = ? ORDER BY id", (kind,))


def later(minutes: int) -> dt.datetime:
    return max(NOW, dt.datetime.now(dt.UTC).replace(microsecond=0)) + dt.timedelta(minutes=minutes)


def test_message_delivered_opened_clicked_move_a_customer_through_steps(db):
    agent = FakeAgent("S1")
    apply(db, agent.registration("c1"), agent.registration("c2"))
    template = message_service.save_template(db, SYSTEM, name="hi", channel="sms", language="ru", body="Привет")
    tid = service.create(
        db,
        MARKETER,
        doc(
            {
                "conditions": [{"type": "registration", "stores": ["S1"]}],
                "actions": [{"type": "send", "template": template}],
            },
            {
                "conditions": [{"type": "message_event", "outcome": "delivered", "template": template}],
                "actions": [{"type": "tag", "tag": "delivered"}],
            },
            {
                "conditions": [{"type": "message_event", "outcome": "clicked", "template": template}],
                "actions": [{"type": "credit", "points": 500}],
            },
        ),
    )
    failed = service.create(
        db,
        MARKETER,
        doc(
            {
                "conditions": [{"type": "message_event", "outcome": "failed"}],
                "actions": [{"type": "tag", "tag": "bad"}],
            },
            name="failed",
        ),
    )
    service.start(db, MARKETER, tid, NOW)
    service.start(db, MARKETER, failed, NOW)
    engine.run_once(db, NOW)
    rows = {r["customer_id"]: r["id"] for r in db.rows("SELECT id, customer_id FROM message_outbox")}
    assert set(rows) == {"c1", "c2"}
    with db.transaction() as conn:
        for cid, gateway in (("c1", "g1"), ("c2", "g2")):
            outbox.mark_sending(conn, rows[cid], "", "Привет", "+7")
            outbox.mark_sent(conn, rows[cid], gateway)
        assert outbox.delivery_report(conn, "sms", "g1", True) == 1
        outbox.mark_final(conn, rows["c2"], "failed", "no such number")
    assert [(e["customer_id"], e["detail"], e["ref"]) for e in events(db, "message")] == [
        ("c1", "delivered", str(template)),
        ("c2", "failed", str(template)),
    ]
    engine.run_once(db, dt.datetime.now(dt.UTC))  # outcomes come at the real clock's time
    assert tags(db, "c1") == {"delivered"} and tags(db, "c2") == {"bad"}
    assert not promo(db)
    with db.transaction() as conn:
        outbox.mark_engaged(conn, rows["c1"], clicked=True)
        outbox.mark_engaged(conn, rows["c1"], clicked=True)  # a second click: no second event
    assert [e["detail"] for e in events(db, "message")][2:] == ["opened", "clicked"]
    engine.run_once(db, dt.datetime.now(dt.UTC))
    assert [r["points"] for r in promo(db, "c1")] == [500] and not promo(db, "c2")
    assert [r["step"] for r in service.customer_triggers(db, MARKETER, "c1") if r["id"] == tid] == [3]


def test_promo_codes_issued_and_used_are_events(db):
    agent = FakeAgent("S1")
    apply(db, agent.registration("c1"))
    db.add_code_list(
        {
            "id": "L1",
            "name": "spring",
            "kind": "personal",
            "max_uses": 1,
            "offline": "never",
            "offline_limit": 0,
            "prefix": "",
            "body_length": 8,
            "tag_length": 0,
            "check_char": 0,
            "uploaded": 1,
            "created_by": "t",
            "created_at": now_utc(),
        }
    )
    db.conn.commit()
    tid = service.create(
        db,
        MARKETER,
        doc(
            {
                "conditions": [{"type": "promo_code_event", "list": "L1", "state": "issued"}],
                "actions": [{"type": "tag", "tag": "got-code"}],
            },
            {
                "conditions": [{"type": "promo_code_event", "list": "L1", "state": "used"}],
                "actions": [{"type": "credit", "points": 700}],
            },
        ),
    )
    service.start(db, MARKETER, tid, NOW)
    engine.run_once(db, NOW)
    with db.transaction():
        db.add_codes("L1", ["CODE1"], 1, customer="c1")
    engine.run_once(db, later(1))
    assert tags(db, "c1") == {"got-code"} and not promo(db)
    purchase = agent.purchase("c1")
    purchase["body"]["at"] = later(2).isoformat()
    purchase["body"]["promotions"] = [{"id": "P1", "points": 0, "discount": 0, "promo_code": "CODE1"}]
    apply(db, purchase)
    assert [(e["customer_id"], e["ref"], e["detail"]) for e in events(db, "promo_code")] == [
        ("c1", "L1", "received"),
        ("c1", "L1", "activated"),
    ]
    engine.run_once(db, later(3))
    assert [r["points"] for r in promo(db, "c1")] == [700]


def test_a_promo_code_condition_names_a_list_and_a_state(db):
    from central.marketing.triggers.definition import parse_trigger
    from central.services.access import FormError

    try:
        service.create(db, MARKETER, doc({"conditions": [{"type": "promo_code_event", "list": "", "state": "lost"}]}))
    except FormError as e:
        assert set(e.errors) >= {"steps.1.conditions.1.list", "steps.1.conditions.1.state"}
    else:
        raise AssertionError("saved")
    t = parse_trigger(doc({"conditions": [{"type": "promo_code_event", "list": 5}]}))
    assert t.steps[0].conditions[0].get("list") == "5" and t.steps[0].conditions[0].get("state") == "activated"


def test_console_edits_wake_the_customers_runs(db):
    agent = FakeAgent("S1")
    apply(db, agent.registration("c1"), agent.registration("c2"))
    tagged = service.create(
        db,
        MARKETER,
        doc(
            {
                "conditions": [{"type": "tag", "tags": ["vip"]}],
                "actions": [{"type": "cashier_message", "text": "VIP!"}],
            },
            name="vip",
        ),
    )
    points = service.create(
        db,
        MARKETER,
        doc(
            {
                "conditions": [
                    {"type": "points_event", "direction": "credited", "kinds": ["admin"], "amount_from": 100}
                ],
                "actions": [{"type": "tag", "tag": "thanked"}],
            },
            name="points",
        ),
    )
    level = service.create(
        db,
        MARKETER,
        doc({"conditions": [{"type": "level", "levels": ["gold"]}], "actions": [{"type": "tag", "tag": "gold"}]}),
    )
    for tid in (tagged, points, level):
        service.start(db, MARKETER, tid, NOW)
    engine.run_once(db, NOW)
    first = engine.run_once(db, later(1))
    assert first == (0, 0, 0)  # nothing due: no polling
    accounts.set_tags(db, SYSTEM, "c1", "vip")
    accounts.adjust_points(db, SYSTEM, "c2", {"points": "5", "reason": "sorry"})
    customer_admin.set_level(db, SYSTEM, "c2", "gold")
    customer_admin.block_customer(db, SYSTEM, "c2", "fraud check")
    kinds = [
        (r["customer_id"], r["kind"], r["detail"])
        for r in db.rows(
            "SELECT customer_id, kind, detail FROM trigger_events WHERE kind IN ('tags', 'points', 'level', 'card')"
            " ORDER BY id"
        )
    ]
    assert kinds == [
        ("c1", "tags", "console"),
        ("c2", "points", "credited"),
        ("c2", "level", "console"),
        ("c2", "card", "blocked"),
    ]
    _, runs, _ = engine.run_once(db, later(2))
    assert runs == 3  # c1 in "vip" (tags), c2 in "points" (points) and "level" (level); a block concerns none
    assert db.rows("SELECT text FROM customer_messages WHERE customer_id = 'c1'")[0]["text"] == "VIP!"
    assert {"thanked", "gold"} <= tags(db, "c2")


def test_the_nightly_job_prunes_old_processed_events(db):
    agent = FakeAgent("S1")
    apply(db, agent.registration("c1"))
    tid = service.create(db, MARKETER, service.templates("S1")["welcome"] | {"hours": ALL_HOURS})
    service.start(db, MARKETER, tid, NOW)
    old, recent, unread = (
        (NOW - dt.timedelta(days=500)).isoformat(),
        (NOW - dt.timedelta(days=10)).isoformat(),
        (NOW - dt.timedelta(days=600)).isoformat(),
    )
    for at in (old, old, recent):
        p = agent.purchase("c1")
        p["body"]["at"] = at
        apply(db, p)
    engine.run_once(db, NOW)  # the engine reads them: its cursor passes them
    p = agent.purchase("c1")
    p["body"]["at"] = unread
    apply(db, p)  # old but not read yet: kept
    report = nightly.run(db, NOW.isoformat())
    assert report.trigger_events_pruned == 2
    left = [r["at"][:10] for r in db.rows("SELECT at FROM trigger_events WHERE kind = 'purchase' ORDER BY id")]
    assert left == [recent[:10], unread[:10]]
    db.set_setting("trigger_events_retention_days", "5")
    engine.run_once(db, NOW)
    assert nightly.run(db, NOW.isoformat()).trigger_events_pruned == 2
    assert nightly.run(db, NOW.isoformat()).trigger_events_pruned == 0


def test_pruning_walks_past_ranges_that_keep_rows(db):
    from central.storage import triggers as q

    apply(db, FakeAgent("S1").registration("c1"))
    tid = service.create(db, MARKETER, service.templates("S1")["welcome"] | {"hours": ALL_HOURS})
    service.start(db, MARKETER, tid, NOW)
    recent, old = (NOW - dt.timedelta(days=1)).isoformat(), (NOW - dt.timedelta(days=900)).isoformat()
    with db.transaction() as conn:
        q.add_events(conn, [("c1", "points", recent if i % 7 == 0 else old, None, 1, None, None) for i in range(100)])
    engine.run_once(db, NOW)
    with db.transaction() as conn:
        deleted, after = q.prune_events(conn, (NOW - dt.timedelta(days=400)).isoformat(), None, chunk=10)
    assert deleted and after is not None
    assert engine.prune_events(db, NOW) + deleted == 85
    assert db.rows("SELECT COUNT(*) AS n FROM trigger_events WHERE kind = 'points'")[0]["n"] == 15
