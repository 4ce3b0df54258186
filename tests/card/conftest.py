"""The web card's fixtures: a central database with two stores, an electronic card range, the SMS channel on
the local gateway fake of tests/messages, and a message sender that delivers the codes to it."""

from __future__ import annotations

import re

import pytest

from central.messages.rules import Policy
from central.messages.sender import Sender
from central.services import cards as card_service
from central.services import messages as msg
from central.services.access import SYSTEM
from central.storage.store import Store
from tests.messages.conftest import gateway  # noqa: F401 - the local SMS gateway fake

PHONE = "+79161234567"
OTHER_PHONE = "+79167654321"


@pytest.fixture
def db(tmp_path):
    store = Store(str(tmp_path / "central.sqlite"))
    store.add_store("S1", "Тверская 7", "Europe/Moscow")
    store.add_store("S2", "Невский 20", "Europe/Moscow")
    card_service.add_category(
        store, SYSTEM, {"name": "Web", "first_number": "7700000", "count": "1000", "electronic": "1", "luhn": "1"}
    )
    yield store
    store.close()


@pytest.fixture
def sms(db, gateway):  # noqa: F811
    msg.set_channel(
        db,
        SYSTEM,
        "sms",
        {
            "method": "POST",
            "url": gateway.url + "/sms/send",
            "body_format": "json",
            "body": '{"to": "{phone}", "msg": "{text}", "partner_id": "{key}"}',
            "sender": "SHOP",
            "id_field": "sms.id",
        },
        {},
    )
    return gateway


class Codes:
    """Send the queued SMS through the real sender to the gateway fake; read the codes it received."""

    def __init__(self, db: Store, gateway) -> None:  # noqa: F811
        self.db, self.gateway = db, gateway
        self.sender = Sender(db.path, public_url="", policy=Policy(quiet_start=0, quiet_end=0))

    def last(self, phone: str) -> str:
        for _ in range(5):  # the sender sends synchronously: what it sent, the gateway has
            if not self.sender.run_once():
                break
        for request in reversed(self.gateway.requests):
            if request["body"]["to"] == phone:
                return re.search(r"\d{6}", request["body"]["msg"]).group(0)
        raise AssertionError(f"no SMS to {phone}")


@pytest.fixture
def codes(db, sms):
    return Codes(db, sms)
