"""Synthetic agents' events, built as a real agent would (shared/events.py envelopes).

Used by the sync tests and by bench/sync.py; ``FakeAgent`` numbers its events
1, 2, 3, ... like an agent's outbox and can publish them through paho.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from shared.events import SCHEMA_VERSION

T0 = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))


class FakeAgent:
    """Builds an agent's events in sequence order; ``seq`` is the last one built."""

    def __init__(self, store: str, agent: str = "a1", start_seq: int = 0) -> None:
        self.store = store
        self.agent = agent
        self.seq = start_seq
        self.receipts = 0

    def envelope(self, kind: str, body: dict[str, Any], *, ident: str | None = None) -> dict[str, Any]:
        self.seq += 1
        at = (T0 + dt.timedelta(seconds=self.seq)).isoformat()
        return {
            "v": SCHEMA_VERSION,
            "id": ident or uuid.uuid4().hex,
            "seq": self.seq,
            "store": self.store,
            "agent": self.agent,
            "kind": kind,
            "at": at,
            "body": body,
        }

    def registration(
        self, customer_id: str | None = None, phone: str | None = None, card: str | None = None
    ) -> dict[str, Any]:
        customer_id = customer_id or uuid.uuid4().hex
        return self.envelope(
            "registration",
            {
                "customer_id": customer_id,
                "phone": phone or "+7912" + customer_id[:7].translate(_DIGITS),
                "card": card,
                "name": None,
                "consents": {"sms": True, "personal_data": True},
                "confirmation_code": None,
                "terminal": "T1",
                "at": T0.isoformat(),
            },
        )

    def purchase(
        self, customer_id: str | None, total: int = 10_000, accrued: int = 500, redeemed: int = 0, offline: bool = False
    ) -> dict[str, Any]:
        self.receipts += 1
        return self.envelope(
            "purchase",
            {
                "receipt_id": f"{self.store}-{self.agent}-{self.receipts}",
                "terminal": "T1",
                "customer_id": customer_id,
                "card": None,
                "at": T0.isoformat(),
                "rules_version": 1,
                "total": total,
                "accrued": accrued,
                "redeemed": redeemed,
                "offline": offline,
                "lines": [
                    {
                        "sku": "SKU-1",
                        "name": "Tea",
                        "category": None,
                        "quantity": "1",
                        "price": total,
                        "discount": 0,
                        "amount": total,
                        "accrued": accrued,
                        "redeemed": redeemed,
                    }
                ],
            },
        )

    def refund(self, customer_id: str, receipt_id: str, amount: int, accrued: int, redeemed: int) -> dict[str, Any]:
        return self.envelope(
            "refund",
            {
                "refund_id": uuid.uuid4().hex,
                "receipt_id": receipt_id,
                "terminal": "T1",
                "customer_id": customer_id,
                "at": T0.isoformat(),
                "amount": amount,
                "accrued": accrued,
                "redeemed": redeemed,
                "lines": [{"index": 0, "quantity": "1", "amount": amount, "accrued": accrued, "redeemed": redeemed}],
            },
        )

    def cancel(
        self, customer_id: str | None, receipt_id: str, amount: int, accrued: int, redeemed: int = 0
    ) -> dict[str, Any]:
        return self.envelope(
            "cancel",
            {
                "receipt_id": receipt_id,
                "terminal": "T1",
                "customer_id": customer_id,
                "at": T0.isoformat(),
                "amount": amount,
                "accrued": accrued,
                "redeemed": redeemed,
            },
        )

    def card_replacement(self, customer_id: str, old: str, new: str, status: str = "replaced") -> dict[str, Any]:
        return self.envelope(
            "card_replacement",
            {
                "customer_id": customer_id,
                "old_card": old,
                "new_card": new,
                "status": status,
                "reason": None,
                "terminal": "P01",
                "at": T0.isoformat(),
            },
        )

    def manual(self, customer_id: str, points: int) -> dict[str, Any]:
        return self.envelope(
            "manual",
            {
                "operation_id": uuid.uuid4().hex,
                "customer_id": customer_id,
                "points": points,
                "reason": "goodwill",
                "operator": "manager",
                "at": T0.isoformat(),
            },
        )


_DIGITS = str.maketrans("abcdef", "123456")
