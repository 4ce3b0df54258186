"""The pure domain of messages: sandboxed templates, consent rules, quiet hours, the cap, tokens."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from central.messages import rules, tokens
from central.messages.templates import (
    MAX_OUTPUT,
    NAMES,
    TemplateError,
    Variables,
    check,
    format_minor,
    render,
    sms_parts,
)

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

V = Variables(
    name="Анна Иванова",
    first_name="Анна",
    balance_minor=123456,
    level="Золото",
    expiring_minor=5000,
    expiring_on=dt.date(2026, 12, 31),
    store="Магазин на Ленина",
    promo_code="ABC-123",
)


def test_renders_variables_for_the_language():
    text = render(
        "{{ first_name }}, у вас {{ balance }} баллов, {{ expiring }} сгорят {{ expiring_on }}."
        "{% if promo_code %} Код: {{ promo_code }}{% endif %}",
        V,
        "ru",
    )
    assert text == "Анна, у вас 1\u00a0234,56 баллов, 50 сгорят 31.12.2026. Код: ABC-123"
    assert render("{{ balance }} {{ expiring_on }}", V, "en") == "1,234.56 2026-12-31"
    assert render("{% if balance_minor > 100000 %}rich{% endif %}", V) == "rich"
    assert render("{{ level|default('none')|upper }}", Variables()) == "NONE"


def test_money_from_integer_minor_units():
    assert format_minor(0) == "0"
    assert format_minor(-1050, "en") == "-10.50"
    assert format_minor(100000000, "ru") == "1\u00a0000\u00a0000"
    assert format_minor(10**17 + 1, "en") == "1,000,000,000,000,000.01"


@pytest.mark.parametrize(
    "source",
    [
        "{{ name.__class__ }}",
        "{{ name.__class__.__mro__ }}",
        "{{ name['__class__'] }}",
        "{{ name.upper() }}",
        "{{ ''.__class__.__base__.__subclasses__() }}",
        "{{ cycler }}",
        "{{ lipsum() }}",
        "{{ range(10) }}",
        "{{ config }}",
        "{{ self }}",
        "{{ request }}",
        "{{ name[0] }}",
        "{{ name[1:] }}",
    ],
)
def test_cannot_read_what_it_was_not_given(source):
    with pytest.raises(TemplateError):
        render(source, V)


@pytest.mark.parametrize(
    "source",
    [
        "{% for a in 'x' * 100 %}{% for b in 'x' * 100 %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}x{% endfor %}",
        "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
        "{{ 'a' * 1000000000 }}",
        "{{ 9 ** 9 ** 9 }}",
        "{{ 10 ** 20 }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ name|center(1000000000) }}",
        "{{ name|indent(1000000000) }}",
        "{{ name|format(1) }}",
        "{% set x = 'a' %}",
        "{% include 'x' %}",
        "{% extends 'x' %}",
        "{% import 'x' as y %}",
        "{{ 'a'|replace('a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')"
        "|replace('a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')"
        "|replace('a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')"
        "|replace('a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa') }}",
        "{{ 1 // 0 }}",
    ],
)
def test_bombs_are_refused_quickly(source):
    started = time.monotonic()
    with pytest.raises(TemplateError):
        render(source, V)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    "source",
    [
        "{{ " + "9" * 5000 + " }}",
        "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
        "{{ " + "-" * 5000 + "1 }}",
        "{{ " + "1 + " * 3000 + "1 }}",
        "{% if name %}" * 100 + "{% endif %}" * 100,
    ],
    ids=["5000 digits", "3000 brackets", "5000 signs", "3000 sums", "100 blocks"],
)
def test_a_source_past_pythons_own_limits_is_a_template_error(source):
    """A number past Python's 4,300 digits, brackets, signs or sums thousands deep (the parser's and the visitors'
    recursion) and blocks a hundred deep (the compiler's indentation): a ValueError, RecursionError or
    IndentationError, a 500 when a marketer saved such a template (console: POST /messages/templates/new)."""
    with pytest.raises(TemplateError, match="nested too deeply"):
        check(source)
    with pytest.raises(TemplateError, match="nested too deeply"):
        render(source, V)


def test_output_size_limit():
    source = "{{ name }}" * 2000
    with pytest.raises(TemplateError, match="longer than"):
        render(source, Variables(name="x" * 100))
    assert len(render(source, Variables(name="x" * 10))) == 20000 <= MAX_OUTPUT


def test_unknown_variable_and_syntax_are_clear():
    with pytest.raises(TemplateError, match="unknown variable bonus"):
        check("{{ bonus }}")
    with pytest.raises(TemplateError, match="syntax error on line 2"):
        check("hello\n{{ name ")
    with pytest.raises(TemplateError, match="unknown variable"):
        render("{{ name }} {{ missing }}", {"name": "x"})
    # a mapping given at render time that lacks a known name: StrictUndefined, a clear error
    with pytest.raises(TemplateError, match="undefined"):
        render("{{ name }} {{ level }}", {"name": "x"})
    assert check("{{ name }} {{ balance }}") == {"name", "balance"}
    assert {"name", "balance", "balance_minor", "level", "expiring", "expiring_on", "store", "promo_code"} <= NAMES


def test_sms_parts():
    assert sms_parts("a" * 160) == (1, 160)
    assert sms_parts("a" * 161) == (2, 153)
    assert sms_parts("я" * 70) == (1, 70)
    assert sms_parts("я" * 71) == (2, 67)


CUSTOMER = {"consents": {"sms": True, "email": False}, "blocked": 0, "email": "a@example.com", "phone": "+79121234567"}


def test_consent_rules():
    assert rules.refusal("sms", "marketing", CUSTOMER) is None
    assert rules.refusal("email", "marketing", CUSTOMER) == "no consent for email"
    assert rules.refusal("email", "service", CUSTOMER) is None  # service messages ignore marketing consent
    assert rules.refusal("voice", "marketing", CUSTOMER) == "no consent for voice"
    assert rules.refusal("cashier", "marketing", CUSTOMER) is None
    assert rules.refusal("sms", "marketing", {**CUSTOMER, "blocked": 1}) == "card blocked: no marketing"
    assert rules.refusal("sms", "service", {**CUSTOMER, "phone": "+74951234567"}) == "the phone is not mobile"
    assert rules.refusal("email", "service", {**CUSTOMER, "email": "nope"}) == "no email address"
    assert rules.refusal("sms", "service", {**CUSTOMER, "merged_into": "c2"}) is not None
    with pytest.raises(ValueError):
        rules.consent_needed("fax", "marketing")


def _utc(text):
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def test_quiet_hours_across_time_zones():
    policy = rules.Policy(quiet_start=21, quiet_end=9)
    now = _utc("2026-12-06T19:00:00+00:00")  # 22:00 in Moscow, 03:00 next day in Vladivostok, 19:00 in London
    assert rules.quiet_until(now, "Europe/Moscow", policy) == _utc("2026-12-07T09:00:00+03:00")
    assert rules.quiet_until(now, "Asia/Vladivostok", policy) == _utc("2026-12-07T09:00:00+10:00")
    assert rules.quiet_until(now, "Europe/London", policy) is None
    assert rules.quiet_until(now, None, policy) == _utc("2026-12-07T09:00:00+03:00")  # the chain's zone
    assert rules.quiet_until(now, "Europe/Moscow", rules.Policy(quiet_start=0, quiet_end=0)) is None
    day = rules.Policy(quiet_start=13, quiet_end=14)
    assert rules.quiet_until(_utc("2026-12-06T13:30:00+03:00"), "Europe/Moscow", day) == _utc(
        "2026-12-06T14:00:00+03:00"
    )


def test_frequency_cap():
    policy = rules.Policy(cap_per_day=1)
    now = _utc("2026-12-06T12:00:00+00:00")
    assert rules.capped_until([], now, policy) is None
    assert rules.capped_until([now - dt.timedelta(hours=25)], now, policy) is None
    sent = now - dt.timedelta(hours=3)
    assert rules.capped_until([sent], now, policy) == sent + dt.timedelta(days=1)
    assert rules.capped_until([sent], now, rules.Policy(cap_per_day=2)) is None
    assert rules.capped_until([sent] * 5, now, rules.Policy()) is None


def test_backoff_grows_and_is_capped():
    assert [rules.backoff(n) for n in (1, 2, 3)] == [30, 60, 120]
    assert rules.backoff(30) == 3600


def test_tokens_cannot_be_forged():
    token = tokens.sign("key", "unsub", "c1", "email")
    assert tokens.verify("key", token) == ["unsub", "c1", "email"]
    assert tokens.verify("other", token) is None
    body, mac = token.rsplit(".", 1)
    forged = tokens.sign("key", "unsub", "c2", "email").rsplit(".", 1)[0] + "." + mac
    assert tokens.verify("key", forged) is None
    assert tokens.verify("key", "") is None and tokens.verify("key", "garbage") is None
