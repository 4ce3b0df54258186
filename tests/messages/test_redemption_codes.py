"""Redemption confirmation codes at the central server (central/messages/confirmations.py): a code is made,
sent by the service messages' path into the local SMS gateway, and checked with expiry, attempt and
amount limits; a right code is used up by one receipt."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from central.messages import confirmations
from central.services import messages as svc
from central.services.access import SYSTEM

from .conftest import add_customer
from .test_sending import drain, sender

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
PHONE = "+79161234567"


@pytest.fixture
def code_switch(db, sms_channel):
    template = svc.save_template(
        db,
        SYSTEM,
        name="redeem",
        channel="sms",
        language="ru",
        kind="service",
        body="Код {{ code }}: списание {{ points }} баллов",
    )
    svc.set_service_switches(db, SYSTEM, "", {("redeem_code", "sms"): str(template)})
    return template


def sent_code(db, gateway, count: int = 1) -> str:
    s = sender(db)
    drain(s)
    s.close()
    texts = [r["body"]["msg"] for r in gateway.wait(count)]
    assert len(texts) == count, texts
    return re.search(r"Код (\d{6})", texts[-1]).group(1)


def test_a_code_goes_by_sms_and_confirms_one_receipt(db, gateway, code_switch):
    add_customer(db, "c1", phone=PHONE, consents={})  # service message: no SMS consent needed
    answer = confirmations.request_code(db, "S1", "a1", "c1", 15000, NOW)
    assert answer["ok"] and answer["channel"] == "sms" and answer["attempts"] == confirmations.ATTEMPTS
    assert answer["expires_at"] == (NOW + confirmations.TTL).isoformat()
    code = sent_code(db, gateway)
    assert gateway.requests[0]["body"]["to"] == PHONE
    assert "списание 150 баллов" in gateway.requests[0]["body"]["msg"]
    stored = db.redemption_code(answer["confirmation"])
    assert code not in str(stored)  # only its hash is kept

    check = confirmations.check_code
    ident = answer["confirmation"]
    later = NOW + dt.timedelta(seconds=30)
    assert check(db, "c1", ident, code, 20000, "R1", later) == {
        "ok": False,
        "problem": "confirmation_points",
        "points": 15000,
    }
    assert check(db, "c2", ident, code, 100, "R1", later)["problem"] == "confirmation_unknown"
    assert check(db, "c1", ident, code, 15000, "R1", later) == {"ok": True, "confirmation": ident}
    # the till's retry of the same receipt is answered yes again; another receipt is refused
    assert check(db, "c1", ident, code, 15000, "R1", later)["ok"]
    assert check(db, "c1", ident, code, 15000, "R2", later)["problem"] == "confirmation_used"


def test_wrong_codes_are_counted_then_locked(db, gateway, code_switch):
    add_customer(db, "c1", phone=PHONE)
    ident = confirmations.request_code(db, "S1", "a1", "c1", 100, NOW)["confirmation"]
    code = sent_code(db, gateway)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    check = confirmations.check_code
    assert check(db, "c1", ident, wrong, 100, "R1", NOW) == {
        "ok": False,
        "problem": "confirmation_failed",
        "attempts_left": 2,
    }
    assert check(db, "c1", ident, wrong, 100, "R1", NOW)["attempts_left"] == 1
    assert check(db, "c1", ident, wrong, 100, "R1", NOW)["problem"] == "confirmation_locked"
    assert check(db, "c1", ident, code, 100, "R1", NOW)["problem"] == "confirmation_locked"  # even the right one


def test_an_expired_or_superseded_code_is_refused(db, gateway, code_switch):
    add_customer(db, "c1", phone=PHONE)
    first = confirmations.request_code(db, "S1", "a1", "c1", 100, NOW)["confirmation"]
    code = sent_code(db, gateway)
    late = NOW + confirmations.TTL + dt.timedelta(seconds=1)
    assert confirmations.check_code(db, "c1", first, code, 100, "R1", late)["problem"] == "confirmation_expired"
    second = confirmations.request_code(db, "S1", "a1", "c1", 100, NOW)["confirmation"]
    newer = sent_code(db, gateway, 2)
    assert confirmations.check_code(db, "c1", first, code, 100, "R1", NOW)["problem"] == "confirmation_superseded"
    assert confirmations.check_code(db, "c1", second, newer, 100, "R1", NOW)["ok"]


def test_a_code_goes_before_a_mailings_backlog(db, gateway, code_switch):
    add_customer(db, "c1", phone=PHONE)
    for n in range(5):
        add_customer(db, f"m{n}", phone=f"+7916222000{n}", consents={"sms": True})
    news = svc.save_template(db, SYSTEM, name="news", channel="sms", language="ru", body="Новости")
    svc.create_mailing(db, SYSTEM, name="N", template_id=news, recipients=[f"m{n}" for n in range(5)])
    confirmations.request_code(db, "S1", "a1", "c1", 100, NOW)
    s = sender(db, batch=1)  # one message a pass: the first one sent is the code
    s.run_once()
    s.close()
    assert [r["body"]["to"] for r in gateway.wait(1)] == [PHONE]


def test_refusals_send_nothing(db, gateway, sms_channel):
    add_customer(db, "c1", phone=PHONE)
    add_customer(db, "c2", phone=None)
    # nothing switched on: the store needs no code
    assert confirmations.request_code(db, "S1", "a1", "c1", 100, NOW)["problem"] == "confirmation_not_required"
    template = svc.save_template(
        db, SYSTEM, name="redeem", channel="sms", language="ru", kind="service", body="Код {{ code }}"
    )
    # on at S2 only: S1 needs none
    svc.set_service_switches(db, SYSTEM, "S2", {("redeem_code", "sms"): str(template)})
    assert confirmations.request_code(db, "S1", "a1", "c1", 100, NOW)["problem"] == "confirmation_not_required"
    assert confirmations.request_code(db, "S2", "a1", "c2", 100, NOW)["problem"] == "confirmation_no_address"
    assert confirmations.request_code(db, "S2", "a1", "nobody", 100, NOW)["problem"] == "unknown_customer"
    for _ in range(confirmations.PER_HOUR):
        assert confirmations.request_code(db, "S2", "a1", "c1", 100, NOW)["ok"]
    assert confirmations.request_code(db, "S2", "a1", "c1", 100, NOW)["problem"] == "confirmation_too_many"
    assert len(db.outbox("cause LIKE 'redeem:%'")) == confirmations.PER_HOUR


def test_switching_the_code_on_bumps_what_goes_beside_the_rule_set(db, sms_channel):
    from central.messages import notices

    before = db.promotions_version()
    template = svc.save_template(db, SYSTEM, name="r", channel="sms", language="ru", kind="service", body="{{ code }}")
    svc.set_service_switches(db, SYSTEM, "", {("redeem_code", "sms"): str(template)})
    assert db.promotions_version() > before  # the publisher sends the stores' rules message again
    assert notices.redeem_required(db.message_switches(), "S1")
    svc.set_service_switches(db, SYSTEM, "S2", {("redeem_code", "sms"): "off"})
    assert not notices.redeem_required(db.message_switches(), "S2")
