"""CPU and wall time per phase of one receipt import (bench/import.py ``--phases``), without cProfile's overhead.

Wraps the import's steps and the ingest's writes in timers (their own names, nested ones included in their
callers: "ledger flush" holds the receipt log's rows, the inserts, the rollups and the aggregates), so the figures
show where the time goes: parsing and checking, the kernel, the events, the ledger, each table's inserts, the
report rollups, the segments' aggregates, the segments' and triggers' bumps, the commits, the indexes built at
the end.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import time
from collections.abc import Iterator
from typing import Any

cpu: collections.Counter[str] = collections.Counter()
#: the phases in the order of the import (a nested one is indented)
ORDER: list[str] = []
wall: collections.Counter[str] = collections.Counter()


def _timed(owner: Any, name: str, label: str) -> None:
    inner = getattr(owner, name)

    @functools.wraps(inner)
    def timed(*args: Any, **kwargs: Any) -> Any:
        spent, clock = time.process_time(), time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            cpu[label] += time.process_time() - spent
            wall[label] += time.perf_counter() - clock

    setattr(owner, name, timed)


def install() -> None:
    """Put the timers in place (in this process, before the import runs)."""
    from central.marketing import engine
    from central.points import ledger, receipt_log
    from central.services import receipt_import as ri
    from central.storage import aggregates, connection, ingest, rollups

    steps = [
        (ri, "check", "check: read and parse the file, receipts and lines made"),
        (ri.Importer, "_fresh", "the register looked up (already imported?)"),
        (ri.Importer, "_resolve_customers", "customers looked up"),
        (ri.Importer, "_levels", "levels read"),
        (ri.Importer, "_compute", "compute: the kernel's columns and quote_batch"),
        (ri.Importer, "_events", "events made (columns of lines, envelopes)"),
        (ledger.LedgerBatch, "prefetch", "ledger: customers prefetched"),
        (ledger.LedgerBatch, "apply", "ledger: events applied in memory"),
        (ledger.LedgerBatch, "flush", "ledger flush (all below it)"),
        (receipt_log.ReceiptLog, "_by_columns", "  receipt log: rows made by columns, catalog ids"),
        (receipt_log.receipts, "insert_transactions", "  INSERT transactions (4 indexes)"),
        (receipt_log.receipts, "insert_transaction_columns", "  INSERT transactions by columns (4 indexes)"),
        (rollups, "fold", "  report rollups: fold (Python)"),
        (rollups, "write", "  report rollups: upserts (SQLite)"),
        (aggregates, "record", "  segments' aggregates (all)"),
        (aggregates, "_fold_items", "    aggregates: items folded (numpy)"),
        (ledger.LedgerBatch, "_recompute_levels", "  levels recomputed"),
        (engine, "after_ingest", "segments bumped (after_ingest)"),
        (ingest, "trigger_events", "triggers' events outbox"),
        (ingest.promotions, "apply_purchases", "promotions"),
        (connection, "restore_line_indexes", "the deferred indexes built"),
    ]
    for owner, name, label in steps:
        _timed(owner, name, label)
        ORDER.append(label)
    ORDER.append("COMMIT (the WAL written)")
    original = connection.Database.transaction

    @contextlib.contextmanager
    def transaction(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        if self.postgresql:
            with original(self, *args, **kwargs) as conn:
                yield conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        spent, clock = time.process_time(), time.perf_counter()
        self.conn.execute("COMMIT")
        cpu["COMMIT (the WAL written)"] += time.process_time() - spent
        wall["COMMIT (the WAL written)"] += time.perf_counter() - clock

    connection.Database.transaction = transaction  # type: ignore[method-assign]


def report(total_cpu: float) -> list[str]:
    """The phases in the import's order: CPU seconds, wall seconds (a nested one is included in the one above)."""
    out = [f"  where the time goes (CPU s, wall s; indented: part of the line above; of {total_cpu:.1f} s of CPU):"]
    for label in ORDER:
        if cpu[label] >= 0.005:
            out.append(f"    {cpu[label]:6.2f} {wall[label]:8.2f}  {label}")
    return out
