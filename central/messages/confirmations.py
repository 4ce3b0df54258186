"""Redemption confirmation codes: a one-time code sent to the customer before points are redeemed.

When head office switches the service message ``redeem_code`` on for a store (Messages -> Service
messages: a template per channel), the store's tills must confirm every redemption with a code the
customer receives (SetLoyalty's extra SMS check of bonus operations). The till asks its agent, the
agent asks the central server over the sync link (a ``redeem_code_request`` on its ``requests``
topic, answered on its ``answers`` topic: docs/sync.md), and:

* :func:`request_code` makes a 6-digit code for (customer, points), keeps only its hash
  (``redemption_codes``), and queues the service message (cause ``redeem:<id>``) on the first
  switched-on channel the customer has an address for; the sender sends it at its next pass (about
  a second). A newer code supersedes the customer's older open ones; at most :data:`PER_HOUR` codes a
  customer an hour.
* :func:`check_code` verifies it when the till commits the receipt: it must be the newest code of that
  customer, not expired (:data:`TTL`), for at least the points redeemed, with fewer than
  :data:`ATTEMPTS` wrong tries; a right code is used up by that receipt (the same receipt asking again,
  a till's retry, is answered yes again; another receipt is refused).

Every answer is a dict ``{ok, problem, ...}``; ``problem`` is a stable code the agent turns into its
POS API problem. No message text here: the agent words it in the till's language.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Any

from ..storage.store import Store
from . import notices, rules

EVENT = notices.REDEEM_CODE
#: how long a code is valid, how many wrong tries it survives, how many a customer gets an hour
TTL = dt.timedelta(minutes=5)
ATTEMPTS = 3
PER_HOUR = 5
#: a code's outbox row is due since the epoch: the sender takes it before a mailing's backlog (the till waits)
URGENT = "1970-01-01T00:00:00+00:00"
#: channels tried in this order (the first switched on with an address wins)
ORDER = ("sms", "telegram", "push", "email", "voice")


def _hash(code_id: str, code: str) -> str:
    return hashlib.sha256(f"{code_id}:{code}".encode()).hexdigest()


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="seconds")


def _customer(db: Store, customer_id: str) -> dict[str, Any] | None:
    customer = db.message_customer(customer_id)
    if customer is not None and customer.get("merged_into"):  # the agent may still know the old id
        customer = db.message_customer(customer["merged_into"])
    return customer


def request_code(db: Store, store: str, agent: str, customer_id: str, points: int, now: dt.datetime) -> dict[str, Any]:
    """Make and queue a code for ``points`` of ``customer_id`` at ``store``; the answer for the agent."""
    switches = db.message_switches()
    chosen = dict(notices.resolve(switches, EVENT, store))
    if not chosen:
        return {"ok": False, "problem": "confirmation_not_required"}
    with db.transaction():
        customer = _customer(db, customer_id)
        if customer is None:
            return {"ok": False, "problem": "unknown_customer"}
        if db.redemption_codes_since(customer["id"], _stamp(now - dt.timedelta(hours=1))) >= PER_HOUR:
            return {"ok": False, "problem": "confirmation_too_many"}
        channel, template = None, None
        for name in sorted((c for c in chosen if c in ORDER), key=ORDER.index):  # never the cashier: they see it
            found = db.message_template(chosen[name])
            if found is not None and found["channel"] == name and rules.address_problem(name, customer) is None:
                channel, template = name, found
                break
        if channel is None or template is None:
            return {"ok": False, "problem": "confirmation_no_address"}
        code_id, code = uuid.uuid4().hex, f"{secrets.randbelow(10**6):06d}"
        expires = now + TTL
        db.add_redemption_code(
            {
                "id": code_id,
                "customer_id": customer["id"],
                "store": store,
                "agent": agent,
                "points": points,
                "code_hash": _hash(code_id, code),
                "channel": channel,
                "created_at": _stamp(now),
                "expires_at": _stamp(expires),
            }
        )
        extra = {"code": code, "points_minor": points}
        db.queue_notice(
            f"redeem:{code_id}", customer["id"], channel, template["id"], template["language"], extra, URGENT
        )
    return {
        "ok": True,
        "confirmation": code_id,
        "channel": channel,
        "expires_at": _stamp(expires),
        "attempts": ATTEMPTS,
    }


def check_code(
    db: Store, customer_id: str, code_id: str, code: str, points: int, receipt_id: str, now: dt.datetime
) -> dict[str, Any]:
    """Verify a code for a receipt redeeming ``points``; a right one is used up by that receipt."""
    with db.transaction():
        row = db.redemption_code(code_id)
        customer = _customer(db, customer_id)
        if row is None or customer is None or row["customer_id"] != customer["id"]:
            return {"ok": False, "problem": "confirmation_unknown"}
        right = secrets.compare_digest(row["code_hash"], _hash(code_id, code))
        if row["used_at"] is not None:
            if right and row["receipt_id"] == receipt_id:  # the till's retry of the same commit
                return {"ok": True, "confirmation": code_id}
            return {"ok": False, "problem": "confirmation_used"}
        if row["superseded_at"] is not None:
            return {"ok": False, "problem": "confirmation_superseded"}
        left = ATTEMPTS - row["attempts"]
        if left <= 0:
            return {"ok": False, "problem": "confirmation_locked"}
        if _stamp(now) > row["expires_at"]:
            return {"ok": False, "problem": "confirmation_expired"}
        if points > row["points"]:
            return {"ok": False, "problem": "confirmation_points", "points": row["points"]}
        if not right:
            db.count_redemption_attempt(code_id)
            if left <= 1:
                return {"ok": False, "problem": "confirmation_locked"}
            return {"ok": False, "problem": "confirmation_failed", "attempts_left": left - 1}
        db.use_redemption_code(code_id, receipt_id, _stamp(now))
    return {"ok": True, "confirmation": code_id}
