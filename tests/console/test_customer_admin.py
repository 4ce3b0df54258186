"""Head office's customer base (central/services/customer_admin.py): create with the full questionnaire and its
completeness, block and unblock (down to the stores), card statuses and replacement, erasure at the customer's
request (ledger and totals kept), bulk actions with a confirmed count, the list's columns per user."""

from __future__ import annotations

import json

import pytest

from central.services import customer_admin as ca
from central.services.access import Forbidden, FormError
from central.services.filters import CustomerQuery
from central.sync.deltas import customer_page
from tests.console.conftest import login
from tests.polling import wait_for

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

ZONE = "Europe/Moscow"
FULL = {
    "last_name": "Иванова",
    "first_name": "Анна",
    "middle_name": "Сергеевна",
    "gender": "female",
    "birthday": "1990-05-17",
    "phone": "8 916 123-45-67",
    "email": "Anna@Example.com",
    "address": "Москва, Тверская 7",
    "marital_status": "married",
    "children": "2",
    "store": "S1",
    "consent_personal_data": "1",
    "consent_sms": "1",
}


def delta_of(db, customer_id, store="S1"):
    deltas, _, _ = customer_page(db, store, 0, limit=10_000)
    return next(d for d in deltas if d["customer_id"] == customer_id)


def test_create_with_the_full_questionnaire_goes_down_and_is_complete(db, people):
    cid = ca.create_customer(db, people["marketer"], FULL)
    c = db.customer(cid)
    assert (c["name"], c["phone"], c["email"], c["children"], c["marital_status"]) == (
        "Анна Сергеевна Иванова",
        "+79161234567",
        "anna@example.com",
        2,
        "married",
    )
    assert c["channel"] == "console" and c["version"] > 0 and c["home_store"] == "S1"
    assert {h["channel"]: h["granted"] for h in db.consents_of(cid)}["sms"] == 1
    assert delta_of(db, cid)["name"] == "Анна Сергеевна Иванова"
    assert ca.completeness(db, c) == {"percent": 100, "missing": []}
    partial = ca.completeness(db, db.customer(ca.create_customer(db, people["admin"], {"first_name": "Олег"})))
    assert partial["percent"] == 10 and "Phone" in partial["missing"]
    [row] = db.rows("SELECT * FROM audit_log WHERE action = 'customer.create' AND entity_id = ?", (cid,))
    assert json.loads(row["after"])["address"] == "Москва, Тверская 7"


def test_create_refuses_bad_input_and_a_known_phone_with_nothing_changed(db, people, shoppers):
    before = db.count("customers")
    with pytest.raises(FormError) as err:
        ca.create_customer(db, people["admin"], {"birthday": "soon", "email": "x", "children": "many", "store": "S9"})
    assert set(err.value.errors) == {"first_name", "birthday", "email", "children", "store"}
    with pytest.raises(FormError, match="another customer"):
        ca.create_customer(db, people["admin"], {**FULL, "phone": "+79120000001"})
    with pytest.raises(FormError):
        ca.create_customer(db, people["manager"], {**FULL, "phone": "", "store": "S2"})  # not the manager's store
    with pytest.raises(Forbidden):
        ca.create_customer(db, people["viewer"], FULL)
    assert db.count("customers") == before


def test_block_goes_down_to_the_stores_and_unblock(db, people, shoppers):
    ca.block_customer(db, people["admin"], "c1", "fraud at the till")
    assert delta_of(db, "c1")["blocked"] is True
    assert db.message_customer("c1")["blocked"] == 1  # no marketing while blocked
    with pytest.raises(FormError):
        ca.block_customer(db, people["admin"], "c1", "again")
    with pytest.raises(Forbidden):
        ca.block_customer(db, people["manager"], "c2", "not theirs")
    ca.unblock_customer(db, people["admin"], "c1")
    assert delta_of(db, "c1")["blocked"] is False
    actions = [r["action"] for r in db.rows("SELECT action FROM audit_log WHERE entity_id = 'c1' ORDER BY id")]
    assert actions[-2:] == ["customer.block", "customer.unblock"]


