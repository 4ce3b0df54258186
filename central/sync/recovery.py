"""An agent restored from a backup: its new events under reused seqs reach the ledger once.

After a restore the agent writes new events under seqs the central server has
already handled (docs/sync.md, "Restored agent"). The ingest applies each
such event whose id is new like any other event, registered by id with
``recovery = 'applied'`` in the same transaction, unless it is a *business
duplicate*: the till retried a sale, refund, cancel, registration or manual
operation that the lost database had recorded and the ledger already holds.
Those are consumed without effect and kept as a dead letter naming what they
repeat (:class:`Duplicates`).

:class:`Recovery` keeps the acks safe meanwhile. An agent deletes through an
acked seq when its own event there has the acked id, so a restored agent
must hear no ack through a seq until every event it still holds up to that
seq is in: it counts from the agent's own word (``acked`` in each ``events``
message, the seq its outbox starts after) over the seqs received, and asks
for a resend when one is missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..points.receipt_log import epoch
from ..storage.store import IngestUnit, Store

#: dead-letter reason of a recovered event that repeats what the ledger holds, by kind
DUPLICATE_REASONS = {
    "purchase": "duplicate_receipt",
    "refund": "duplicate_refund",
    "cancel": "duplicate_cancel",
    "registration": "duplicate_registration",
    "manual": "duplicate_operation",
}


@dataclass
class Recovery:
    """A restored agent's reused seqs: how far every event it still holds has been received.

    ``end`` is the pointer when the restore was found (or a higher reused seq
    seen since): the restored agent sends every seq up to it again, with new
    ids. ``through`` is the highest seq
    such that everything the agent holds up to it is in (None: not known
    yet); ``through_id`` is the agent's event id there, for the ack.
    """

    end: int
    through: int | None = None
    through_id: str | None = None
    seen: dict[int, str] = field(default_factory=dict)  # seq -> id, received beyond ``through``
    gap_since: float | None = None  # since when a seq before what was received is missing
    gap_through: int | None = None  # ``through`` when that gap was noticed (progress restarts the wait)
    last_resend: float = 0.0
    resend_every: float = 0.0

    @property
    def done(self) -> bool:
        """Every reused seq is in: the stream's own pointer is safe to ack again."""
        return self.through is not None and self.through >= self.end

    def anchor(self, acked: int | None) -> None:
        """The agent said its outbox starts after ``acked``: nothing up to there is waited for."""
        if acked is not None and (self.through is None or acked > self.through):
            self.through, self.through_id = acked, None
            self._advance()

    def restart(self, acked: int | None, seq: int) -> None:
        """A new id under a seq already counted: restored once more; count again from its outbox."""
        self.through = acked if acked is not None and acked < seq else seq - 1
        self.through_id = None
        self.seen.clear()

    def saw(self, seq: int, ident: str) -> None:
        """The agent sent its event ``ident`` at ``seq`` (new, duplicate or applied normally)."""
        if self.through is None:
            self.through = seq - 1  # an agent that does not say ``acked``: count from the first seen
        if self.through < seq <= self.end:
            self.seen[seq] = ident
            self._advance()

    def _advance(self) -> None:
        assert self.through is not None
        while self.through + 1 in self.seen:
            self.through += 1
            self.through_id = self.seen.pop(self.through)
        if self.seen and min(self.seen) <= self.through:
            self.seen = {s: i for s, i in self.seen.items() if s > self.through}

    def ack(self) -> tuple[int, str] | None:
        """(through, id) to acknowledge, if the agent's event there is known."""
        if self.through is None or self.through_id is None:
            return None
        return self.through, self.through_id

    def mark(self, top: int, now: float) -> None:
        """After a message that went up to seq ``top``: note whether a seq before it is missing."""
        if self.done or self.through is None or top <= self.through:
            self.gap_since, self.gap_through, self.resend_every = None, None, 0.0
        elif self.gap_since is None or self.gap_through != self.through:
            self.gap_since, self.gap_through = now, self.through


