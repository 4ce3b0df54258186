"""The engine's reasons (message_outbox.why) worded for marketers in ru and en (central/messages/reasons.py)."""

from __future__ import annotations

import re

import pytest

from central.messages import reasons, rules

#: what the sender, the rules and the adapters record (the shapes of docs/messages.md)
ENGINE_REASONS = [
    rules.refusal("sms", "marketing", {"consents": {}}),
    rules.refusal("email", "marketing", {"merged_into": "c2"}),
    rules.refusal("email", "marketing", {"blocked": 1}),
    rules.refusal("sms", "service", {}),
    rules.refusal("sms", "service", {"phone": "+74951234567"}),
    rules.refusal("email", "service", {}),
    rules.refusal("telegram", "service", {}),
    rules.refusal("push", "service", {}),
    "no such customer",
    "the template was deleted",
    "quiet hours",
    "frequency cap",
    "the sms channel is not set up",
    "the email channel's secrets do not open with this instance folder's key: type them again",
    "the sms channel cannot be used: bad url",
    "push subscription gone (410)",
    "push service HTTP 400: bad",
    "push service: timed out",
    "SMTP 550: 5.1.1 no such user",
    "SMTP login refused (535): bad credentials",
    "SMTP connection: refused",
    "SMTP: closed",
    "gateway HTTP 500: oops",
    "gateway refused: ERROR 7",
    "gateway: undelivered",
    "Telegram 403: Forbidden: bot was blocked by the user",
    "Telegram: not ok",
    "body: the text would be longer than 670 characters",
    "subject: division by zero in the template",
]


@pytest.mark.parametrize("why", ENGINE_REASONS)
def test_every_reason_of_the_engine_has_its_wording(why):
    assert why and reasons.explain(why) is not None, why


def test_a_peers_own_words_stay_as_they_came():
    msgid, params = reasons.explain("SMTP 550: 5.1.1 no such user")  # type: ignore[misc]
    assert params == {"status": "550", "detail": "5.1.1 no such user"}
    assert reasons.explain("something new") is None


@pytest.mark.parametrize(
    "language,why,shown",
    [
        ("ru", "skipped: no consent for sms", "пропущено: нет согласия на канал «SMS»"),
        ("en", "skipped: no consent for sms", "skipped: no consent for SMS"),
        (
            "ru",
            "failed: gateway HTTP 503: busy (after 8 attempts)",
            "не доставлено: шлюз ответил 503: busy (после 8 попыток)",
        ),
        ("ru", "push subscription gone (410)", "push-подписка больше не действует (410)"),
        ("ru", "something new", "something new"),
        ("ru", "body: the text would be longer than 670 characters", "шаблон: текст получится длиннее 670 символов"),
        (
            "en",
            "body: the text would be longer than 670 characters",
            "template: the text would be longer than 670 characters",
        ),
    ],
)
def test_reasons_in_the_consoles_language(language, why, shown):
    from flask import Flask, g

    from central.i18n import init_app
    from central.web.messages import reason_text

    app = Flask("t")
    init_app(app)
    with app.test_request_context():
        g.user_language = language  # the console user's own language
        assert reason_text(why) == shown


#: templates refused at saving, each with what the ru form says beside the field
BAD_TEMPLATES = [
    ("body", "{{ bonus }}", "неизвестная переменная bonus; можно использовать: "),
    ("body", "Привет\n{% if %}", "синтаксическая ошибка в строке 2: "),
    ("body", "{{ name ", "синтаксическая ошибка в строке 1: шаблон обрывается"),
    ("body", "{% frobnicate %}", "синтаксическая ошибка в строке 1: неизвестный тег «frobnicate»"),
    ("body", "{{ name ) }}", "синтаксическая ошибка в строке 1: неожиданное «)»"),
    ("body", "{{ name.__class__ }}", "строка 1: шаблон сообщения не может читать атрибуты"),
    ("body", "{{ name() }}", "строка 1: шаблон сообщения не может вызывать функции"),
    ("body", "{{ name|shout }}", "строка 1: неизвестный фильтр «shout»"),
    ("body", "{{ 'x' if name is weird }}", "строка 1: неизвестная проверка «weird»"),
    ("html", "<p>{{ name }}</p><script>x</script>", "тег <script> в письме недопустим"),
    ("html", '<a href="javascript:alert(1)">x</a>', "ссылка 'javascript:alert(1)' в href в письме недопустима"),
]


@pytest.mark.parametrize("field,source,ru", BAD_TEMPLATES)
def test_a_template_refused_at_saving_is_worded_in_ru_and_en(field, source, ru):
    from flask import Flask, g

    from central.i18n import init_app
    from central.messages.html import check_html
    from central.messages.templates import TemplateError, check
    from central.services.messages import template_problem

    with pytest.raises(TemplateError) as err:
        check(source, field)
        check_html(source)
    english = str(err.value)
    assert reasons.explain_template(english) is not None, english
    app = Flask("t")
    init_app(app)
    with app.test_request_context():
        g.user_language = "ru"
        assert template_problem(english).startswith(ru), template_problem(english)
    with app.test_request_context():
        g.user_language = "en"
        shown = template_problem(english)
        assert shown and not shown.startswith(f"{field}:") and not re.search("[а-я]", shown), shown
    assert template_problem("something new") == "something new"  # no pattern: as it came


def test_saving_a_bad_template_in_russian_says_it_in_russian_beside_the_field(tmp_path):
    from flask import Flask, g

    from central.i18n import init_app
    from central.services import messages as svc
    from central.services.access import SYSTEM, FormError
    from central.storage.store import Store

    db = Store(str(tmp_path / "c.sqlite"))
    app = Flask("t")
    init_app(app)
    try:
        with app.test_request_context():
            g.user_language = "ru"
            with pytest.raises(FormError) as err:
                svc.save_template(db, SYSTEM, name="t", channel="sms", language="ru", body="{{ bonus }}")
            assert err.value.errors["body"].startswith("неизвестная переменная bonus")
            with pytest.raises(FormError) as err:
                svc.save_template(db, SYSTEM, name="t", channel="sms", language="ru", body="{% if %}")
            assert err.value.errors["body"].startswith("синтаксическая ошибка в строке 1")
        assert db.count("message_templates") == 0
    finally:
        db.close()
