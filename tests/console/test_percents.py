"""Personal percents: set in the console, checked, audited, sent down to the store, used by the what-if."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from central.services import audit, percents, rules, whatif
from central.services.access import Forbidden, FormError
from central.sync.deltas import customer_page

from .conftest import apply_events, login, sale
from .test_rules import SPEC_FORM, _multi

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def _delta(db, cid, store):
    deltas, _, _ = customer_page(db, store, 0, 10_000)
    return next(d for d in deltas if d["customer_id"] == cid)


@pytest.mark.parametrize(
    ("text", "stored"),
    [("5", "5"), (" 2,5 ", "2.5"), ("0.75", "0.75"), ("100", "100"), ("7.50", "7.5"), ("0", "0"), ("", None)],
)
def test_canonical_percents(text, stored):
    assert percents.canonical(text) == stored


@pytest.mark.parametrize("text", ["100.01", "-1", "abc", "1.234", "5%"])
def test_bad_percents(text):
    with pytest.raises(ValueError):
        percents.canonical(text)


def test_a_marketer_sets_both_and_the_stores_get_them(db, people, shoppers):
    version = db.customer("c1")["version"]
    after = percents.set_percents(
        db, people["marketer"], "c1", {"network_percent": "3", "store_percent_S1": "7,5", "store_percent_S2": ""}
    )
    assert after == {"network_percent": "3", "store_percents": {"S1": "7.5"}}
    assert db.customer("c1")["version"] > version
    s1, s2 = _delta(db, "c1", "S1"), _delta(db, "c1", "S2")
    assert (s1["network_percent"], s1["store_percent"]) == ("3", "7.5")
    assert (s2["network_percent"], s2["store_percent"]) == ("3", None)
    row = audit.history(db, entity="customer", entity_id="c1", limit=1)[0]
    assert row["action"] == "customer.percents" and row["username"] == "marketer"
    assert row["before"] == {"network_percent": None, "store_percents": {}} and row["after"] == after
    shown = percents.percents(db, people["admin"], "c1")
    assert shown["network"] == "3" and {s["id"]: s["percent"] for s in shown["stores"]} == {"S1": "7.5", "S2": None}
    # emptied again: no personal percent, the level's or the base percent applies once more
    percents.set_percents(db, people["marketer"], "c1", {"network_percent": "", "store_percent_S1": ""})
    assert _delta(db, "c1", "S1")["network_percent"] is None and _delta(db, "c1", "S1")["store_percent"] is None


def test_bad_input_names_every_field_and_changes_nothing(db, people, shoppers):
    percents.set_percents(db, people["admin"], "c1", {"store_percent_S1": "4"})
    before, version = db.customer("c1"), db.customer("c1")["version"]
    with pytest.raises(FormError) as caught:
        percents.set_percents(
            db, people["admin"], "c1", {"network_percent": "101", "store_percent_S1": "1.234", "store_percent_S2": "2"}
        )
    assert set(caught.value.errors) == {"network_percent", "store_percent_S1"}
    assert db.customer("c1") == before and db.customer("c1")["version"] == version
    assert percents.percents(db, people["admin"], "c1")["stores"][0]["percent"] == "4"


def test_a_store_manager_sets_only_their_stores_percent(db, people, shoppers):
    manager = people["manager"]  # manages S1
    percents.set_percents(db, people["admin"], "c1", {"network_percent": "2", "store_percent_S2": "9"})
    shown = percents.percents(db, manager, "c1")
    assert not shown["network_editable"] and [s["id"] for s in shown["stores"]] == ["S1"]
    percents.set_percents(db, manager, "c1", {"store_percent_S1": "6"})
    assert db.customer("c1")["network_percent"] == "2"
    assert {s["id"]: s["percent"] for s in percents.percents(db, people["admin"], "c1")["stores"]} == {
        "S1": "6",
        "S2": "9",
    }
    with pytest.raises(Forbidden):
        percents.set_percents(db, manager, "c1", {"store_percent_S2": "1"})
    with pytest.raises(Forbidden):
        percents.set_percents(db, manager, "c1", {"network_percent": "50"})
    with pytest.raises(Forbidden):
        percents.set_percents(db, manager, "c2", {"store_percent_S1": "1"})  # c2 is S2's customer
    with pytest.raises(Forbidden):
        percents.set_percents(db, people["viewer"], "c1", {"store_percent_S1": "1"})


def test_the_profile_tab_form(client, db, shoppers):
    login(client, "marketer")
    page = client.get("/customers/c1").get_data(as_text=True)
    assert 'name="network_percent"' in page and 'name="store_percent_S2"' in page
    bad = client.post("/customers/c1/percents", data={"network_percent": "abc"})
    assert bad.status_code == 422 and "от 0 до 100" in bad.get_data(as_text=True)  # Russian by default
    ok = client.post("/customers/c1/percents", data={"network_percent": "4", "store_percent_S1": "8"})
    assert ok.status_code == 302 and db.customer("c1")["network_percent"] == "4"
    client.post("/logout")
    login(client, "manager")
    page = client.get("/customers/c1").get_data(as_text=True)
    assert 'name="network_percent"' not in page and 'name="store_percent_S1"' in page
    assert 'name="store_percent_S2"' not in page


def test_the_what_if_uses_the_customers_personal_percents(db, people, agents):
    a1 = agents["S1"]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    apply_events(db, a1.registration("c1"), a1.registration("c2"), a1.registration("c3"))
    apply_events(
        db,
        *(
            sale(a1, cid, [("SKU-1", "SUSHI", 100_000)], at=(now - dt.timedelta(days=1)).isoformat())
            for cid in ("c1", "c2", "c3")
        ),
    )
    rules.publish(db, people["admin"], "S1", _multi(SPEC_FORM))
    draft = _multi({**SPEC_FORM, "base_percent": "10", "categories-0-k": "1"})
    plain = whatif.compare(db, people["admin"], "S1", draft, days=7)
    percents.set_percents(db, people["admin"], "c1", {"store_percent_S1": "20"})  # wins in S1
    percents.set_percents(db, people["admin"], "c2", {"network_percent": "30", "store_percent_S2": "50"})
    personal = whatif.compare(db, people["admin"], "S1", draft, days=7)
    # three equal receipts at the draft's 10%; c1 earns 20% in S1, c2 30% (its S2 percent does not count
    # in S1), c3 the base: 2 + 3 + 1 shares instead of 1 + 1 + 1
    assert plain.draft > 0 and plain.draft % 3 == 0
    assert personal.draft == plain.draft // 3 * 6
    assert personal.current > plain.current


def _local_day(days: int, zone: str = "Europe/Moscow") -> str:
    return (dt.datetime.now(dt.UTC).astimezone(zoneinfo.ZoneInfo(zone)).date() + dt.timedelta(days=days)).isoformat()


def test_a_percent_until_a_day_set_by_hand_shown_kept_and_cleared(db, people, shoppers):
    """The profile's end dates (docs/triggers.md, "A percent until a date"): the last day a percent applies."""
    zone = percents._zone(db.setting("chain_timezone"))  # noqa: SLF001
    until = _local_day(10)
    after = percents.set_percents(
        db, people["marketer"], "c1", {"network_percent": "3", "network_percent_until": until, "store_percent_S1": "6"}
    )
    ends = percents.end_of_day(until, zone)
    assert after["network_percent_ends_at"] == ends and "store_percent_ends" not in after
    assert percents.last_day(ends, zone) == until
    shown = percents.percents(db, people["admin"], "c1")
    assert (shown["network_until"], shown["network_ends_at"]) == (until, ends)
    assert {s["id"]: s["until"] for s in shown["stores"]} == {"S1": None, "S2": None}
    assert _delta(db, "c1", "S1")["network_percent_ends_at"] == ends
    row = audit.history(db, entity="customer", entity_id="c1", limit=1)[0]
    assert row["after"]["network_percent_ends_at"] == ends
    # the form posts the date as shown: the percent and its end are unchanged, nothing written
    version = db.customer("c1")["version"]
    percents.set_percents(
        db, people["marketer"], "c1", {"network_percent": "3", "network_percent_until": until, "store_percent_S1": "6"}
    )
    assert db.customer("c1")["version"] == version
    # a store percent's end; the network percent changed without a date: its end goes
    store_until = _local_day(2)
    percents.set_percents(
        db,
        people["marketer"],
        "c1",
        {
            "network_percent": "4",
            "network_percent_until": "",
            "store_percent_S1": "6",
            "store_percent_until_S1": store_until,
        },
    )
    shown = percents.percents(db, people["admin"], "c1")
    assert shown["network"] == "4" and shown["network_ends_at"] is None
    assert {s["id"]: s["until"] for s in shown["stores"]}["S1"] == store_until
    assert "network_percent_ends_at" not in _delta(db, "c1", "S1") and _delta(db, "c1", "S1")["store_percent_ends_at"]
    # an API caller that sends only the percents: an unchanged one keeps its end, a changed one loses it
    percents.set_percents(db, people["admin"], "c1", {"network_percent": "5"})
    assert {s["id"]: s["until"] for s in percents.percents(db, people["admin"], "c1")["stores"]}["S1"] == store_until
    percents.set_percents(db, people["admin"], "c1", {"store_percent_S1": "7"})
    assert {s["id"]: s["until"] for s in percents.percents(db, people["admin"], "c1")["stores"]}["S1"] is None


