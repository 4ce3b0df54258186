"""A terminal's recent receipts, as its cashier sees them to refund, cancel or reprint one.

Read-only (``GET /v1/receipts``): each receipt with its lines, how much of
each line was already returned, and whether it can still be cancelled (its
terminal's shift is open and it is the same business day, as the service's
cancel checks).
"""

from __future__ import annotations

from typing import Any

from shared.numbers import QUANTITY_DECIMALS, format_scaled

from .store import Row, Tx

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def _line(row: Row) -> dict[str, Any]:
    return {
        "index": row["idx"],
        "sku": row["sku"],
        "name": row["name"],
        "category": row["category"],
        "quantity": format_scaled(row["quantity"], QUANTITY_DECIMALS),
        "refunded_quantity": format_scaled(row["refunded"], QUANTITY_DECIMALS),
        "price": row["price"],
        "discount": row["discount"],
        "amount": row["amount"],
        "accrued": row["accrued"],
        "redeemed": row["redeemed"],
    }


def recent_receipts(tx: Tx, terminal: str, limit: int, today: str) -> list[dict[str, Any]]:
    """The terminal's last ``limit`` receipts, newest first (``today``: the local business day)."""
    rows = tx.recent_receipts(terminal, limit)
    if not rows:
        return []
    lines: dict[str, list[dict[str, Any]]] = {}
    for row in tx.lines_of([r["receipt_id"] for r in rows]):
        lines.setdefault(row["receipt_id"], []).append(_line(row))
    refunded = tx.refunded_amounts([r["receipt_id"] for r in rows])
    closed = tx.last_shift_close(terminal)
    out = []
    for r in rows:
        open_shift = (closed is None or closed < r["committed_at"]) and r["day"] == today
        out.append(
            {
                "receipt_id": r["receipt_id"],
                "at": r["at"],
                "committed_at": r["committed_at"],
                "status": r["status"],
                "customer_id": r["customer_id"],
                "customer_name": r["customer_name"],
                "card": r["card"],
                "total": r["total"],
                "accrued": r["accrued"],
                "redeemed": r["redeemed"],
                "refunded_amount": refunded.get(r["receipt_id"], 0),
                "offline": bool(r["offline"]),
                "cancellable": r["status"] == "committed" and open_shift,
                "lines": lines.get(r["receipt_id"], []),
            }
        )
    return out
