"""Sign-up and sign-in by SMS code (central/services/web_card.py): the happy path, bad input answered clearly
with nothing changed, attempt limits, expiry, rate limits."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from central.services import web_card as wc
from central.services.access import FormError
from tests.card.conftest import OTHER_PHONE, PHONE

pytestmark = pytest.mark.postgresql

FORM = {
    "phone": "8 916 123-45-67",
    "first_name": "Анна",
    "last_name": "Иванова",
    "birthday": "1990-05-17",
    "consent_personal_data": "1",
    "consent_sms": "1",
}
IP = "10.0.0.1"


def state(db):
    """Everything a sign-up may change (compared before and after a refused input)."""
    tables = ("customers", "cards", "consent_history", "web_signups", "audit_log")
    return {t: db.rows(f"SELECT * FROM {t} ORDER BY 1") for t in tables}


def test_signup_with_the_code_gives_an_electronic_card_and_goes_down(db, codes):
    sent = wc.request_signup_code(db, "S1", FORM, IP, "ru")
    assert sent["phone"] == PHONE
    pending = db.customer(db.customer_by_phone(PHONE))
    assert pending["version"] == 0 and not pending["phone_verified"]  # not sent to the stores yet
    code = codes.last(PHONE)
    customer_id = wc.confirm_signup(db, PHONE, code, IP)
    customer = db.customer(customer_id)
    assert customer["phone_verified"] == 1 and customer["version"] > 0 and customer["home_store"] == "S1"
    assert customer["channel"] == "web" and customer["name"] == "Анна Иванова"
    [card] = db.customer_cards(customer_id)
    assert card["number"].startswith("7700000") and len(card["number"]) == 8 and card["main"] == 1
    history = db.consents_of(customer_id)
    assert {(h["channel"], h["granted"], h["source"]) for h in history} == {
        ("personal_data", 1, "customer"),
        ("sms", 1, "customer"),
        ("email", 0, "customer"),
    }
    assert db.pending_signup(PHONE) is None
    actions = [r["action"] for r in db.rows("SELECT action FROM audit_log WHERE entity_id = ?", (customer_id,))]
    assert "customer.web_signup" in actions
    # the delta the stores get carries the card
    from central.sync.deltas import customer_page

    deltas, _, _ = customer_page(db, "S1", 0)
    assert [d["cards"] for d in deltas if d["customer_id"] == customer_id] == [
        [{"number": card["number"], "status": "active"}]
    ]


def test_a_phone_already_registered_is_refused_and_nothing_changes(db, codes):
    wc.request_signup_code(db, "S1", FORM, IP, "ru")
    wc.confirm_signup(db, PHONE, codes.last(PHONE), IP)
    before = state(db)
    with pytest.raises(FormError) as err:
        wc.request_signup_code(db, "S2", {**FORM, "first_name": "Мария"}, "10.0.0.2", "ru")
    assert "sign in" in err.value.errors["phone"]
    assert state(db) == before


def test_bad_form_is_answered_per_field_with_nothing_changed(db, sms):
    before = state(db)
    with pytest.raises(FormError) as err:
        wc.request_signup_code(db, "S1", {"phone": "8 495 123-45-67", "birthday": "2990-01-01"}, IP, "en")
    assert set(err.value.errors) == {"phone", "first_name", "birthday", "consent_personal_data"}
    assert "mobile" in err.value.errors["phone"]  # a Moscow landline cannot take an SMS
    assert state(db) == before


def test_wrong_code_counts_and_changes_nothing_else(db, codes):
    wc.request_signup_code(db, "S1", FORM, IP, "ru")
    right = codes.last(PHONE)
    wrong = "000000" if right != "000000" else "111111"
    before = state(db)
    with pytest.raises(FormError) as err:
        wc.confirm_signup(db, PHONE, wrong, IP)
    assert "4 tries left" in err.value.errors["code"]
    assert state(db) == before
    assert wc.confirm_signup(db, PHONE, right, IP)


def test_code_attempts_are_limited_even_for_the_right_code_afterwards(db, codes):
    wc.request_signup_code(db, "S1", FORM, IP, "ru")
    right = codes.last(PHONE)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(FormError):
            wc.confirm_signup(db, PHONE, wrong, IP)
    with pytest.raises(FormError) as err:
        wc.confirm_signup(db, PHONE, right, IP)
    assert "ask for a new one" in err.value.errors["code"]
    assert db.customer(db.customer_by_phone(PHONE))["phone_verified"] == 0


def test_an_expired_code_is_refused_clearly(db, codes):
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=11)
    wc.request_signup_code(db, "S1", FORM, IP, "ru", now=past)
    code = codes.last(PHONE)
    before = state(db)
    with pytest.raises(FormError) as err:
        wc.confirm_signup(db, PHONE, code, IP)
    assert "expired" in err.value.errors["code"]
    assert state(db) == before


def test_brute_force_from_one_address_is_stopped_across_phones(db, codes):
    limits = wc.Limits(wrong_per_address_hour=6, resend_seconds=0)
    for phone in (PHONE, OTHER_PHONE):
        wc.request_signup_code(db, "S1", {**FORM, "phone": phone}, IP, "ru", limits)
    for i in range(6):
        with pytest.raises(FormError):
            wc.confirm_signup(db, PHONE if i < 3 else OTHER_PHONE, "999999", IP, limits)
    with pytest.raises(wc.RateLimited):
        wc.confirm_signup(db, OTHER_PHONE, codes.last(OTHER_PHONE), IP, limits)


def test_codes_per_phone_and_resend_wait_are_limited(db, codes):
    wc.request_signup_code(db, "S1", FORM, IP, "ru")
    with pytest.raises(wc.RateLimited, match="wait a minute"):
        wc.request_signup_code(db, "S1", FORM, IP, "ru")
    limits = wc.Limits(resend_seconds=0, per_phone_hour=2)
    wc.request_signup_code(db, "S1", FORM, "10.0.0.9", "ru", limits)
    with pytest.raises(wc.RateLimited, match="this phone"):
        wc.request_signup_code(db, "S1", FORM, "10.0.0.8", "ru", limits)


def test_whether_a_phone_has_a_card_is_told_a_limited_number_of_times_per_address(db, codes):
    """Sign-in says "no card" and sign-up says "already has a card" without sending a code: each such answer
    counts like a code asked from the address, so nobody runs through phone numbers to learn who is a
    customer (it was unlimited: POST /card/login with phone after phone, each answered 422 "No card")."""
    limits = wc.Limits(per_address_hour=3, resend_seconds=0)
    wc.request_signup_code(db, "S1", FORM, "10.0.0.7", "ru", limits)
    wc.confirm_signup(db, PHONE, codes.last(PHONE), "10.0.0.7", limits)
    with pytest.raises(FormError, match="sign up"):
        wc.request_login_code(db, "+79160000001", IP, "ru", limits)
    with pytest.raises(FormError, match="sign in"):
        wc.request_signup_code(db, "S1", FORM, IP, "ru", limits)  # PHONE has a card
    with pytest.raises(FormError, match="sign up"):
        wc.request_login_code(db, "+79160000002", IP, "ru", limits)
    before = state(db)
    for phone in ("+79160000003", PHONE):  # neither answer any more, whatever the phone
        with pytest.raises(wc.RateLimited, match="your network"):
            wc.request_login_code(db, phone, IP, "ru", limits)
        with pytest.raises(wc.RateLimited, match="your network"):
            wc.request_signup_code(db, "S1", {**FORM, "phone": phone}, IP, "ru", limits)
    assert state(db) == before
    # the answers keep no phone; another address is not held
    assert (
        db.rows("SELECT phone, customer_id FROM web_codes WHERE purpose = 'lookup'")
        == [{"phone": "", "customer_id": ""}] * 3
    )
    with pytest.raises(FormError, match="sign up"):
        wc.request_login_code(db, "+79160000003", "10.0.0.8", "ru", limits)


def test_the_chain_sends_at_most_its_hourly_codes_whatever_the_addresses_and_phones(db, codes):
    """SMS pumping: requests spread over many addresses and phones each stay under their own limits, so the
    chain's own cap (WEB_CODES_PER_HOUR) is what bounds the SMS bill; the lookups ("no card") do not count."""
    limits = wc.Limits(per_hour=3, resend_seconds=0)
    with pytest.raises(FormError, match="sign up"):
        wc.request_login_code(db, "+79160000009", "10.1.0.9", "ru", limits)  # a lookup: no code sent
    for i in range(3):
        wc.request_signup_code(db, "S1", {**FORM, "phone": f"+7916000000{i}"}, f"10.1.0.{i}", "ru", limits)
    wc.confirm_signup(db, "+79160000000", codes.last("+79160000000"), "10.1.0.0", limits)
    before = state(db)
    with pytest.raises(wc.RateLimited, match="last hour"):
        wc.request_signup_code(db, "S1", {**FORM, "phone": "+79160000005"}, "10.1.0.5", "ru", limits)
    with pytest.raises(wc.RateLimited, match="last hour"):
        wc.request_login_code(db, "+79160000000", "10.1.0.6", "ru", limits)  # a customer: a code, over the cap
    assert state(db) == before
    assert len(db.rows("SELECT id FROM web_codes WHERE phone <> ''")) == 3
    # an hour later the cap is free again; 0 means no cap
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=61)
    wc.request_signup_code(db, "S1", {**FORM, "phone": "+79160000005"}, "10.1.0.5", "ru", limits, later)
    wc.request_signup_code(db, "S1", {**FORM, "phone": "+79160000006"}, "10.1.0.6", "ru", wc.Limits(per_hour=0))