def test_card_statuses_and_their_effect_on_subscriptions(db, people, shoppers):
    from central.services import cards

    cards.add_category(db, people["admin"], {"name": "Plastic", "first_number": "5000", "count": "100"})
    assert db.message_customer("c1")["blocked"] == 0
    ca.set_card_status(db, people["admin"], "2000001", "lost", "lost in the metro")
    assert db.card("2000001")["status"] == "lost"
    assert delta_of(db, "c1")["cards"] == [{"number": "2000001", "status": "blocked", "reason": "lost in the metro"}]
    assert db.message_customer("c1")["blocked"] == 1  # no active card: subscriptions off
    ca.set_card_status(db, people["admin"], "2000001", "active", "")
    assert db.message_customer("c1")["blocked"] == 0
    balance = db.customer("c1")["balance"]
    category = db.card_categories()[0]["id"]
    new = ca.replace_card(db, people["admin"], "2000001", {"category": str(category)})
    assert db.card("2000001")["status"] == "replaced" and db.card(new)["main"] == 1
    assert db.customer("c1")["balance"] == balance  # the replacement keeps the balance
    assert db.message_customer("c1")["blocked"] == 0  # the new card is active
    with pytest.raises(FormError):
        ca.set_card_status(db, people["admin"], "2000001", "active", "")


def test_erase_at_the_customers_request_keeps_ledger_and_totals(db, people, shoppers):
    from central.services import accounts

    accounts.update_profile(db, people["admin"], "c1", {"name": "Иван Петров", "email": "ivan@example.com"})
    spend_before = db.rows("SELECT SUM(amount) AS s FROM transactions WHERE kind = 'purchase'")[0]["s"]
    with pytest.raises(FormError, match="ERASE"):
        ca.erase_customer(db, people["admin"], "c1", "yes")
    with pytest.raises(Forbidden):
        ca.erase_customer(db, people["manager"], "c1", "ERASE")
    ca.erase_customer(db, people["admin"], "c1", "ERASE")
    c = db.customer("c1")
    assert (c["name"], c["phone"], c["email"], c["birthday"], c["consents"]) == (None, None, None, None, "{}")
    assert c["blocked"] == 1 and c["erased_at"] and c["balance"] == 0
    assert db.ledger_sum("c1") == 0  # the points written off by a ledger entry: balance == ledger
    assert db.rows("SELECT SUM(amount) AS s FROM transactions WHERE kind = 'purchase'")[0]["s"] == spend_before
    assert db.rows("SELECT COUNT(*) AS n FROM transactions WHERE customer_id = 'c1'")[0]["n"] >= 1
    # no personal data left in the audit's values; the erasure itself is audited
    dumped = json.dumps(db.rows("SELECT before, after FROM audit_log WHERE entity_id = 'c1'"), ensure_ascii=False)
    assert "ivan@example.com" not in dumped and "Петров" not in dumped and "+7912" not in dumped
    assert db.rows("SELECT username FROM audit_log WHERE action = 'customer.erase'")[0]["username"] == "admin"
    assert delta_of(db, "c1")["phone"] is None and delta_of(db, "c1")["blocked"] is True
    assert "Петров" not in json.dumps(db.rows("SELECT doc FROM customer_search"), ensure_ascii=False)


def test_bulk_action_needs_the_confirmed_count_and_audits(db, people, shoppers):
    query = CustomerQuery(kind="registered")
    assert ca.bulk_preview(db, people["admin"], query, ZONE) == 2
    data = {"points": "10", "reason": "sorry for the queue"}
    with pytest.raises(FormError, match="confirm again"):
        ca.bulk_apply(db, people["admin"], query, ZONE, "points", data, "3")
    balances = {c: db.customer(c)["balance"] for c in ("c1", "c2")}
    result = ca.bulk_apply(db, people["admin"], query, ZONE, "points", data, "2")
    assert result["done"] == 2 and not result["refused"]
    assert {c: db.customer(c)["balance"] for c in ("c1", "c2")} == {c: b + 1000 for c, b in balances.items()}
    result = ca.bulk_apply(db, people["admin"], query, ZONE, "block", {"reason": "audit"}, "2")
    assert result["done"] == 2 and db.customer("c2")["blocked"] == 1
    result = ca.bulk_apply(db, people["admin"], query, ZONE, "message", {"text": "Проверьте паспорт"}, "2")
    assert result["done"] == 2
    bulk = db.rows("SELECT after FROM audit_log WHERE action = 'customer.bulk' ORDER BY id")
    assert [json.loads(r["after"])["action"] for r in bulk] == ["points", "block", "message"]
    # a store manager's bulk touches only their scope
    assert ca.bulk_preview(db, people["manager"], query, ZONE) == 1


