"""The trigger action ``percent`` with an end (marketing.md: "optionally until a date"; docs/triggers.md, "A percent
until a date"): set with its end, the end in the deltas, removed by the nightly job once (audited, a new version),
a percent set without an end clears the old one, and the editor refuses a bad or past date."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from central.marketing import trigger_engine as engine
from central.marketing.triggers.definition import Known, TriggerError, parse_trigger
from central.points import nightly
from central.services import audit
from central.services import triggers as service
from central.services.access import FormError
from central.storage.store import Store
from central.sync.deltas import customer_page
from tests.sync.fakes import FakeAgent

from .test_engine import MARKETER, NOW, apply, doc

pytestmark = pytest.mark.postgresql

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")
TODAY = NOW.astimezone(MOSCOW).date()


@pytest.fixture
def db(db):
    db.add_store("S1", timezone="Europe/Moscow")
    db.add_store("S2", timezone="Asia/Vladivostok")
    db.stream_state("S1", "a1")
    apply(db, FakeAgent("S1").registration("c1"))
    return db


def _run(db: Store, *actions: dict, at: dt.datetime = NOW, name: str = "t") -> int:
    tid = service.create(
        db,
        MARKETER,
        doc({"conditions": [{"type": "registration", "stores": ["S1"]}], "actions": list(actions)}, name=name),
    )
    service.start(db, MARKETER, tid, at)
    engine.run_once(db, at)
    return tid


def _customer(db: Store) -> dict:
    return db.rows("SELECT network_percent, network_percent_ends_at, version FROM customers WHERE id = 'c1'")[0]


def _store_percents(db: Store) -> list[dict]:
    return db.rows(
        "SELECT store, percent, ends_at FROM customer_store_percents WHERE customer_id = 'c1' ORDER BY store"
    )


def _delta(db: Store, store: str = "S1") -> dict:
    deltas, _, _ = customer_page(db, store, 0, 10_000)
    return next(d for d in deltas if d["customer_id"] == "c1")


def _end_of(day: dt.date) -> str:
    """The first instant after ``day`` in Moscow (the owner store's time), as stored."""
    start = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), MOSCOW)
    return start.astimezone(dt.UTC).isoformat(timespec="seconds")


def test_until_a_date_ends_after_that_day_in_the_owner_stores_time(db):
    until = TODAY + dt.timedelta(days=10)
    version = _customer(db)["version"]
    _run(db, {"type": "percent", "percent": 7, "until": until.isoformat()})
    row = _customer(db)
    assert (row["network_percent"], row["network_percent_ends_at"]) == ("7", _end_of(until))
    assert row["version"] > version
    sent = _delta(db)
    assert (sent["network_percent"], sent["network_percent_ends_at"]) == ("7", _end_of(until))
    assert "store_percent_ends_at" not in sent


def test_n_days_from_the_action_for_a_store_and_no_end_clears_it(db):
    _run(db, {"type": "percent", "percent": 9, "store": "S1", "days": 30})
    assert _store_percents(db) == [
        {"store": "S1", "percent": "9", "ends_at": (NOW + dt.timedelta(days=30)).isoformat(timespec="seconds")}
    ]
    assert _delta(db)["store_percent_ends_at"] == (NOW + dt.timedelta(days=30)).isoformat(timespec="seconds")
    assert "store_percent_ends_at" not in _delta(db, "S2") and _delta(db, "S2")["store_percent"] is None
    # another trigger sets the store's percent without an end: the old end goes with it
    _run(db, {"type": "percent", "percent": 4, "store": "S1"}, at=NOW + dt.timedelta(minutes=1), name="t2")
    assert _store_percents(db) == [{"store": "S1", "percent": "4", "ends_at": None}]
    assert "store_percent_ends_at" not in _delta(db)


def test_without_an_end_the_percent_stays(db):
    _run(db, {"type": "percent", "percent": 5})
    assert (_customer(db)["network_percent"], _customer(db)["network_percent_ends_at"]) == ("5", None)
    assert nightly.expire_percents(db, (NOW + dt.timedelta(days=5000)).isoformat(timespec="seconds")) == 0
    assert _customer(db)["network_percent"] == "5"


