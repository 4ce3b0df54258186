"""The durable engine on a real SQLite file with a fake clock: events from the ingest and timers move
customers; actions are done once, their effects in the progress's transaction."""

from __future__ import annotations

import datetime as dt

import pytest
from werkzeug.datastructures import MultiDict

from central.marketing import trigger_engine as engine
from central.services import triggers as service
from central.services.access import SYSTEM, Actor, FormError
from central.services.filters import CustomerQuery, where
from central.storage.store import IngestUnit, Store
from tests.sync.fakes import FakeAgent

pytestmark = pytest.mark.postgresql

MARKETER = Actor(7, "mia", "marketer")
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
ALL_HOURS = list(range(24))


def apply(db: Store, *events) -> set[str]:
    last = events[-1]
    return db.commit_ingest(
        IngestUnit(events=list(events), pointers={(last["store"], last["agent"]): (last["seq"], last["id"])})
    )


@pytest.fixture
def db(db):
    db.add_store("S1", timezone="Europe/Moscow")
    db.stream_state("S1", "a1")
    return db


def promo(db: Store, cid: str | None = None) -> list[dict]:
    rows = db.rows("SELECT customer_id, points, kind, reason FROM ledger WHERE kind = 'bonus.promo' ORDER BY id")
    return [r for r in rows if cid is None or r["customer_id"] == cid]


