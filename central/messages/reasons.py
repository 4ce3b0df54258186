"""Why a message failed, was skipped or waits: the engine's reasons, worded for marketers in their language.

The sender records a reason in English (``message_outbox.why``: what the logs and the API show, and
what tests compare). The console shows it translated: :func:`explain` finds the reason's pattern and
returns the gettext message id with its parameters; the web layer translates both (a channel's name
through the channel labels). What a peer said (an SMTP reply, a gateway's error text) stays as it came;
a reason of no known pattern is shown as it is. Pure: no I/O, nothing of central/ imported.
"""

from __future__ import annotations

import re


def N_(text: str) -> str:  # noqa: N802 - gettext's marker: babel extracts these (scripts/i18n-central)
    return text


#: (pattern of the English reason, the message id shown instead); named groups are its parameters
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.S), msgid)
    for pattern, msgid in (
        (r"no consent for (?P<channel>\w+)", N_("no consent for %(channel)s")),
        (r"customer merged into another", N_("the customer was merged into another")),
        (r"card blocked: no marketing", N_("card blocked: no marketing")),
        (r"no phone number", N_("no phone number")),
        (r"the phone is not mobile", N_("the phone is not mobile")),
        (r"no email address", N_("no email address")),
        (r"no Telegram chat linked", N_("no Telegram chat linked")),
        (r"no push subscription", N_("no push subscription")),
        (r"no such customer", N_("no such customer")),
        (r"the template was deleted", N_("the template was deleted")),
        (r"quiet hours", N_("quiet hours")),
        (r"frequency cap", N_("frequency cap")),
        (r"the (?P<channel>\w+) channel is not set up", N_("the %(channel)s channel is not set up")),
        (
            r"the (?P<channel>\w+) channel's secrets do not open with this instance folder's key: type them again",
            N_("the %(channel)s channel's secrets do not open with this instance folder's key: type them again"),
        ),
        (
            r"the (?P<channel>\w+) channel cannot be used: (?P<detail>.*)",
            N_("the %(channel)s channel cannot be used: %(detail)s"),
        ),
        (r"push subscription gone \((?P<status>\d+)\)", N_("the push subscription is gone (%(status)s)")),
        (r"push subscription: (?P<detail>.*)", N_("push subscription: %(detail)s")),
        (r"push service HTTP (?P<status>\d+): (?P<detail>.*)", N_("the push service answered %(status)s: %(detail)s")),
        (r"push service: (?P<detail>.*)", N_("the push service cannot be reached: %(detail)s")),
        (
            r"SMTP login refused \((?P<status>\d+)\): (?P<detail>.*)",
            N_("the mail server refused the login (%(status)s): %(detail)s"),
        ),
        (r"SMTP connection: (?P<detail>.*)", N_("the mail server cannot be reached: %(detail)s")),
        (r"SMTP (?P<status>\d+): (?P<detail>.*)", N_("the mail server refused (%(status)s): %(detail)s")),
        (r"SMTP: (?P<detail>.*)", N_("mail server: %(detail)s")),
        (r"gateway HTTP (?P<status>\d+): (?P<detail>.*)", N_("the gateway answered %(status)s: %(detail)s")),
        (r"gateway refused: (?P<detail>.*)", N_("the gateway refused: %(detail)s")),
        (r"gateway: (?P<detail>.*)", N_("gateway: %(detail)s")),
        (r"Telegram (?P<status>\d+): (?P<detail>.*)", N_("Telegram answered %(status)s: %(detail)s")),
        (r"Telegram: (?P<detail>.*)", N_("Telegram: %(detail)s")),
        # a template that saved well but failed to render for this customer (central/messages/templates.py)
        (
            r"(?P<field>subject|body|html): the text would be longer than (?P<limit>\d+) characters",
            N_("template: %(field)s would be longer than %(limit)s characters"),
        ),
        (r"(?P<field>subject|body|html): (?P<detail>.*)", N_("template: %(field)s cannot be rendered: %(detail)s")),
    )
)
#: a template's fields as the reasons name them
FIELDS = {"subject": N_("the subject"), "body": N_("the text"), "html": N_("the HTML")}
AFTER = re.compile(r"(?P<reason>.*) \(after (?P<attempts>\d+) attempts\)", re.S)
AFTER_MSGID = N_("%(reason)s (after %(attempts)s attempts)")
STATE = re.compile(r"(?P<state>failed|skipped): (?P<reason>.*)", re.S)
STATES = {"failed": N_("failed"), "skipped": N_("skipped")}


