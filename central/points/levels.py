"""Loyalty levels: the chain-wide program and a customer's level from their spend.

The program (table ``levels``: name, from_spend, percent; settings
``level_window_days``, ``level_auto``, ``level_demotion``) is edited in the
console and published into every store's rule set (accrual.md's ``levels``).
Spend is purchases minus refunds (paid amounts, minor units) over the level
window: all time when the window is 0 (the customer's ``spend``), else the
last N days of the ``transactions`` table. With automatic promotion on, a
customer moves up as soon as their spend reaches a higher level's
``from_spend``; they move down only when demotion is on (accrual.md:
"demotion happens only if the program says so").

:func:`recompute` runs inside the ingest's transaction after every synced
purchase or refund (central/points/ledger.py) and in the nightly job (a rolling
window lets spend fall as old receipts leave it).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..storage import customer_levels as queries

_CHUNK = 500


@dataclass(frozen=True)
class Program:
    levels: tuple[tuple[str, int, str], ...]  # (name, from_spend, percent), by from_spend
    window_days: int = 0
    auto: bool = True
    demotion: bool = False

    def level_for(self, spend: int) -> str | None:
        chosen = None
        for name, start, _ in self.levels:
            if spend >= start:
                chosen = name
        return chosen

    def rank(self, name: str | None) -> int:
        for i, (level, _, _) in enumerate(self.levels):
            if level == name:
                return i
        return -1


def program(conn: sqlite3.Connection) -> Program:
    settings = queries.level_settings(conn)
    levels = queries.level_rows(conn)
    return Program(
        levels,
        int(settings.get("level_window_days", "0")),
        settings.get("level_auto", "1") == "1",
        settings.get("level_demotion", "0") == "1",
    )


def adopt(conn: sqlite3.Connection, levels: Sequence[tuple[str, int, str]]) -> bool:
    """Make ``levels`` the chain's program if it has none yet (a first rule set published from a file).

    :returns: whether they were adopted.
    """
    if queries.has_levels(conn):
        return False
    queries.add_levels(conn, levels)
    return True


def window_spend(conn: sqlite3.Connection, ids: Sequence[str], days: int, now: str) -> dict[str, int]:
    """Spend per customer: all time (``customers.spend``) or over the last ``days`` days."""
    spend: dict[str, int] = dict.fromkeys(ids, 0)
    cutoff = int(dt.datetime.fromisoformat(now).timestamp()) - days * 86400
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = queries.all_time_spend(conn, chunk) if days <= 0 else queries.spend_since(conn, chunk, cutoff)
        spend.update((cid, int(total or 0)) for cid, total in rows)
    return spend


def recompute(
    conn: sqlite3.Connection,
    ids: Sequence[str],
    now: str,
    known: Mapping[str, tuple[int, str | None]] | None = None,
    peaks: Mapping[str, int] | None = None,
) -> list[tuple[str, str | None, str | None]]:
    """Move customers to the level their spend earns; returns (id, old, new) of each change.

    The caller gives the changed customers a new version (the ingest's flush
    already does for every customer it touched). ``known``: each customer's all-time spend and level as the
    caller holds them (a pipelined receipt import, whose batch before may not be written yet); a program with a
    window reads the transactions, which such an import refuses (central/services/receipt_import.py).
    ``peaks``: the highest all-time spend each customer's purchases reached since the last recompute (the caller's
    unit of work): without demotion, a level reached then is kept though a refund after it lowered the spend, as
    if the levels had been recomputed after each purchase (all-time programs; a window's spend is read as it is).
    """
    prog = program(conn)
    if not prog.levels or not prog.auto or not ids:
        return []
    current: dict[str, str | None] = {}
    if known is not None:
        if prog.window_days > 0:
            raise RuntimeError("a level window reads the transactions: not in a pipelined import")
        spend = {cid: known[cid][0] for cid in ids}
        current = {cid: known[cid][1] for cid in ids}
    else:
        spend = window_spend(conn, ids, prog.window_days, now)
        for start in range(0, len(ids), _CHUNK):
            current.update(queries.current_levels(conn, ids[start : start + _CHUNK]))
    changes = []
    for cid in ids:
        if cid not in current:
            continue
        reached = spend.get(cid, 0)
        if peaks and not prog.demotion and prog.window_days <= 0:
            reached = max(reached, peaks.get(cid, 0))
        old, new = current[cid], prog.level_for(reached)
        if new == old:
            continue
        # an unknown current level (renamed, imported) is replaced; a lower one only with demotion on
        if prog.rank(old) >= 0 and prog.rank(new) < prog.rank(old) and not prog.demotion:
            continue
        changes.append((cid, old, new))
    queries.set_levels(conn, [(new, cid) for cid, _, new in changes])
    return changes
