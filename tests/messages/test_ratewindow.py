"""The strict per-second window with overlapping sends: arrivals anywhere between a send's start and end,
with jitter, never put rate + 1 of them in one second."""

from __future__ import annotations

import random
import threading
import time

from central.messages.ratewindow import RateWindow


def test_overlapping_sends_with_jitter_never_exceed_the_rate():
    rate, arrivals, lock = 10, [], threading.Lock()
    window = RateWindow(rate)
    rng = random.Random(7)
    delays = [(rng.uniform(0, 0.03), rng.uniform(0, 0.03)) for _ in range(40)]

    def send(before: float, after: float) -> None:
        ticket = window.start()
        time.sleep(before)  # on the way to the peer
        with lock:
            arrivals.append(time.monotonic())
        time.sleep(after)  # the answer on its way back
        window.end(ticket)

    threads = [threading.Thread(target=send, args=d) for d in delays]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    arrivals.sort()
    assert len(arrivals) == 40
    assert all(arrivals[i + rate] - arrivals[i] >= 1.0 for i in range(len(arrivals) - rate))
    assert arrivals[-1] - arrivals[0] < 5  # and it still moves: 40 at 10/s take about 3 s


def test_no_rate_means_no_wait():
    window = RateWindow(0)
    started = time.monotonic()
    for _ in range(1000):
        window.end(window.start())
    assert time.monotonic() - started < 0.5
