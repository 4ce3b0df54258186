"""What a report is made of: periods, figures (measures), dimensions; the checks of a request (no I/O).

The figures follow marketing.md's "Reports" (docs/reports.md says where each comes from). A period is a pair
of local dates, both included, in the chain's time zone; presets are relative to today.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..services.access import FormError
from ..services.text import N_, _

#: the figures, in the dashboard's order: code -> label
MEASURES: dict[str, Any] = {
    "sales": N_("Sales"),
    "receipts": N_("Receipts"),
    "average_check": N_("Average check"),
    "customers": N_("Customers"),
    "new_customers": N_("New customers"),
    "share_identified": N_("Share identified"),
    "points_accrued": N_("Points accrued"),
    "points_redeemed": N_("Points redeemed"),
    "points_expired": N_("Points expired"),
    "points_by_hand": N_("Points by hand"),
    "liability": N_("Liability"),
}
#: figures in money minor units; points figures in points minor units; the rest counts or shares
MONEY = {"sales", "average_check"}
POINTS = {"points_accrued", "points_redeemed", "points_expired", "points_by_hand", "liability"}
RATIOS = {"average_check", "share_identified"}

#: the pivot's rows and columns (marketing.md's list): code -> label
DIMENSIONS: dict[str, Any] = {
    "store": N_("Store"),
    "month": N_("Month"),
    "week": N_("Week"),
    "day": N_("Day"),
    "weekday": N_("Weekday"),
    "hour": N_("Hour"),
    "category": N_("Category"),
    "level": N_("Level"),
    "segment": N_("Segment"),
    "rfm": N_("RFM class"),
    "gender": N_("Gender"),
    "age_band": N_("Age band"),
    "registration_month": N_("Registration month"),
    "identified": N_("Identified"),
}
#: dimensions that describe the customer (read from the columns, identified receipts only + an "anonymous" member)
CUSTOMER_DIMENSIONS = {"segment", "rfm", "gender", "age_band", "registration_month"}
TIME_DIMENSIONS = {"day", "week", "month", "weekday"}
GRAINS = ("day", "week", "month")
PRESETS = ("last_7", "last_30", "this_month", "last_month", "this_year", "last_365", "today", "yesterday")
PRESET_LABELS: dict[str, Any] = {
    "last_7": N_("Last 7 days"),
    "last_30": N_("Last 30 days"),
    "this_month": N_("This month"),
    "last_month": N_("Last month"),
    "this_year": N_("This year"),
    "last_365": N_("Last 365 days"),
    "today": N_("Today"),
    "yesterday": N_("Yesterday"),
    "custom": N_("Custom"),
}
#: points transaction kinds counted as "by hand" (a till's manual operation, head office's accrual/debit and
#: temporary points); expiry is the nightly job's ``expire``; the receipts' points are accrued / redeemed
BY_HAND = ("manual", "admin", "promo")
RECEIPT_KINDS = ("purchase", "refund", "cancel")
AGE_BANDS = ((0, 17), (18, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 200))
#: a pivot shown on the page has at most this many cells (bigger: export it)
MAX_CELLS = 20_000
MAX_DAYS = 366 * 10


class ReportError(FormError):
    """A report request is wrong (which field, and why); nothing is computed."""


@dataclass(frozen=True)
class Period:
    first: dt.date
    last: dt.date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The period of the same length just before."""
        return Period(self.first - dt.timedelta(days=self.days), self.first - dt.timedelta(days=1))

    @property
    def span(self) -> tuple[int, int]:
        return self.first.toordinal(), self.last.toordinal()

    def to_dict(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def preset(name: str, today: dt.date) -> Period:
    if name == "today":
        return Period(today, today)
    if name == "yesterday":
        day = today - dt.timedelta(days=1)
        return Period(day, day)
    if name.startswith("last_") and name[5:].isdigit():
        return Period(today - dt.timedelta(days=int(name[5:]) - 1), today)
    if name == "this_month":
        return Period(today.replace(day=1), today)
    if name == "last_month":
        end = today.replace(day=1) - dt.timedelta(days=1)
        return Period(end.replace(day=1), end)
    if name == "this_year":
        return Period(today.replace(month=1, day=1), today)
    raise KeyError(name)


def _date(text: str, field: str, errors: dict[str, str]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        errors[field] = _("Write the date as YYYY-MM-DD (got %(text)s).", text=text[:40])
        return None


def parse_period(args: Mapping[str, Any], today: dt.date, default: str = "last_30") -> tuple[Period, str]:
    """The period a request asks for (``period`` = a preset, or ``from`` and ``to``); (period, preset or custom)."""
    errors: dict[str, str] = {}
    first_text, last_text = (args.get("from") or "").strip(), (args.get("to") or "").strip()
    name = (args.get("period") or "").strip()
    if name and name != "custom":
        if name not in PRESETS:
            raise ReportError(
                {
                    "period": _(
                        "Unknown period %(name)s: choose one of %(names)s.", name=name[:40], names=", ".join(PRESETS)
                    )
                }
            )
        return preset(name, today), name
    if not first_text and not last_text:
        if name == "custom":
            raise ReportError({"from": _("Give the first and the last day of the period.")})
        return preset(default, today), default
    first = _date(first_text, "from", errors) if first_text else None
    last = _date(last_text, "to", errors) if last_text else today
    if first_text == "" and "from" not in errors:
        errors["from"] = _("Give the first day of the period.")
    if errors:
        raise ReportError(errors)
    assert first is not None and last is not None
    if last < first:
        raise ReportError(
            {
                "to": _(
                    "The period ends (%(to)s) before it starts (%(from)s).",
                    to=last.isoformat(),
                    **{"from": first.isoformat()},
                )
            }
        )
    if (last - first).days >= MAX_DAYS:
        raise ReportError({"from": _("A period is at most %(n)d days.", n=MAX_DAYS)})
    return Period(first, last), "custom"


def parse_grain(text: str | None, period: Period) -> str:
    if not text:
        return "day" if period.days <= 62 else ("week" if period.days <= 200 else "month")
    if text not in GRAINS:
        raise ReportError({"grain": _("Unknown step %(name)s: choose day, week or month.", name=text[:40])})
    return text


def parse_stores(values: list[str], visible: list[str]) -> list[str]:
    """The stores asked for (all visible ones when none); a store not visible is an error."""
    asked = [v.strip() for value in values for v in value.split(",") if v.strip()]
    if not asked:
        return list(visible)
    unknown = [s for s in asked if s not in visible]
    if unknown:
        raise ReportError({"stores": _("Unknown or not your store: %(stores)s.", stores=", ".join(unknown[:5]))})
    return sorted(set(asked))


def parse_measures(values: list[str], default: tuple[str, ...] = ("sales", "receipts")) -> list[str]:
    asked = [v.strip() for value in values for v in value.split(",") if v.strip()]
    unknown = [m for m in asked if m not in MEASURES]
    if unknown:
        raise ReportError(
            {
                "measures": _(
                    "Unknown figure %(name)s: choose from %(names)s.", name=unknown[0][:40], names=", ".join(MEASURES)
                )
            }
        )
    return list(dict.fromkeys(asked)) or list(default)


def parse_dimensions(values: list[str], field: str) -> list[str]:
    asked = [v.strip() for value in values for v in value.split(",") if v.strip()]
    unknown = [d for d in asked if d not in DIMENSIONS]
    if unknown:
        raise ReportError(
            {
                field: _(
                    "Unknown dimension %(name)s: choose from %(names)s.",
                    name=unknown[0][:40],
                    names=", ".join(DIMENSIONS),
                )
            }
        )
    return list(dict.fromkeys(asked))


# -- buckets of days ----------------------------------------------------------------------------------------


def bucket(day: int, grain: str) -> int:
    """The first day (ordinal) of the day's week (ISO, Monday) or month."""
    if grain == "day":
        return day
    date = dt.date.fromordinal(day)
    if grain == "week":
        return day - date.weekday()
    return date.replace(day=1).toordinal()


def buckets(period: Period, grain: str) -> list[int]:
    first, last = period.span
    out: list[int] = []
    for day in range(first, last + 1):
        b = bucket(day, grain)
        if not out or out[-1] != b:
            out.append(b)
    return out


def bucket_label(start: int, grain: str) -> str:
    date = dt.date.fromordinal(start)
    if grain == "month":
        return date.strftime("%Y-%m")
    if grain == "week":
        year, week, _day = date.isocalendar()
        return f"{year}-W{week:02d}"
    return date.isoformat()


def month_index(date: dt.date) -> int:
    return date.year * 12 + date.month - 1


def month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def age_band(birthday: str | None, on: dt.date) -> str:
    if not birthday:
        return "unknown"
    try:
        born = dt.date.fromisoformat(birthday[:10])
    except ValueError:
        return "unknown"
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    for low, high in AGE_BANDS:
        if low <= age <= high:
            return f"{low}-{high}" if high < 200 else f"{low}+"
    return "unknown"


def ratio(numerator: int, denominator: int) -> float | None:
    """A shown ratio (average check, share): None when nothing to divide by; the exact pair is kept beside it."""
    return None if not denominator else numerator / denominator