def test_codes_go_only_to_the_countries_the_chain_names(db, codes):
    """WEB_CODE_REGIONS: a phone of another country is told so on its field, and nothing is written."""
    limits = wc.Limits(regions=frozenset({"RU", "KZ"}))
    before = state(db)
    for phone in ("+4915123456789", "+12015550123"):  # Germany, United States mobiles
        with pytest.raises(FormError) as refused:
            wc.request_signup_code(db, "S1", {**FORM, "phone": phone}, IP, "en", limits)
        assert "KZ, RU" in refused.value.errors["phone"]
        with pytest.raises(FormError, match="KZ, RU"):
            wc.request_login_code(db, phone, IP, "en", limits)
    assert state(db) == before and db.count("web_codes") == 0
    wc.request_signup_code(db, "S1", FORM, IP, "ru", limits)  # +7 916: Russia
    wc.request_signup_code(db, "S1", {**FORM, "phone": "+77011234567"}, "10.0.0.2", "ru", limits)  # Kazakhstan


def test_login_by_phone_and_code_and_sessions(db, codes):
    wc.request_signup_code(db, "S1", FORM, IP, "ru")
    cid = wc.confirm_signup(db, PHONE, codes.last(PHONE), IP)
    with pytest.raises(FormError, match="sign up"):
        wc.request_login_code(db, OTHER_PHONE, IP, "ru")
    wc.request_login_code(db, PHONE, IP, "en", wc.Limits(resend_seconds=0))
    assert wc.confirm_login(db, PHONE, codes.last(PHONE), IP) == cid
    token = wc.start_session(db, cid)
    assert wc.session_customer(db, token) == cid
    assert wc.session_customer(db, token + "x") is None
    wc.end_session(db, token)
    assert wc.session_customer(db, token) is None


