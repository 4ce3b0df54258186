"""Messages in the customer's own language: a template with a variant in it is sent in it; Russian by default."""

from __future__ import annotations

import pytest

from central.services import messages as svc
from central.services.access import SYSTEM, FormError

from .conftest import add_customer
from .test_sending import drain, sender

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def test_each_customer_gets_the_variant_in_their_language(db, gateway, sms_channel):
    for n, cid in enumerate(("ru1", "en1", "none1"), 1):
        add_customer(db, cid, phone=f"+7916111000{n}", consents={"sms": True})
    assert svc.set_language(db, SYSTEM, "en1", "en") is True
    assert svc.set_language(db, SYSTEM, "en1", "en") is False  # already so
    svc.set_language(db, SYSTEM, "ru1", "ru")
    with pytest.raises(FormError):
        svc.set_language(db, SYSTEM, "ru1", "de")
    # the mailing names the English template; the Russian variant of the same name exists
    en = svc.save_template(db, SYSTEM, name="sale", channel="sms", language="en", body="Sale! Balance {{ balance }}")
    svc.save_template(db, SYSTEM, name="sale", channel="sms", language="ru", body="Распродажа! Баланс {{ balance }}")
    only_en = svc.save_template(db, SYSTEM, name="news", channel="sms", language="en", body="News")
    svc.create_mailing(db, SYSTEM, name="Sale", template_id=en, recipients=["ru1", "en1", "none1"])
    svc.create_mailing(db, SYSTEM, name="News", template_id=only_en, recipients=["ru1"])
    s = sender(db)
    drain(s)
    s.close()
    got = sorted((r["body"]["to"], r["body"]["msg"]) for r in gateway.wait(4))
    assert got == [
        ("+79161110001", "News"),  # no Russian variant of it: goes as it is
        ("+79161110001", "Распродажа! Баланс 0"),  # chose Russian
        ("+79161110002", "Sale! Balance 0"),
        ("+79161110003", "Распродажа! Баланс 0"),  # no language: Russian, the default
    ]
    assert db.rows("SELECT action FROM audit_log WHERE action = 'customer.language'")
