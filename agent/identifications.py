"""Identifications offered to the tills: each terminal's last one, and a wake-up for streams.

A card read by a terminal's reader, or an identify call of the terminal,
becomes that terminal's last :class:`Identification`; ``GET
/v1/identifications/last`` returns it and ``GET /v1/identifications/stream``
waits for the next one (agent/api/devices.py). Only the last one per terminal
is kept, in memory: a till shows the customer in front of it now, and after a
restart there is nobody in front of it yet.

Ids increase strictly, also across restarts (microseconds since the epoch,
bumped when two come in the same microsecond), so a browser that reconnects
with ``Last-Event-ID`` gets what it missed and never an old one again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.errors import LoyaltyError


@dataclass(frozen=True, slots=True)
class Identification:
    """One identification of a terminal: the identify answer, or the problem of a read."""

    id: int
    terminal: str
    at: str  # ISO 8601 UTC
    source: str  # the reader's id, or "api" for the terminal's own identify call
    answer: dict[str, Any] | None = None  # the identify response (cashier messages not rendered yet)
    problem: LoyaltyError | None = None  # unknown card, invalid track, ...


class IdentificationHub:
    """The last identification per terminal, and streams waiting for the next one."""

    def __init__(self, now_iso: Callable[[], str]) -> None:
        self._now_iso = now_iso
        self._changed = threading.Condition()
        self._last: dict[str, Identification] = {}
        self._last_id = 0
        self._streams = 0

    def publish(
        self, terminal: str, source: str, answer: dict[str, Any] | None = None, problem: LoyaltyError | None = None
    ) -> Identification:
        """Make this the terminal's last identification and wake its streams."""
        with self._changed:
            self._last_id = max(self._last_id + 1, time.time_ns() // 1000)
            event = Identification(self._last_id, terminal, self._now_iso(), source, answer, problem)
            self._last[terminal] = event
            self._changed.notify_all()
        return event

    def last(self, terminal: str) -> Identification | None:
        """The terminal's last identification, or None."""
        with self._changed:
            return self._last.get(terminal)

    def wait(self, terminal: str, after: int, timeout: float) -> Identification | None:
        """The terminal's last identification once its id is above ``after``; None after ``timeout`` s."""
        with self._changed:
            self._changed.wait_for(lambda: self._newer(terminal, after), timeout)
            return self._newer(terminal, after)

    def _newer(self, terminal: str, after: int) -> Identification | None:
        event = self._last.get(terminal)
        return event if event is not None and event.id > after else None

    def open_stream(self, limit: int) -> bool:
        """Count a stream in; False when ``limit`` streams are open already."""
        with self._changed:
            if self._streams >= limit:
                return False
            self._streams += 1
            return True

    def close_stream(self) -> None:
        """Count a stream out."""
        with self._changed:
            self._streams -= 1

    @property
    def streams(self) -> int:
        """Streams open now."""
        return self._streams
