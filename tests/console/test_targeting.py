"""Targeting (central/services/targeting.py): a one-time credit to a segment, once per (targeting, customer)
whatever the re-runs; a blocked customer skipped; a store manager's scope; the page through the Flask client."""

from __future__ import annotations

import pytest

from central.services import customer_admin as ca
from central.services import segments
from central.services import targeting as t
from central.services.access import Forbidden, FormError

from .conftest import login

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

ZONE = "Europe/Moscow"


def balance(db, cid):
    return db.customer(cid)["balance"]


@pytest.fixture
def segment(db, people, shoppers):
    return segments.save_customers(db, people["admin"], "Targets", ["c1", "c2", "c3"])


def test_credit_once_rerun_adds_nothing_blocked_skipped(db, people, shoppers, segment):
    admin = people["admin"]
    ca.block_customer(db, admin, "c3", "fraud")
    data = {"action": "points", "segment": str(segment), "points": "100", "reason": "Welcome back"}
    assert t.preview(db, admin, data) == 3
    tid = t.new_id()
    with pytest.raises(FormError) as err:
        t.run(db, admin, tid, data, ZONE, "2")
    assert "confirm" in err.value.errors
    before = {c: balance(db, c) for c in shoppers}
    result = t.run(db, admin, tid, data, ZONE, "3")
    assert (result["credited"], result["skipped"], result["already"], result["points"]) == (2, 1, 0, 20_000)
    assert balance(db, "c1") == before["c1"] + 10_000 and balance(db, "c2") == before["c2"] + 10_000
    assert balance(db, "c3") == before["c3"]
    again = t.run(db, admin, tid, data, ZONE, "3")  # a re-run or a double click
    assert (again["credited"], again["already"], again["points"]) == (0, 2, 0)
    assert balance(db, "c1") == before["c1"] + 10_000
    rows = db.rows("SELECT customer_id FROM ledger WHERE event_id = ?", (f"target-{tid}",))
    assert sorted(r["customer_id"] for r in rows) == ["c1", "c2"]
    assert [r["credited"] for r in t.recent(db, admin)] == [0, 2]
    # another targeting is another key
    assert t.run(db, admin, t.new_id(), data, ZONE, "3")["credited"] == 2


def test_temporary_points_and_bad_input_change_nothing(db, people, shoppers, segment):
    admin = people["admin"]
    data = {"action": "points", "segment": str(segment), "points": "5", "reason": "r", "expires": "2099-01-01"}
    tid = t.new_id()
    assert t.run(db, admin, tid, data, ZONE, "3")["credited"] == 3
    lots = db.rows("SELECT customer_id, expires_at FROM lots WHERE source_event = ?", (f"target-{tid}",))
    assert len(lots) == 3 and all(r["expires_at"].startswith("2098-12-31") for r in lots)
    assert t.run(db, admin, tid, data, ZONE, "3")["already"] == 3
    for bad in ({"points": "0"}, {"reason": ""}, {"expires": "tomorrow"}, {"segment": "999"}, {"action": "x"}):
        count = db.rows("SELECT COUNT(*) AS n FROM ledger")[0]["n"]
        with pytest.raises(FormError):
            t.run(db, admin, t.new_id(), {**data, **bad}, ZONE, "3")
        assert db.rows("SELECT COUNT(*) AS n FROM ledger")[0]["n"] == count
    with pytest.raises(FormError):
        t.run(db, admin, "not-an-id", data, ZONE, "3")


def test_a_store_manager_reaches_only_their_stores_customers(db, people, shoppers, segment):
    manager = people["manager"]  # S1: c1 and c3
    data = {"action": "points", "segment": str(segment), "points": "1", "reason": "r"}
    assert t.preview(db, manager, data) == 2
    before = balance(db, "c2")
    result = t.run(db, manager, t.new_id(), data, ZONE, "2")
    assert result["credited"] == 2 and balance(db, "c2") == before


