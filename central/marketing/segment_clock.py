"""The segments' clock inside ``serve`` (docs/segments.md, "Date change"): the time-relative dynamic segments are
refreshed when the chain's local date changes, not at the nightly job's hour, and what a big batch left pending
(``segment_pending``, a crash between a batch and its pass) is followed within a minute.

Each ``interval`` seconds (default 60) a tick reads, without writing, whether the local date in the chain's time
zone (``settings.chain_timezone``) is past the last refreshed one (``settings.segments_refreshed_day``) or rows
wait; only then it opens a write transaction, where :func:`engine.refresh_if_new_day` checks again (writers take
turns on both backends), so a local date is refreshed once however many processes tick. The clock may be a fake
one (tests)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from ..daemon import DaemonThread
from . import engine

log = logging.getLogger(__name__)


def tick(db: Any, now: dt.datetime) -> dict[int, tuple[int, int]] | None:
    """One look: follow what is pending, and refresh if the local date changed; segment -> (in, out), or None when
    there was nothing to do."""
    new_day, waiting = db.segments_clock_work(now)
    if not new_day and not waiting:
        return None
    result: dict[int, tuple[int, int]] = {}
    with db.transaction() as conn:
        if waiting:
            result.update(engine.follow_pending(conn, now=now))
        if new_day:
            result.update(engine.refresh_if_new_day(conn, now) or {})
    return result


class SegmentClock(DaemonThread):
    """:func:`tick` on a daemon thread every ``interval`` seconds."""

    thread_name = "segment-clock"

    def __init__(self, db_path: str, *, interval: float = 60.0, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.db_path, self.interval = db_path, interval
        super().__init__()
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def tick(self) -> dict[int, tuple[int, int]] | None:
        from ..storage.store import Store

        db = Store(self.db_path)
        try:
            return tick(db, self.clock())
        finally:
            db.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                moved = self.tick()
                if moved:
                    log.info("segments' clock: %s", moved)
            except Exception:
                log.exception("the segments' clock failed; it looks again in %s s", self.interval)
