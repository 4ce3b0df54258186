"""A strict per-second limit for sends that may overlap (several connections at once).

Never more than ``rate`` sends in any one-second window *as the peer sees them*: a send arrives
somewhere between its start and its end, so the guarantee is built on those two instants only.
Sends are numbered in the order they start (a ticket); send ``j`` may start only when every send
numbered ``j - rate`` or lower has ended, and a full second after the latest of those ends. Then
for any ``rate + 1`` sends, the last to start (``b``) and the first (``a <= b - rate``) satisfy
``arrival_b >= start_b >= end_a + 1 s >= arrival_a + 1 s``: they cannot share a window, whatever the
jitter. (A counter per calendar second lets ``2 * rate`` through around a second's edge, a sliding
log of start times lets jitter squeeze ``rate + 1`` in: listmonk's issues 2184 and 2816.) The price is
a rate slightly under ``rate`` per second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateWindow:
    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self._cond = threading.Condition()
        self._next = 0  # the next ticket
        self._done_upto = -1  # every ticket <= this has ended
        self._latest_end = float("-inf")  # the latest end among them
        self._ended: dict[int, float] = {}  # ended tickets above _done_upto

    def start(self) -> int:
        """Wait until a send may start; returns its ticket (hand it to :meth:`end`)."""
        with self._cond:
            ticket = self._next
            self._next += 1
            if self.rate <= 0:
                return ticket
            while True:
                if ticket - self.rate <= self._done_upto:
                    wait = self._latest_end + 1.0 - self.clock() if ticket - self.rate >= 0 else 0.0
                    if wait <= 0:
                        return ticket
                    self._cond.wait(wait)
                else:
                    self._cond.wait()

    def end(self, ticket: int) -> None:
        """The send of ``ticket`` is over (sent, refused or failed: it may have reached the peer)."""
        with self._cond:
            self._ended[ticket] = self.clock()
            while self._done_upto + 1 in self._ended:
                self._done_upto += 1
                self._latest_end = max(self._latest_end, self._ended.pop(self._done_upto))
            self._cond.notify_all()
