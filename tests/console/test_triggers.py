"""The Triggers pages through the Flask client: list, template, validation in place, save, start, test,
access by owner store, the customer's profile."""

from __future__ import annotations

import datetime as dt
import json
from html import unescape

import pytest

from central.services import triggers as service
from central.services.access import SYSTEM
from tests.sync.fakes import FakeAgent

from .conftest import apply_events, login

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def test_build_test_start_and_see_it_on_the_profile(client, db):
    login(client, "marketer")
    page = client.get("/triggers/new?template=welcome")
    assert page.status_code == 200 and "registration" in page.get_data(as_text=True)
    bad = client.post("/triggers/new", data={"name": "W", "owner_store": "S1", "group": "g", "steps": "[{}]"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'data-for="hours"' in text and 'data-for="s.1.conditions"' in text
    assert db.triggers_list() == []
    steps = json.dumps(service.templates("S1")["welcome"]["steps"])
    ok = client.post(
        "/triggers/new",
        data={"name": "W", "owner_store": "S1", "group": "g", "steps": steps, "hours": [str(h) for h in range(24)]},
    )
    assert ok.status_code == 302
    [row] = db.triggers_list()
    apply_events(db, FakeAgent("S1").registration("c9"))
    tested = client.get(f"/triggers/{row['id']}/test?customer=c9").get_data(as_text=True)
    assert 'data-holds="yes"' in tested and "10000" in tested
    assert client.post(f"/triggers/{row['id']}/control", data={"action": "start"}).status_code == 302
    listing = client.get("/triggers/").get_data(as_text=True)
    assert 'data-state="running"' in listing
    from central.marketing import trigger_engine

    trigger_engine.run_once(db)
    profile = client.get("/customers/c9").get_data(as_text=True)
    assert 'id="customer-triggers"' in profile and ">W<" in profile


def test_only_users_of_the_owner_store_see_a_trigger(client, db):
    doc = service.templates("S2")["welcome"]
    service.create(db, SYSTEM, doc)
    login(client, "manager")  # manages S1 only
    assert "data-trigger=" not in client.get("/triggers/").get_data(as_text=True)
    login(client, "marketer")
    assert "data-trigger=" in client.get("/triggers/").get_data(as_text=True)


def _hours() -> list[str]:
    return [str(h) for h in range(24)]


def test_the_step_editor_builds_a_trigger_field_by_field_without_a_script(client, db):
    """Add a condition and an action to step 1, a second step, remove it: each a plain post; then save."""
    login(client, "marketer")
    base = {"name": "Welcome", "owner_store": "S1", "group": "g", "hours": _hours(), "s.1.present": "1"}
    page = client.post("/triggers/new", data={**base, "action": "add_condition:1", "add.s.1.c": "registration"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="s.1.c.1.type" value="registration"' in html
    assert 'name="s.1.c.1.days_from"' in html and db.triggers_list() == []
    form = {**base, "s.1.c.1.type": "registration", "s.1.c.1.days_from": "0", "s.1.c.1.days_to": "1"}
    html = client.post("/triggers/new", data={**form, "action": "add_action:1", "add.s.1.a": "credit"}).get_data(
        as_text=True
    )
    assert 'name="s.1.a.1.type" value="credit"' in html and 'name="s.1.a.1.points"' in html
    form |= {"s.1.a.1.type": "credit", "s.1.a.1.points": "100", "s.1.a.1.expires_days": ""}
    html = client.post("/triggers/new", data={**form, "action": "add_step"}).get_data(as_text=True)
    assert 'id="step-2"' in html and 'name="s.2.present"' in html
    html = client.post("/triggers/new", data={**form, "s.2.present": "1", "action": "remove_step:2"}).get_data(
        as_text=True
    )
    assert 'id="step-2"' not in html and 'value="registration"' in html  # step 1 kept as typed
    assert '"points": 10000' in unescape(html)  # the JSON export follows the form (100 = 10000 minor units)
    saved = client.post("/triggers/new", data={**form, "action": "save"})
    assert saved.status_code == 302
    [row] = db.triggers_list()
    doc = db.trigger_document(row["id"], 1)
    assert doc["steps"] == [
        {
            "conditions": [{"type": "registration", "days_from": "0", "days_to": "1"}],
            "actions": [{"type": "credit", "points": 10000}],
        }
    ]
    # editing shows the same fields again; removing a condition is a post too
    html = client.get(f"/triggers/{row['id']}").get_data(as_text=True)
    assert 'name="s.1.a.1.points" value="100"' in html and 'name="s.1.c.1.days_to" value="1"' in html
    html = client.post(f"/triggers/{row['id']}", data={**form, "action": "remove_condition:1:1"}).get_data(as_text=True)
    assert "s.1.c.1.type" not in html and db.trigger_document(row["id"], 1) == doc


def test_the_step_editor_shows_each_error_beside_its_field_in_russian_and_english(client, db):
    login(client, "marketer")
    form = {
        "name": "Bad",
        "owner_store": "S1",
        "group": "g",
        "hours": _hours(),
        "s.1.present": "1",
        "s.1.c.1.type": "inactivity",
        "s.1.c.1.days": "",
        "s.1.a.1.type": "credit",
        "s.1.a.1.points": "ten",
        "s.1.step_back_days": "3",
        "s.2.present": "1",
        "s.2.limit_queue_days": "2",
        "action": "save",
    }
    client.post("/language", data={"lang": "en", "next": "/"})
    page = client.post("/triggers/new", data=form)
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and db.triggers_list() == []
    for where in ("s.1.c.1.days", "s.1.a.1.points", "s.1.step_back_days", "s.2.conditions", "s.2.limit_queue_days"):
        assert f'data-for="{where}"' in html, where
    assert "the first step has no step to go back to" in html
    client.post("/language", data={"lang": "ru", "next": "/"})
    html = client.post("/triggers/new", data=form).get_data(as_text=True)
    assert 'data-for="s.1.step_back_days"' in html and "the first step has no step to go back to" not in html
    assert "Шаг 1" in html


def test_the_steps_json_export_and_import(client, db):
    login(client, "marketer")
    steps = service.templates("S1")["second_purchase"]["steps"]
    base = {"name": "Second", "owner_store": "S1", "group": "g", "hours": _hours(), "s.1.present": "1"}
    html = client.post("/triggers/new", data={**base, "action": "import", "steps_json": json.dumps(steps)}).get_data(
        as_text=True
    )
    assert 'id="step-2"' in html and 'name="s.2.c.1.type" value="transaction"' in html
    bad = client.post("/triggers/new", data={**base, "action": "import", "steps_json": "[{"}).get_data(as_text=True)
    assert 'data-for="steps_json"' in bad
    deep = "[" * 100_000 + "]" * 100_000  # Python's recursion limit: a 500 until it was caught like bad JSON
    bad = client.post("/triggers/new", data={**base, "action": "import", "steps_json": deep})
    assert bad.status_code == 200 and 'data-for="steps_json"' in bad.text
    # what the import filled in saves as the same document
    from central.services import trigger_form

    draft = trigger_form.from_steps(db, steps)
    again, errors = trigger_form.to_steps(db, draft)
    assert not errors and service.check(db, {**service.templates("S1")["second_purchase"], "steps": again})


def test_the_pickers_offer_templates_segments_and_code_lists(client, db):
    from central.services import messages as message_service

    login(client, "marketer")
    template = message_service.save_template(db, SYSTEM, name="hi", channel="sms", language="ru", body="Привет")
    form = {
        "name": "Picks",
        "owner_store": "S1",
        "group": "g",
        "hours": _hours(),
        "s.1.present": "1",
        "s.1.c.1.type": "message_event",
        "s.1.c.1.outcome": "clicked",
        "s.1.c.1.template": str(template),
        "s.1.a.1.type": "send",
        "s.1.a.1.template": str(template),
    }
    html = client.post("/triggers/new", data={**form, "action": "add_step"}).get_data(as_text=True)
    assert f'<option value="{template}" selected>' in html and "hi (sms)" in html
    assert client.post("/triggers/new", data={**form, "action": "save"}).status_code == 302
    [row] = db.triggers_list()
    step = db.trigger_document(row["id"], 1)["steps"][0]
    assert step["conditions"] == [{"type": "message_event", "outcome": "clicked", "template": template}]
    assert step["actions"] == [{"type": "send", "template": template}]


def test_the_percent_actions_end_date_in_the_editor_in_russian_and_english(client, db):
    """The editor's "until" field: a past day and both ends are refused beside the field, nothing saved; a good
    day is saved and shown again."""
    login(client, "marketer")
    today = dt.date.today()
    form = {
        "name": "Percent",
        "owner_store": "S1",
        "group": "g",
        "hours": _hours(),
        "s.1.present": "1",
        "s.1.c.1.type": "registration",
        "s.1.a.1.type": "percent",
        "s.1.a.1.percent": "7",
        "s.1.a.1.until": (today - dt.timedelta(days=3)).isoformat(),
        "action": "save",
    }
    client.post("/language", data={"lang": "en", "next": "/"})
    page = client.post("/triggers/new", data=form)
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and db.triggers_list() == []
    assert 'data-for="s.1.a.1.until"' in html and "has passed: choose today or a later date" in html
    client.post("/language", data={"lang": "ru", "next": "/"})
    html = client.post("/triggers/new", data={**form, "s.1.a.1.days": "5"}).get_data(as_text=True)
    assert "уже прошла" in html and db.triggers_list() == []
    until = (today + dt.timedelta(days=30)).isoformat()
    assert client.post("/triggers/new", data={**form, "s.1.a.1.until": until}).status_code == 302
    [row] = db.triggers_list()
    html = client.get(f"/triggers/{row['id']}").get_data(as_text=True)
    assert f'name="s.1.a.1.until" value="{until}"' in html