def test_the_nightly_job_removes_an_ended_percent_once(db):
    _run(db, {"type": "percent", "percent": 7, "days": 3}, {"type": "percent", "percent": 8, "store": "S1"})
    ends = (NOW + dt.timedelta(days=3)).isoformat(timespec="seconds")
    before = _customer(db)["version"]
    just_before = (NOW + dt.timedelta(days=3) - dt.timedelta(seconds=1)).isoformat(timespec="seconds")
    assert nightly.expire_percents(db, just_before) == 0 and _customer(db)["version"] == before
    report = nightly.run(db, ends)
    assert report.percents_ended == 1
    row = _customer(db)
    assert (row["network_percent"], row["network_percent_ends_at"]) == (None, None) and row["version"] > before
    assert _store_percents(db) == [{"store": "S1", "percent": "8", "ends_at": None}]  # no end: kept
    sent = _delta(db)
    assert sent["version"] == row["version"] and sent["network_percent"] is None and sent["store_percent"] == "8"
    assert "network_percent_ends_at" not in sent
    [entry] = [
        r for r in audit.history(db, entity="customer", entity_id="c1") if r["action"] == "customer.percents_ended"
    ]
    assert entry["username"] == "nightly"
    assert entry["before"]["network_percent"] == "7" and entry["before"]["network_percent_ends_at"] == ends
    assert entry["after"]["network_percent"] is None and entry["after"]["store_percents"] == {"S1": "8"}
    # a second run (the same night, or after a crash and restart) changes nothing
    assert nightly.run(db, ends).percents_ended == 0
    assert _customer(db)["version"] == row["version"]
    assert (
        len(
            [
                r
                for r in audit.history(db, entity="customer", entity_id="c1")
                if r["action"] == "customer.percents_ended"
            ]
        )
        == 1
    )


def test_the_nightly_removal_is_one_transaction(db, monkeypatch):
    """A crash before the commit (here: the audit row fails) leaves the percent, its end and the version as they
    were; the next run does it all once."""
    _run(db, {"type": "percent", "percent": 9, "store": "S1", "days": 1})
    ends = (NOW + dt.timedelta(days=1)).isoformat(timespec="seconds")
    before, rows = _customer(db), _store_percents(db)

    def crash(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(nightly, "add_audit_row", crash)
    with pytest.raises(RuntimeError):
        nightly.expire_percents(db, ends)
    assert _customer(db) == before and _store_percents(db) == rows
    monkeypatch.undo()
    assert nightly.expire_percents(db, ends) == 1
    assert _store_percents(db) == [] and _customer(db)["version"] > before["version"]


def test_an_end_date_passed_before_the_customer_got_there_sets_nothing(db):
    until = TODAY + dt.timedelta(days=1)
    _run(db, {"type": "percent", "percent": 7, "until": until.isoformat()}, at=NOW + dt.timedelta(days=3))
    assert _customer(db)["network_percent"] is None
    assert db.count("trigger_actions") == 1  # claimed (done once: nothing to set), not tried again


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"until": "31.01.2030"}, "YYYY-MM-DD"),
        ({"until": "2030-02-30"}, "YYYY-MM-DD"),
        ({"until": 20300131}, "YYYY-MM-DD"),
        ({"until": (TODAY - dt.timedelta(days=1)).isoformat()}, "has passed"),
        ({"until": (TODAY + dt.timedelta(days=9)).isoformat(), "days": 3}, "not both"),
    ],
)
def test_the_editor_refuses_a_bad_end_and_saves_nothing(db, action, message):
    with pytest.raises(FormError) as err:
        _run(db, {"type": "percent", "percent": 7} | action)
    assert message in err.value.errors["steps.1.actions.1.until"]
    assert db.triggers_list() == []


def test_today_is_the_owner_stores_today_and_a_stored_version_parses_after_its_date():
    day = dt.date(2030, 1, 31)
    action = {"type": "percent", "percent": 7, "until": day.isoformat()}
    document = doc({"conditions": [{"type": "registration", "stores": ["S1"]}], "actions": [action]})
    known = Known(stores={"S1"}, today={"": dt.date(2030, 1, 31), "S1": dt.date(2030, 2, 1)})
    with pytest.raises(TriggerError) as err:
        parse_trigger(document, known)  # S1 is already in February
    assert [p.where for p in err.value.problems] == ["steps.1.actions.1.until"]
    assert parse_trigger(document, Known(stores={"S1"}, today={"": dt.date(2030, 2, 1), "S1": day}))
    # the engine reads stored versions without ``known``: a date now past still parses
    assert parse_trigger(document).steps[0].actions[0].params["until"] == "2030-01-31"


def test_the_editor_form_has_the_end_date_and_round_trips_it(db):
    from central.services import trigger_form

    assert ("until", "date") in trigger_form.ACTION_PARAMS["percent"]
    until = (TODAY + dt.timedelta(days=5)).isoformat()
    draft = trigger_form.from_steps(
        db, [{"conditions": [{"type": "registration"}], "actions": [{"type": "percent", "percent": 3, "until": until}]}]
    )
    steps, errors = trigger_form.to_steps(db, draft)
    assert not errors and steps[0]["actions"][0]["until"] == until and steps[0]["actions"][0]["percent"] in (3, "3")


def test_the_test_control_names_the_end(db):
    tid = service.create(
        db,
        MARKETER,
        doc(
            {
                "conditions": [{"type": "registration", "stores": ["S1"]}],
                "actions": [{"type": "percent", "percent": 7, "store": "S1", "days": 30}],
            }
        ),
    )
    result = service.test(db, MARKETER, tid, "c1", NOW)
    assert result["steps"][0]["actions"] == ["personal percent 7% in store S1, for 30 days"]
