"""Receipts with their lines and per-line allocation, refunds, cancels and shift closes."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shared.results import LineRefund

from .times import iso

_RECEIPT_COLUMNS = (
    "receipt_id",
    "seq",
    "terminal",
    "customer_id",
    "card",
    "at",
    "committed_at",
    "day",
    "total",
    "accrued",
    "redeemed",
    "offline",
    "rules_version",
    "request_hash",
    "response",
)
_LINE_COLUMNS = (
    "receipt_id",
    "idx",
    "sku",
    "name",
    "category",
    "quantity",
    "price",
    "discount",
    "amount",
    "accrued",
    "redeemed",
)
_REFUND_COLUMNS = (
    "refund_id",
    "receipt_id",
    "seq",
    "terminal",
    "at",
    "created_at",
    "amount",
    "accrued",
    "redeemed",
    "request_hash",
    "response",
)
_REFUND_LINE_COLUMNS = ("refund_id", "idx", "quantity", "amount", "accrued", "redeemed")


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


_INSERT_RECEIPT = _insert_sql("receipts", _RECEIPT_COLUMNS)
_INSERT_LINE = _insert_sql("receipt_lines", _LINE_COLUMNS)
_INSERT_REFUND = _insert_sql("refunds", _REFUND_COLUMNS)
_INSERT_REFUND_LINE = _insert_sql("refund_lines", _REFUND_LINE_COLUMNS)


class LedgerQueries:
    """Mixin of :class:`~agent.store.tx.Tx`: receipts, refunds, cancels, shifts."""

    c: sqlite3.Connection

    def receipt(self, receipt_id: str) -> sqlite3.Row | None:
        return self.c.execute("SELECT * FROM receipts WHERE receipt_id = ?", (receipt_id,)).fetchone()

    def receipt_lines(self, receipt_id: str) -> list[sqlite3.Row]:
        return self.c.execute("SELECT * FROM receipt_lines WHERE receipt_id = ? ORDER BY idx", (receipt_id,)).fetchall()

    def insert_receipt(self, receipt: Mapping[str, Any], lines: Iterable[Mapping[str, Any]]) -> None:
        """A committed purchase and its lines (with the accrued/redeemed allocation of each)."""
        self.c.execute(_INSERT_RECEIPT, [receipt[k] for k in _RECEIPT_COLUMNS])
        self.c.executemany(_INSERT_LINE, [[line[k] for k in _LINE_COLUMNS] for line in lines])

    def refund(self, refund_id: str) -> sqlite3.Row | None:
        return self.c.execute("SELECT * FROM refunds WHERE refund_id = ?", (refund_id,)).fetchone()

    def refunded_so_far(self, receipt_id: str, line_count: int) -> list[LineRefund]:
        """Running totals of earlier refunds of a receipt, per line (the calculator's ``already``)."""
        totals = [LineRefund()] * line_count
        rows = self.c.execute(
            "SELECT l.idx, SUM(l.quantity), SUM(l.amount), SUM(l.accrued), SUM(l.redeemed) "
            "FROM refund_lines l JOIN refunds r ON r.refund_id = l.refund_id WHERE r.receipt_id = ? GROUP BY l.idx",
            (receipt_id,),
        ).fetchall()
        for idx, quantity, amount, accrued, redeemed in rows:
            totals[idx] = LineRefund(quantity, amount, accrued, redeemed)
        return totals

    def insert_refund(self, refund: Mapping[str, Any], lines: Iterable[Mapping[str, Any]]) -> None:
        self.c.execute(_INSERT_REFUND, [refund[k] for k in _REFUND_COLUMNS])
        self.c.executemany(_INSERT_REFUND_LINE, [[line[k] for k in _REFUND_LINE_COLUMNS] for line in lines])

    def cancel_receipt(self, receipt_id: str, seq: int, at: dt.datetime) -> None:
        self.c.execute(
            "UPDATE receipts SET status = 'cancelled', cancel_seq = ?, cancelled_at = ? WHERE receipt_id = ?",
            (seq, iso(at), receipt_id),
        )

    def close_shift(self, terminal: str, at: dt.datetime) -> None:
        self.c.execute("INSERT INTO shift_closes (terminal, closed_at) VALUES (?, ?)", (terminal, iso(at)))

    def last_shift_close(self, terminal: str) -> str | None:
        row = self.c.execute("SELECT MAX(closed_at) FROM shift_closes WHERE terminal = ?", (terminal,)).fetchone()
        return row[0] if row else None

    def receipts_since(self, terminal: str, since: str | None) -> int:
        """How many receipts a terminal committed after ``since`` (its open shift)."""
        return int(
            self.c.execute(
                "SELECT COUNT(*) FROM receipts WHERE terminal = ? AND committed_at > ?", (terminal, since or "")
            ).fetchone()[0]
        )

    def recent_receipts(self, terminal: str, limit: int) -> list[sqlite3.Row]:
        """A terminal's last ``limit`` receipts, newest first, with the customer's name."""
        return self.c.execute(
            "SELECT r.*, c.name AS customer_name FROM receipts r LEFT JOIN customers c ON c.id = r.customer_id "
            "WHERE r.terminal = ? ORDER BY r.committed_at DESC, r.seq DESC LIMIT ?",
            (terminal, limit),
        ).fetchall()

    def lines_of(self, receipt_ids: Sequence[str]) -> list[sqlite3.Row]:
        """The lines of several receipts, each with the quantity refunded so far (``refunded``, x1000)."""
        marks = ", ".join("?" * len(receipt_ids))
        return self.c.execute(
            "SELECT l.*, COALESCE((SELECT SUM(rl.quantity) FROM refund_lines rl JOIN "
            "refunds f ON f.refund_id = rl.refund_id "
            "WHERE f.receipt_id = l.receipt_id AND rl.idx = l.idx), 0) AS refunded "
            f"FROM receipt_lines l WHERE l.receipt_id IN ({marks}) ORDER BY l.receipt_id, l.idx",
            list(receipt_ids),
        ).fetchall()

    def refunded_amounts(self, receipt_ids: Sequence[str]) -> dict[str, int]:
        """Money returned so far per receipt (receipts with no refund are absent)."""
        marks = ", ".join("?" * len(receipt_ids))
        rows = self.c.execute(
            f"SELECT receipt_id, SUM(amount) FROM refunds WHERE receipt_id IN ({marks}) GROUP BY receipt_id",
            list(receipt_ids),
        ).fetchall()
        return {receipt_id: int(amount) for receipt_id, amount in rows}
