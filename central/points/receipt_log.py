"""Receipts and point operations kept centrally: the ``transactions`` table, its lines and the catalog.

The ledger (central/points/ledger.py) says how points moved; this says what was
bought: every purchase, refund and cancel an agent sends (anonymous ones
too, for sales figures), and every point operation made from the console or
by the nightly job. Lines name their product and category by dense integer
ids (``catalog_products``, ``catalog_categories``); a category or product
seen for the first time in a receipt is created then -- that is how the
console learns the categories stores sell.

Each purchase keeps its lines packed in its own row: one BLOB of fixed-width
integers (:data:`LINE_DTYPE`) and one text of their quantities and names
(central/storage/line_pack.py), so the what-if reads a million lines as a few
hundred thousand rows and one ``numpy.frombuffer`` (central/services/whatif.py)
instead of a million Python tuples, and a receipt costs one row however many
lines it has.

Signs: a refund's or cancel's ``amount``, ``accrued`` and ``redeemed`` are
negative (it reverses part of a purchase), so sums over any filter are net.
An operation's points are in ``accrued`` (signed); ``redeemed`` is only a
redemption at a till.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sqlite3
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shared.columns import local_time

from ..storage import aggregates, line_pack, receipts, rollups
from ..storage.line_pack import LINE_DTYPE

__all__ = ["LINE_DTYPE", "LineBlock", "LineColumns", "ParsedTimes", "ReceiptLog"]
CHANNELS = ("till", "delivery", "online")
WHENS_KEPT = 4096  # parsed times kept (beyond a primed batch's)
_UTC = zoneinfo.ZoneInfo("UTC")


def epoch(utc_text: str) -> int:
    moment = dt.datetime.fromisoformat(utc_text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


@dataclass(slots=True)
class ParsedTimes:
    """Events' times their maker has already parsed (a receipt import's batch, which read each receipt's time
    from its file): each one's store, its ISO text as the events carry it, and its UTC epoch seconds (the text's
    moment in whole seconds: a text with a fraction of a second is not given). :meth:`ReceiptLog.prime_whens`
    turns them by columns into what :meth:`ReceiptLog._parse_when` would make of each text."""

    stores: Sequence[str | None]
    texts: Sequence[str]
    epochs: np.ndarray  # int64


@dataclass
class Pending:
    """One transaction row waiting for the flush (its lines name products by text until then)."""

    row: tuple[Any, ...]  # storage/receipts.py's TRANSACTION_COLUMNS
    lines: list[Mapping[str, Any]] = field(default_factory=list)


#: a line's fields, as a purchase event's line dict names them (shared/events.py)
LINE_FIELDS = ("sku", "name", "category", "quantity", "price", "discount", "amount", "accrued", "redeemed")


@dataclass(slots=True)
class LineColumns:
    """The lines of many purchases as columns, one list per field of :data:`LINE_FIELDS` (a receipt import's
    batch): what their line dicts would say, already as the flush reads them (``quantity`` a text,
    ``discount``, ``accrued`` and ``redeemed`` integers), without a dict per line."""

    sku: list[str | None]
    name: list[str | None]
    category: list[str | None]
    quantity: list[str]
    price: list[int | None]
    discount: list[int]
    amount: list[int]
    accrued: list[int]
    redeemed: list[int]


class LineBlock(line_pack.RowSpan[Mapping[str, Any]]):
    """A purchase's lines given as rows ``[start, stop)`` of a :class:`LineColumns`: a purchase event's
    ``lines`` (it reads as the list of line dicts it stands for); the flush writes a run of them by columns."""

    __slots__ = ("columns",)

    def __init__(self, columns: LineColumns, start: int, stop: int) -> None:
        super().__init__(start, stop)
        self.columns = columns

    def _row(self, row: int) -> Mapping[str, Any]:
        return {name: getattr(self.columns, name)[row] for name in LINE_FIELDS}

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        a, b, c = self.start, self.stop, self.columns
        columns = (getattr(c, name)[a:b] for name in LINE_FIELDS)
        return (dict(zip(LINE_FIELDS, values, strict=True)) for values in zip(*columns, strict=True))


class ReceiptLog:
    """Collects transactions during a unit of work; ``flush()`` writes them with their lines."""

    def __init__(self, conn: sqlite3.Connection, recorded_at: str) -> None:
        self.conn = conn
        self.recorded_at = recorded_at
        self.pending: list[Pending] = []
        self._zones: dict[str | None, zoneinfo.ZoneInfo] | None = None
        self._chain: zoneinfo.ZoneInfo | None = None
        self._whens: dict[tuple[str | None, str], tuple[str, int, int, int]] = {}
        self._keep = WHENS_KEPT  # the times kept before they are let go
        #: the customers whose aggregates the flushes folded: id -> segments' key (aggregates.record)
        self.keys: dict[str, int] = {}
        #: what :meth:`prepare` made ahead of the flush: rows numbered from 0, their lines, the packed lines
        self._early: tuple[list[Any], list[tuple[Any, ...]], Packed] | None = None

    def _zone(self, store: str | None) -> zoneinfo.ZoneInfo:
        if self._zones is None:
            self._zones = {sid: zoneinfo.ZoneInfo(tz) for sid, tz in receipts.store_timezones(self.conn)}
        return self._zones.get(store) or _UTC

    def _report_zone(self, store: str | None) -> zoneinfo.ZoneInfo:
        """A report day's zone: the store's; the chain's for an operation without a store (as in backfill)."""
        if self._zones is None:
            self._zone(store)
        if store in self._zones:  # type: ignore[operator]
            return self._zones[store]  # type: ignore[index]
        if self._chain is None:
            self._chain = aggregates.chain_zone(self.conn)
        return self._chain

    def _when(self, store: str | None, at: str) -> tuple[str, int, int, int]:
        """(UTC text, epoch seconds, local ISO weekday, local hour) of an ISO time, parsed once."""
        known = self._whens.get((store, at))
        if known is not None:
            return known
        if len(self._whens) > self._keep:
            self._whens.clear()
            self._keep = WHENS_KEPT
        self._whens[(store, at)] = found = self._parse_when(store, at)
        return found

    def prime_whens(self, times: ParsedTimes) -> None:
        """What :meth:`_when` gives for times already parsed (a receipt import's batch), made by columns from
        their epoch seconds instead of a parse of each text: the same values (the zones' offsets as
        ``astimezone`` gives them: ``shared.columns.local_time``; tested against :meth:`_parse_when`). They
        replace the times kept before; the ingest's own events are parsed one by one, as before."""
        count = len(times.texts)
        epochs = np.asarray(times.epochs, dtype=np.int64)
        weekday = np.zeros(count, np.int64)
        hour = np.zeros(count, np.int64)
        zones = {store: self._zone(store).key for store in set(times.stores)}
        by_zone: dict[str, list[int]] = {}
        for i, store in enumerate(times.stores):
            by_zone.setdefault(zones[store], []).append(i)
        for key, members in by_zone.items():
            rows = np.array(members, np.int64)
            _, weekday[rows], hour[rows] = local_time(key, epochs[rows])
        utc = np.datetime_as_string(epochs.astype("datetime64[s]"), unit="s").tolist()
        self._whens = dict(
            zip(
                zip(times.stores, times.texts, strict=True),
                zip([text + "+00:00" for text in utc], epochs.tolist(), weekday.tolist(), hour.tolist(), strict=True),
                strict=True,
            )
        )
        self._keep = count + WHENS_KEPT

    def _parse_when(self, store: str | None, at: str) -> tuple[str, int, int, int]:
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

    def reversal(
        self,
        env: Mapping[str, Any],
        body: Mapping[str, Any],
        at: str,
        customer_id: str | None,
        level: str | None = None,
    ) -> None:
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
                    level,
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
        detail_json: str | None = None,
    ) -> None:
        """A point operation (manual at a store, admin, promo, expire, import): signed points in ``accrued``.
        ``detail_json``: the detail already as JSON (a batch of operations sharing one, such as a trigger's
        credits, serialises it once)."""
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
                    json.dumps(dict(detail or {}), ensure_ascii=False) if detail_json is None else detail_json,
                )
            )
        )

    # -- writing -----------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the pending transactions with their lines, and fold the customers' into the aggregates.

        The one write point of every transaction, whichever path brought it (the ingest, a history import, the
        console): what is recorded per transaction is recorded here, for all of them (docs/import-receipts.md).
        Lines come as dicts (a till's event), or as :class:`LineBlock` runs of one :class:`LineColumns` (a
        receipt import's batch, laid out by columns); both give the same rows, and the same calls below.
        """
        if not self.pending:
            return
        conn = self.conn
        if self._early is not None:
            spans, lines, packed = self._early
            base = receipts.next_transaction_id(conn)
            spans = [((row[0] + base, *row[1:]), span) for row, span in spans]
            lines = (  # (id, category, quantity, amount)
                lines.shifted(base)
                if isinstance(lines, line_pack.LineArrays)
                else [(line[0] + base, *line[1:]) for line in lines]
            )
            folded: list[Any] = []  # folded by prepare()
        else:
            spans, lines, folded, packed = self._numbered(None)
        records, texts, plain = packed
        recorded_at = self.recorded_at
        joined = line_pack.joined
        if getattr(conn, "executemany_columns", None) is not None:  # a pipelined import: the rows go as columns
            rows = [row for row, _span in spans]  # (id, *TRANSACTION_COLUMNS, line_count): what the rollups read
            line_spans = [span for _row, span in spans]
            line_texts = [None if span is None else joined(texts, *span, plain) for span in line_spans]
            receipts.insert_transaction_columns(conn, rows, line_spans, records, line_texts, recorded_at)
        else:
            blob = records.tobytes()
            width = LINE_DTYPE.itemsize
            rows = [  # (id, *TRANSACTION_COLUMNS, line_count, columns, recorded_at, line_texts)
                (*row, None, recorded_at, None)
                if span is None
                else (*row, blob[span[0] * width : span[1] * width], recorded_at, joined(texts, *span, plain))
                for row, span in spans
            ]
            receipts.insert_transactions(conn, rows)
        rollups.record(conn, rows, lines, self._report_zone)  # the reports' daily rollups (docs/reports.md)
        self._fold(folded)
        self.pending = []
        self._early = None

    def prepare(self) -> None:
        """What the flush does that needs no transaction id, done ahead of it: the catalog's ids, the rows
        (numbered from 0; the flush numbers them), the customers' aggregates (keyed by customer). An ingest
        commit beside others (PostgreSQL) does this before its tail section, the flush in it
        (central/storage/write_lock.py): transaction ids are given out in commit order."""
        if not self.pending or self._early is not None:
            return
        spans, lines, folded, packed = self._numbered(0)
        self._early = (spans, lines, packed)
        self._fold(folded)

    def _numbered(self, start: int | None) -> tuple[list[Any], list[tuple[Any, ...]], list[Any], Packed]:
        """The pending transactions as rows numbered from ``start`` (None: the next transaction id)."""
        columns = _one_run(self.pending)
        if columns is None:
            return self._by_line(start)
        return self._by_columns(*columns, start=start)

    def _fold(self, folded: list[Any]) -> None:
        """Customers' transactions into the segments' aggregates (storage/aggregates.py)."""
        if not folded:
            return
        conn = self.conn
        chain: list[Any] = []  # the chain's zone for operations without a store, read once

        def zone_of(store: str | None) -> Any:
            if store:
                return self._zone(store)
            if not chain:
                chain.append(aggregates.chain_zone(conn))
            return chain[0]

        self.keys.update(aggregates.record(conn, folded, zone_of))

    def _by_line(self, start: int | None = None) -> tuple[list[Any], list[tuple[Any, ...]], list[Any], Packed]:
        """(transaction rows with their span of packed lines, the rollups' lines (id, category, quantity, amount),
        the aggregates' entries, the packed lines) of pending transactions whose lines are dicts."""
        conn = self.conn
        categories = receipts.catalog_ids(
            conn,
            "catalog_categories",
            "name",
            {line.get("category") for p in self.pending for line in p.lines},
            self.recorded_at,
        )
        products = receipts.product_ids(conn, _first_lines(self.pending), categories, self.recorded_at)
        next_id = receipts.next_transaction_id(conn) if start is None else start
        product_of, category_of = products.get, categories.get
        rows: list[Any] = []
        lines: list[tuple[Any, ...]] = []
        folded: list[Any] = []
        # the packed lines of the whole flush, packed at once (LINE_DTYPE) and cut per row
        col_sku: list[int | None] = []
        col_cat: list[int | None] = []
        col_amount: list[int] = []
        col_discount: list[int] = []
        col_price: list[int | None] = []
        col_accrued: list[int] = []
        col_redeemed: list[int] = []
        col_quantity: list[str] = []
        col_name: list[str | None] = []
        add_line = lines.append
        for item in self.pending:
            row = item.row
            fold: list[tuple[Any, ...]] | None = [] if row[7] is not None else None
            span = None
            if item.lines:
                first = len(col_sku)
                for line in item.lines:
                    get = line.get
                    sku_id, cat_id = product_of(get("sku")), category_of(get("category"))
                    discount = get("discount") or 0
                    amount = line["amount"]
                    quantity = get("quantity") or "1"
                    name, price, accrued, redeemed = (
                        get("name"),
                        get("price"),
                        get("accrued") or 0,
                        get("redeemed") or 0,
                    )
                    if type(quantity) is not str or (name is not None and type(name) is not str):
                        # as the old TEXT columns kept them (the contract sends text; a caller may not)
                        quantity, name = str(quantity), None if name is None else str(name)
                    col_sku.append(sku_id)
                    col_cat.append(cat_id)
                    col_amount.append(amount)
                    col_discount.append(discount)
                    col_price.append(price)
                    col_accrued.append(accrued)
                    col_redeemed.append(redeemed)
                    col_quantity.append(quantity)
                    col_name.append(name)
                    add_line((next_id, cat_id, quantity, amount))  # what the rollups' fold reads
                    if fold is not None:
                        fold.append((sku_id, cat_id, quantity))
                span = (first, len(col_sku))
            rows.append(((next_id, *row, len(item.lines)), span))
            next_id += 1
            if fold is not None:  # a customer's: into the segments' aggregates (storage/aggregates.py)
                folded.append((row[7], row[0], row[2], row[10], *row[13:16], fold))
        records = line_pack.packed(col_sku, col_cat, col_amount, col_discount, col_price, col_accrued, col_redeemed)
        return rows, lines, folded, (records, line_pack.texts_of(col_quantity, col_name), line_pack.safe(col_name))

    def _by_columns(
        self, table: LineColumns, lo: int, hi: int, start: int | None = None
    ) -> tuple[list[Any], list[tuple[Any, ...]], list[Any], Packed]:
        """:meth:`_by_line` for pending transactions whose lines are one run ``[lo, hi)`` of ``table``."""
        conn = self.conn
        sku, name, category, quantity = (
            table.sku[lo:hi],
            table.name[lo:hi],
            table.category[lo:hi],
            table.quantity[lo:hi],
        )
        categories = receipts.catalog_ids(conn, "catalog_categories", "name", set(category), self.recorded_at)
        # sku -> its first line (written last, going backwards)
        first_row = dict(zip(reversed(sku), range(len(sku) - 1, -1, -1), strict=True))
        first = _FirstLines(first_row, name, category)
        products = receipts.product_ids(conn, first, categories, self.recorded_at)
        next_id = receipts.next_transaction_id(conn) if start is None else start
        # catalog ids, 0 for none (line_pack.packed)
        sku_ids = np.fromiter(map(products.get, sku, itertools.repeat(0)), np.int64, hi - lo)
        cat_ids = np.fromiter(map(categories.get, category, itertools.repeat(0)), np.int64, hi - lo)
        amount, discount = table.amount[lo:hi], table.discount[lo:hi]
        price, accrued, redeemed = table.price[lo:hi], table.accrued[lo:hi], table.redeemed[lo:hi]
        counts = np.fromiter((len(item.lines) for item in self.pending), np.int64, len(self.pending))
        ends = np.cumsum(counts)
        starts = ends - counts
        ids = np.arange(next_id, next_id + len(self.pending), dtype=np.int64)
        records = line_pack.packed(sku_ids, cat_ids, amount, discount, price, accrued, redeemed)
        # what the rollups' and the aggregates' folds read of each line, as columns (no tuple per line)
        texts = list(dict.fromkeys(quantity))
        code = dict(zip(texts, range(len(texts)), strict=True))
        lines = line_pack.LineArrays(
            np.repeat(ids, counts), records, np.fromiter(map(code.__getitem__, quantity), np.int64, hi - lo), texts
        )
        rows: list[Any] = []
        folded: list[Any] = []
        span = lines.span
        for item, tid, a, b in zip(self.pending, ids.tolist(), starts.tolist(), ends.tolist(), strict=True):
            row = item.row
            rows.append(((tid, *row, b - a), (a, b) if b > a else None))
            if row[7] is not None:  # a customer's: into the segments' aggregates (storage/aggregates.py)
                folded.append((row[7], row[0], row[2], row[10], *row[13:16], span(a, b)))
        return rows, lines, folded, (records, line_pack.texts_of(quantity, name), line_pack.safe(name))


#: the packed lines of a flush: their LINE_DTYPE records, their texts (central/storage/line_pack.py's
#: ``texts_of``) and whether no name holds a separator
Packed = tuple[np.ndarray, list[str], bool]


class _FirstLines(Mapping[str, Mapping[str, Any]]):
    """sku -> the name and category of the first line naming it (``first_row``: sku -> that line's index in
    ``name`` and ``category``), as :func:`receipts.product_ids` reads it: the dict of a line made only for the
    skus it asks for (the new products), not for every sku of the batch."""

    def __init__(self, first_row: dict[Any, int], name: Sequence[Any], category: Sequence[Any]) -> None:
        self.skus = [s for s in first_row if isinstance(s, str) and s]
        self.first_row, self.name, self.category = first_row, name, category

    def __getitem__(self, sku: str) -> Mapping[str, Any]:
        if not (isinstance(sku, str) and sku):
            raise KeyError(sku)
        i = self.first_row[sku]
        return {"name": self.name[i], "category": self.category[i]}

    def __iter__(self) -> Iterator[str]:
        return iter(self.skus)

    def __len__(self) -> int:
        return len(self.skus)


def _one_run(pending: list[Pending]) -> tuple[LineColumns, int, int] | None:
    """(table, lo, hi) when the pending transactions' lines are consecutive runs of one LineColumns, in order
    (a receipt import's batch); None when any are dicts."""
    table = None
    lo = at = 0
    for item in pending:
        block = item.lines
        if not block:
            continue
        if type(block) is not LineBlock:
            return None
        if table is None:
            table, lo, at = block.columns, block.start, block.start
        if block.columns is not table or block.start != at:
            return None
        at = block.stop
    return None if table is None else (table, lo, at)


def _first_lines(pending: list[Pending]) -> dict[str, Mapping[str, Any]]:
    """sku -> the first line naming it (a new product takes its name and category from there)."""
    first: dict[str, Mapping[str, Any]] = {}
    for item in pending:
        for line in item.lines:
            sku = line.get("sku")
            if isinstance(sku, str) and sku and sku not in first:
                first[sku] = line
    return first
