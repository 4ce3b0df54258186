"""HTML email templates: sandboxed (variables escaped, scripts refused when saved), with a text part made
from the HTML; received by the real SMTP server as multipart/alternative; tracked links in mailings."""

from __future__ import annotations

import pytest

from central.messages.html import check_html, to_text
from central.messages.templates import TemplateError
from central.services import messages as svc
from central.services.access import SYSTEM, FormError

from .conftest import add_customer
from .test_sending import drain, sender

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

PAGE = (
    "<html><head><style>h1 {color: #c00}</style></head><body>"
    "<h1>Здравствуйте, {{ name }}!</h1>"
    '<p>Баланс: <b>{{ balance }}</b> баллов.<br>Все акции <a href="https://shop.example/sale?a=1&amp;b=2">здесь</a>.</p>'
    '<ul><li>Суши</li><li>Роллы</li></ul><p><a href="{{ unsubscribe_url }}">Отписаться</a></p></body></html>'
)


@pytest.mark.parametrize(
    "bad",
    [
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        '<a href=" JaVaScRiPt:alert(1)">x</a>',
        '<iframe src="https://evil.example"></iframe>',
        '<form action="https://evil.example"><input name="card"></form>',
        '<meta http-equiv="refresh" content="0;url=https://evil.example">',
        '<a href="data:text/html,hi">x</a>',
    ],
)
def test_what_acts_in_a_reader_is_refused_when_saved(db, bad):
    with pytest.raises(TemplateError):
        check_html(bad)
    with pytest.raises(FormError) as refused:
        svc.save_template(db, SYSTEM, name="t", channel="email", language="ru", subject="S", body="", html=bad)
    assert "html" in refused.value.errors
    check_html('<img src="data:image/png;base64,iVBORw0KGgo=" alt="">')  # an inline picture is fine


def test_only_email_has_html_and_the_sandbox_holds_in_it(db):
    with pytest.raises(FormError) as refused:
        svc.save_template(db, SYSTEM, name="t", channel="sms", language="ru", body="x", html="<p>x</p>")
    assert "html" in refused.value.errors
    with pytest.raises(FormError) as refused:
        svc.save_template(
            db,
            SYSTEM,
            name="t",
            channel="email",
            language="ru",
            subject="S",
            body="",
            html="<p>{{ name.__class__ }}</p>",
        )
    assert "html" in refused.value.errors


def test_the_text_part_is_made_from_the_html():
    text = to_text(
        '<h1>Hi &amp; welcome</h1><p>Spend   it <a href="https://s.example/x">here</a>.<br>Now</p><ul><li>a</li>'
        "<li>b</li></ul><style>p{}</style>"
    )
    assert text == "Hi & welcome\n\nSpend it here (https://s.example/x).\nNow\n\n• a\n• b\n"


def test_an_html_email_goes_with_its_text_part_and_escaped_variables(db, smtp_server, email_channel):
    add_customer(db, "c1", name="Анна <b>&</b>", email="anna@example.com", consents={"email": True}, balance=12345)
    template = svc.save_template(
        db, SYSTEM, name="html", channel="email", language="ru", subject="Баланс {{ balance }}", body="", html=PAGE
    )
    view = svc.preview(db, SYSTEM, template, "c1")
    assert "Здравствуйте, Анна &lt;b&gt;&amp;&lt;/b&gt;!" in view["html"]  # the name cannot bring markup
    assert view["body"].startswith("Здравствуйте, Анна <b>&</b>!\n\nБаланс: 123,45 баллов.")
    assert "Все акции здесь (https://shop.example/sale?a=1&b=2)." in view["body"]
    svc.send_one(db, SYSTEM, template, "c1")
    s = sender(db)
    drain(s)
    s.close()
    [(_, rcpt, mail)] = smtp_server.wait(1)
    assert rcpt == ["anna@example.com"] and mail.get_content_type() == "multipart/alternative"
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "<h1>Здравствуйте, Анна &lt;b&gt;&amp;&lt;/b&gt;!</h1>" in html and "<style>" in html
    assert "• Суши\n• Роллы" in text and "<" not in text.replace("<b>&</b>", "")
    stored = db.outbox()[0]
    assert stored["html"] and stored["body"].startswith("Здравствуйте")  # recorded before the send


def test_a_mailing_tracks_the_html_links_and_keeps_the_unsubscribe_link(db, smtp_server, email_channel):
    add_customer(db, "c1", email="anna@example.com", consents={"email": True})
    template = svc.save_template(
        db, SYSTEM, name="html", channel="email", language="ru", subject="Акция", body="", html=PAGE
    )
    svc.create_mailing(db, SYSTEM, name="M", template_id=template, recipients=["c1"])
    s = sender(db)
    drain(s)
    s.close()
    [(_, _, mail)] = smtp_server.wait(1)
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    unsubscribe = str(mail["List-Unsubscribe"]).strip("<>")
    assert 'href="https://crm.shop.example/messages/c/' in html and "shop.example/sale" not in html
    assert f'href="{unsubscribe}"' in html  # not tracked
    assert html.index("/messages/o/") < html.index("</body>")  # the opening pixel inside the body
    assert "https://crm.shop.example/messages/c/" in text and "shop.example/sale" not in text
