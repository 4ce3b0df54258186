"""Loyalty slips of the agent's operations: what a committed receipt, a refund or a cancel prints.

The service calls :func:`queue_slip` inside the operation's write transaction
(``Service.subscribe_in_transaction``), so the slip is in the print queue
exactly when the operation is committed; the print worker prints it after.
A slip is printed only for an operation with a customer: an anonymous
receipt has no points to show. Refunds and cancels print a short slip too
(points taken back and given back, the new balance), so the customer leaves
with the balance the till just changed (docs/devices.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .config import Config
from .devices.slip_layout import SlipData
from .store import Tx
from .store.times import parse_time

#: the print queue's key of each operation's slip
SLIP_IDS = {"committed": "receipt:{receipt_id}", "refunded": "refund:{refund_id}", "cancelled": "cancel:{receipt_id}"}
OPERATIONS = {"committed": "purchase", "refunded": "refund", "cancelled": "cancel"}


def receipt_slip_id(receipt_id: str) -> str:
    """The queue key of a receipt's purchase slip."""
    return SLIP_IDS["committed"].format(receipt_id=receipt_id)


def build_slip(tx: Tx, config: Config, event: str, answer: dict[str, Any], now: dt.datetime) -> SlipData | None:
    """The slip of an operation's answer (``committed``, ``refunded``, ``cancelled``), or None without a customer."""
    receipt = tx.receipt(answer["receipt_id"])
    if receipt is None or receipt["customer_id"] is None or answer.get("balance") is None:
        return None
    customer = tx.customer(receipt["customer_id"])
    at = parse_time(receipt["at"]) if event == "committed" else now
    assert at is not None
    # cashier messages head office asked to print: on the customer's next purchase slip, once
    messages = tuple(tx.take_slip_messages(receipt["customer_id"], now)) if event == "committed" else ()
    return SlipData(
        slip_id=SLIP_IDS[event].format(**answer),
        store_name=config.store_name or config.store_id or "loyalty-edge",
        at=at.astimezone(config.zone),
        card_number=receipt["card"] or "",
        accrued=answer["accrued"],
        redeemed=answer["redeemed"],
        balance=answer["balance"],
        receipt_id=receipt["receipt_id"],
        level=customer["level"] if customer is not None else None,
        operation=OPERATIONS[event],
        messages=messages,
        promotions=tuple((str(p["name"]), int(p["points"]), int(p["discount"])) for p in answer.get("promotions") or ())
        if event == "committed"
        else (),
    )


def queue_slip(
    tx: Tx, config: Config, event: str, answer: dict[str, Any], now: dt.datetime, printer: str = "default"
) -> SlipData | None:
    """Queue the operation's slip in ``tx`` (idempotent: one slip per operation); the slip, or None."""
    slip = build_slip(tx, config, event, answer, now)
    if slip is not None:
        tx.enqueue_print_job(slip.slip_id, slip.to_json(), "loyalty_slip", printer, now)
    return slip
