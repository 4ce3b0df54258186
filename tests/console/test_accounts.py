"""Changing customer accounts: each write checked, validated, audited, and sent down as a delta."""

from __future__ import annotations

import json

import pytest

from central.services import accounts, audit, customers, fields
from central.services.access import Forbidden, FormError
from central.sync.deltas import customer_page

from .conftest import apply_events, login, sale

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

ZONE = "Europe/Moscow"


def _version(db, cid):
    return db.customer(cid)["version"]


def _delta(db, cid, store="S1"):
    deltas, _, _ = customer_page(db, store, 0, 10_000)
    return next(d for d in deltas if d["customer_id"] == cid)


def _last_audit(db, actor, cid):
    return audit.history(db, entity="customer", entity_id=cid, limit=1)[0]


def test_profile_with_custom_fields_is_audited_and_sent_down(db, people, shoppers):
    admin = people["admin"]
    fields.define(db, admin, {"name": "pet", "label": "Pet", "type": "string"})
    fields.define(db, admin, {"name": "kids", "label": "Kids", "type": "number"})
    fields.define(db, admin, {"name": "vegan", "label": "Vegan", "type": "yes_no"})
    version = _version(db, "c1")
    accounts.update_profile(
        db,
        people["marketer"],
        "c1",
        {
            "name": "Иван Петров",
            "email": "Ivan@Example.com",
            "birthday": "1990-03-08",
            "gender": "male",
            "consent_sms": "1",
            "consent_personal_data": "1",
            "custom_pet": "cat",
            "custom_kids": "2",
            "custom_vegan": "1",
        },
    )
    customer = customers.account(db, admin, "c1")
    assert customer["email"] == "ivan@example.com" and customer["custom"] == {"pet": "cat", "kids": "2", "vegan": True}
    assert customer["consents"] == {"sms": True, "personal_data": True, "email": False}
    assert _version(db, "c1") > version and _delta(db, "c1")["birthday"] == "1990-03-08"
    row = _last_audit(db, admin, "c1")
    assert row["action"] == "customer.profile" and row["username"] == "marketer"
    assert row["before"]["email"] is None and row["after"]["email"] == "ivan@example.com"


def test_a_bad_profile_changes_nothing(db, people, shoppers):
    fields.define(db, people["admin"], {"name": "kids", "label": "Kids", "type": "number"})
    before = db.customer("c1")
    with pytest.raises(FormError) as caught:
        accounts.update_profile(
            db,
            people["admin"],
            "c1",
            {"name": "X", "email": "not-an-email", "birthday": "2999-01-01", "custom_kids": "two"},
        )
    assert set(caught.value.errors) == {"email", "birthday", "custom_kids"}
    assert db.customer("c1") == before


def test_change_phone_refuses_another_customers_phone(db, people, shoppers):
    with pytest.raises(FormError) as caught:
        accounts.change_phone(db, people["admin"], "c1", "+7 912 000-00-02")
    assert "another customer" in caught.value.errors["phone"]
    with pytest.raises(FormError):
        accounts.change_phone(db, people["admin"], "c1", "12345")
    assert accounts.change_phone(db, people["admin"], "c1", "8 (912) 555-44-33") == "+79125554433"
    delta = _delta(db, "c1")
    assert delta["phone"] == "+79125554433" and delta["phone_verified"] is False


def test_accrue_and_debit_by_hand_are_admin_ledger_entries(db, people, shoppers):
    admin = people["admin"]
    assert accounts.adjust_points(db, admin, "c1", {"points": "150", "reason": "apology for a late order"}) == 15_500
    assert accounts.adjust_points(db, admin, "c1", {"points": "-5,5", "reason": "correction"}) == 14_950
    customer = db.customer("c1")
    assert customer["balance"] == 14_950 == db.ledger_sum("c1")
    history = customers.bonus_history(db, admin, "c1")
    assert [(h["kind"], h["points"], h["source"], h["reason"], h["operator"]) for h in history[:2]] == [
        ("admin", -550, "admin", "correction", "admin"),
        ("admin", 15_000, "admin", "apology for a late order", "admin"),
    ]
    assert db.count("transactions", "kind = 'admin'") == 2
    assert _delta(db, "c1")["lots"][0]["points"] == 14_950
    row = _last_audit(db, admin, "c1")
    assert (
        row["action"] == "customer.points" and row["before"]["balance"] == 15_500 and row["after"]["balance"] == 14_950
    )
    # a debit beyond what can be spent, a zero, no reason: refused, nothing written
    entries = db.count("ledger")
    for data in ({"points": "-1000", "reason": "x"}, {"points": "0", "reason": "x"}, {"points": "10", "reason": ""}):
        with pytest.raises(FormError):
            accounts.adjust_points(db, admin, "c1", data)
    assert db.count("ledger") == entries and db.customer("c1")["balance"] == 14_950


def test_temporary_points_travel_as_a_lot_with_start_and_expiry(db, people, shoppers):
    lot = accounts.give_temporary(
        db,
        people["marketer"],
        "c1",
        {"points": "100", "reason": "birthday", "starts": "2030-01-01", "expires": "2030-02-01"},
        ZONE,
    )
    lots = {item["id"]: item for item in _delta(db, "c1")["lots"]}
    assert lots[lot]["points"] == 10_000
    assert (
        lots[lot]["starts_at"] == "2029-12-31T21:00:00+00:00" and lots[lot]["expires_at"] == "2030-01-31T21:00:00+00:00"
    )
    assert db.customer("c1")["balance"] == 10_500 == db.ledger_sum("c1")
    assert customers.bonus_history(db, people["admin"], "c1")[0]["source"] == "promo"
    with pytest.raises(FormError) as caught:
        accounts.give_temporary(
            db, people["marketer"], "c1", {"points": "5", "reason": "x", "expires": "2020-01-01"}, ZONE
        )
    assert "expires" in caught.value.errors


