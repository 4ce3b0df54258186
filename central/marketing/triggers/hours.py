"""Firing hours: the local hours (0..23) of the owner store in which a trigger may act (pure).

No hour chosen: the trigger never fires. A set such as {22, 23, 0, 1} runs across midnight.
Work due outside the hours waits for the start of the next firing hour.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection

HOUR = dt.timedelta(hours=1)


def _hour_start(now: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    local = now.astimezone(zone)
    return local.replace(minute=0, second=0, microsecond=0)


@functools.lru_cache(maxsize=4096)
def _local_hour(zone: dt.tzinfo, now: dt.datetime) -> int:
    return now.astimezone(zone).hour


def is_firing(hours: Collection[int], zone: dt.tzinfo, now: dt.datetime) -> bool:
    return _local_hour(zone, now) in hours


def next_firing(hours: Collection[int], zone: dt.tzinfo, now: dt.datetime) -> dt.datetime | None:
    """``now`` when it is in a firing hour, else the start (UTC) of the next one; None without hours."""
    if not hours:
        return None
    if is_firing(hours, zone, now):
        return now
    start = _hour_start(now, zone).astimezone(dt.UTC)
    for k in range(1, 50):  # a day and a DST change at most
        candidate = start + k * HOUR
        if candidate.astimezone(zone).hour in hours:
            return candidate
    return None


@functools.lru_cache(maxsize=4096)
def firing_slot(zone: dt.tzinfo, now: dt.datetime) -> str:
    """The firing this moment belongs to (the local hour), for the per-firing limit: ``YYYY-MM-DDTHH``."""
    return now.astimezone(zone).strftime("%Y-%m-%dT%H")


def next_slot(hours: Collection[int], zone: dt.tzinfo, now: dt.datetime) -> dt.datetime | None:
    """The start of the next firing hour strictly after the current hour (a full per-firing limit waits for it)."""
    if not hours:
        return None
    start = _hour_start(now, zone).astimezone(dt.UTC)
    for k in range(1, 50):
        candidate = start + k * HOUR
        if candidate.astimezone(zone).hour in hours:
            return candidate
    return None
