"""The Triggers pages through the Flask client: list, template, validation in place, save, start, test,
access by owner store, the customer's profile."""

from __future__ import annotations

import json

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
    assert bad.status_code == 422 and 'data-for="hours"' in text and "steps.1.conditions" in text
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
