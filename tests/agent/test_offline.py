"""The offline redemption bound (sync.md point 5): last known balance minus what was spent, and a daily limit."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.auth import add_terminal
from agent.store.times import iso
from tests.agent.conftest import Api, delta, receipt


@pytest.fixture
def api(make_app):
    app = make_app(broker_url="mqtt://127.0.0.1:1883", offline_daily_limit=3000, offline_after_seconds=300)
    store = app.extensions["loyalty_agent"].store
    store.apply_customer_delta(delta("c1", points=10_000))
    return Api(app, add_terminal(store, "P01"))


def store_of(api):
    return api.app.extensions["loyalty_agent"].store


def go_online(api, clock, ago: float = 0) -> None:
    store = store_of(api)
    store.set_state("link", "online")
    store.set_state("last_sync_at", iso(clock.now - dt.timedelta(seconds=ago)))


def test_never_synced_counts_as_offline(api):
    r = api.post("/v1/receipts/quote", receipt(redeem=0))
    assert r.json["offline"] is True and r.json["max_redeemable"] == 3000
    assert api.get("/v1/health").json["link"] == "offline"
    assert api.post("/v1/identify", {"id": "c1"}).json["redeemable_now"] == 3000


def test_daily_limit_counts_what_was_spent_offline(api, clock):
    first = api.post("/v1/receipts", receipt("R1", redeem=2000))
    assert first.status_code == 201 and first.json["offline"] is True
    assert store_of(api).outbox_batch()[0].body["offline"] is True
    r = api.post("/v1/receipts", receipt("R2", redeem=1500))
    assert (r.status_code, r.json["code"], r.json["max_redeemable"]) == (422, "offline_limit", 1000)
    assert api.post("/v1/receipts", receipt("R2", redeem=1000)).status_code == 201
    assert api.post("/v1/receipts/quote", receipt("R3")).json["max_redeemable"] == 0
    # a new business day gives a new daily allowance
    clock.advance(days=1)
    assert api.post("/v1/receipts/quote", receipt("R3", at=clock.now)).json["max_redeemable"] == 3000


def test_cancelled_offline_receipt_gives_its_allowance_back(api):
    api.post("/v1/receipts", receipt("R1", redeem=3000))
    assert api.post("/v1/receipts/quote", receipt("R2")).json["max_redeemable"] == 0
    api.post("/v1/receipts/R1/cancel")
    assert api.post("/v1/receipts/quote", receipt("R2")).json["max_redeemable"] == 3000


def test_last_known_balance_bounds_offline(api):
    store_of(api).apply_customer_delta(delta("c1", version=2, points=1200))
    r = api.post("/v1/receipts", receipt("R1", redeem=1300))
    assert (r.status_code, r.json["code"]) == (422, "insufficient_points")
    assert api.post("/v1/receipts", receipt("R1", redeem=1200)).status_code == 201


def test_online_lifts_the_daily_limit(api, clock):
    go_online(api, clock, ago=10)
    r = api.post("/v1/receipts", receipt("R1", redeem=9000))
    assert r.status_code == 201 and r.json["offline"] is False
    assert store_of(api).outbox_batch()[0].body["offline"] is False


def test_stale_sync_is_offline(api, clock):
    go_online(api, clock, ago=301)
    assert api.post("/v1/receipts/quote", receipt()).json["offline"] is True
    go_online(api, clock, ago=0)
    store_of(api).set_state("link", "offline")  # the sync says the link dropped
    assert api.post("/v1/receipts/quote", receipt()).json["offline"] is True


def test_standalone_store_has_no_offline_bound(make_app):
    app = make_app(offline_daily_limit=0)  # no broker_url: standalone
    store = app.extensions["loyalty_agent"].store
    store.apply_customer_delta(delta("c1", points=10_000))
    r = Api(app, add_terminal(store, "P01")).post("/v1/receipts", receipt(redeem=9000))
    assert r.status_code == 201 and r.json["offline"] is False


def test_delta_after_sync_does_not_double_count(api, clock):
    """A delta that already reflects our events (applied) replaces them; later ones still count."""
    store = store_of(api)
    first = api.post("/v1/receipts", receipt("R1", redeem=1000)).json  # seq 1: 10000 - 1000 + 1320
    assert first["balance"] == 10_320
    api.post("/v1/receipts", receipt("R2", redeem=0))  # seq 2: + 1350
    # the central server applied seq 1 only and sends the resulting lots
    store.apply_customer_delta(delta("c1", version=2, points=10_320, applied={"S001-1": 1, "S009-1": 7}))
    assert api.post("/v1/identify", {"id": "c1"}).json["balance"] == 10_320 + 1350
    # an older delta arriving late changes nothing
    assert store.apply_customer_delta(delta("c1", version=1, points=5)) is False
    assert api.post("/v1/identify", {"id": "c1"}).json["balance"] == 10_320 + 1350


def test_a_redemption_needing_a_code_is_refused_offline(api, clock):
    """The program confirms redemptions with a code from the central server (docs/messages.md): offline, no
    code can be sent or checked, so the till hears so and sells without redeeming; nothing is written."""
    store = store_of(api)
    card = {"card": receipt()["customer"]["card"]}
    r = api.post("/v1/redemptions/code", {"customer": card, "redeem": 100})
    assert (r.status_code, r.json["code"]) == (409, "confirmation_not_required")
    store.set_state("confirm_redemption", "1")  # as the rules message from the central server says
    assert api.post("/v1/receipts/quote", receipt(redeem=100)).json["confirmation_required"] is True
    r = api.post("/v1/receipts", receipt("R1", redeem=100))
    assert (r.status_code, r.json["code"]) == (409, "confirmation_required")
    for online in (False, True):  # offline; or "online" but no answer (no link to ask through)
        if online:
            go_online(api, clock)
        r = api.post("/v1/redemptions/code", {"customer": card, "redeem": 100})
        assert (r.status_code, r.json["code"]) == (503, "confirmation_unavailable")
        with_code = {**receipt("R1", redeem=100), "confirmation": {"id": "x1", "code": "123456"}}
        r = api.post("/v1/receipts", with_code, headers={"Accept-Language": "ru"})
        assert (r.status_code, r.json["code"]) == (503, "confirmation_unavailable")
        assert "центральным сервером" in r.json["detail"]
    assert store.outbox_batch() == []
    r = api.post("/v1/receipts", {**receipt("R1"), "confirmation": {"id": "x1", "code": "12 34"}})
    assert (r.status_code, r.json["code"]) == (422, "validation_error")
    assert api.post("/v1/receipts", receipt("R1")).status_code == 201  # selling goes on without redeeming
    r = api.post("/v1/redemptions/code", {"customer": card, "redeem": 10**9})
    assert r.json["code"] == "insufficient_points"
