"""Sending for real: emails into an SMTP server, SMS into an HTTP gateway, cashier messages into the
database, through the outbox and the sender; crash between send and mark; rules checked at send time."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from central.messages import rules
from central.messages.sender import Sender
from central.services import messages as svc
from central.services.access import SYSTEM, Actor, Forbidden, FormError
from tests.polling import wait_for

from .conftest import add_customer

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

NO_QUIET = rules.Policy(quiet_start=0, quiet_end=0)


def sender(db, **kw):
    kw.setdefault("policy", NO_QUIET)
    return Sender(db.path, public_url="https://crm.shop.example", **kw)


def drain(s: Sender, rounds: int = 5) -> None:
    for _ in range(rounds):
        if not s.run_once():
            return


def email_template(db, kind="marketing"):
    return svc.save_template(
        db,
        SYSTEM,
        name="winter",
        channel="email",
        language="ru",
        kind=kind,
        subject="{{ first_name }}, у вас {{ balance }} баллов",
        body="Здравствуйте, {{ name }}!\nБаланс: {{ balance }}.\nОтписаться: {{ unsubscribe_url }}\n",
    )


def test_mailing_by_email_with_consent_unsubscribe_and_cyrillic(db, smtp_server, email_channel):
    add_customer(db, "c1", email="anna@example.com", consents={"email": True}, balance=123456)
    add_customer(db, "c2", name="Boris", email="boris@example.com", consents={"email": False})
    add_customer(db, "c3", name="Vera", email=None, consents={"email": True})
    add_customer(db, "c4", name="Gleb", email="bounce@example.com", consents={"email": True})
    template = email_template(db)
    mailing = svc.create_mailing(
        db, SYSTEM, name="Winter", template_id=template, recipients=["c1", "c2", "c3", "c4", "nobody"]
    )
    s = sender(db)
    drain(s)
    s.close()
    received = smtp_server.wait(1)
    assert len(received) == 1
    mail_from, rcpt, mail = received[0]
    assert rcpt == ["anna@example.com"] and mail_from == "club@shop.example"
    assert str(mail["Subject"]) == "Анна, у вас 1\u00a0234,56 баллов"
    assert "Клуб покупателей" in str(mail["From"])
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = str(mail["List-Unsubscribe"]).strip("<>")
    assert url.startswith("https://crm.shop.example/messages/unsubscribe/")
    text = mail.get_body(("plain",)).get_content()  # with an HTML part beside it (tracking)
    assert "Здравствуйте, Анна Иванова!" in text and url in text
    progress = svc.mailing_progress(db, SYSTEM, mailing)
    assert progress["total"] == 4 and progress["state"] == "running"
    assert progress["counts"] == {"queued": 0, "sending": 0, "sent": 1, "delivered": 0, "failed": 1, "skipped": 2}
    assert progress["reasons"] == {
        "skipped: no consent for email": 1,
        "skipped: no email address": 1,
        "failed: SMTP 550: 5.1.1 no such user": 1,
    }
    mine = svc.customer_messages(db, SYSTEM, "c1")
    assert [m["state"] for m in mine] == ["sent"] and mine[0]["subject"].startswith("Анна")

    # the one-click unsubscribe, used twice: consent withdrawn once, with its history
    token = url.rsplit("/", 1)[1]
    key = svc.link_key(db)
    assert svc.unsubscribe(db, key, token) == ("c1", "email")
    assert svc.unsubscribe(db, key, token) == ("c1", "email")
    assert svc.unsubscribe(db, key, token[:-2] + "xx") is None
    history = svc.consent_history(db, SYSTEM, "c1")
    assert [(h["channel"], h["granted"], h["source"]) for h in history] == [("email", 0, "customer")]
    assert json.loads(db.customer("c1")["consents"])["email"] is False


def test_crash_between_send_and_mark_resends_with_the_same_key(db, smtp_server, email_channel):
    add_customer(db, "c1", email="anna@example.com", consents={"email": True})
    add_customer(db, "c2", email="boris@example.com", consents={"email": True})
    template = email_template(db)
    svc.create_mailing(db, SYSTEM, name="W", template_id=template, recipients=["c1", "c2"])

    class Crash(BaseException):
        pass

    first = sender(db, lease_seconds=3.0)  # long enough for the steps below on a loaded machine

    def crash(row_id):
        raise Crash

    first.after_send = crash
    with pytest.raises(Crash):
        first.run_once()  # the process dies after the SMTP server took c1's email, before marking it
    first._adapters["email"][1].close()  # what the dead process's exit closes (its lease stays)
    first._db.close()
    # both were marked 'sending' with their chunk before the sends; only c1's had left
    assert [r["state"] for r in db.outbox()] == ["sending", "sending"]
    smtp_server.wait(1)
    second = sender(db)
    assert second.run_once() == 0  # the dead sender's lease has not expired yet
    assert wait_for(lambda: second.run_once() > 0, timeout=10)  # it has now: the second sender takes over
    drain(second)
    rows = db.outbox()
    assert [r["state"] for r in rows] == ["sent", "sent"], [(r["state"], r["why"]) for r in rows]  # why, if not
    drain(second)
    second.close()
    got = smtp_server.wait(3)
    assert [m[1] for m in got] == [["anna@example.com"], ["anna@example.com"], ["boris@example.com"]]
    # at-least-once: the resend carries the same Message-ID, so the receiving side can drop the copy
    assert got[0][2]["Message-ID"] == got[1][2]["Message-ID"] != got[2][2]["Message-ID"]
    assert db.outbox()[0]["attempts"] == 2


def test_sms_through_the_gateway_retries_reports_and_stop(db, gateway, sms_channel, app_client):
    add_customer(db, "c1", phone="+79121234567", consents={"sms": True})
    add_customer(db, "c2", phone="+79121234568", consents={"sms": True})
    add_customer(db, "c3", phone="+74951234567", consents={"sms": True})  # a Moscow landline
    template = svc.save_template(
        db,
        SYSTEM,
        name="sms",
        channel="sms",
        language="ru",
        body='{{ first_name }}, "код" {{ promo_code|default("нет") }}',
    )
    gateway.script = [503, 400]  # c1: busy then fine; c2: refused for good
    mailing = svc.create_mailing(db, SYSTEM, name="S", template_id=template, recipients=["c1", "c2", "c3"])
    now = [dt.datetime.now(dt.UTC)]
    s = sender(db, clock=lambda: now[0])
    drain(s)
    counts = svc.mailing_progress(db, SYSTEM, mailing)["counts"]
    assert counts["failed"] == 1 and counts["skipped"] == 1 and counts["queued"] == 1
    row = db.outbox("customer_id = 'c1'")[0]
    assert row["attempts"] == 1 and "503" in row["why"]
    now[0] += dt.timedelta(seconds=31)  # the backoff passed
    drain(s)
    s.close()
    sent = gateway.wait(1)
    assert len(sent) == 1
    request = sent[0]
    assert request["body"] == {
        "to": "+79121234567",
        "msg": 'Анна, "код" нет',
        "from": "SHOP",
        "partner_id": f"mailing:{mailing}/c1/sms",
    }
    assert request["headers"]["Authorization"] == "Bearer gw-key-123"
    assert request["headers"]["Idempotency-Key"] == f"mailing:{mailing}/c1/sms"
    row = db.outbox("customer_id = 'c1'")[0]
    assert (row["state"], row["gateway_id"], row["attempts"]) == ("sent", "gw-1", 2)

    # the delivery report through the central server's webhook; a wrong token changes nothing
    client = app_client(db)
    assert client.post("/hooks/messages/sms/wrong", json={"id": "gw-1", "status": "delivered"}).status_code == 403
    # a token that is not ASCII made hmac.compare_digest raise: a 500 for anyone who guessed the URL's shape
    assert client.post("/hooks/messages/sms/h%C3%A9", json={"id": "gw-1", "status": "delivered"}).status_code == 403
    reply = client.post("/hooks/messages/sms/hook-tok", json={"id": "gw-1", "status": "DELIVERED"})
    assert reply.status_code == 200 and reply.json["delivered"] == 1
    assert db.outbox("customer_id = 'c1'")[0]["state"] == "delivered"
    # a STOP reply withdraws SMS consent (form-encoded, as many gateways post)
    reply = client.post("/hooks/messages/sms/hook-tok", data={"from": "89121234567", "text": "СТОП"})
    assert reply.json["unsubscribed"] == 1
    assert json.loads(db.customer("c1")["consents"])["sms"] is False
    assert svc.consent_history(db, SYSTEM, "c1")[-1]["source"] == "gateway"


@pytest.mark.parametrize("concurrency", [1, 4])
def test_rate_limit_is_never_exceeded_in_any_second(db, gateway, sms_channel, concurrency):
    svc.set_channel(db, SYSTEM, "sms", svc.get_channel(db, SYSTEM, "sms")["settings"], {}, rate_per_second=5)
    ids = [f"c{i}" for i in range(12)]
    for i, cid in enumerate(ids):
        add_customer(db, cid, phone=f"+7912123{i:04d}", consents={"sms": True})
    template = svc.save_template(db, SYSTEM, name="sms", channel="sms", language="ru", body="hi {{ name }}")
    svc.create_mailing(db, SYSTEM, name="S", template_id=template, recipients=ids)
    s = sender(db, concurrency=concurrency)
    drain(s)
    s.close()
    times = sorted(gateway.times)
    assert len(times) == 12 and len({r["body"]["partner_id"] for r in gateway.requests}) == 12
    for i in range(len(times) - 5):
        assert times[i + 5] - times[i] >= 0.99  # any 6 sends span at least a second


def test_cashier_message_is_written_once_and_goes_down(db):
    svc.set_channel(db, SYSTEM, "cashier", {})
    add_customer(db, "c1")
    version = db.customer("c1")["version"]
    template = svc.save_template(
        db,
        SYSTEM,
        name="hello",
        channel="cashier",
        language="ru",
        kind="service",
        body="Поздравьте {{ first_name }} с днём рождения",
    )
    first = svc.send_one(db, SYSTEM, template, "c1", cause="trigger:1:2:1")
    again = svc.send_one(db, SYSTEM, template, "c1", cause="trigger:1:2:1")  # a retried trigger
    assert first == again and len(db.outbox()) == 1
    s = sender(db)
    drain(s)
    s.close()
    rows = db.rows("SELECT id, text FROM customer_messages WHERE customer_id = 'c1'")
    assert rows == [{"id": f"out{first}", "text": "Поздравьте Анна с днём рождения"}]
    assert db.customer("c1")["version"] > version
    assert db.outbox()[0]["state"] == "sent"


def test_consent_withdrawn_between_queueing_and_sending(db, smtp_server, email_channel):
    add_customer(db, "c1", email="anna@example.com", consents={"email": True})
    mailing = svc.create_mailing(db, SYSTEM, name="W", template_id=email_template(db), recipients=["c1"])
    assert svc.set_consent(db, SYSTEM, "c1", "email", False) is True
    assert svc.set_consent(db, SYSTEM, "c1", "email", False) is False
    s = sender(db)
    drain(s)
    s.close()
    assert svc.mailing_progress(db, SYSTEM, mailing)["counts"]["skipped"] == 1
    assert smtp_server.messages == []


def test_service_messages_ignore_marketing_consent(db, smtp_server, email_channel):
    add_customer(db, "c1", email="anna@example.com", consents={"email": False})
    row = svc.send_one(db, SYSTEM, email_template(db, kind="service"), "c1")
    s = sender(db)
    drain(s)
    s.close()
    mail = smtp_server.wait(1)[0][2]
    assert mail["List-Unsubscribe"] is None
    assert svc.outbox_row(db, row)["state"] == "sent"


def test_quiet_hours_wait_for_the_morning_in_the_customers_zone(db, smtp_server, email_channel):
    add_customer(db, "msk", email="msk@example.com", consents={"email": True}, store="S1")
    add_customer(db, "vvo", email="vvo@example.com", consents={"email": True}, store="S2")
    svc.create_mailing(db, SYSTEM, name="W", template_id=email_template(db), recipients=["msk", "vvo"])
    # tomorrow (the mailing was queued at the real now, which the fake clock must not precede) at 19:30 UTC:
    # 22:30 in Moscow, 05:30 in Vladivostok
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    evening = dt.datetime.combine(day, dt.time(19, 30), dt.UTC)
    msk_morning = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(6, 0), dt.UTC)  # 09:00 in Moscow
    vvo_morning = dt.datetime.combine(day, dt.time(23, 0), dt.UTC)  # 09:00 in Vladivostok
    now = [evening]
    s = sender(db, policy=rules.Policy(quiet_start=21, quiet_end=9), clock=lambda: now[0])
    drain(s)
    assert {r["customer_id"]: (r["state"], r["not_before"]) for r in db.outbox()} == {
        "msk": ("queued", msk_morning.isoformat()),
        "vvo": ("queued", vvo_morning.isoformat()),
    }
    now[0] = vvo_morning
    drain(s)
    assert [m[1] for m in smtp_server.wait(1)] == [["vvo@example.com"]]
    now[0] = msk_morning
    drain(s)
    s.close()
    assert [m[1] for m in smtp_server.wait(2)] == [["vvo@example.com"], ["msk@example.com"]]


def test_frequency_cap_holds_the_second_marketing_message(db, smtp_server, email_channel):
    add_customer(db, "c1", email="anna@example.com", consents={"email": True})
    template = email_template(db)
    svc.send_one(db, SYSTEM, template, "c1", cause="a")
    s = sender(db, policy=rules.Policy(quiet_start=0, quiet_end=0, cap_per_day=1))
    drain(s)
    svc.send_one(db, SYSTEM, template, "c1", cause="b")
    drain(s)
    s.close()
    second = db.outbox("cause = 'b'")[0]
    assert second["state"] == "queued" and second["why"] == "frequency cap"
    assert second["not_before"] > db.outbox("cause = 'a'")[0]["sent_at"]


def test_one_sender_at_a_time(db, smtp_server, email_channel):
    add_customer(db, "c1", email="anna@example.com", consents={"email": True})
    svc.send_one(db, SYSTEM, email_template(db), "c1")
    a, b = sender(db), sender(db)
    assert b.run_once() == 1  # b takes the lease first and sends
    assert a.run_once() == 0  # a waits for the lease
    b.close()  # releases it
    assert a.run_once() == 0  # nothing left to send, but a now holds the lease
    a.close()
    assert len(smtp_server.wait(1)) == 1


def test_sender_thread_sends_what_is_queued(db, smtp_server, email_channel):
    add_customer(db, "c1", email="anna@example.com", consents={"email": True})
    s = sender(db, interval=0.05).start()
    try:
        svc.send_one(db, SYSTEM, email_template(db), "c1")
        s.notify()
        assert len(smtp_server.wait(1)) == 1
    finally:
        s.stop()


def test_implicit_tls_smtp(db, tls_files):
    import ssl

    from aiosmtpd.controller import Controller

    from .conftest import Inbox, free_port

    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=context)
    controller.start()
    try:
        svc.set_channel(
            db,
            SYSTEM,
            "email",
            {"host": "127.0.0.1", "port": port, "security": "tls", "sender": "club@shop.example", "verify_tls": False},
        )
        add_customer(db, "c1", email="anna@example.com")
        row = svc.test_send(db, SYSTEM, email_template(db), "c1", "me@shop.example")
        s = sender(db)
        drain(s)
        s.close()
        assert inbox.wait(1)[0][1] == ["me@shop.example"]
        assert svc.outbox_row(db, row)["state"] == "sent"
        # the test email's unsubscribe link unsubscribes nobody (not the customer it was rendered as)
        url = str(inbox.messages[0][2]["List-Unsubscribe"]).strip("<>")
        assert svc.unsubscribe(db, svc.link_key(db), url.rsplit("/", 1)[1]) is None
    finally:
        controller.stop()


# -- the service API ------------------------------------------------------------------------------

MARKETER = Actor(7, "mara", "marketer")
VIEWER = Actor(8, "vic", "viewer")


def test_channel_secrets_are_never_returned(db, smtp_server, email_channel):
    assert email_channel["secrets"] == {"password": svc.MASK}
    assert svc.get_channel(db, MARKETER, "email")["secrets"] == {"password": svc.MASK}
    # saved again with the mask: the password is kept (and still works)
    settings = email_channel["settings"]
    svc.set_channel(db, SYSTEM, "email", settings, {"password": svc.MASK})
    add_customer(db, "c1", email="anna@example.com")
    svc.test_send(db, SYSTEM, email_template(db), "c1", "me@shop.example")
    s = sender(db)
    drain(s)
    s.close()
    assert len(smtp_server.wait(1)) == 1
    audit = db.rows("SELECT before, after FROM audit_log WHERE action = 'messages.channel'")
    assert audit and all("s3cret" not in (r["before"] or "") + r["after"] for r in audit)
    with pytest.raises(Forbidden):
        svc.set_channel(db, MARKETER, "email", settings, {})
    with pytest.raises(Forbidden):
        svc.get_channel(db, VIEWER, "email")


def test_bad_input_changes_nothing(db, email_channel):
    with pytest.raises(FormError) as err:
        svc.set_channel(db, SYSTEM, "email", {"host": "", "port": 99999, "security": "ssl3", "sender": "x"}, {})
    assert "host" in str(err.value) and "port" in str(err.value)
    with pytest.raises(FormError, match="http"):
        svc.set_channel(db, SYSTEM, "sms", {"url": "ftp://x", "body": "{phone} {text}"}, {})
    with pytest.raises(FormError, match="secret token"):
        svc.set_channel(db, SYSTEM, "sms", {"url": "http://x/{phone}/{text}", "headers": {"A": "{secret:token}"}}, {})
    with pytest.raises(FormError, match="subject: a contact"):
        svc.set_channel(db, SYSTEM, "push", {}, {})
    with pytest.raises(FormError, match="unknown variable bonus"):
        svc.save_template(db, SYSTEM, name="t", channel="sms", language="ru", body="{{ bonus }}")
    with pytest.raises(FormError, match="syntax error"):
        svc.save_template(db, SYSTEM, name="t", channel="sms", language="ru", body="{% if %}")
    with pytest.raises(FormError, match="subject"):
        svc.save_template(db, SYSTEM, name="t", channel="email", language="ru", body="hi")
    assert db.count("message_templates") == 0 and db.count("message_channels") == 1
    sms = svc.save_template(db, SYSTEM, name="t", channel="sms", language="ru", body="hi")
    with pytest.raises(FormError, match="not set up"):
        svc.create_mailing(db, SYSTEM, name="m", template_id=sms, recipients=["c1"])
    template = email_template(db)
    with pytest.raises(FormError, match="empty"):
        svc.create_mailing(db, SYSTEM, name="m", template_id=template, recipients=lambda: iter(["ghost"]))
    add_customer(db, "c1", email="a@example.com")
    with pytest.raises(FormError, match="address"):
        svc.test_send(db, SYSTEM, template, "c1", "not-an-email")
    with pytest.raises(Forbidden):
        svc.create_mailing(db, VIEWER, name="m", template_id=template, recipients=["c1"])
    assert db.count("mailings") == 0 and db.count("message_outbox") == 0


def test_preview_with_a_real_customer_and_pause(db, email_channel):
    add_customer(db, "c1", email="anna@example.com", consents={}, balance=5000)
    template = email_template(db)
    shown = svc.preview(db, MARKETER, template, "c1")
    assert shown["subject"] == "Анна, у вас 50 баллов" and shown["to"] == "anna@example.com"
    assert shown["refusal"] == "no consent for email"
    sms = svc.save_template(db, MARKETER, name="s", channel="sms", language="ru", body="я" * 71)
    assert svc.preview(db, MARKETER, sms, "c1")["sms_parts"] == 2
    add_customer(db, "c2", email="b@example.com", consents={"email": True})
    mailing = svc.create_mailing(db, MARKETER, name="m", template_id=template, recipients=lambda: ["c1", "c2", "c2"])
    svc.pause_mailing(db, MARKETER, mailing)
    s = sender(db)
    assert s.run_once() == 0  # paused: nothing is due
    svc.pause_mailing(db, MARKETER, mailing, paused=False)
    with pytest.raises(FormError):
        svc.pause_mailing(db, MARKETER, mailing, paused=False)
    drain(s)
    s.close()
    assert svc.mailing_progress(db, MARKETER, mailing)["counts"]["skipped"] == 1
    actions = [r[0] for r in db.conn.execute("SELECT action FROM audit_log ORDER BY id")]
    assert actions[-4:] == ["messages.template", "mailing.create", "mailing.pause", "mailing.resume"]


def test_profile_edit_records_consent_history(db):
    from central.services import accounts

    add_customer(db, "c1", email="anna@example.com", consents={"sms": True})
    accounts.update_profile(db, SYSTEM, "c1", {"name": "Анна", "email": "anna@example.com", "consent_email": "1"})
    history = [(h["channel"], h["granted"], h["source"]) for h in svc.consent_history(db, SYSTEM, "c1")]
    assert history == [("sms", 0, "console"), ("email", 1, "console")]


def test_expiring_points_in_a_preview(db):
    add_customer(db, "c1", balance=30000)
    with db.transaction() as conn:
        for ident, points, expires in (
            ("l1", 5000, "2099-03-01T00:00:00+00:00"),
            ("l2", 2500, "2099-03-01T00:00:00+00:00"),
            ("l3", 9900, "2099-06-01T00:00:00+00:00"),
            ("l4", 100, "2000-01-01T00:00:00+00:00"),
        ):
            conn.execute(
                "INSERT INTO lots (id, customer_id, points, initial, expires_at, created_at, program_id)"
                " VALUES (?, 'c1', ?, ?, ?, '2026-01-01T00:00:00+00:00', 1)",
                (ident, points, points, expires),
            )
    template = svc.save_template(
        db,
        SYSTEM,
        name="x",
        channel="sms",
        language="ru",
        kind="service",
        body="{{ expiring }} сгорят {{ expiring_on }}; всего {{ balance }}",
    )
    assert svc.preview(db, SYSTEM, template, "c1")["body"] == "75 сгорят 01.03.2099; всего 300"


def test_imports_record_consent_history(db):
    from central.services import imports

    table = imports.read_table("phone;name;sms;email_consent\n+79120000001;Анна;yes;no\n".encode(), "new.csv")
    report = imports.check(db, SYSTEM, table)
    assert imports.apply(db, SYSTEM, table, report, good_rows_only=True, source="new.csv") == 1
    cid = db.rows("SELECT id FROM customers WHERE phone = '+79120000001'")[0]["id"]
    table = imports.read_table(b"phone;sms\n+79120000001;no\n", "update.csv")
    report = imports.check(db, SYSTEM, table, mode="update")
    imports.apply(db, SYSTEM, table, report, good_rows_only=True, source="update.csv")
    history = [(h["channel"], h["granted"], h["source"]) for h in svc.consent_history(db, SYSTEM, cid)]
    assert history == [("personal_data", 1, "import"), ("sms", 1, "import"), ("sms", 0, "import")]


def test_a_broken_adapter_is_retried_then_failed_not_looped(db, caplog):
    from central.messages import adapters

    class Broken(adapters.Adapter):
        def send(self, message):
            raise KeyError("oops")

    svc.set_channel(db, SYSTEM, "cashier", {})
    add_customer(db, "c1", email="anna@example.com", consents={"email": True})
    svc.set_channel(db, SYSTEM, "sms", {"url": "http://127.0.0.1:9/{phone}/{text}"}, {})
    with db.transaction() as conn:
        conn.execute("UPDATE customers SET phone = '+79121234567', consents = '{\"sms\": true}'")
    row = svc.send_one(
        db, SYSTEM, svc.save_template(db, SYSTEM, name="s", channel="sms", language="ru", body="x"), "c1"
    )
    now = [dt.datetime.now(dt.UTC)]
    s = sender(db, clock=lambda: now[0], make_adapter=lambda *a: Broken())
    for _ in range(12):
        s.run_once()
        now[0] += dt.timedelta(hours=2)
    s.close()
    out = svc.outbox_row(db, row)
    assert out["state"] == "failed" and out["attempts"] == 8 and "KeyError" in out["why"]


def test_dkim_signature_verifies_with_the_published_record(db, smtp_server, email_channel):
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    settings = {**svc.get_channel(db, SYSTEM, "email")["settings"], "dkim_selector": "mail2026"}
    with pytest.raises(FormError, match="dkim_key"):
        svc.set_channel(db, SYSTEM, "email", settings, {"dkim_key": "not a key"})
    # pasted into a one-line password input: the line breaks became nothing
    saved = svc.set_channel(db, SYSTEM, "email", settings, {"dkim_key": pem.replace("\n", "")})
    record = f"v=DKIM1; k=rsa; p={saved['settings']['dkim_public']}".encode()
    assert saved["settings"]["dkim_domain"] == "shop.example" and saved["secrets"]["dkim_key"] == svc.MASK
    add_customer(db, "c1", email="anna@example.com", consents={"email": True})
    svc.create_mailing(db, SYSTEM, name="W", template_id=email_template(db), recipients=["c1"])
    s = sender(db)
    drain(s)
    s.close()
    mail = smtp_server.wait(1)[0][2]
    raw = smtp_server.raws[0]
    assert mail["DKIM-Signature"] and "s=mail2026" in mail["DKIM-Signature"]

    def dns(name, timeout=5):
        return record if name.rstrip(b".") == b"mail2026._domainkey.shop.example" else None

    assert dkim.verify(raw, dnsfunc=dns)
    assert not dkim.verify(raw.replace(b"To: anna@", b"To: vera@"), dnsfunc=dns)  # changed on the way


def test_opens_and_clicks_are_counted_through_signed_links(db, smtp_server, email_channel, app_client):
    import re

    add_customer(db, "c1", email="anna@example.com", consents={"email": True})
    add_customer(db, "c2", email="boris@example.com", consents={"email": True})
    template = svc.save_template(
        db,
        SYSTEM,
        name="sale",
        channel="email",
        language="ru",
        subject="Скидки",
        body="Смотрите https://shop.example/sale?a=1&b=2.\nОтписаться: {{ unsubscribe_url }}",
    )
    mailing = svc.create_mailing(db, SYSTEM, name="Sale", template_id=template, recipients=["c1", "c2"])
    s = sender(db)
    drain(s)
    s.close()
    mail = {m[1][0]: m[2] for m in smtp_server.wait(2)}["anna@example.com"]
    text = mail.get_body(("plain",)).get_content()
    page = mail.get_body(("html",)).get_content()
    assert "https://shop.example/sale" not in text and "/messages/unsubscribe/" in text  # the link is tracked
    click = re.search(r"https://crm\.shop\.example(/messages/c/\S+)", text).group(1).rstrip(".")
    pixel = re.search(r'src="https://crm\.shop\.example(/messages/o/[^"]+)"', page).group(1)
    assert click in page and "&amp;" not in click
    client = app_client(db)
    assert client.get(pixel).headers["Content-Type"] == "image/gif"
    followed = client.get(click)
    assert followed.status_code == 302 and followed.headers["Location"] == "https://shop.example/sale?a=1&b=2"
    client.get(click)  # twice: counted once
    assert client.get(click[:-3] + "AAA").status_code == 404  # forged
    assert client.get(pixel.replace("/o/", "/o/x")).status_code == 404
    progress = svc.mailing_progress(db, SYSTEM, mailing)
    assert (progress["opened"], progress["clicked"]) == (1, 1)


def test_expiring_points_read_for_a_whole_batch_as_one_by_one(db):
    """The sender reads the soonest expiring points of a pass's customers in one query: the same answers."""
    for cid in ("c1", "c2", "c3"):
        add_customer(db, cid)
    with db.transaction() as conn:
        for ident, cid, points, expires in (
            ("l1", "c1", 5000, "2099-03-01T00:00:00+00:00"),
            ("l2", "c1", 2500, "2099-03-01T00:00:00+00:00"),
            ("l3", "c1", 9900, "2099-06-01T00:00:00+00:00"),
            ("l4", "c2", 100, "2000-01-01T00:00:00+00:00"),
            ("l5", "c2", 700, "2099-01-01T00:00:00+00:00"),
            ("l6", "c2", 0, "2098-01-01T00:00:00+00:00"),
            ("l7", "c3", 100, "2000-01-01T00:00:00+00:00"),
        ):
            conn.execute(
                "INSERT INTO lots (id, customer_id, points, initial, expires_at, created_at, program_id)"
                " VALUES (?, ?, ?, ?, ?, '2026-01-01T00:00:00+00:00', 1)",
                (ident, cid, points, max(points, 1), expires),
            )
    batch = db.soonest_expiries(["c1", "c2", "c3", "nobody"])
    assert batch == {"c1": ("2099-03-01", 7500), "c2": ("2099-01-01", 700)}
    for cid in ("c1", "c2", "c3"):
        assert batch.get(cid, (None, 0)) == db.soonest_expiry(cid)
