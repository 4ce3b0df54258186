"""Receipts and point operations kept centrally: the ``transactions`` table, its lines and the catalog.

The ledger (central/points/ledger.py) says how points moved; this says what was
bought: every purchase, refund and cancel an agent sends (anonymous ones
too, for sales figures), and every point operation made from the console or
by the nightly job. Lines name their product and category by dense integer
ids (``catalog_products``, ``catalog_categories``); a category or product
seen for the first time in a receipt is created then -- that is how the
console learns the categories stores sell.

Each purchase also keeps its lines packed in one BLOB of fixed-width
integers (:data:`LINE_DTYPE`), so the what-if reads a million lines as a few
hundred thousand rows and one ``numpy.frombuffer`` (central/services/whatif.py)
instead of a million Python tuples.

Signs: a refund's or cancel's ``amount``, ``accrued`` and ``redeemed`` are
negative (it reverses part of a purchase), so sums over any filter are net.
An operation's points are in ``accrued`` (signed); ``redeemed`` is only a
redemption at a till.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..storage import aggregates, receipts

#: one receipt line as the what-if reads it: catalog ids (-1: none) and money in minor units
LINE_DTYPE = np.dtype([("sku", "<i4"), ("category", "<i4"), ("amount", "<i8"), ("discount", "<i8")])
CHANNELS = ("till", "delivery", "online")
_UTC = zoneinfo.ZoneInfo("UTC")


def epoch(utc_text: str) -> int:
    moment = dt.datetime.fromisoformat(utc_text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


@dataclass
class Pending:
    """One transaction row waiting for the flush (its lines name products by text until then)."""

    row: tuple[Any, ...]  # storage/receipts.py's TRANSACTION_COLUMNS
    lines: list[Mapping[str, Any]] = field(default_factory=list)


class ReceiptLog:
    """Collects transactions during a unit of work; ``flush()`` writes them with their lines."""

    def __init__(self, conn: sqlite3.Connection, recorded_at: str) -> None:
        self.conn = conn
        self.recorded_at = recorded_at
        self.pending: list[Pending] = []
        self._zones: dict[str | None, zoneinfo.ZoneInfo] | None = None

    def _zone(self, store: str | None) -> zoneinfo.ZoneInfo:
        if self._zones is None:
            self._zones = {sid: zoneinfo.ZoneInfo(tz) for sid, tz in receipts.store_timezones(self.conn)}
        return self._zones.get(store) or _UTC

    def _when(self, store: str | None, at: str) -> tuple[str, int, int, int]:
        """(UTC text, epoch seconds, local ISO weekday, local hour) of an ISO time, parsed once."""
        moment = dt.datetime.fromisoformat(at)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        local = moment.astimezone(self._zone(store))
        return (
            moment.astimezone(dt.UTC).isoformat(timespec="seconds"),
            int(moment.timestamp()),
            local.isoweekday(),
            local.hour,
        )

    def purchase(
        self, env: Mapping[str, Any], body: Mapping[str, Any], at: str, customer_id: str | None, level: str | None
    ) -> str:
        """Keep a purchase; returns its time in UTC (parsed once, for the customer's activity)."""
        channel = body.get("channel") if body.get("channel") in CHANNELS else "till"
        payments = body.get("payments")
        detail = json.dumps({"payments": payments}, ensure_ascii=False) if isinstance(payments, list) else None
        when = self._when(env["store"], at)
        self.pending.append(
            Pending(
                (
                    "purchase",
                    channel,
                    env["store"],
                    env["agent"],
                    env["id"],
                    body["receipt_id"],
                    body.get("terminal"),
                    customer_id,
                    body.get("card"),
                    *when,
                    body["total"],
                    body["accrued"],
                    body["redeemed"],
                    level,
                    body.get("rules_version"),
                    detail,
                ),
                body["lines"],
            )
        )
        return when[0]

    def reversal(self, env: Mapping[str, Any], body: Mapping[str, Any], at: str, customer_id: str | None) -> None:
        """A refund or cancel: the receipt's money and points back, as negative figures."""
        detail = {"refund_id": body.get("refund_id"), "lines": body.get("lines")}
        self.pending.append(
            Pending(
                (
                    env["kind"],
                    "till",
                    env["store"],
                    env["agent"],
                    env["id"],
                    body["receipt_id"],
                    body.get("terminal"),
                    customer_id,
                    None,
                    *self._when(env["store"], at),
                    -body["amount"],
                    -body["accrued"],
                    -body["redeemed"],
                    None,
                    None,
                    json.dumps(detail, ensure_ascii=False),
                )
            )
        )

    def operation(
        self,
        kind: str,
        customer_id: str,
        points: int,
        at: str,
        *,
        store: str | None = None,
        agent: str | None = None,
        event_id: str | None = None,
        channel: str = "console",
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """A point operation (manual at a store, admin, promo, expire, import): signed points in ``accrued``."""
        self.pending.append(
            Pending(
                (
                    kind,
                    channel,
                    store,
                    agent,
                    event_id,
                    None,
                    None,
                    customer_id,
                    None,
                    *self._when(store, at),
                    0,
                    points,
                    0,
                    None,
                    None,
                    json.dumps(dict(detail or {}), ensure_ascii=False),
                )
            )
        )

    # -- writing -----------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the pending transactions with their lines, and fold the customers' into the aggregates.

        The one write point of every transaction, whichever path brought it (the ingest, a history import, the
        console): what is recorded per transaction is recorded here, for all of them (docs/import-receipts.md).
        """
        if not self.pending:
            return
        conn = self.conn
        categories = receipts.catalog_ids(
            conn,
            "catalog_categories",
            "name",
            {line.get("category") for p in self.pending for line in p.lines},
            self.recorded_at,
        )
        products = receipts.product_ids(conn, _first_lines(self.pending), categories, self.recorded_at)
        next_id = receipts.next_transaction_id(conn)
        product_of, category_of = products.get, categories.get
        rows: list[tuple[Any, ...]] = []
        lines: list[tuple[Any, ...]] = []
        folded: list[Any] = []
        # the what-if's packed columns of every line of the flush, packed at once (LINE_DTYPE) and cut per row
        col_sku: list[int] = []
        col_cat: list[int] = []
        col_amount: list[int] = []
        col_discount: list[int] = []
        spans: list[tuple[int, int] | None] = []
        add_line = lines.append
        for item in self.pending:
            row = item.row
            fold: list[tuple[Any, ...]] | None = [] if row[7] is not None else None
            if item.lines:
                first = len(col_sku)
                for i, line in enumerate(item.lines):
                    get = line.get
                    sku_id, cat_id = product_of(get("sku")), category_of(get("category"))
                    discount = get("discount") or 0
                    amount = line["amount"]
                    quantity = get("quantity") or "1"
                    # the what-if's columns: dense 0-based catalog indexes, -1 for none
                    col_sku.append((sku_id or 0) - 1)
                    col_cat.append((cat_id or 0) - 1)
                    col_amount.append(amount)
                    col_discount.append(discount)
                    add_line(
                        (
                            next_id,
                            i,
                            sku_id,
                            cat_id,
                            get("name"),
                            quantity,
                            get("price"),
                            discount,
                            amount,
                            get("accrued") or 0,
                            get("redeemed") or 0,
                        )
                    )
                    if fold is not None:
                        fold.append((sku_id, cat_id, quantity))
                spans.append((first, len(col_sku)))
            else:
                spans.append(None)
            rows.append((next_id, *row, len(item.lines)))
            next_id += 1
            if fold is not None:  # a customer's: into the segments' aggregates (storage/aggregates.py)
                folded.append((row[7], row[0], row[2], row[10], *row[13:16], fold))
        packed = np.empty(len(col_sku), LINE_DTYPE)
        packed["sku"], packed["category"], packed["amount"], packed["discount"] = (
            col_sku,
            col_cat,
            col_amount,
            col_discount,
        )
        blob = packed.tobytes()
        width = LINE_DTYPE.itemsize
        recorded_at = self.recorded_at
        receipts.insert_transactions(
            conn,
            [
                (*r, None if span is None else blob[span[0] * width : span[1] * width], recorded_at)
                for r, span in zip(rows, spans, strict=True)
            ],
        )
        receipts.insert_lines(conn, lines)
        if folded:
            chain: list[Any] = []  # the chain's zone for operations without a store, read once

            def zone_of(store: str | None) -> Any:
                if store:
                    return self._zone(store)
                if not chain:
                    chain.append(aggregates.chain_zone(conn))
                return chain[0]

            aggregates.record(conn, folded, zone_of)
        self.pending = []


def _first_lines(pending: list[Pending]) -> dict[str, Mapping[str, Any]]:
    """sku -> the first line naming it (a new product takes its name and category from there)."""
    first: dict[str, Mapping[str, Any]] = {}
    for item in pending:
        for line in item.lines:
            sku = line.get("sku")
            if isinstance(sku, str) and sku and sku not in first:
                first[sku] = line
    return first