@pytest.mark.parametrize(("field", "value"), [("network_percent_until", "31.12.2030"), ("store_percent_until_S1", "x")])
def test_a_bad_or_past_end_day_is_refused_and_nothing_changes(db, people, shoppers, field, value):
    before = db.customer("c1")
    for bad in (value, _local_day(-1)):
        with pytest.raises(FormError) as caught:
            percents.set_percents(
                db, people["admin"], "c1", {"network_percent": "3", "store_percent_S1": "4", field: bad}
            )
        assert set(caught.value.errors) == {field}
    assert db.customer("c1") == before and db.store_percents("c1") == {}


def test_the_profile_shows_the_end_and_a_manager_keeps_the_network_end(client, db, people, shoppers):
    until = _local_day(3)
    percents.set_percents(db, people["admin"], "c1", {"network_percent": "2", "network_percent_until": until})
    login(client, "marketer")
    page = client.get("/customers/c1").get_data(as_text=True)
    assert f'name="network_percent_until" value="{until}"' in page and 'name="store_percent_until_S1"' in page
    client.post("/logout")
    login(client, "manager")
    page = client.get("/customers/c1").get_data(as_text=True)
    assert 'name="network_percent_until"' not in page and 'id="network-percent"' in page
    ends = db.percent_ends("c1")[0]
    percents.set_percents(db, people["manager"], "c1", {"store_percent_S1": "6"})
    assert db.percent_ends("c1")[0] == ends and db.customer("c1")["network_percent"] == "2"