def test_own_consents_are_recorded_with_source_customer(db, codes):
    wc.request_signup_code(db, "S1", FORM, IP, "ru")
    cid = wc.confirm_signup(db, PHONE, codes.last(PHONE), IP)
    version = db.customer(cid)["version"]
    assert wc.set_own_consent(db, cid, "sms", False)
    assert not wc.set_own_consent(db, cid, "sms", False)
    assert json.loads(db.customer(cid)["consents"])["sms"] is False
    assert db.customer(cid)["version"] > version
    assert db.consents_of(cid)[-1] == {**db.consents_of(cid)[-1], "channel": "sms", "granted": 0, "source": "customer"}
    view = wc.card(db, cid)
    assert view["consents"]["sms"] is False and view["card"].startswith("7700000")


def test_a_sign_up_never_confirmed_is_forgotten_after_two_days(db, codes):
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    wc.request_signup_code(db, "S1", FORM, IP, "ru", now=long_ago)
    assert db.customer_by_phone(PHONE) is not None
    wc.request_signup_code(db, "S1", {**FORM, "phone": OTHER_PHONE}, IP, "ru")
    assert db.customer_by_phone(PHONE) is None and db.pending_signup(PHONE) is None
    assert db.customer_by_phone(OTHER_PHONE) is not None


def test_a_till_registering_the_phone_meanwhile_wins(db, codes):
    wc.request_signup_code(db, "S1", FORM, IP, "ru")
    code = codes.last(PHONE)
    with db.transaction():  # the till registered the same phone (the ingest's customer row)
        db.conn.execute(
            "INSERT INTO customers (id, home_store, phone, version, created_at) VALUES ('till1', 'S2', ?, 5, ?)",
            (PHONE, "2026-01-01T00:00:00+00:00"),
        )
    before = state(db)
    with pytest.raises(FormError, match="sign in"):
        wc.confirm_signup(db, PHONE, code, IP)
    assert state(db) == before
    wc.request_login_code(db, PHONE, "10.0.0.3", "ru", wc.Limits(resend_seconds=0))
    assert wc.confirm_login(db, PHONE, codes.last(PHONE), "10.0.0.3") == "till1"


def test_a_merged_customers_session_ends(db, codes):
    from central.services import merge
    from central.services.access import SYSTEM

    wc.request_signup_code(db, "S1", FORM, IP, "ru")
    cid = wc.confirm_signup(db, PHONE, codes.last(PHONE), IP)
    token = wc.start_session(db, cid)
    with db.transaction():
        db.conn.execute(
            "INSERT INTO customers (id, home_store, version, created_at) VALUES ('other', 'S1', 1, ?)",
            ("2026-01-01T00:00:00+00:00",),
        )
    merge.merge(db, SYSTEM, cid, "other")
    assert wc.session_customer(db, token) is None
