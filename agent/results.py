"""What the service's operations answer, and the request fingerprint of idempotency."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any, NamedTuple

from shared.balances import Balance, Effect, Lot, compute_balance


class Result(NamedTuple):
    """An operation's answer: HTTP status, JSON body, and whether it replays a stored answer."""

    status: int
    body: dict[str, Any]
    replayed: bool = False
    #: ``body`` already encoded as JSON (the commit stores it: the answer sends the same text, encoded once)
    text: str | None = None


class Limits(NamedTuple):
    """What a customer may redeem now, and the ledger it was computed from."""

    available: int  # spendable points (>= 0)
    allowed: int  # what the agent lets them redeem now (offline bound applied)
    offline: bool
    balance: Balance
    lots: list[Lot]
    effects: list[Effect]

    def after(self, now: dt.datetime, *points: int) -> dict[str, int]:
        """Balance and available points once ``points`` are added as effects (no re-reading)."""
        balance = compute_balance(self.lots, [*self.effects, *(Effect(p, now) for p in points if p)], now)
        return {"balance": balance.balance, "available": max(0, balance.available)}


def request_hash(*parts: Any) -> str:
    """sha256 of the canonical JSON of a request: same document, same hash, whatever the key order."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
