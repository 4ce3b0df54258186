"""The loyalty slip: data in, print operations out (pure, no I/O).

``layout(slip)`` returns a list of ``Line``, ``Code``, ``Feed`` and ``Cut``
operations that any ``ReceiptPrinter`` carries out; the texts come from the
gettext catalogs (Russian by default) and are limited to what the printer's
code page (CP866) can print. Points are integer minor units (100 = 1 point)
and are printed with two decimals in the language's number format.
"""

from __future__ import annotations

import textwrap
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..i18n import translations

OPERATIONS = ("purchase", "refund", "cancel")


@dataclass(frozen=True, slots=True)
class Line:
    """A line of text."""

    text: str
    bold: bool = False
    double: bool = False  # double width and height
    align: str = "left"


@dataclass(frozen=True, slots=True)
class Code:
    """The card as a barcode (CODE128) or a QR code."""

    kind: str  # "barcode" | "qr"
    data: str


@dataclass(frozen=True, slots=True)
class Feed:
    """Blank lines."""

    lines: int = 1


@dataclass(frozen=True, slots=True)
class Cut:
    """Feed past the cutter and cut."""


SlipOp = Line | Code | Feed | Cut


@dataclass(frozen=True, slots=True)
class SlipData:
    """What a loyalty slip shows; points in integer minor units."""

    slip_id: str  # the queue key: one slip per committed receipt (e.g. the receipt_id)
    store_name: str
    at: datetime  # aware, in the store's local time
    card_number: str
    accrued: int
    redeemed: int
    balance: int
    receipt_id: str | None = None
    level: str | None = None
    messages: tuple[str, ...] = field(default_factory=tuple)
    #: purchase (accrued/redeemed on the receipt), refund or cancel (accrued = points taken
    #: back, redeemed = points given back)
    operation: str = "purchase"
    #: promotions applied to a purchase: (name, points, discount), points and money in minor units
    promotions: tuple[tuple[str, int, int], ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data (the print queue's payload)."""
        doc = asdict(self)
        doc["at"] = self.at.isoformat()
        doc["messages"] = list(self.messages)
        doc["promotions"] = [list(p) for p in self.promotions]
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SlipData:
        """Inverse of ``to_json``; raises ``ValueError``/``KeyError``/``TypeError`` on a bad document."""
        values = dict(doc)
        values["at"] = datetime.fromisoformat(values["at"])
        values["messages"] = tuple(values.get("messages") or ())
        values["promotions"] = tuple(
            (str(name), int(points), int(discount)) for name, points, discount in values.get("promotions") or ()
        )
        if values.get("operation", "purchase") not in OPERATIONS:
            raise ValueError(f"unknown slip operation {values['operation']!r}")
        for key in ("accrued", "redeemed", "balance"):
            if isinstance(values[key], bool) or not isinstance(values[key], int):
                raise TypeError(f"{key} must be an integer (minor units)")
        return cls(**values)


def layout(
    slip: SlipData,
    columns: int = 42,
    language: str = "ru",
    code: str = "barcode",
    copy: bool = False,
    codepage: str = "cp866",
    link: str = "",
) -> list[SlipOp]:
    """The print operations of a loyalty slip; ``link`` (the web card, docs/web-card.md) ends it as a QR code."""
    _ = translations(language).gettext
    fit = _fitter(codepage)
    ops: list[SlipOp] = []
    if copy:
        ops.append(Line(fit(_("COPY")), bold=True, align="center"))
    ops.append(Line(fit(slip.store_name[: columns // 2]), bold=True, double=True, align="center"))
    ops += _centered(fit(_("Loyalty programme")), columns)
    if slip.operation != "purchase":
        title = _("Return") if slip.operation == "refund" else _("Receipt cancelled")
        ops.append(Line(fit(title), bold=True, align="center"))
    ops.append(Line("-" * columns))
    ops.append(Line(fit(_pair(_("Date"), slip.at.strftime("%d.%m.%Y %H:%M"), columns))))
    if slip.receipt_id:
        ops.append(Line(fit(_pair(_("Receipt"), slip.receipt_id, columns))))
    if slip.card_number:
        ops.append(Line(fit(_pair(_("Card"), mask_card(slip.card_number), columns))))
    ops.append(Line("-" * columns))
    if slip.operation == "purchase":
        labels = (_("Points accrued"), _("Points redeemed"))
    else:
        labels = (_("Points taken back"), _("Points returned"))
    ops.append(Line(fit(_pair(labels[0], format_points(slip.accrued, language), columns))))
    ops.append(Line(fit(_pair(labels[1], format_points(slip.redeemed, language), columns))))
    for name, points, discount in slip.promotions:
        ops.append(Line(fit(name[:columns]), bold=True))
        if points:
            ops.append(Line(fit(_pair("  " + _("Promotion points"), format_points(points, language), columns))))
        if discount:
            ops.append(Line(fit(_pair("  " + _("Promotion discount"), format_points(discount, language), columns))))
    ops.append(Line(fit(_pair(_("Balance"), format_points(slip.balance, language), columns)), bold=True))
    if slip.level:
        ops.append(Line(fit(_pair(_("Level"), slip.level, columns))))
    for message in slip.messages:
        ops += _centered(fit(message), columns)
    if code != "none" and slip.card_number:
        ops.append(Feed())
        ops.append(Code(code, slip.card_number))
        ops += _centered(fit(_("Show this code at your next purchase")), columns)
    if link:
        ops.append(Feed())
        ops.append(Code("qr", link))
        ops += _centered(fit(_("Your card in your phone: scan this code")), columns)
    ops.append(Feed())
    if slip.operation == "purchase":
        ops += _centered(fit(_("Thank you for your purchase!")), columns)
    ops.append(Cut())
    return ops


def printer_test_layout(
    store_name: str, at: datetime, columns: int = 42, language: str = "ru", codepage: str = "cp866"
) -> list[SlipOp]:
    """A printer test slip: a Cyrillic line, the code page, a barcode and a QR code."""
    _ = translations(language).gettext
    fit = _fitter(codepage)
    return [
        Line(fit(_("Printer test")), bold=True, double=True, align="center"),
        Line(fit(store_name), align="center"),
        Line(at.strftime("%d.%m.%Y %H:%M"), align="center"),
        Line("-" * columns),
        *(
            Line(part)
            for part in textwrap.wrap(fit(_("Cyrillic text: Съешь же ещё этих мягких французских булок")), columns)
        ),
        Line(fit(_pair(_("Code page"), codepage.upper(), columns))),
        Line(fit(_pair(_("Balance"), format_points(123456, language), columns)), bold=True),
        Code("barcode", "7700000000000017"),
        Code("qr", "7700000000000017"),
        *_centered(fit(_("If you can read this, the printer is set up.")), columns),
        Cut(),
    ]


def format_points(minor: int, language: str = "ru") -> str:
    """Points from minor units: 123456 -> "1 234,56" (ru) or "1,234.56" (en)."""
    from babel.numbers import format_decimal

    text = format_decimal(Decimal(minor) / 100, format="#,##0.00", locale="ru" if language == "ru" else "en")
    # printers' no-break space glyphs vary; a plain space always prints
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def mask_card(number: str) -> str:
    """All but the last four digits hidden, in groups of four: ``**** **** **** 0017``."""
    if len(number) <= 4:
        return number
    masked = "*" * (len(number) - 4) + number[-4:]
    head = len(masked) % 4
    groups = ([masked[:head]] if head else []) + [masked[i : i + 4] for i in range(head, len(masked), 4)]
    return " ".join(groups)


def _centered(text: str, columns: int) -> list[SlipOp]:
    """Centered lines, wrapped at word boundaries to the paper width."""
    return [Line(part, align="center") for part in textwrap.wrap(text, columns) or [""]]


def _pair(label: str, value: str, columns: int) -> str:
    """``label`` left and ``value`` right on one line (the value wins when both do not fit)."""
    room = columns - len(value) - 1
    if room < 1:
        return value[-columns:]
    label = label[:room]
    return label + " " * (columns - len(label) - len(value)) + value


def _fitter(codepage: str):  # type: ignore[no-untyped-def]
    def fit(text: str) -> str:
        """Replace what the printer's code page cannot print, and control characters: an ESC or GS
        in a promotion name or a message from central would be a printer command (cut, open the
        cash drawer), a line break would break the layout."""
        text = "".join(_control_replacement(c) if unicodedata.category(c) == "Cc" else c for c in text)
        return text.encode(codepage, errors="replace").decode(codepage)

    return fit


def _control_replacement(char: str) -> str:
    return " " if char in "\t\n\v\f\r" else "?"  # not isspace(): it counts GS and RS as spaces
