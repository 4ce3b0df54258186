"""Tills for the system tests: threads committing receipts, redemptions and refunds over HTTP.

Each till keeps one HTTP connection to its agent and records, per customer,
what the agent's answers said happened to their points (accrued minus
redeemed, and the reverse for refunds): the central ledger must end up equal
to the sum over every till of every agent.
"""

from __future__ import annotations

import http.client
import random
import threading
import uuid
from collections import defaultdict
from typing import Any

from agent.testing import request

from .conftest import RealAgent, receipt


class Ledger:
    """What the agents told the tills, summed per customer (thread-safe)."""

    def __init__(self) -> None:
        self.points: dict[int, int] = defaultdict(int)
        self.receipts = 0
        self.refunds = 0
        self.redemptions = 0
        self.refused = 0
        self.lock = threading.Lock()

    def add(
        self, customer: int, points: int, *, receipt: bool = False, refund: bool = False, redeemed: bool = False
    ) -> None:
        with self.lock:
            self.points[customer] += points
            self.receipts += receipt
            self.refunds += refund
            self.redemptions += redeemed


class Till(threading.Thread):
    """Commits ``count`` receipts at one agent: some redeem points, some are refunded later.

    ``pending`` is the request in flight: after the agent died under it, ``finish()`` sends it
    again with the same body, as a till does (receipts and refunds are idempotent by their id).
    """

    def __init__(
        self, agent: RealAgent, name: str, customers: list[int], count: int, ledger: Ledger, seed: int
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.agent, self.till, self.customers, self.count, self.ledger = agent, name, customers, count, ledger
        self.rng = random.Random(seed)
        self.done = 0
        #: set: stop after the receipt in hand
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.pending: tuple[str, dict[str, Any], int] | None = None
        self._refundable: list[tuple[str, int]] = []

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.agent.prepared.port, timeout=60)
        try:
            for n in range(self.count):
                if self.stopping.is_set():
                    break
                customer = self.rng.choice(self.customers)
                amount = self.rng.randint(500, 50_000)
                redeem = self.rng.randint(1, amount // 5) if self.rng.random() < 0.25 else 0
                self._send(conn, "/v1/receipts", receipt(f"{self.till}-{n}", customer, amount, redeem), customer)
                if self.rng.random() < 0.1 and self._refundable:
                    rid, who = self._refundable.pop(self.rng.randrange(len(self._refundable)))
                    self._send(
                        conn,
                        f"/v1/receipts/{rid}/refund",
                        {"refund_id": uuid.uuid4().hex, "lines": [{"index": 0}]},
                        who,
                    )
                self.done += 1
        except (OSError, http.client.HTTPException) as exc:  # the agent died under us
            self.error = exc
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            conn.close()

    def finish(self) -> None:
        """Send the request cut off by the agent's death again (same body, same id)."""
        if self.pending is not None:
            conn = http.client.HTTPConnection("127.0.0.1", self.agent.prepared.port, timeout=60)
            try:
                self._send(conn, *self.pending)
            finally:
                conn.close()
        self.error = None

    def _send(self, conn: http.client.HTTPConnection, path: str, body: dict[str, Any], customer: int) -> None:
        self.pending = (path, body, customer)
        status, answer = request(
            self.agent.prepared.port, "POST", path, body, self.agent.prepared.key, conn=conn, timeout=60
        )
        refund = "/refund" in path
        if status == 422 and not refund and body["redeem"]:
            # not enough points here and now (or the offline bound): the customer pays in full
            with self.ledger.lock:
                self.ledger.refused += 1
            body = {**body, "redeem": 0}
            self.pending = (path, body, customer)
            status, answer = request(
                self.agent.prepared.port, "POST", path, body, self.agent.prepared.key, conn=conn, timeout=60
            )
        assert status == 201, (path, status, answer)
        if refund:
            self.ledger.add(customer, answer["redeemed"] - answer["accrued"], refund=True)
        else:
            self.ledger.add(
                customer, answer["accrued"] - answer["redeemed"], receipt=True, redeemed=answer["redeemed"] > 0
            )
            self._refundable.append((body["receipt_id"], customer))
        self.pending = None


def register_customers(agents: list[RealAgent], count: int) -> dict[int, str]:
    """Customer i (card i) registered at agent i % len(agents); returns i -> customer id."""
    return {i: agents[i % len(agents)].register(i) for i in range(count)}


def local_balance(agent: RealAgent, i: int) -> int:
    status, body = agent.identify(i)
    assert status == 200, body
    return int(body["balance"])


__all__ = ["Ledger", "Till", "local_balance", "register_customers"]
