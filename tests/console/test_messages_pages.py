"""The console's message pages through the test client: channels (secrets never shown again), templates
with preview and test send, mailings with progress, pause and resume, a customer's consents and messages."""

from __future__ import annotations

import json

import pytest

from central.messages import rules
from central.messages.sender import Sender
from tests.messages.conftest import SMTP_PASSWORD, SMTP_USER, Inbox, smtp_server, tls_files  # noqa: F401

from .conftest import login

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

NO_QUIET = rules.Policy(quiet_start=0, quiet_end=0)


def drain(db):
    s = Sender(db.path, policy=NO_QUIET, public_url="https://crm.shop.example")
    for _ in range(5):
        if not s.run_once():
            break
    s.close()


def set_up_email(client, smtp_server):  # noqa: F811
    return client.post(
        "/messages/channels/email",
        data={
            "host": "127.0.0.1",
            "port": str(smtp_server.port),
            "security": "starttls",
            "username": SMTP_USER,
            "secret_password": SMTP_PASSWORD,
            "sender": "club@shop.example",
            "sender_name": "Клуб",
            "enabled": "1",
            "rate_per_second": "0",
        },
    )


def test_channel_secrets_are_never_shown_again_and_are_audited(client, db, smtp_server):  # noqa: F811
    login(client, "admin")
    assert set_up_email(client, smtp_server).status_code == 302
    page = client.get("/messages/channels/email").get_data(as_text=True)
    assert SMTP_PASSWORD not in page and 'data-secret="password"' in page
    stored = db.rows("SELECT secrets FROM message_channels WHERE channel = 'email'")[0]["secrets"]
    assert SMTP_PASSWORD not in stored  # sealed with the instance folder's key
    # saved again with the password left empty: kept
    response = client.post(
        "/messages/channels/email",
        data={
            "host": "127.0.0.1",
            "port": str(smtp_server.port),
            "security": "starttls",
            "username": SMTP_USER,
            "sender": "club@shop.example",
            "enabled": "1",
            "rate_per_second": "5",
        },
    )
    assert response.status_code == 302
    assert db.message_channel("email")["secrets"]["password"] == SMTP_PASSWORD
    audit = db.rows("SELECT after FROM audit_log WHERE action = 'messages.channel' ORDER BY id")
    assert len(audit) == 2 and all(SMTP_PASSWORD not in row["after"] for row in audit)
    # a bad form: errors, nothing changed, the typed secret not echoed back
    bad = client.post("/messages/channels/email", data={"host": "", "port": "x", "secret_password": "new-one"})
    assert bad.status_code == 422 and "new-one" not in bad.get_data(as_text=True)
    assert db.message_channel("email")["rate_per_second"] == 5


