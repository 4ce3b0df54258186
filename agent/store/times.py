"""Times as the database stores them: ISO 8601 text in UTC with milliseconds."""

from __future__ import annotations

import datetime as dt


def iso(moment: dt.datetime) -> str:
    """``2026-11-21T14:30:00.123+00:00``: sorts as text in time order."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def parse_time(text: str | None) -> dt.datetime | None:
    """The aware datetime of a stored time (None stays None; a naive one is taken as UTC)."""
    if text is None:
        return None
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC (the store's default clock)."""
    return dt.datetime.now(dt.UTC)