def business_key(env: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What makes an event the same operation as another, whatever its event id (None: nothing)."""
    kind, body, store = env["kind"], env["body"], env["store"]
    if kind == "purchase":
        return kind, store, body["receipt_id"], epoch(body.get("at") or env["at"])
    if kind == "refund":
        return kind, store, body["receipt_id"], body["refund_id"]
    if kind == "cancel":
        return kind, store, body["receipt_id"]
    if kind == "registration":
        return kind, body["customer_id"]
    if kind == "manual":
        return kind, body["operation_id"]
    return None


class Duplicates:
    """Finds a recovered event that repeats what the ledger (or the round being built) already holds."""

    def __init__(self, db: Store) -> None:
        self.db = db
        self._unit: IngestUnit | None = None
        self._keys: dict[tuple[Any, ...], str] = {}
        self._scanned = 0

    def check(self, env: Mapping[str, Any], unit: IngestUnit) -> tuple[str, str] | None:
        """(dead-letter reason, what it repeats) if ``env`` is a business duplicate, else None."""
        key = business_key(env)
        if key is None:
            return None
        if self._unit is not unit:  # a new round: its events are not committed yet, so look at them too
            self._unit, self._keys, self._scanned = unit, {}, 0
        for other in unit.events[self._scanned :]:
            other_key = business_key(other)
            if other_key is not None:
                self._keys.setdefault(other_key, other["id"])
        self._scanned = len(unit.events)
        reason = DUPLICATE_REASONS[env["kind"]]
        if key in self._keys:
            return reason, f"{_what(env)} is the same as event {self._keys[key]} received just before"
        found = self._stored(env)
        return (reason, found) if found else None

    def _stored(self, env: Mapping[str, Any]) -> str | None:
        kind, body, store = env["kind"], env["body"], env["store"]
        if kind == "purchase":
            # the till's retry carries the receipt's own time, so the (store, at_epoch) index finds it
            row = self.db.stored_purchase(store, epoch(body.get("at") or env["at"]), body["receipt_id"])
            if row is None:
                return None
            what = f"{_what(env)} is already in the ledger (event {row[0]} of agent {row[1]})"
            return what if row[2] == body["total"] else f"{what}, with total {row[2]} there and {body['total']} here"
        if kind in ("refund", "cancel"):
            for event_id, other_kind, detail in self.db.stored_refunds_and_cancels(store, body["receipt_id"]):
                if kind == other_kind == "cancel":
                    return f"receipt {body['receipt_id']} is already cancelled (event {event_id})"
                if kind == other_kind == "refund" and json.loads(detail or "{}").get("refund_id") == body["refund_id"]:
                    return f"{_what(env)} is already in the ledger (event {event_id})"
            return None
        if kind == "registration":
            stub = self.db.customer_stub(body["customer_id"])
            # a stub (points arrived before the registration) is filled in by it, not repeated
            return f"{_what(env)} is already registered" if stub is False else None
        if kind == "manual":
            for event_id, detail in self.db.stored_manual_operations(
                self.db.surviving_customer(body["customer_id"]) or body["customer_id"]
            ):
                if json.loads(detail or "{}").get("operation_id") == body["operation_id"]:
                    return f"{_what(env)} is already in the ledger (event {event_id})"
        return None


def _what(env: Mapping[str, Any]) -> str:
    body = env["body"]
    kind = env["kind"]
    if kind == "purchase":
        return f"receipt {body['receipt_id']} of {body.get('at') or env['at']}"
    if kind == "refund":
        return f"refund {body['refund_id']} of receipt {body['receipt_id']}"
    if kind == "cancel":
        return f"the cancel of receipt {body['receipt_id']}"
    if kind == "registration":
        return f"customer {body['customer_id']}"
    return f"manual operation {body['operation_id']}"