def test_sms_gateway_form_keeps_its_webhook_fields(client, db):
    login(client, "admin")
    response = client.post(
        "/messages/channels/sms",
        data={
            "method": "POST",
            "url": "https://gw.example/send",
            "body_format": "json",
            "body": '{"to": "{phone}", "text": "{text}", "key": "{secret:api_key}"}',
            "headers": "X-Client: shop",
            "secret_api_key": "k-1",
            "secret_webhook_token": "hook",
            "report_status_field": "state",
            "delivered_values": "DELIVRD",
            "enabled": "1",
            "rate_per_second": "0",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    row = db.message_channel("sms")
    assert row["settings"]["report_status_field"] == "state" and row["settings"]["headers"] == {"X-Client": "shop"}
    assert "k-1" not in client.get("/messages/channels/sms").get_data(as_text=True)


def test_template_preview_test_send_and_a_mailing(client, db, shoppers, smtp_server):  # noqa: F811
    login(client, "admin")
    set_up_email(client, smtp_server)
    db.conn.execute("UPDATE customers SET email = 'ivan@example.com', consents = '{\"email\": true}' WHERE id = 'c1'")
    bad = client.post(
        "/messages/templates/new",
        data={
            "action": "save",
            "name": "x",
            "channel": "email",
            "language": "ru",
            "kind": "marketing",
            "subject": "s",
            "body": "{{ bonus }}",
        },
    )
    assert bad.status_code == 422 and "bonus" in bad.get_data(as_text=True)
    saved = client.post(
        "/messages/templates/new",
        data={
            "action": "save",
            "name": "Зима",
            "channel": "email",
            "language": "ru",
            "kind": "marketing",
            "subject": "{{ first_name }}, привет",
            "body": "Баланс: {{ balance }}",
        },
    )
    assert saved.status_code == 302
    template_id = int(saved.headers["Location"].rsplit("/", 1)[1])
    preview = client.post(f"/messages/templates/{template_id}", data={"action": "preview", "customer": "2000001"})
    text = preview.get_data(as_text=True)
    assert "Иван, привет" in text and "Баланс: 5" in text and "ivan@example.com" in text
    test = client.post(
        f"/messages/templates/{template_id}", data={"action": "test", "customer": "c1", "address": "me@shop.example"}
    )
    assert test.status_code == 302
    drain(db)
    assert smtp_server.wait(1)[0][1] == ["me@shop.example"]
    # a mailing to a pasted list; c2 has no email consent: skipped with why
    empty = client.post(
        "/messages/mailings/new", data={"name": "M", "template": str(template_id), "source": "list", "list": ""}
    )
    assert empty.status_code == 422
    made = client.post(
        "/messages/mailings/new",
        data={"name": "Зимняя", "template": str(template_id), "source": "list", "list": "c1\n+7 912 000-00-02"},
    )
    assert made.status_code == 302
    mailing_url = made.headers["Location"]
    mailing_id = int(mailing_url.rsplit("/", 1)[1])
    assert client.post(f"/messages/mailings/{mailing_id}/pause").status_code == 302
    assert json.loads(client.get(f"/messages/mailings/{mailing_id}/progress").data)["state"] == "paused"
    drain(db)
    assert len(smtp_server.messages) == 1  # paused: nothing sent
    client.post(f"/messages/mailings/{mailing_id}/resume")
    drain(db)
    assert len(smtp_server.wait(2)) == 2
    progress = json.loads(client.get(f"/messages/mailings/{mailing_id}/progress").data)
    assert progress["state"] == "finished" and progress["counts"]["sent"] == 1 and progress["counts"]["skipped"] == 1
    page = client.get(mailing_url).get_data(as_text=True)
    assert "Зимняя" in page and "пропущено: нет согласия на канал «Эл. почта»" in page  # worded in ru
    assert "Зимняя" in client.get("/messages/mailings").get_data(as_text=True)


def test_a_mailing_to_the_customer_lists_filter(client, db, shoppers, smtp_server):  # noqa: F811
    login(client, "marketer")
    login(client, "admin")
    set_up_email(client, smtp_server)
    db.conn.execute("UPDATE customers SET email = id || '@example.com', consents = '{\"email\": true}'")
    template = client.post(
        "/messages/templates/new",
        data={
            "action": "save",
            "name": "t",
            "channel": "email",
            "language": "en",
            "kind": "marketing",
            "subject": "Hi",
            "body": "Hello",
        },
    )
    template_id = int(template.headers["Location"].rsplit("/", 1)[1])
    filter_args = "f=home_store&o=is&v=S1"
    form = client.get(f"/messages/mailings/new?{filter_args}").get_data(as_text=True)
    assert 'value="filter" checked' in form
    made = client.post(
        "/messages/mailings/new",
        data={"name": "S1 only", "template": str(template_id), "source": "filter", "filter": filter_args},
    )
    assert made.status_code == 302
    drain(db)
    assert sorted(m[1][0] for m in smtp_server.wait(2)) == ["c1@example.com", "c3@example.com"]


def test_a_customers_consents_are_shown_and_edited_with_their_source(client, db, shoppers):
    login(client, "marketer")
    page = client.get("/customers/c1?tab=messages").get_data(as_text=True)
    assert 'data-consent="telegram"' in page
    response = client.post("/messages/customer/c1/consents", data={"consent_email": "1", "consent_sms": "1"})
    assert response.status_code == 302
    consents = json.loads(db.rows("SELECT consents FROM customers WHERE id = 'c1'")[0]["consents"])
    assert consents["email"] is True and consents["sms"] is True and not consents.get("push")
    page = client.get("/customers/c1?tab=messages").get_data(as_text=True)
    assert "marketer" in page and "консоль" in page.lower() or "console" in page
    # the consent is a filter of the customer list
    listed = client.get("/customers/?f=consent&o=has&v=email").get_data(as_text=True)
    assert "Иван Петров" in listed and "Мария Иванова" not in listed


def test_a_customers_language_of_messages_is_chosen_on_the_tab(client, db, shoppers):
    login(client, "marketer")
    page = client.get("/customers/c1?tab=messages").get_data(as_text=True)
    assert 'id="message-language"' in page and '<option value="ru" selected' in page
    assert client.post("/messages/customer/c1/language", data={"language": "en"}).status_code == 302
    assert db.rows("SELECT language FROM customers WHERE id = 'c1'")[0]["language"] == "en"
    assert '<option value="en" selected' in client.get("/customers/c1?tab=messages").get_data(as_text=True)
    client.post("/messages/customer/c1/language", data={"language": "xx"})  # refused, nothing changed
    assert db.rows("SELECT language FROM customers WHERE id = 'c1'")[0]["language"] == "en"


def test_why_a_message_was_not_sent_is_worded_in_the_consoles_language(client, db, shoppers):
    from central.services import messages as svc
    from central.services.access import SYSTEM
    from central.storage import messages as q

    template = svc.save_template(db, SYSTEM, name="t", channel="sms", language="ru", body="Привет")
    with db.transaction() as conn:
        q.enqueue(conn, "one:x", ["c1"], "sms", "marketing", template, "ru")
    row = db.outbox_id("one:x", "c1", "sms")
    with db.transaction():
        db.mark_message_final(row, "failed", "gateway HTTP 503: busy (after 8 attempts)")
    login(client, "marketer")
    page = client.get("/customers/c1?tab=messages").get_data(as_text=True)
    assert "шлюз ответил 503: busy (после 8 попыток)" in page


def test_an_html_template_is_previewed_in_a_sandboxed_frame(client, db, shoppers):
    login(client, "marketer")
    form = {"action": "save", "name": "H", "channel": "email", "language": "ru", "kind": "marketing", "subject": "s"}
    bad = client.post("/messages/templates/new", data={**form, "body": "", "html": "<p onclick=alert(1)>x</p>"})
    assert bad.status_code == 422 and "onclick" in bad.get_data(as_text=True)
    saved = client.post("/messages/templates/new", data={**form, "body": "", "html": "<h1>{{ name }}</h1><p>Hi</p>"})
    assert saved.status_code == 302
    template_id = int(saved.headers["Location"].rsplit("/", 1)[1])
    page = client.get(f"/messages/templates/{template_id}").get_data(as_text=True)
    assert "&lt;h1&gt;{{ name }}&lt;/h1&gt;" in page  # the HTML source kept in its field
    text = client.post(f"/messages/templates/{template_id}", data={"action": "preview", "customer": "c1"}).get_data(
        as_text=True
    )
    assert '<iframe id="preview-html" sandbox ' in text
    assert 'srcdoc="&lt;h1&gt;Иван Петров&lt;/h1&gt;&lt;p&gt;Hi&lt;/p&gt;"' in text
    assert '<pre id="preview-body" style="white-space:pre-wrap">Иван Петров\n\nHi\n</pre>' in text  # the text part


def test_a_store_manager_cannot_set_up_channels(client, db):
    login(client, "manager")
    assert client.get("/messages/channels/email").status_code == 403


@pytest.mark.parametrize("role", ["viewer"])
def test_the_nav_link_only_for_who_may_write_messages(client, role):
    login(client, role)
    assert "/messages/" not in client.get("/").get_data(as_text=True)


def test_the_consent_filter_names_the_consents(client, db, shoppers):
    login(client, "marketer")
    page = client.get("/customers/?f=consent&o=has&v=emial")
    assert page.status_code == 422 and "telegram" in page.get_data(as_text=True)