def test_console_pages_create_block_bulk_and_columns(client, db, shoppers):
    login(client, "admin")
    r = client.post("/customers/new", data={**FULL})
    assert r.status_code == 302
    cid = r.headers["Location"].rsplit("/", 1)[-1]
    page = client.get(f"/customers/{cid}")
    assert 'id="completeness"' in page.text and "100" in page.text
    assert client.post("/customers/new", data={"email": "bad"}).status_code == 422
    r = client.post(f"/customers/{cid}/block", data={"block_reason": ""})
    assert r.status_code == 422
    assert client.post(f"/customers/{cid}/block", data={"block_reason": "fraud"}).status_code == 302
    assert db.customer(cid)["blocked"] == 1
    page = client.get("/customers/bulk?kind=registered")
    assert page.status_code == 200 and 'id="bulk-count"' in page.text
    r = client.post("/customers/bulk", data={"kind": "registered", "action": "points", "points": "5", "confirm": "2"})
    assert r.status_code == 422 and "reason" in r.text  # refused once, before anything runs
    r = client.post("/customers/bulk", data={"kind": "registered", "action": "level", "level": "", "confirm": "9"})
    assert r.status_code == 422 and 'id="confirm-error"' in r.text
    r = client.post("/customers/bulk", data={"kind": "registered", "action": "level", "level": "", "confirm": "2"})
    assert r.status_code == 302 and "/customers/bulk/" in r.headers["Location"]
    job = r.headers["Location"]
    wait_for(lambda: not client.get(job + ".json").get_json()["running"], timeout=20)
    page = client.get(job)
    assert 'id="bulk-result"' in page.text and "2" in page.text
    # the column chooser is remembered per user
    client.post("/customers/columns", data={"column": ["email", "phone"]})
    listing = client.get("/customers/")
    heads = [p.split('"')[0] for p in listing.text.split('data-column="')[1:]]
    assert heads == ["email", "phone"]
    client.post(
        "/customers/columns", data={"column": ["email", "phone", "balance"], "pos_email": "3", "pos_phone": "1"}
    )
    heads = [p.split('"')[0] for p in client.get("/customers/").text.split('data-column="')[1:]]
    assert heads == ["phone", "email", "balance"]  # ordered by position; one without a position goes last
    other = client.application.test_client()
    login(other, "marketer")
    assert 'data-column="card"' in other.get("/customers/").text
    # erase through the page
    assert client.post(f"/customers/{cid}/erase", data={"confirm": "nope"}).status_code == 422
    assert client.post(f"/customers/{cid}/erase", data={"confirm": "ERASE"}).status_code == 302
    assert db.customer(cid)["erased_at"]


def test_sort_by_a_column_pages_by_key_and_is_remembered(client, db, people, shoppers):
    from central.services import customers

    for i in range(7):
        ca.create_customer(db, people["admin"], {"first_name": f"Имя{i}", "store": "S1"})
    with db.transaction():
        ids = [
            r[0] for r in db.conn.execute("SELECT id FROM customers WHERE channel = 'console' ORDER BY created_at, id")
        ]
        for k, cid in enumerate(ids, 1):
            db.conn.execute("UPDATE customers SET balance = ? WHERE id = ?", ((k * 37) % 11, cid))
    admin = people["admin"]
    seen, after = [], None
    while True:
        page = customers.list_customers(db, admin, CustomerQuery(), ZONE, after=after, limit=3, sort="balance")
        seen += [(r["balance"], r["id"]) for r in page.rows]
        if not page.next_key:
            break
        after = page.next_key
    assert seen == sorted(seen, reverse=True) and len(seen) == db.count("customers")
    back = customers.list_customers(db, admin, CustomerQuery(), ZONE, before=after, limit=3, sort="balance")
    edge = next(i for i, (_b, cid) in enumerate(seen) if after.endswith("~" + cid))
    assert [(r["balance"], r["id"]) for r in back.rows] == seen[edge - 3 : edge]
    login(client, "admin")
    client.get("/customers/?sort=name&dir=asc")
    assert 'data-sort="name">' in client.get("/customers/").text
    assert ca.list_sort(db, admin) == ("name", False)  # remembered for the user
    assert client.get("/customers/?sort=balance&after=x~y").status_code == 400  # a broken key: clear 400