def test_cashier_message_goes_down_in_the_delta_and_can_be_removed(db, people, shoppers):
    ident = accounts.add_message(db, people["admin"], "c1", {"text": "Вернуть зонт", "until": "2099-01-01"}, ZONE)
    assert _delta(db, "c1")["messages"] == [{"id": ident, "text": "Вернуть зонт", "until": "2099-01-01T21:00:00+00:00"}]
    accounts.delete_message(db, people["admin"], "c1", ident)
    assert _delta(db, "c1")["messages"] == []


def test_comments_and_tags(db, people, shoppers):
    accounts.add_comment(db, people["manager"], "c1", "Prefers the window table")
    assert customers.comments(db, people["viewer"], "c1")[0]["username"] == "manager"
    assert accounts.set_tags(db, people["admin"], "c1", "VIP, sushi  vip") == ["sushi", "vip"]
    assert [
        r["id"] for r in customers.list_customers(db, people["admin"], customers.CustomerQuery(q="sushi"), ZONE).rows
    ] == ["c1"]
    with pytest.raises(FormError):
        accounts.set_tags(db, people["admin"], "c1", "bad;tag")


def test_roles_and_scope_for_every_write(db, people, shoppers):
    viewer, manager = people["viewer"], people["manager"]
    writes = [
        lambda who, cid: accounts.update_profile(db, who, cid, {"name": "x"}),
        lambda who, cid: accounts.change_phone(db, who, cid, "+79125550000"),
        lambda who, cid: accounts.adjust_points(db, who, cid, {"points": "1", "reason": "x"}),
        lambda who, cid: accounts.give_temporary(
            db, who, cid, {"points": "1", "reason": "x", "expires": "2099-01-01"}, ZONE
        ),
        lambda who, cid: accounts.add_message(db, who, cid, {"text": "x"}, ZONE),
        lambda who, cid: accounts.add_comment(db, who, cid, "x"),
        lambda who, cid: accounts.set_tags(db, who, cid, "x"),
    ]
    for write in writes:
        with pytest.raises(Forbidden):
            write(viewer, "c1")
        with pytest.raises(Forbidden):
            write(manager, "c2")  # another store's customer
    audits = db.count("audit_log", "entity = 'customer'")
    for write in writes:
        write(manager, "c1")
    assert (
        db.count("audit_log", "entity = 'customer' AND username = 'manager'")
        == len(writes)
        == db.count("audit_log", "entity = 'customer'") - audits
    )


def test_activity_after_console_changes_keeps_ledger_and_lots_equal(db, people, shoppers, agents):
    accounts.adjust_points(db, people["admin"], "c1", {"points": "10", "reason": "x"})
    apply_events(db, sale(agents["S1"], "c1", [("SKU-1", "SUSHI", 1_000)], accrued=20, redeemed=300))
    lots = db.conn.execute("SELECT SUM(points) FROM lots WHERE customer_id = 'c1'").fetchone()[0]
    assert db.customer("c1")["balance"] == db.ledger_sum("c1") == lots == 500 + 1000 + 20 - 300


def test_cashier_message_to_print_on_the_slip_goes_down_with_its_flag(db, people, shoppers):
    ident = accounts.add_message(db, people["admin"], "c1", {"text": "Подарок на кассе", "print": "on"}, ZONE)
    assert _delta(db, "c1")["messages"] == [{"id": ident, "text": "Подарок на кассе", "print": True}]


def test_the_profile_shows_a_message_printed_and_read(client, db, people, shoppers):
    accounts.add_message(db, people["admin"], "c1", {"text": "Подарок на кассе", "print": "1"}, ZONE)
    db.conn.execute("UPDATE customer_messages SET read_at = '2026-11-24T09:00:00+00:00', read_store = 'S2'")
    login(client, "admin")
    page = client.get("/customers/c1?tab=actions").get_data(as_text=True)
    assert 'name="print"' in page and "Подарок на кассе" in page
    assert "печатается на чеке" in page and "прочитано " in page and "в магазине S2" in page


def test_custom_fields_page_flags_what_the_customer_may_edit(app, db):
    client = app.test_client()
    login(client, "admin")
    r = client.post("/customers/fields", data={"name": "pet", "label": "Pet", "type": "string", "customer_edit": "1"})
    assert r.status_code == 302
    client.post("/customers/fields", data={"name": "kids", "label": "Kids", "type": "number"})
    assert [f["name"] for f in fields.customer_editable(db)] == ["pet"]
    page = client.get("/customers/fields").text
    assert 'id="customer-edit-pet"' in page and 'id="customer-edit-kids"' in page
    flag = "/customers/fields"
    assert client.post(flag, data={"customer_edit_field": "kids", "customer_edit": "1"}).status_code == 302
    assert client.post(flag, data={"customer_edit_field": "pet", "customer_edit": "0"}).status_code == 302
    assert [f["name"] for f in fields.customer_editable(db)] == ["kids"]
    rows = db.rows("SELECT username, entity_id, after FROM audit_log WHERE action = 'field.customer_edit' ORDER BY id")
    assert [(r["username"], r["entity_id"], json.loads(r["after"])) for r in rows] == [
        ("admin", "kids", {"customer_edit": True}),
        ("admin", "pet", {"customer_edit": False}),
    ]
    viewer = app.test_client()  # the same rule as defining fields: fields.write
    login(viewer, "viewer")
    assert viewer.post(flag, data={"customer_edit_field": "pet", "customer_edit": "1"}).status_code == 403
    assert [f["name"] for f in fields.customer_editable(db)] == ["kids"]
