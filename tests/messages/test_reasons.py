"""The engine's reasons (message_outbox.why) worded for marketers in ru and en (central/messages/reasons.py)."""

from __future__ import annotations

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
