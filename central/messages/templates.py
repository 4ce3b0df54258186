"""Message templates: Jinja2's sandbox, an explicit variables object, bounded work and output.

A template sees only the variables of :class:`Variables` (strings and integers, already formatted
for the template's language) and a short list of filters. What the sandbox alone would still allow
is refused here, so that a template can neither read what it was not given nor run away:

* the syntax is checked once (:func:`check`): loops, macros, blocks, imports, includes and ``set``
  are refused, so a render is linear in the template's size;
* every attribute access and method call is refused (``name.__class__``, ``name.upper()``);
* ``*``, ``**`` and ``%`` are intercepted: no string or number larger than the limits;
* an unknown variable is an error when the template is saved, and again when it is rendered
  (``StrictUndefined``), never an empty string;
* the output is cut off with an error above :data:`MAX_OUTPUT` characters.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from shared.errors import LoyaltyError

#: longest template source, and longest rendered text (an email body; SMS are far shorter)
MAX_SOURCE = 20_000
MAX_OUTPUT = 100_000
#: largest absolute integer a template expression may produce
MAX_NUMBER = 10**15

LANGUAGES = ("ru", "en")
CHANNELS = ("email", "sms", "voice", "push", "telegram", "cashier")
#: channels whose templates have a subject line
WITH_SUBJECT = ("email", "push")
#: longest body per channel (SMS: 10 parts of UCS-2; cashier: what customer_messages holds)
MAX_BODY = {"sms": 670, "voice": 1000, "push": 1000, "telegram": 4096, "cashier": 500, "email": MAX_OUTPUT}


class TemplateError(LoyaltyError, ValueError):
    """A template cannot be saved or rendered; the message says why (shown to the marketer)."""

    code = "template_error"
    status = 422


@dataclasses.dataclass(frozen=True)
class Variables:
    """Everything a template may read, for one customer and one message.

    Money and points are integer minor units here; :meth:`context` shows them for the language
    (``balance`` "1 234,56") and keeps the integers beside them (``balance_minor``) for conditions.
    """

    name: str = ""
    first_name: str = ""
    balance_minor: int = 0
    level: str = ""
    expiring_minor: int = 0
    expiring_on: dt.date | None = None
    store: str = ""
    promo_code: str = ""
    card: str = ""
    code: str = ""
    points_minor: int = 0
    unsubscribe_url: str = ""

    def context(self, language: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in _FIELDS:  # the field names once (``dataclasses.fields`` per message was a hot spot)
            value = getattr(self, name)
            if name.endswith("_minor"):
                out[name] = int(value)
                out[name[: -len("_minor")]] = format_minor(int(value), language)
            elif isinstance(value, dt.date):
                out[name] = format_date(value, language)
            elif value is None:
                out[name] = ""
            else:
                out[name] = value
        return out


_FIELDS = tuple(field.name for field in dataclasses.fields(Variables))


def format_minor(value: int, language: str = "ru") -> str:
    """Integer minor units as "1 234,56" (ru, no-break space) or "1,234.56" (en); no float anywhere.

    Whole amounts drop the fraction ("150" rather than "150,00"): what a customer reads in an SMS.
    """
    group, point = ("\u00a0", ",") if language == "ru" else (",", ".")
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 100)
    digits = f"{whole:,}".replace(",", group)
    return f"{sign}{digits}{point}{frac:02d}" if frac else f"{sign}{digits}"


def format_date(day: dt.date, language: str = "ru") -> str:
    return day.strftime("%d.%m.%Y") if language == "ru" else day.isoformat()


#: the names a template may use
NAMES = frozenset(Variables().context("en"))


def _checked_str(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_OUTPUT:
        raise TemplateError(f"the text would be longer than {MAX_OUTPUT} characters")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
        raise TemplateError(f"a number in the template is larger than {MAX_NUMBER}")
    return value


def _replace(text: Any, old: str, new: str) -> str:
    text, old, new = str(text), str(old), str(new)
    if old and len(text) + text.count(old) * (len(new) - len(old)) > MAX_OUTPUT:
        raise TemplateError(f"the text would be longer than {MAX_OUTPUT} characters")
    return text.replace(old, new) if old else text


def _truncate(text: Any, length: int = 255, end: str = "...") -> str:
    text = str(text)
    return text if len(text) <= int(length) else text[: max(int(length) - len(end), 0)] + end


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "//", "/"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return False  # variables are flat: nothing has attributes worth reading

    def is_safe_callable(self, obj: Any) -> bool:
        return False

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        numbers = all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right))
        if not numbers:
            raise TemplateError(f"'{operator}' works on whole numbers only in a template")
        if operator == "**":
            if abs(right) > 64 or abs(left) > 10**6:
                raise TemplateError("a power in the template is too large")
        if operator in ("//", "/", "%") and right == 0:
            raise TemplateError("division by zero in the template")
        if operator == "/":
            operator = "//"  # integers only: no float ever reaches a message
        return _checked_str(super().call_binop(context, operator, left, right))


_FILTERS = {
    "default": lambda value, default="": value if value not in ("", None) else default,
    "upper": lambda s: str(s).upper(),
    "lower": lambda s: str(s).lower(),
    "capitalize": lambda s: str(s).capitalize(),
    "title": lambda s: str(s).title(),
    "trim": lambda s: str(s).strip(),
    "length": lambda s: len(s),
    "replace": _replace,
    "truncate": _truncate,
    "money": lambda value, language="ru": format_minor(int(value), language),
}
_REFUSED = (
    nodes.For,
    nodes.Macro,
    nodes.CallBlock,
    nodes.Call,
    nodes.Block,
    nodes.Extends,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.Assign,
    nodes.AssignBlock,
    nodes.FilterBlock,
    nodes.With,
    nodes.Scope,
    nodes.ScopedEvalContextModifier,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
)


def _environment(autoescape: bool = False) -> _Sandbox:
    env = _Sandbox(undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=True, extensions=[])
    env.filters = dict(_FILTERS)
    env.tests = {k: env.tests[k] for k in ("defined", "undefined", "none", "number", "string", "odd", "even")}
    env.globals = {}
    return env


_ENV = _environment()
#: HTML email bodies: the same sandbox, every variable HTML-escaped (a name cannot bring markup)
_HTML_ENV = _environment(autoescape=True)


def check(source: str, field: str = "body") -> frozenset[str]:
    """The variables ``source`` uses; :class:`TemplateError` for bad syntax, a refused construct or
    an unknown variable."""
    if not isinstance(source, str):
        raise TemplateError(f"{field}: a template is text")
    try:
        return _check(source, field)
    except TemplateError:
        raise
    except (RecursionError, SyntaxError, ValueError, MemoryError):
        # Python's own limits, met only by a hostile source: a number of thousands of digits, brackets, signs or
        # blocks hundreds deep (the parser's or the compiler's recursion; a 500 when the template was saved)
        raise TemplateError(f"{field}: the template is nested too deeply or has too long a number") from None


@functools.lru_cache(maxsize=256)
def _compiled(source: str, html: bool = False) -> Any:
    return (_HTML_ENV if html else _ENV).from_string(source)


@functools.lru_cache(maxsize=256)
def _check(source: str, field: str) -> frozenset[str]:
    if not isinstance(source, str):
        raise TemplateError(f"{field}: a template is text")
    if len(source) > MAX_SOURCE:
        raise TemplateError(f"{field}: at most {MAX_SOURCE} characters")
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{field}: syntax error on line {exc.lineno}: {exc.message}") from None
    for node in tree.find_all(_REFUSED):
        what = type(node).__name__.lower()
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            what = "reading attributes or items (write a variable's name only)"
        elif isinstance(node, nodes.Call):
            what = "calling functions or methods"
        raise TemplateError(f"{field}: line {node.lineno}: {what} is not allowed in a message template")
    for node in tree.find_all(nodes.Filter):
        if node.name not in _FILTERS:
            raise TemplateError(f"{field}: line {node.lineno}: unknown filter '{node.name}'")
    for node in tree.find_all(nodes.Test):
        if node.name not in _ENV.tests:
            raise TemplateError(f"{field}: line {node.lineno}: unknown test '{node.name}'")
    used = meta.find_undeclared_variables(tree)
    # every name read, not only the undeclared ones: ``self``, ``loop`` and friends are Jinja's own
    used |= {node.name for node in tree.find_all(nodes.Name) if node.ctx == "load"}
    unknown = sorted(used - NAMES)
    if unknown:
        raise TemplateError(f"{field}: unknown variable {', '.join(unknown)}; known: {', '.join(sorted(NAMES))}")
    _compiled(source)  # compiled once here, so a source Python cannot compile is refused when saved
    _compiled(source, True)
    return frozenset(used)


def render(
    source: str,
    variables: Variables | Mapping[str, Any],
    language: str = "ru",
    *,
    field: str = "body",
    limit: int = MAX_OUTPUT,
    html: bool = False,
) -> str:
    """``source`` rendered with ``variables``; :class:`TemplateError` says what went wrong. With ``html``
    every variable is HTML-escaped (an HTML email body, checked by :func:`check_html` when saved)."""
    check(source, field)
    context = variables.context(language) if isinstance(variables, Variables) else dict(variables)
    try:
        template = _compiled(source, html)
        size, parts = 0, []
        for part in template.generate(context):
            size += len(part)
            if size > limit:
                raise TemplateError(f"{field}: the text would be longer than {limit} characters")
            parts.append(part)
    except UndefinedError as exc:
        raise TemplateError(f"{field}: {exc.message}") from None
    except SecurityError as exc:
        raise TemplateError(f"{field}: not allowed: {exc}") from None
    except (TypeError, ValueError, OverflowError, ArithmeticError) as exc:
        if isinstance(exc, TemplateError):
            raise
        raise TemplateError(f"{field}: {exc}") from None
    return "".join(parts)


def sms_parts(text: str) -> tuple[int, int]:
    """(parts, characters per part) of an SMS: GSM 7-bit 160/153, UCS-2 (Cyrillic) 70/67."""
    gsm = all(ord(c) < 128 for c in text)
    single, multi = (160, 153) if gsm else (70, 67)
    if len(text) <= single:
        return (1 if text else 0), single
    return -(-len(text) // multi), multi