def explain(why: str) -> tuple[str, dict[str, str]] | None:
    """(message id, parameters) of a known reason; None for one of no known pattern (shown as it is)."""
    for pattern, msgid in PATTERNS:
        match = pattern.fullmatch(why)
        if match is not None:
            return msgid, match.groupdict()
    return None


#: a template refused when it is saved (central/messages/templates.py ``check``, central/messages/html.py
#: ``check_html``), its field's prefix taken off: the form shows it beside that field
TEMPLATE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.S), msgid)
    for pattern, msgid in (
        (r"syntax error on line (?P<line>\d+): (?P<detail>.*)", N_("syntax error on line %(line)s: %(detail)s")),
        (
            r"unknown variable (?P<names>.*); known: (?P<known>.*)",
            N_("unknown variable %(names)s; the variables you can use: %(known)s"),
        ),
        (
            r"line (?P<line>\d+): reading attributes or items \(write a variable's name only\) is not allowed in a "
            r"message template",
            N_("line %(line)s: a message template cannot read attributes or items: write a variable's name only"),
        ),
        (
            r"line (?P<line>\d+): calling functions or methods is not allowed in a message template",
            N_("line %(line)s: a message template cannot call functions or methods"),
        ),
        (
            r"line (?P<line>\d+): (?P<what>\w+) is not allowed in a message template",
            N_("line %(line)s: '%(what)s' is not allowed in a message template"),
        ),
        (r"line (?P<line>\d+): unknown filter '(?P<name>.*)'", N_("line %(line)s: unknown filter '%(name)s'")),
        (r"line (?P<line>\d+): unknown test '(?P<name>.*)'", N_("line %(line)s: unknown test '%(name)s'")),
        (r"at most (?P<limit>\d+) characters", N_("a template has at most %(limit)s characters")),
        (r"a template is text", N_("a template is text")),
        (r"<meta http-equiv> is not allowed in an email", N_("<meta http-equiv> is not allowed in an email")),
        (r"<(?P<tag>[\w-]+)> is not allowed in an email", N_("<%(tag)s> is not allowed in an email")),
        (
            r"the attribute (?P<name>\S+) \(a script\) is not allowed in an email",
            N_("the attribute %(name)s (a script) is not allowed in an email"),
        ),
        (
            r"the link (?P<link>.*) in (?P<name>\S+) is not allowed in an email",
            N_("the link %(link)s in %(name)s is not allowed in an email"),
        ),
        (
            r"a script in a style attribute is not allowed in an email",
            N_("a script in a style attribute is not allowed in an email"),
        ),
    )
)
#: Jinja's own words for the commonest syntax errors (the detail of "syntax error on line N: ...")
SYNTAX_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.S), msgid)
    for pattern, msgid in (
        (
            r"unexpected end of template.*",
            N_("the template ends too early: a tag, an expression or a block is not closed"),
        ),
        (r"Encountered unknown tag '(?P<tag>[^']*)'.*", N_("unknown tag '%(tag)s'")),
        (r"expected token '(?P<expected>.*)', got '(?P<got>.*)'", N_("expected '%(expected)s', found '%(got)s'")),
        (r"unexpected char (?P<char>.*) at \d+", N_("unexpected character %(char)s")),
        (r"unexpected '(?P<token>.*)'", N_("unexpected '%(token)s'")),
        (r"Expected an expression, got '(?P<got>.*)'", N_("an expression is missing (found '%(got)s')")),
    )
)
_FIELD_PREFIX = re.compile(r"(?:subject|body|html): (?P<problem>.*)", re.S)


def explain_template(problem: str) -> tuple[str, dict[str, str]] | None:
    """(message id, parameters) of a template refused at saving (``field: problem``, the prefix optional);
    None for a problem of no known pattern (shown as it is). A syntax error's ``detail`` is Jinja's own
    message: :func:`explain_syntax` words the common ones."""
    prefixed = _FIELD_PREFIX.fullmatch(problem)
    text = prefixed["problem"] if prefixed is not None else problem
    for pattern, msgid in TEMPLATE_PATTERNS:
        match = pattern.fullmatch(text)
        if match is not None:
            return msgid, match.groupdict()
    return None


def explain_syntax(detail: str) -> tuple[str, dict[str, str]] | None:
    """(message id, parameters) of Jinja's syntax error message, or None (shown as Jinja said it)."""
    for pattern, msgid in SYNTAX_PATTERNS:
        match = pattern.fullmatch(detail)
        if match is not None:
            return msgid, match.groupdict()
    return None
