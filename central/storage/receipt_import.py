"""The receipt import's look-ups and connection settings (central/services/receipt_import.py).

The look-ups ask in chunks of :data:`CHUNK` values (SQLite's bound parameters) and yield the rows as the cursor
gives them; the import's writes all go through the ingest's transaction (``commit_ingest``, or on SQLite its body
written by the import's writer process: central/storage/import_pipeline.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from . import line_pack, triggers
from .connection import LINE_INDEXES, Database
from .import_pipeline import ImportState

#: values one look-up asks for at once
CHUNK = 500
#: how a receipt's customer is named in a file -> the query giving (that value, customer id)
_CUSTOMER_BY = {
    "customer_id": "SELECT id, id FROM customers WHERE id IN ({})",
    "card": "SELECT number, customer_id FROM cards WHERE number IN ({})",
    "phone": "SELECT phone, id FROM customers WHERE phone IN ({}) ORDER BY created_at DESC",
}
#: the pragmas the import sets on its connection (and puts back afterwards); ``threads``: the sorter of the
#: indexes built at the end may use a helper thread (half the wall time on two cores)
_IMPORT_PRAGMAS = (("cache_size", "-262144"), ("temp_store", "MEMORY"), ("synchronous", "NORMAL"), ("threads", "2"))


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


class ReceiptImportQueries(Database):
    """What the receipt import reads besides the ingest's register, and its connection's settings."""

    def purchases_by_receipt(
        self, receipt_ids: Sequence[str]
    ) -> Iterator[tuple[int, str, str, str | None, int, int, int]]:
        """The purchases with one of these receipt ids (in any store): (id, store, receipt_id, customer_id,
        amount, accrued, redeemed)."""
        for chunk in _chunks(receipt_ids):
            marks = ",".join("?" * len(chunk))
            yield from self.conn.execute(
                f"SELECT id, store, receipt_id, customer_id, amount, accrued, redeemed FROM transactions"
                f" WHERE kind = 'purchase' AND receipt_id IN ({marks})",
                chunk,
            )

    def transaction_lines_of(self, transaction_ids: Sequence[int]) -> Iterator[tuple[int, str, int, int, int]]:
        """The lines of these transactions, in the order of the ids given and each's lines in order:
        (transaction_id, quantity, amount, accrued, redeemed); pass the ids sorted."""
        for line in line_pack.lines_of(self.conn, transaction_ids):
            yield line[0], line[5], line[8], line[9], line[10]

    def reversed_receipts(self, receipt_ids: Sequence[str]) -> Iterator[tuple[str, str]]:
        """(store, receipt_id) of the refunds and cancels of these receipt ids (in any store)."""
        for chunk in _chunks(receipt_ids):
            marks = ",".join("?" * len(chunk))
            yield from self.conn.execute(
                f"SELECT store, receipt_id FROM transactions WHERE kind IN ('refund', 'cancel')"
                f" AND receipt_id IN ({marks})",
                chunk,
            )

    def customers_by(self, kind: str, values: Sequence[str]) -> Iterator[tuple[str, str]]:
        """(value, customer id) of the customers these values name; ``kind``: ``customer_id``, ``card`` or
        ``phone`` (the newest customer of a phone comes last)."""
        query = _CUSTOMER_BY[kind]
        for chunk in _chunks(values):
            yield from self.conn.execute(query.format(",".join("?" * len(chunk))), chunk)

    def customer_levels(self, customer_ids: Sequence[str]) -> dict[str, str | None]:
        """customer id -> level name (None: no level) of these customers (those that exist)."""
        out: dict[str, str | None] = {}
        for chunk in _chunks(customer_ids):
            out.update(
                self.conn.execute(
                    f"SELECT id, level FROM customers WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
            )
        return out

    def last_applied_seq(self, store: str, agent: str) -> int:
        """The highest sequence number of this agent's events in the idempotency register (0: none)."""
        row = self.conn.execute(
            "SELECT MAX(seq) FROM applied_events WHERE store = ? AND agent = ?", (store, agent)
        ).fetchone()
        return row[0] or 0

    def last_applied_seqs(self, agent: str) -> dict[str, int]:
        """store -> the highest sequence number of this agent's events in the register, in one scan."""
        return dict(
            self.conn.execute("SELECT store, MAX(seq) FROM applied_events WHERE agent = ? GROUP BY store", (agent,))
        )

    def has_dynamic_segments(self) -> bool:
        """Whether a dynamic segment exists (the ingest's transaction then reads the aggregates' indexes)."""
        return self.conn.execute("SELECT 1 FROM segments WHERE kind = 'dynamic' LIMIT 1").fetchone() is not None

    def overlap_refused(self) -> str | None:
        """Why this database's import cannot write on a second core (central/storage/import_pipeline.py), or None:
        PostgreSQL (its ingest transaction stays as it is), a database in memory (no second connection), a
        dynamic segment or a running trigger (each batch reads what the batch before wrote), a level window (levels
        then read the transactions)."""
        if getattr(self, "postgresql", False):
            return "postgresql"
        if self.path == ":memory:":
            return "memory"
        if self.has_dynamic_segments():
            return "dynamic segments"
        if triggers.any_running(self.conn):
            return "running triggers"
        window = self.conn.execute("SELECT value FROM settings WHERE name = 'level_window_days'").fetchone()
        if window is not None and int(window[0] or 0) > 0:
            return "level window"
        return None

    def import_state(self) -> ImportState:
        """The ids and the customers' version counter as they are now (a pipelined import's start)."""
        return ImportState.read(self.conn)

    # -- the import connection -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def import_pragmas(self) -> Iterator[None]:
        """A bigger page cache, temporary tables in memory and ``synchronous = NORMAL`` on this connection while
        the block runs; the settings it had are put back afterwards (docs/import-receipts.md, "Speed")."""
        conn = self.conn
        if getattr(self, "postgresql", False):
            # PostgreSQL: the import's transactions skip waiting for the WAL flush (a crash loses at most the last
            # few, which the resumable import redoes); put back afterwards
            conn.execute("SET synchronous_commit = off")
            try:
                yield
            finally:
                conn.execute("RESET synchronous_commit")
            return
        before = {name: conn.execute(f"PRAGMA {name}").fetchone()[0] for name, _value in _IMPORT_PRAGMAS}
        for name, value in _IMPORT_PRAGMAS:
            conn.execute(f"PRAGMA {name} = {value}")
        try:
            yield
        finally:
            for name, value in before.items():
                conn.execute(f"PRAGMA {name} = {int(value)}")

    def drop_line_indexes(self, *, aggregates: bool = True) -> None:
        """Drop the deferred secondary indexes (``LINE_INDEXES``: the segments' aggregates', unless ``aggregates`` is
        False); a big import builds them once at its end (:meth:`mend_line_indexes`)."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        for name, table, _columns in LINE_INDEXES:
            if aggregates or not table.startswith("agg_"):
                conn.execute(f"DROP INDEX IF EXISTS {name}")
        conn.execute("COMMIT")