def test_the_page_previews_confirms_and_shows_the_result(client, db, people, shoppers, segment):
    login(client, "admin")
    page = client.get("/promotions/targeting")
    assert page.status_code == 200 and 'id="targeting-form"' in page.text and "Targets" in page.text
    tid = page.text.split('name="targeting_id" value="')[1].split('"')[0]
    form = {"targeting_id": tid, "action": "points", "segment": str(segment), "points": "7", "reason": "gift"}
    answer = client.post("/promotions/targeting", data={**form, "step": "preview"})
    assert answer.status_code == 200 and 'id="targeting-count"' in answer.text and ">3<" in answer.text
    before = balance(db, "c1")
    done = client.post("/promotions/targeting", data={**form, "confirm": "3"})
    assert done.status_code == 200 and 'id="targeting-result"' in done.text
    assert balance(db, "c1") == before + 700
    twice = client.post("/promotions/targeting", data={**form, "confirm": "3"})  # a double click
    assert twice.status_code == 200 and balance(db, "c1") == before + 700
    wrong = client.post("/promotions/targeting", data={**form, "confirm": "9"})
    assert wrong.status_code == 422
    client.post("/language", data={"lang": "ru", "next": "/"})
    assert "Таргетинг" in client.get("/promotions/targeting").text
    assert "Таргетинг" in client.get("/promotions/").text
    login(client, "viewer")
    assert client.post("/promotions/targeting", data={**form, "confirm": "3"}).status_code == 403


def test_a_message_to_the_segment_goes_through_the_mailing_once(db, people, shoppers, segment):
    from central.messages.sender import Sender
    from central.services import messages
    from central.services.access import SYSTEM
    from tests.messages.test_sending import NO_QUIET, drain

    messages.set_channel(db, SYSTEM, "cashier", {})
    template = messages.save_template(
        db, SYSTEM, name="hello", channel="cashier", language="ru", kind="service", body="Подарок для {{ name }}"
    )
    admin = people["admin"]
    data = {"action": "message", "segment": str(segment), "template": str(template)}
    tid = t.new_id()
    with pytest.raises(FormError):  # a template that is not there: nothing queued, the same id may retry
        t.run(db, admin, tid, {**data, "template": "999"}, ZONE, "3")
    assert db.outbox() == []
    result = t.run(db, admin, tid, data, ZONE, "3")
    assert result["sent"] == 3 and len(db.outbox()) == 3
    with pytest.raises(FormError) as err:  # a double click
        t.run(db, admin, tid, data, ZONE, "3")
    assert "confirm" in err.value.errors and len(db.outbox()) == 3
    sender = Sender(db.path, public_url="https://crm.shop.example", policy=NO_QUIET)
    drain(sender)
    sender.close()
    rows = db.rows("SELECT text FROM customer_messages WHERE customer_id = 'c1'")
    assert rows == [{"text": "Подарок для Иван Петров"}]
    with pytest.raises(Forbidden):  # a store manager may not send messages
        t.run(db, people["manager"], t.new_id(), data, ZONE, "2")


def test_two_clicks_at_once_credit_each_customer_once(db_file, db, people, shoppers, segment):
    import threading

    from central.storage.store import Store

    data = {"action": "points", "segment": str(segment), "points": "3", "reason": "r"}
    tid = t.new_id()
    results, failures = [], []

    def click():
        own = Store(db_file)
        try:
            results.append(t.run(own, people["admin"], tid, data, ZONE, "3"))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=click) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not failures
    assert sum(r["credited"] for r in results) == 3 and sum(r["already"] for r in results) == 6
    rows = db.rows(
        "SELECT customer_id, COUNT(*) AS n FROM ledger WHERE event_id = ? GROUP BY customer_id", (f"target-{tid}",)
    )
    assert sorted((r["customer_id"], r["n"]) for r in rows) == [("c1", 1), ("c2", 1), ("c3", 1)]
