"""Messages in a real headless Chromium: write a template (the SMS counter counts Cyrillic as UCS-2),
preview it on a real customer, send a mailing to a small segment, watch its progress, and open the
message in the SMTP test server (aiosmtpd)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from central import create_app
from central.messages import rules
from central.messages.sender import Sender
from central.services import messages as svc
from central.services import segments
from central.services.access import SYSTEM
from tests.messages.conftest import SMTP_PASSWORD, SMTP_USER, Inbox, smtp_server, tls_files  # noqa: F401
from tests.web import live_server

from .test_browser import sign_in

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


@pytest.fixture
def console(db_file, db, people, shoppers, smtp_server):  # noqa: F811
    svc.set_channel(
        db,
        SYSTEM,
        "email",
        {
            "host": "127.0.0.1",
            "port": smtp_server.port,
            "security": "starttls",
            "username": SMTP_USER,
            "sender": "club@shop.example",
            "sender_name": "Клуб покупателей",
            "verify_tls": False,
        },
        {"password": SMTP_PASSWORD},
    )
    db.conn.execute("UPDATE customers SET email = id || '@example.com', consents = '{\"email\": true}'")
    segment = segments.create(db, people["admin"], "Постоянные", "static")
    segments.change_members(db, people["admin"], segment, add=["c1", "c2"])
    db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    sender = Sender(
        db_file, policy=rules.Policy(quiet_start=0, quiet_end=0), public_url="https://crm.shop.example", interval=0.2
    ).start()
    app = create_app({"DATABASE": db_file, "SECRET_KEY": "browser-tests"})
    with live_server(app) as url:
        yield url
    sender.stop()


def test_template_preview_mailing_progress_and_the_received_email(page, console, smtp_server):  # noqa: F811
    sign_in(page, console, "marketer")
    page.click("nav >> text=Сообщения")
    page.click("#messages-nav >> text=Шаблоны")
    page.click("#new-template")
    # the SMS counter: 71 Cyrillic characters are two UCS-2 parts of 67
    page.select_option("select[name=channel]", "sms")
    page.fill("textarea[name=body]", "Ж" * 71)
    expect(page.locator("#sms-counter")).to_have_attribute("data-parts", "2")
    page.fill("textarea[name=body]", "Ж" * 70)
    expect(page.locator("#sms-counter")).to_have_attribute("data-parts", "1")
    # an email template with a typo is refused in place, then saved
    page.select_option("select[name=channel]", "email")
    page.fill("input[name=name]", "Зимняя акция")
    page.fill("input[name=subject]", "{{ first_name }}, у вас {{ balance }} баллов")
    page.fill("textarea[name=body]", "Здравствуйте, {{ nme }}!")
    page.click("button[value=save]")
    expect(page.locator("em.error[data-for=body]")).to_contain_text("nme")
    page.fill("textarea[name=body]", "Здравствуйте, {{ name }}!\nБаланс: {{ balance }}.")
    page.click("button[value=save]")
    page.wait_for_url("**/messages/templates/*")
    # preview with a real customer, found by phone
    page.fill("input[name=customer]", "+7 912 000-00-01")
    page.click("#preview-button")
    expect(page.locator("#preview-subject")).to_have_text("Иван, у вас 5 баллов")
    expect(page.locator("#preview-body")).to_contain_text("Здравствуйте, Иван Петров!")
    expect(page.locator("#preview-to")).to_have_text("c1@example.com")
    # a mailing to the small segment
    page.click("#messages-nav >> text=Рассылки")
    page.click("#new-mailing")
    page.fill("input[name=name]", "Зима для постоянных")
    option = page.locator("select[name=template] option", has_text="Зимняя акция")
    page.select_option("select[name=template]", option.get_attribute("value"))
    page.check("input[name=source][value=segment]")
    option = page.locator("select[name=segment] option", has_text="Постоянные")
    page.select_option("select[name=segment]", option.get_attribute("value"))
    page.click("#mailing-form button.primary")
    page.wait_for_url("**/messages/mailings/*")
    # the page refreshes its counts by itself
    expect(page.locator("[data-count=sent]")).to_have_text("2", timeout=15_000)
    expect(page.locator("[data-count=queued]")).to_have_text("0")
    # the message as the SMTP server received it
    received = {rcpt[0]: mail for _, rcpt, mail in smtp_server.wait(2)}
    mail = received["c1@example.com"]
    assert mail["Subject"] == "Иван, у вас 5 баллов"
    assert mail.get_body(("plain",)).get_content().startswith("Здравствуйте, Иван Петров!")
    assert mail["List-Unsubscribe"].startswith("<https://crm.shop.example/messages/unsubscribe/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_an_html_template_is_written_and_previewed_in_its_sandboxed_frame(page, console):
    sign_in(page, console, "marketer")
    page.goto(console + "/messages/templates/new")
    page.select_option("select[name=channel]", "sms")
    expect(page.locator("[data-html]")).to_be_hidden()  # HTML is for email only
    page.select_option("select[name=channel]", "email")
    expect(page.locator("[data-html]")).to_be_visible()
    page.fill("input[name=name]", "HTML")
    page.fill("input[name=subject]", "Баланс {{ balance }}")
    page.fill("textarea[name=body]", "")
    page.fill(
        "textarea[name=html]", '<h1 style="color: rgb(200, 0, 0)">{{ name }}</h1><p>Баланс: <b>{{ balance }}</b></p>'
    )
    page.click("button[value=save]")
    page.wait_for_url("**/messages/templates/*")
    page.fill("input[name=customer]", "c1")
    page.click("#preview-button")
    expect(page.locator("#preview-body")).to_contain_text("Иван Петров")  # the text part made from the HTML
    heading = page.frame_locator("#preview-html").locator("h1")
    expect(heading).to_have_text("Иван Петров")
    expect(heading).to_have_css("color", "rgb(200, 0, 0)")
    assert page.locator("#preview-html").get_attribute("sandbox") == ""
