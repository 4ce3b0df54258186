"""The reports' reads: the rollups of central/storage/rollups.py and the columns of the distinct-customer figures.

Each method is one query; central/services/analytics.py calls them and central/reports/ computes the figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import line_pack
from .connection import Database
from .rollups import TABLES


def _stores_clause(stores: Sequence[str] | None, column: str = "store") -> tuple[str, list[Any]]:
    if stores is None:
        return "", []
    if not stores:
        return " AND 0 = 1", []
    return f" AND {column} IN ({','.join('?' * len(stores))})", list(stores)


class ReportRollups(Database):
    """Reads of the report rollups and the columns of the distinct-customer figures."""

    def rollup_sales(self, first: int, last: int, stores: Sequence[str] | None) -> list[tuple[Any, ...]]:
        """Per (day, identified): receipts, refunds, sales, lines, accrued, redeemed in [first, last]."""
        if stores is None:
            return self.conn.execute(
                "SELECT day, identified, receipts, refunds, sales, lines, accrued, redeemed FROM report_chain_sales"
                " WHERE day BETWEEN ? AND ? ORDER BY day, identified",
                (first, last),
            ).fetchall()
        where, args = _stores_clause(stores)
        return self.conn.execute(
            "SELECT day, identified, SUM(receipts), SUM(refunds), SUM(sales), SUM(lines), SUM(accrued),"
            f" SUM(redeemed) FROM report_sales WHERE day BETWEEN ? AND ?{where} GROUP BY day, identified"
            " ORDER BY day, identified",
            [first, last, *args],
        ).fetchall()

    def rollup_points(self, first: int, last: int, stores: Sequence[str] | None) -> list[tuple[Any, ...]]:
        """Per (day, kind): points accrued and redeemed in [first, last]."""
        if stores is None:
            return self.conn.execute(
                "SELECT day, kind, accrued, redeemed FROM report_chain_points WHERE day BETWEEN ? AND ?"
                " ORDER BY day, kind",
                (first, last),
            ).fetchall()
        where, args = _stores_clause(stores)
        return self.conn.execute(
            "SELECT day, kind, SUM(accrued), SUM(redeemed) FROM report_points WHERE day BETWEEN ? AND ?"
            f"{where} GROUP BY day, kind ORDER BY day, kind",
            [first, last, *args],
        ).fetchall()

    def rollup_balance_before(self, day: int, stores: Sequence[str] | None) -> int:
        """Points outstanding before a day: accrued minus redeemed of every earlier day."""
        table = "report_chain_points" if stores is None else "report_points"
        where, args = _stores_clause(stores)
        row = self.conn.execute(
            f"SELECT SUM(accrued) - SUM(redeemed) FROM {table} WHERE day < ?{where}", [day, *args]
        ).fetchone()
        return int(row[0] or 0)

    def rollup_group(
        self,
        table: str,
        keys: Sequence[str],
        sums: Sequence[str],
        first: int,
        last: int,
        stores: Sequence[str] | None,
        buckets: Sequence[tuple[int, int]] | None = None,
    ) -> list[tuple[Any, ...]]:
        """``keys`` and ``SUM(sums)`` of a rollup table (names checked against :data:`TABLES`) in [first, last].

        With ``buckets`` (contiguous (first day, last day) ranges: weeks, months) the key ``day`` is the first day
        of its bucket, so the database adds the days up."""
        columns = TABLES[table]
        if any(k not in columns[0] for k in keys) or any(s not in columns[1] for s in sums):
            raise ValueError(f"not a column of {table}: {keys}, {sums}")
        where, args = _stores_clause(stores, "t.store")
        names = [f"t.{k}" if k != "day" or not buckets else "b.first" for k in keys]
        group = f" GROUP BY {', '.join(names)}" if keys else ""
        select = ", ".join([*names, *(f"SUM(t.{s})" for s in sums)])
        if not buckets:
            return self.conn.execute(
                f"SELECT {select} FROM {table} t WHERE t.day BETWEEN ? AND ?{where}{group}", [first, last, *args]
            ).fetchall()
        values = ", ".join("(?, ?)" for _ in buckets)
        return self.conn.execute(
            f"WITH b(first, last) AS (VALUES {values}) SELECT {select} FROM {table} t"
            f" JOIN b ON t.day BETWEEN b.first AND b.last WHERE t.day BETWEEN ? AND ?{where}{group}",
            [*(d for pair in buckets for d in pair), first, last, *args],
        ).fetchall()

    def report_store_names(self) -> list[tuple[str, str, str]]:
        """Every store's (id, name, time zone)."""
        return self.conn.execute("SELECT id, name, timezone FROM stores ORDER BY id").fetchall()

    def category_names(self) -> dict[int, str]:
        return dict(self.conn.execute("SELECT id, name FROM catalog_categories"))

    # -- the columns of the distinct-customer figures (central/reports/columns.py) ---------------------------------

    def column_marks(self) -> tuple[int, int]:
        """(last transaction id, merges): the columns are appended while only the first grows."""
        last = self.conn.execute("SELECT MAX(id) FROM transactions").fetchone()[0] or 0
        merges = self.conn.execute("SELECT COUNT(*) FROM merges").fetchone()[0]
        return last, merges

    def column_rows(self, after: int, upto: int) -> list[tuple[Any, ...]]:
        """Purchases, refunds and cancels with ids in (after, upto], anonymous ones too: (customer key or None,
        store, at_epoch, purchase?, amount, local hour, level, id, points accrued, points redeemed), in id order."""
        return self.conn.execute(
            "SELECT k.key, t.store, t.at_epoch, t.kind = 'purchase', t.amount, t.hour, t.level, t.id,"
            " COALESCE(t.accrued, 0), COALESCE(t.redeemed, 0)"
            " FROM transactions t LEFT JOIN customer_keys k ON k.customer_id = t.customer_id"
            " WHERE t.id > ? AND t.id <= ? AND t.kind IN ('purchase', 'refund', 'cancel') ORDER BY t.id",
            (after, upto),
        ).fetchall()

    def column_lines(self, after: int, upto: int) -> list[tuple[int, int, int, int, int]]:
        """The lines of the transactions with ids in (after, upto]: (transaction id, category or 0, amount, points
        accrued, points redeemed). Not summed per category here: numpy does it faster than the database's GROUP BY
        (a temporary B-tree)."""
        tids, lines = line_pack.numbers_between(self.conn, after, upto)
        return list(
            zip(
                tids.tolist(),
                (lines["category"].astype(np.int64) + 1).tolist(),
                lines["amount"].tolist(),
                lines["accrued"].tolist(),
                lines["redeemed"].tolist(),
                strict=True,
            )
        )

    def column_entries(self, after: int, upto: int) -> list[tuple[Any, ...]]:
        """The points operations that are not receipts (expiry, points by hand, imports...) with ids in (after, upto]
        and points moved: (customer key or None, store, at_epoch, kind, level, id, accrued, redeemed), in id order."""
        return self.conn.execute(
            "SELECT k.key, t.store, t.at_epoch, t.kind, t.level, t.id, COALESCE(t.accrued, 0),"
            " COALESCE(t.redeemed, 0) FROM transactions t LEFT JOIN customer_keys k ON k.customer_id = t.customer_id"
            " WHERE t.id > ? AND t.id <= ? AND t.kind NOT IN ('purchase', 'refund', 'cancel')"
            " AND (COALESCE(t.accrued, 0) <> 0 OR COALESCE(t.redeemed, 0) <> 0) ORDER BY t.id",
            (after, upto),
        ).fetchall()

    def customer_attributes(self) -> list[tuple[Any, ...]]:
        """Every customer key with (gender, birthday, created_at, level, home store) for the pivot's dimensions."""
        return self.conn.execute(
            "SELECT k.key, c.gender, c.birthday, c.created_at, c.level, c.home_store FROM customer_keys k"
            " JOIN customers c ON c.id = k.customer_id"
        ).fetchall()

    def customer_rfm_classes(self) -> list[tuple[int, str]]:
        return self.conn.execute("SELECT key, class FROM customer_rfm").fetchall()

    def segment_member_keys(self, segment: int) -> list[int]:
        return [r[0] for r in self.conn.execute("SELECT key FROM segment_members WHERE segment_id = ?", (segment,))]

    def report_segments(self) -> list[tuple[int, str]]:
        return self.conn.execute("SELECT id, name FROM segments ORDER BY name").fetchall()

    def report_today(self, now: Any = None) -> int:
        """Today's local date (ordinal) in the chain's time zone."""
        from .aggregates import today

        return today(self.conn, now)

    def report_day_of(self) -> Any:
        """A function (store, epoch seconds) -> local day ordinal in the store's zone (the chain's for none)."""
        from .aggregates import store_zones
        from .rollups import DayOf

        return DayOf(store_zones(self.conn))
