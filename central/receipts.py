"""Receipts and point operations kept centrally: the ``transactions`` table, its lines and the catalog.

The ledger (central/ledger.py) says how points moved; this says what was
bought: every purchase, refund and cancel an agent sends (anonymous ones
too, for sales figures), and every point operation made from the console or
by the nightly job. Lines name their product and category by dense integer
ids (``catalog_products``, ``catalog_categories``); a category or product
seen for the first time in a receipt is created then -- that is how the
console learns the categories stores sell.

Each purchase also keeps its lines packed in one BLOB of fixed-width
integers (:data:`LINE_DTYPE`), so the what-if reads a million lines as a few
hundred thousand rows and one ``numpy.frombuffer`` (central/console/whatif.py)
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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: one receipt line as the what-if reads it: catalog ids (-1: none) and money in minor units
LINE_DTYPE = np.dtype([("sku", "<i4"), ("category", "<i4"), ("amount", "<i8"), ("discount", "<i8")])
CHANNELS = ("till", "delivery", "online")
_CHUNK = 500


def epoch(utc_text: str) -> int:
    moment = dt.datetime.fromisoformat(utc_text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


@dataclass
class Pending:
    """One transaction row waiting for the flush (its lines name products by text until then)."""

    row: dict[str, Any]
    lines: list[Mapping[str, Any]] = field(default_factory=list)


class ReceiptLog:
    """Collects transactions during a unit of work; ``flush(conn)`` writes them with their lines."""

    def __init__(self, conn: sqlite3.Connection, recorded_at: str) -> None:
        self.conn = conn
        self.recorded_at = recorded_at
        self.pending: list[Pending] = []
        self._zones: dict[str | None, zoneinfo.ZoneInfo] | None = None

    def _zone(self, store: str | None) -> zoneinfo.ZoneInfo:
        if self._zones is None:
            self._zones = {sid: zoneinfo.ZoneInfo(tz) for sid, tz in self.conn.execute("SELECT id, timezone FROM stores")}
        return self._zones.get(store) or zoneinfo.ZoneInfo("UTC")

    def _base(self, kind: str, store: str | None, at_utc: str, **values: Any) -> dict[str, Any]:
        local = dt.datetime.fromisoformat(at_utc).astimezone(self._zone(store))
        return {
            "kind": kind, "store": store, "at": at_utc, "at_epoch": epoch(at_utc), "weekday": local.isoweekday(),
            "hour": local.hour, "channel": "till", "agent": None, "event_id": None, "receipt_id": None,
            "customer_id": None, "card": None, "amount": 0, "accrued": 0, "redeemed": 0, "level": None,
            "rules_version": None, "detail": None, **values,
        }

    def purchase(self, env: Mapping[str, Any], body: Mapping[str, Any], at_utc: str, customer_id: str | None,
                 level: str | None) -> None:
        channel = body.get("channel") if body.get("channel") in CHANNELS else "till"
        detail = {"terminal": body.get("terminal"), "offline": body.get("offline")}
        if isinstance(body.get("payments"), list):
            detail["payments"] = body["payments"]  # optional: what the till says was paid how
        row = self._base(
            "purchase", env["store"], at_utc, channel=channel, agent=env["agent"], event_id=env["id"],
            receipt_id=body["receipt_id"], customer_id=customer_id, card=body.get("card"), amount=body["total"],
            accrued=body["accrued"], redeemed=body["redeemed"], level=level, rules_version=body.get("rules_version"),
            detail=json.dumps(detail, ensure_ascii=False),
        )
        self.pending.append(Pending(row, list(body["lines"])))

    def reversal(self, env: Mapping[str, Any], body: Mapping[str, Any], at_utc: str, customer_id: str | None) -> None:
        """A refund or cancel: the receipt's money and points back, as negative figures."""
        detail = {"terminal": body.get("terminal"), "refund_id": body.get("refund_id"), "lines": body.get("lines")}
        row = self._base(
            env["kind"], env["store"], at_utc, agent=env["agent"], event_id=env["id"], receipt_id=body["receipt_id"],
            customer_id=customer_id, amount=-body["amount"], accrued=-body["accrued"], redeemed=-body["redeemed"],
            detail=json.dumps(detail, ensure_ascii=False),
        )
        self.pending.append(Pending(row))

    def operation(self, kind: str, customer_id: str, points: int, at_utc: str, *, store: str | None = None,
                  agent: str | None = None, event_id: str | None = None, channel: str = "console",
                  detail: Mapping[str, Any] | None = None) -> None:
        """A point operation (manual at a store, admin, promo, expire, import): signed points in ``accrued``."""
        row = self._base(kind, store, at_utc, channel=channel, agent=agent, event_id=event_id, customer_id=customer_id,
                         accrued=points, detail=json.dumps(dict(detail or {}), ensure_ascii=False))
        self.pending.append(Pending(row))

    # -- writing -----------------------------------------------------------------------------------

    def flush(self) -> None:
        if not self.pending:
            return
        conn = self.conn
        categories = catalog_ids(conn, "catalog_categories", "name",
                                 {line.get("category") for p in self.pending for line in p.lines}, self.recorded_at)
        products = _product_ids(conn, self.pending, categories, self.recorded_at)
        next_id = (conn.execute("SELECT MAX(id) FROM transactions").fetchone()[0] or 0) + 1
        rows, lines = [], []
        for item in self.pending:
            row = item.row
            packed = None
            if item.lines:
                cols = np.empty(len(item.lines), LINE_DTYPE)
                for i, line in enumerate(item.lines):
                    sku_id = products.get(line.get("sku"), 0) - 1
                    cat_id = categories.get(line.get("category"), 0) - 1
                    cols[i] = (sku_id, cat_id, line["amount"], line.get("discount") or 0)
                    lines.append((next_id, i, sku_id + 1 or None, cat_id + 1 or None, line.get("name"),
                                  line.get("quantity") or "1", line.get("price"), line.get("discount") or 0,
                                  line["amount"], line.get("accrued") or 0, line.get("redeemed") or 0))
                packed = cols.tobytes()
            rows.append((next_id, row["kind"], row["channel"], row["store"], row["agent"], row["event_id"],
                         row["receipt_id"], row["customer_id"], row["card"], row["at"], row["at_epoch"], row["weekday"],
                         row["hour"], row["amount"], row["accrued"], row["redeemed"], row["level"], row["rules_version"],
                         len(item.lines), packed, row["detail"], self.recorded_at))
            next_id += 1
        conn.executemany(
            "INSERT INTO transactions (id, kind, channel, store, agent, event_id, receipt_id, customer_id, card, at,"
            " at_epoch, weekday, hour, amount, accrued, redeemed, level, rules_version, line_count, columns, detail,"
            " recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO transaction_lines (transaction_id, idx, sku_id, category_id, name, quantity, price, discount,"
            " amount, accrued, redeemed) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            lines,
        )
        self.pending = []


