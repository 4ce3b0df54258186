"""A background worker of the central server (the nightly job, the message sender, the triggers' engine, the
segments' clock): one daemon thread that ``serve`` starts and stops."""

from __future__ import annotations

import threading
from typing import Self


class DaemonThread:
    """Runs :meth:`_loop` on a daemon thread from :meth:`start` until :meth:`stop`; the loop watches ``_stop``
    (waiting on it wakes at once when stopped)."""

    thread_name = "worker"
    #: how long :meth:`stop` waits for the loop to end (a pass in flight finishes first)
    join_seconds = 30.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._stopping()
        if self._thread is not None:
            self._thread.join(self.join_seconds)

    def _stopping(self) -> None:
        """Wake the loop from a wait of its own (one on ``_stop`` needs nothing)."""

    def _loop(self) -> None:
        raise NotImplementedError
