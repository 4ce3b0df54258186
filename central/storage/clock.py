"""The central server's clock: times as ISO 8601 UTC strings, which sort as times."""

from __future__ import annotations

import datetime as dt
import functools


@functools.lru_cache(maxsize=4096)
def utc(text: str) -> str:
    """An ISO 8601 time with offset as a UTC string that sorts as a time."""
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