def catalog_ids(conn: sqlite3.Connection, table: str, column: str, names: Iterable[Any], now: str,
                source: str = "receipt") -> dict[str, int]:
    """name -> id in a catalog table, creating the names not seen before."""
    wanted = sorted({n for n in names if isinstance(n, str) and n})
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update((name, ident) for ident, name in conn.execute(
            f"SELECT id, {column} FROM {table} WHERE {column} IN ({marks})", chunk))
    missing = [n for n in wanted if n not in found]
    if missing:
        if table == "catalog_categories":
            conn.executemany("INSERT INTO catalog_categories (name, source, created_at) VALUES (?, ?, ?)"
                             " ON CONFLICT DO NOTHING", [(n, source, now) for n in missing])
        else:
            conn.executemany("INSERT INTO catalog_products (sku, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                             [(n, now) for n in missing])
        return catalog_ids(conn, table, column, wanted, now, source)
    return found


def _product_ids(conn: sqlite3.Connection, pending: list[Pending], categories: dict[str, int], now: str) -> dict[str, int]:
    """sku -> id, creating new products with the name and category their first receipt gives."""
    first: dict[str, Mapping[str, Any]] = {}
    for item in pending:
        for line in item.lines:
            sku = line.get("sku")
            if isinstance(sku, str) and sku and sku not in first:
                first[sku] = line
    known = set()
    skus = sorted(first)
    for start in range(0, len(skus), _CHUNK):
        chunk = skus[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        known.update(r[0] for r in conn.execute(f"SELECT sku FROM catalog_products WHERE sku IN ({marks})", chunk))
    conn.executemany(
        "INSERT INTO catalog_products (sku, name, category_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(sku, first[sku].get("name"), categories.get(first[sku].get("category")), now) for sku in skus if sku not in known],
    )
    return catalog_ids(conn, "catalog_products", "sku", skus, now)