def test_web_card_page_sets_a_stores_electronic_range(client, db, people):
    from central.services import cards

    login(client, "admin")
    assert 'id="no-electronic"' in client.get("/customers/web-card").text
    first = cards.add_category(
        db, people["admin"], {"name": "E1", "first_number": "1000", "count": "10", "electronic": "1"}
    )
    second = cards.add_category(
        db, people["admin"], {"name": "E2", "first_number": "2000", "count": "10", "electronic": "1"}
    )
    plastic = cards.add_category(db, people["admin"], {"name": "P", "first_number": "3000", "count": "10"})
    assert db.web_card_category("S2")["id"] == first  # the first electronic one by default
    assert client.post("/customers/web-card", data={"store": "S2", "category": str(plastic)}).status_code == 422
    assert client.post("/customers/web-card", data={"store": "S2", "category": str(second)}).status_code == 302
    assert db.web_card_category("S2")["id"] == second
    page = client.get("/customers/web-card").text
    assert "/card/join/S2" in page and "/card/join/S1/poster" in page
    login(client, "viewer")
    assert client.post("/customers/web-card", data={"store": "S2", "category": str(first)}).status_code == 403


def test_bulk_actions_on_a_saved_segment(app, client, db, people, shoppers):
    """The segment's page leads to the same bulk action (preview, confirm, job with progress, audit) on its
    members only; a store manager's run touches only their customers of it."""
    from central.services import segments
    from central.services.access import SYSTEM

    login(client, "admin")
    segment_id = segments.create(db, SYSTEM, "Chosen", "static")
    segments.change_members(db, SYSTEM, segment_id, add=["c1", "c2"])
    show = client.get(f"/segments/{segment_id}")
    link = f'href="/customers/bulk?f=segment&amp;o=is&amp;v={segment_id}"'
    assert 'id="bulk-members"' in show.text and link in show.text
    page = client.get(f"/customers/bulk?f=segment&o=is&v={segment_id}")
    assert page.status_code == 200 and 'id="bulk-segment"' in page.text and "Chosen" in page.text
    count = page.text.split('id="bulk-count">', 1)[1].split("</p>", 1)[0]
    assert "2" in count
    form = {"f": "segment", "o": "is", "v": str(segment_id), "action": "message", "text": "Поздравьте"}
    r = client.post("/customers/bulk", data={**form, "confirm": "3"})
    assert r.status_code == 422 and 'id="confirm-error"' in r.text  # the set is 2: nothing done
    assert not db.rows("SELECT * FROM customer_messages")
    r = client.post("/customers/bulk", data={**form, "confirm": "2"})
    assert r.status_code == 302
    job = r.headers["Location"]
    wait_for(lambda: not client.get(job + ".json").get_json()["running"], timeout=20)
    page = client.get(job)
    assert 'id="bulk-result"' in page.text and f'href="/segments/{segment_id}#members"' in page.text
    assert {r["customer_id"] for r in db.rows("SELECT customer_id FROM customer_messages")} == {"c1", "c2"}
    [row] = db.rows("SELECT after FROM audit_log WHERE action = 'customer.bulk'")
    after = json.loads(row["after"])
    assert (after["segment"], after["count"], after["done"], after["action"]) == (segment_id, 2, 2, "message")
    # the same service code: a store manager (S1) blocks only c1 of the segment
    query = CustomerQuery.from_args({"f": ["segment"], "o": ["is"], "v": [str(segment_id)]})
    assert query.segment_id == segment_id
    result = ca.bulk_apply(db, people["manager"], query, ZONE, "block", {"reason": "check"}, "1")
    assert result["done"] == 1 and db.customer("c1")["blocked"] == 1 and db.customer("c2")["blocked"] == 0