def _after_now() -> dt.datetime:
    """Now, after what the test registered (NOW is taken at import: past the chain's midnight it is the day before)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def doc(*steps, name="t", hours=ALL_HOURS):
    return {"name": name, "owner_store": "S1", "group": "g", "hours": hours, "steps": list(steps)}


def test_welcome_bonus_on_registration_once(db):
    tid = service.create(db, MARKETER, service.templates("S1")["welcome"] | {"hours": ALL_HOURS})
    agent = FakeAgent("S1")
    apply(db, agent.registration("old"))
    now = _after_now()  # (the registration is stamped with the real clock: NOW, taken at import, may be a day before)
    assert service.start(db, MARKETER, tid, now) == 1
    engine.run_once(db, now)
    assert promo(db, "old") and promo(db, "old")[0]["points"] == 10000  # registered today: within 0..1 days
    apply(db, agent.registration("c1"))
    events, runs, actions = engine.run_once(db, now + dt.timedelta(minutes=1))
    assert events == 1 and runs == 1 and actions == 1
    [entry] = promo(db, "c1")
    assert entry["points"] == 10000 and f"trigger {tid}" in entry["reason"] and "step 1" in entry["reason"]
    engine.run_once(db, now + dt.timedelta(minutes=2))
    apply(db, agent.purchase("c1"))
    engine.run_once(db, now + dt.timedelta(minutes=3))
    assert len(promo(db, "c1")) == 1
    assert db.rows("SELECT balance FROM customers WHERE id = 'c1'")[0]["balance"] >= 10000
    [mine] = service.customer_triggers(db, MARKETER, "c1")
    assert mine["phase"] == "done" and mine["step"] == 1
    [listed] = service.listing(db, MARKETER)
    assert listed["steps"][0]["entered"] == 2 and listed["steps"][0]["actions"] == 2


def test_two_steps_by_purchases_and_the_within_period(db):
    agent = FakeAgent("S1")
    apply(db, agent.registration("c1"), agent.registration("c2"))
    tid = service.create(db, MARKETER, service.templates("S1")["second_purchase"] | {"hours": ALL_HOURS})
    service.start(db, MARKETER, tid, NOW)
    engine.run_once(db, NOW)
    assert not promo(db)
    p = agent.purchase("c1")
    p["body"]["at"] = (NOW + dt.timedelta(minutes=1)).isoformat()
    apply(db, p)
    engine.run_once(db, NOW + dt.timedelta(minutes=2))
    assert [r["step"] for r in service.customer_triggers(db, MARKETER, "c1")] == [1]
    p = agent.purchase("c1")
    p["body"]["at"] = (NOW + dt.timedelta(days=2)).isoformat()
    apply(db, p)
    engine.run_once(db, NOW + dt.timedelta(days=2, minutes=1))
    assert [r["points"] for r in promo(db, "c1")] == [10000]
    # c2: first purchase, then nothing for 14 days: out
    p = agent.purchase("c2")
    p["body"]["at"] = (NOW + dt.timedelta(minutes=1)).isoformat()
    apply(db, p)
    engine.run_once(db, NOW + dt.timedelta(minutes=2))
    engine.run_once(db, NOW + dt.timedelta(days=14, minutes=3))
    [run] = service.customer_triggers(db, MARKETER, "c2")
    assert run["phase"] == "out" and not promo(db, "c2")


def test_inactivity_timer_rearmed_by_a_purchase_and_temporary_bonus(db):
    agent = FakeAgent("S1")
    old = agent.purchase("c1")
    old["body"]["at"] = (NOW - dt.timedelta(days=20)).isoformat()
    apply(db, agent.registration("c1"), old)
    tid = service.create(db, MARKETER, service.templates("S1")["come_back"] | {"hours": ALL_HOURS})
    service.start(db, MARKETER, tid, NOW)
    run = db.rows("SELECT wake_at FROM trigger_runs WHERE trigger_id = ?", (tid,))[0]
    assert run["wake_at"] is not None and run["wake_at"] > NOW.isoformat()  # woken in 10 days, not polled
    engine.run_once(db, NOW + dt.timedelta(days=5))
    new = agent.purchase("c1")  # a purchase re-arms the timer: 30 days from today
    new["body"]["at"] = (NOW + dt.timedelta(days=5)).isoformat()
    apply(db, new)
    engine.run_once(db, NOW + dt.timedelta(days=5, minutes=1))
    engine.run_once(db, NOW + dt.timedelta(days=11))
    assert not promo(db)
    engine.run_once(db, NOW + dt.timedelta(days=36))
    [entry] = promo(db, "c1")
    assert entry["points"] == 30000
    lot = db.rows("SELECT expires_at FROM lots WHERE customer_id = 'c1' AND expires_at IS NOT NULL")
    assert lot and lot[0]["expires_at"] > (NOW + dt.timedelta(days=49)).isoformat()


def test_pause_and_firing_hours_in_the_owner_stores_zone(db):
    agent = FakeAgent("S1")
    apply(db, agent.registration("c1"))
    at_nine = {"hours": [9]}
    tid = service.create(
        db,
        MARKETER,
        doc(
            {"conditions": [{"type": "registration", "stores": ["S1"]}]},
            {"pause_days": 7, "actions": [{"type": "tag", "tag": "week"}]},
        )
        | at_nine,
    )
    morning = dt.datetime(2030, 1, 10, 6, 30, tzinfo=dt.UTC)  # 09:30 in Moscow
    service.start(db, MARKETER, tid, morning)
    engine.run_once(db, morning)
    run = db.rows("SELECT step, phase, wake_at FROM trigger_runs")[0]
    assert (run["step"], run["phase"]) == (1, "pause") and run["wake_at"].startswith("2030-01-17T06:30")
    engine.run_once(db, dt.datetime(2030, 1, 17, 12, 0, tzinfo=dt.UTC))  # 15:00 Moscow: not a firing hour
    assert db.rows("SELECT tag FROM customer_tags") == []
    assert db.rows("SELECT wake_at FROM trigger_runs")[0]["wake_at"] == "2030-01-18T06:00:00+00:00"
    search = db.rows("SELECT customer_id, doc FROM customer_search")
    engine.run_once(db, dt.datetime(2030, 1, 18, 6, 0, tzinfo=dt.UTC))
    assert db.rows("SELECT tag FROM customer_tags") == [{"tag": "week"}]
    # the tag rewrote no search row (migration 38), and the quick search finds the customer by it
    assert db.rows("SELECT customer_id, doc FROM customer_search") == search
    sql, params = where(CustomerQuery.from_args(MultiDict({"q": "WEEK"})), SYSTEM, "UTC", db.dialect)
    assert db.customer_ids_where(sql, params) == ["c1"]


def test_editing_a_running_trigger_makes_a_version_runs_keep_theirs(db):
    agent = FakeAgent("S1")
    apply(db, agent.registration("c1"))
    first = doc(
        {"conditions": [{"type": "registration", "stores": ["S1"]}]},
        {"conditions": [{"type": "tag", "tags": ["go"]}], "actions": [{"type": "credit", "points": 100}]},
    )
    tid = service.create(db, MARKETER, first)
    assert service.save(db, MARKETER, tid, first | {"name": "t2"}) == 1  # a draft is edited in place
    service.start(db, MARKETER, tid, NOW)
    engine.run_once(db, NOW)
    second = copy_steps(first, 500)
    assert service.save(db, MARKETER, tid, second) == 2
    apply(db, agent.registration("c2"))
    engine.run_once(db, NOW + dt.timedelta(minutes=1))
    assert {r["customer_key"]: r["version"] for r in db.rows("SELECT customer_key, version FROM trigger_runs")} == {
        1: 1,
        2: 2,
    }
    db.conn.execute("INSERT INTO customer_tags (customer_id, tag) VALUES ('c1', 'go'), ('c2', 'go')")
    db.conn.commit()
    for run in db.rows("SELECT customer_key FROM trigger_runs"):
        db.conn.execute(
            "UPDATE trigger_runs SET wake_at = ? WHERE customer_key = ?", (NOW.isoformat(), run["customer_key"])
        )
    db.conn.commit()
    engine.run_once(db, NOW + dt.timedelta(minutes=2))
    assert {r["customer_id"]: r["points"] for r in promo(db)} == {"c1": 100, "c2": 500}
    service.stop(db, MARKETER, tid)
    assert db.trigger_row(tid)["state"] == "stopped"
    assert service.copy(db, MARKETER, tid) != tid


def copy_steps(d, points):
    import copy

    out = copy.deepcopy(d)
    out["steps"][1]["actions"][0]["points"] = points
    return out


def test_bad_documents_are_refused_and_nothing_saved(db):
    with pytest.raises(FormError) as err:
        service.create(db, MARKETER, doc({"actions": [{"type": "segment_add", "segment": 99}]}, hours=[]))
    assert {"hours", "steps.1.conditions", "steps.1.actions.1.segment"} <= set(err.value.errors)
    assert db.triggers_list() == []


def test_test_on_a_customer_changes_nothing(db):
    agent = FakeAgent("S1")
    apply(db, agent.registration("c1"))
    tid = service.create(db, MARKETER, service.templates("S1")["welcome"])
    before = db.rows("SELECT COUNT(*) AS n FROM ledger")[0]["n"]
    result = service.test(db, MARKETER, tid, "c1", _after_now())
    assert result["steps"][0]["holds"] and result["would"] == ["credit 10000 points"]
    assert "registration" in result["steps"][0]["reasons"][0]["text"]
    assert db.rows("SELECT COUNT(*) AS n FROM ledger")[0]["n"] == before
    assert db.rows("SELECT COUNT(*) AS n FROM trigger_runs")[0]["n"] == 0


def test_entering_a_segment_is_an_event_for_the_triggers(db):
    from central.services import accounts
    from central.services import segments as segment_service

    agent = FakeAgent("S1")
    apply(db, agent.registration("c1"))
    vip = segment_service.create(db, MARKETER, "VIP", "dynamic", {"audiences": [[{"type": "tag", "tags": ["vip"]}]]})
    tid = service.create(
        db,
        MARKETER,
        doc(
            {
                "conditions": [{"type": "segment_event", "segment": vip, "change": "entered"}],
                "actions": [{"type": "credit", "points": 700}],
            }
        ),
    )
    service.start(db, MARKETER, tid, NOW)
    engine.run_once(db, NOW)
    assert not promo(db)
    accounts.set_tags(db, MARKETER, "c1", "vip")
    engine.run_once(db, NOW + dt.timedelta(minutes=1))  # the history row becomes an event
    engine.run_once(db, NOW + dt.timedelta(minutes=2))
    assert [r["points"] for r in promo(db, "c1")] == [700]


def test_the_queue_on_a_step_first_come_first_served(db):
    agent = FakeAgent("S1")
    apply(db, agent.registration("c1"), agent.registration("c2"))
    tid = service.create(
        db,
        MARKETER,
        doc(
            {
                "conditions": [{"type": "registration", "stores": ["S1"]}],
                "limits": {"at_once": 1},
                "restart_days": 1,
                "actions": [{"type": "credit", "points": 100}],
            }
        ),
    )
    service.start(db, MARKETER, tid, NOW)
    engine.run_once(db, NOW)
    phases = {r["phase"] for r in db.rows("SELECT phase FROM trigger_runs")}
    assert phases == {"done", "queue"}
    [first] = [r["customer_id"] for r in promo(db)]
    second = {"c1", "c2"} - {first}
    engine.run_once(db, NOW + dt.timedelta(days=1))  # the first restarts: the place goes to the one queued
    engine.run_once(db, NOW + dt.timedelta(days=1, seconds=1))
    assert [r["customer_id"] for r in promo(db)] == [first, *second]
    [listed] = service.listing(db, MARKETER)
    assert listed["steps"][0]["queued"] == 1 and listed["steps"][0]["entered"] == 2


def test_a_send_action_queues_one_message_in_the_messages_outbox(db):
    from central.services import messages
    from central.services.access import SYSTEM

    agent = FakeAgent("S1")
    apply(db, agent.registration("c1"))
    template = messages.save_template(db, SYSTEM, name="hi", channel="sms", language="ru", body="Привет")
    tid = service.create(
        db,
        MARKETER,
        doc(
            {
                "conditions": [{"type": "registration", "stores": ["S1"]}],
                "actions": [{"type": "send", "template": template}, {"type": "tag", "tag": "greeted"}],
                "restart_days": 1,
            }
        ),
    )
    service.start(db, MARKETER, tid, NOW)
    engine.run_once(db, NOW)
    engine.run_once(db, NOW + dt.timedelta(minutes=5))
    rows = db.rows("SELECT cause, customer_id, channel FROM message_outbox")
    assert rows == [{"cause": f"trigger:{tid}:1:1:1:0", "customer_id": "c1", "channel": "sms"}]
    engine.run_once(db, NOW + dt.timedelta(days=1))  # a full restart: a new pass, a new message
    assert [r["cause"] for r in db.rows("SELECT cause FROM message_outbox ORDER BY id")] == [
        f"trigger:{tid}:1:1:1:0",
        f"trigger:{tid}:1:1:2:0",
    ]


def test_birthday_template_wakes_on_the_day_with_a_cashier_message(db):
    agent = FakeAgent("S1")
    apply(db, agent.registration("c1"))
    zone = dt.timezone(dt.timedelta(hours=3))  # Moscow
    today = NOW.astimezone(zone).date()
    birthday = (today + dt.timedelta(days=3)).replace(year=1990)
    db.conn.execute("UPDATE customers SET birthday = ? WHERE id = 'c1'", (birthday.isoformat(),))
    db.conn.commit()
    tid = service.create(db, MARKETER, service.templates("S1")["birthday"] | {"hours": ALL_HOURS})
    service.start(db, MARKETER, tid, NOW)
    engine.run_once(db, NOW)
    wake = db.rows("SELECT wake_at FROM trigger_runs")[0]["wake_at"]
    midnight = dt.datetime.combine(today + dt.timedelta(days=3), dt.time(), zone).astimezone(dt.UTC)
    assert wake == midnight.isoformat(timespec="seconds")  # woken on the day, not polled daily
    engine.run_once(db, midnight - dt.timedelta(minutes=1))
    assert not promo(db)
    engine.run_once(db, midnight + dt.timedelta(minutes=1))
    assert [r["points"] for r in promo(db)] == [20000]
    assert [m["text"] for m in db.rows("SELECT text FROM customer_messages")] == [
        "Birthday: congratulate and give the gift"
    ]


def test_monthly_segment_refresh_template(db):
    from central.services import segments as segment_service

    agent = FakeAgent("S1")
    old = agent.purchase("c1")
    old["body"]["at"] = (NOW - dt.timedelta(days=40)).isoformat()
    apply(db, agent.registration("c1"), old)
    lapsed = segment_service.create(db, MARKETER, "Lapsed", "static")
    tid = service.create(db, MARKETER, service.templates("S1", lapsed)["monthly_segment"] | {"hours": ALL_HOURS})
    service.start(db, MARKETER, tid, NOW)
    engine.run_once(db, NOW)
    members = lambda: [r["key"] for r in db.rows("SELECT key FROM segment_members WHERE segment_id = ?", (lapsed,))]  # noqa: E731
    assert len(members()) == 1
    back = agent.purchase("c1")
    back["body"]["at"] = (NOW + dt.timedelta(days=2)).isoformat()
    apply(db, back)
    engine.run_once(db, NOW + dt.timedelta(days=2, minutes=1))
    assert members() == []
    engine.run_once(db, NOW + dt.timedelta(days=30, minutes=1))  # full restart: bought 28 days ago, not lapsed
    assert members() == [] and service.customer_triggers(db, MARKETER, "c1")[0]["pass_no"] == 2


def test_stopping_keeps_progress_and_starting_again_resumes(db):
    agent = FakeAgent("S1")
    apply(db, agent.registration("c1"))
    tid = service.create(db, MARKETER, service.templates("S1")["second_purchase"] | {"hours": ALL_HOURS})
    service.start(db, MARKETER, tid, NOW)
    p = agent.purchase("c1")
    p["body"]["at"] = (NOW + dt.timedelta(minutes=1)).isoformat()
    apply(db, p)
    engine.run_once(db, NOW + dt.timedelta(minutes=2))
    assert service.customer_triggers(db, MARKETER, "c1")[0]["step"] == 1
    service.stop(db, MARKETER, tid)
    p = agent.purchase("c1")  # while stopped: nothing happens
    p["body"]["at"] = (NOW + dt.timedelta(minutes=3)).isoformat()
    apply(db, p)
    engine.run_once(db, NOW + dt.timedelta(minutes=4))
    assert not promo(db) and service.customer_triggers(db, MARKETER, "c1")[0]["step"] == 1
    service.start(db, MARKETER, tid, NOW + dt.timedelta(minutes=5))  # resumes: the purchase counts
    engine.run_once(db, NOW + dt.timedelta(minutes=6))
    assert [r["points"] for r in promo(db, "c1")] == [10000]
