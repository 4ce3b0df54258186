"""The segments engine's queries (central/marketing/engine.py): criteria's customer sets, the flip index's
inputs, the daily refresh's bookkeeping, RFM scores.

Functions and one small class taking the transaction's connection, as central/storage/ledger.py does for
the ledger's hot path: the engine keeps the logic (which criterion means what, when a flip comes), this
module holds the SQL; each criterion is still one set-based query.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from .portable import POSTGRESQL, dialect

Keys = set[int]
_ORDINAL_SQL = "CAST(julianday(substr({col}, 1, 10)) - 1721424.5 AS INTEGER)"
_DATED = "c.birthday GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"


def _in(column: str, values: Iterable[Any]) -> tuple[str, list[Any]]:
    values = sorted(values)
    return f"{column} IN ({','.join('?' * len(values))})", values


def _range(expr: str, low: int | None, high: int | None) -> tuple[str, list[Any]]:
    parts, params = [], []
    if low is not None:
        parts.append(f"{expr} >= ?")
        params.append(low)
    if high is not None:
        parts.append(f"{expr} <= ?")
        params.append(high)
    return (" AND ".join(parts) or "1 = 1"), params


def _period(first: int | None, last: int | None, column: str = "+day") -> tuple[str, list[Any]]:
    """A period's bounds as a condition; ``+day`` keeps SQLite on the key-ordered scan (GROUP BY key, no sort)."""
    return _range(column, first, last)


def _days_where(first: int | None, last: int | None, stores: Iterable[int] | None) -> tuple[str, list[Any]]:
    where, params = _period(first, last)
    if stores is not None:
        cond, more = _in("store", stores)
        where, params = f"{where} AND {cond}", params + more
    return where, params


class CriterionSets:
    """The customer keys each criterion selects over all customers (one query each); ``connection`` is the
    caller's (a web request's own one may replace it between uses)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def _keys(self, sql: str, params: Iterable[Any] = ()) -> Keys:
        return {r[0] for r in self.connection.execute(sql, tuple(params))}

    def _customers(self, where: str, params: Iterable[Any] = ()) -> Keys:
        return self._keys(
            "SELECT k.key FROM customer_keys k JOIN customers c ON c.id = k.customer_id"
            f" WHERE c.merged_into IS NULL AND ({where})",
            params,
        )

    def _sum_in_range(
        self, table: str, column: str, where: str, params: list[Any], low: int | None, high: int | None, universe: Keys
    ) -> Keys:
        """Customers whose SUM(column) over the rows is in range; those without rows count as 0."""
        having, hparams = _range(f"SUM({column})", low, high)
        found = self._keys(f"SELECT key FROM {table} WHERE {where} GROUP BY key HAVING {having}", params + hparams)
        if (low is None or low <= 0) and (high is None or high >= 0):
            found |= universe - self._keys(f"SELECT DISTINCT key FROM {table} WHERE {where}", params)
        return found

    def universe(self) -> Keys:
        """Every customer's keys (merged-away customers' excluded)."""
        return self._keys(
            "SELECT k.key FROM customer_keys k JOIN customers c ON c.id = k.customer_id WHERE c.merged_into IS NULL"
        )

    def born(self, on_or_before: str | None, after: str | None) -> Keys:
        """Customers with a dated birthday in (``after``, ``on_or_before``] (ISO dates)."""
        parts, params = [f"c.birthday IS NOT NULL AND {_DATED}"], []
        if on_or_before is not None:
            parts.append("substr(c.birthday, 1, 10) <= ?")
            params.append(on_or_before)
        if after is not None:
            parts.append("substr(c.birthday, 1, 10) > ?")
            params.append(after)
        return self._customers(" AND ".join(parts), params)

    def birthday_months(self, months: Iterable[int]) -> Keys:
        cond, params = _in("CAST(substr(c.birthday, 6, 2) AS INTEGER)", months)
        return self._customers(f"{_DATED} AND {cond}", params)

    def birthday_days(self, month_days: Iterable[str]) -> Keys:
        """Customers born on one of the ``MM-DD`` days."""
        cond, params = _in("substr(c.birthday, 6, 5)", month_days)
        return self._customers(f"{_DATED} AND {cond}", params)

    def gender(self, values: Iterable[str]) -> Keys:
        cond, params = _in("CASE WHEN c.gender IN ('male', 'female') THEN c.gender ELSE 'unknown' END", values)
        return self._customers(cond, params)

    def consent(self, channels: Iterable[str]) -> Keys:
        channels = sorted(channels)
        parts = " OR ".join("json_type(c.consents, ?) = 'true'" for _ in channels)
        return self._customers(f"json_valid(c.consents) AND ({parts})", [f'$."{ch}"' for ch in channels])

    def field_values(self, path: str) -> Iterable[tuple[int, Any, str]]:
        """(key, value, JSON type) of each customer's non-null custom field at ``path``."""
        return self.connection.execute(
            "SELECT k.key, json_extract(c.custom, ?), json_type(c.custom, ?) FROM customer_keys k JOIN customers c"
            " ON c.id = k.customer_id WHERE c.merged_into IS NULL AND json_valid(c.custom)"
            " AND json_extract(c.custom, ?) IS NOT NULL",
            (path, path, path),
        )

    def registered(self, stores: Iterable[int] | None, since: str | None, before: str | None) -> Keys:
        """Customers registered at one of ``stores`` (any if None) at ``since`` <= created_at < ``before``."""
        parts, params = ["1 = 1"], []
        if stores is not None:
            cond, more = _in("c.home_store", stores)
            parts.append(cond)
            params += more
        if since is not None:
            parts.append("c.created_at >= ?")
            params.append(since)
        if before is not None:
            parts.append("c.created_at < ?")
            params.append(before)
        return self._customers(" AND ".join(parts), params)

    def home_store(self, stores: Iterable[int]) -> Keys:
        cond, params = _in("c.home_store", stores)
        return self._customers(cond, params)

    def carded(self) -> Keys:
        return self._customers("EXISTS (SELECT 1 FROM cards WHERE cards.customer_id = c.id)")

    def card(self, categories: Iterable[int] | None, number_from: int | None, number_to: int | None) -> Keys:
        parts, params = ["d.status = 'active'"], []
        if categories is not None:
            cond, more = _in("d.category_id", categories)
            parts.append(cond)
            params += more
        if number_from is not None or number_to is not None:
            parts.append("d.number != '' AND d.number NOT GLOB '*[^0-9]*'")
            cond, more = _range("CAST(d.number AS INTEGER)", number_from, number_to)
            parts.append(cond)
            params += more
        return self._customers(
            f"EXISTS (SELECT 1 FROM cards d WHERE d.customer_id = c.id AND {' AND '.join(parts)})", params
        )

    def level(self, levels: Iterable[Any]) -> Keys:
        cond, params = _in("c.level", levels)
        return self._customers(cond, params)

    def tag_counts(self, tags: Iterable[str]) -> list[tuple[int, int]]:
        """(key, how many of ``tags`` it has) for the keys with any."""
        cond, params = _in("t.tag", tags)
        return self.connection.execute(
            "SELECT k.key, COUNT(DISTINCT t.tag) FROM customer_tags t"
            " JOIN customer_keys k ON k.customer_id = t.customer_id"
            f" WHERE {cond} GROUP BY k.key",
            params,
        ).fetchall()

    def balance(self, low: int | None, high: int | None) -> Keys:
        cond, params = _range("c.balance", low, high)
        return self._customers(cond, params)

    def first_purchase(self, first: int | None, last: int | None) -> Keys:
        having, params = _range("MIN(day)", first, last)
        return self._keys(f"SELECT key FROM agg_days WHERE purchases > 0 GROUP BY key HAVING {having}", params)

    def last_purchase(self, stores: Iterable[int] | None, first: int | None, last: int | None) -> Keys:
        where, params = "purchases > 0", list[Any]()
        if stores is not None:
            cond, params = _in("store", stores)
            where += " AND " + cond
        having, more = _range("MAX(day)", first, last)
        return self._keys(f"SELECT key FROM agg_days WHERE {where} GROUP BY key HAVING {having}", params + more)

    def day_sum(
        self,
        column: str,
        period: tuple[int | None, int | None],
        stores: Iterable[int] | None,
        low: int | None,
        high: int | None,
        universe: Keys,
    ) -> Keys:
        """Customers whose sum of ``column`` (purchases, spend) of agg_days in the period is in range."""
        where, params = _days_where(*period, stores)
        return self._sum_in_range("agg_days", column, where, params, low, high, universe)

    def ratio(self, column: str, period: tuple[int | None, int | None], low: int | None, high: int | None) -> Keys:
        """Customers with purchases in the period whose SUM(column) / SUM(purchases) is in range."""
        where, params = _period(*period)
        having, hparams = ["SUM(purchases) > 0"], []
        if low is not None:
            having.append(f"? * SUM(purchases) <= SUM({column})")
            hparams.append(low)
        if high is not None:
            having.append(f"SUM({column}) <= ? * SUM(purchases)")
            hparams.append(high)
        return self._keys(
            f"SELECT key FROM agg_days WHERE {where} GROUP BY key HAVING {' AND '.join(having)}", params + hparams
        )

    @staticmethod
    def _enough(minimum: int | None) -> tuple[str, list[Any]]:
        return ("SUM(quantity) >= ?", [minimum]) if minimum else ("SUM(quantity) > 0", [])

    def bought_category(
        self,
        kind: int,
        categories: Iterable[int],
        period: tuple[int | None, int | None],
        stores: Iterable[int] | None,
        min_quantity: int | None,
    ) -> Keys:
        where, params = _days_where(*period, stores)
        cond, more = _in("item", categories)
        having, hparams = self._enough(min_quantity)
        return self._keys(
            f"SELECT key FROM agg_items WHERE kind = {kind} AND {cond} AND {where} GROUP BY key HAVING {having}",
            more + params + hparams,
        )

    def bought_product_counts(
        self, kind: int, products: Iterable[int], period: tuple[int | None, int | None], min_quantity: int | None
    ) -> list[tuple[int, int]]:
        """(key, how many of ``products`` it bought enough of in the period)."""
        where, params = _period(*period)
        cond, more = _in("item", products)
        having, hparams = self._enough(min_quantity)
        return self.connection.execute(
            f"SELECT key, COUNT(*) FROM (SELECT key, item FROM agg_items WHERE kind = {kind} AND {cond} AND {where}"
            f" GROUP BY key, item HAVING {having}) GROUP BY key",
            more + params + hparams,
        ).fetchall()

    def product_names(self) -> Iterable[tuple[int, str]]:
        return product_names(self.connection)

    def bought_any(self, kind: int, products: Iterable[int], period: tuple[int | None, int | None]) -> Keys:
        """Customers who bought any of ``products`` in the period."""
        where, params = _period(*period)
        cond, more = _in("item", products)
        return self._keys(
            f"SELECT key FROM (SELECT key, item FROM agg_items WHERE kind = {kind} AND {cond}"
            f" AND {where}"
            " GROUP BY key, item HAVING SUM(quantity) > 0)",
            more + params,
        )

    def points(
        self,
        column: str,
        period: tuple[int | None, int | None],
        types: Iterable[str] | None,
        low: int | None,
        high: int | None,
        universe: Keys,
    ) -> Keys:
        """Customers whose points ``column`` (accrued, redeemed) summed over the period is in range."""
        where, params = _period(*period)
        if types is not None:
            cond, more = _in("type", types)
            where, params = f"{where} AND {cond}", params + more
        return self._sum_in_range("agg_points", column, where, params, low, high, universe)

    def rfm(self, filters: Iterable[tuple[str, Iterable[Any]]]) -> Keys:
        """Scored customers whose columns (class, r, f, m) are among the values."""
        parts, params = ["1 = 1"], []
        for column, values in filters:
            cond, more = _in(column, values)
            parts.append(cond)
            params += more
        return self._keys(f"SELECT key FROM customer_rfm WHERE {' AND '.join(parts)}", params)

    # -- the criteria over other rooms' tables (docs/segments.md, "Where the criteria's facts come from") --------

    def _by_customer_id(self, sql: str, params: Iterable[Any]) -> Keys:
        """Keys of the customer ids ``sql`` selects (its one column, named ``customer_id``)."""
        return self._keys(
            f"SELECT DISTINCT k.key FROM ({sql}) x JOIN customer_keys k ON k.customer_id = x.customer_id", params
        )

    def rewarded(self, promotions: Iterable[str]) -> Keys:
        """Customers who received a reward of one of the promotions (a ``promotion_results`` row)."""
        cond, params = _in("promotion_id", promotions)
        return self._by_customer_id(f"SELECT customer_id FROM promotion_results WHERE {cond}", params)

    def codes(self, lists: Iterable[str], state: str) -> Keys:
        """Customers issued a code of one of the lists (``received``) or with an accepted use of one (``activated``)."""
        cond, params = _in("list_id", lists)
        if state == "received":
            return self._by_customer_id(f"SELECT customer_id FROM promo_codes WHERE {cond}", params)
        return self._by_customer_id(f"SELECT customer_id FROM promo_code_uses WHERE {cond} AND accepted = 1", params)

    def trigger_runs(self, trigger: int, step: int | None, state: str) -> Keys:
        """``in``: customers on a step of the trigger (that one if given: a run working on step k, 0-based, or done
        with k steps, is on step k, 1-based; one that left is on none); ``passed``: who ever passed the step
        (``furthest``, migration 41); ``entered``: who ever passed it, or any step (the complement is "never")."""
        if state == "in":
            where, params = "phase <> 'out' AND step >= 1", [trigger]
            if step is not None:
                where, params = where + " AND step = ?", params + [step]
        else:
            where, params = "furthest >= ?", [trigger, 1 if step is None else step]
        return self._keys(f"SELECT customer_key FROM trigger_runs WHERE trigger_id = ? AND {where}", params)

    def messages(self, mailings: Iterable[int], outcome: str) -> Keys:
        """Customers with a message of one of the mailings that had the outcome (aggregates.message_outcomes)."""
        cond, params = _in("mailing_id", mailings)
        return self._by_customer_id(
            f"SELECT customer_id FROM message_outbox WHERE {cond} AND ({MESSAGE_OUTCOMES[outcome]})", params
        )


#: a mailing's message outcomes over ``message_outbox`` (the per-customer side: aggregates.message_outcomes)
MESSAGE_OUTCOMES = {
    "delivered": "state = 'delivered' OR opened_at IS NOT NULL",
    "opened": "opened_at IS NOT NULL",
    "clicked": "clicked_at IS NOT NULL",
    "failed": "state = 'failed'",
}


def database_path(conn: sqlite3.Connection) -> str:
    """What names this database for the process's caches: the main database's file on SQLite ('' for an
    in-memory one); on PostgreSQL its URL and the database's oid (a database dropped and created again under
    the same name is another one)."""
    if dialect(conn) == POSTGRESQL:
        oid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]
        return f"{getattr(conn, 'url', '')}#{oid}"
    return next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "")


def product_names(conn: sqlite3.Connection) -> Iterable[tuple[int, str]]:
    return conn.execute("SELECT id, name FROM catalog_products WHERE name IS NOT NULL")


# -- flips -------------------------------------------------------------------------------------------------


def dynamic_definitions(conn: sqlite3.Connection) -> list[Any]:
    """(id, definition) of the dynamic segments, by id."""
    return conn.execute("SELECT id, definition FROM segments WHERE kind = 'dynamic' ORDER BY id").fetchall()


def top_key(conn: sqlite3.Connection) -> int:
    """The highest customer key (about how many customers there are: keys are given in turn)."""
    return int(conn.execute("SELECT COALESCE(MAX(key), 0) FROM customer_keys").fetchone()[0])


def any_dynamic(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM segments WHERE kind = 'dynamic' LIMIT 1").fetchone() is not None


def birthday_month_days(conn: sqlite3.Connection) -> Iterable[tuple[int, str]]:
    """(key, ``MM-DD``) of every customer with a dated birthday."""
    return conn.execute(
        "SELECT k.key, substr(c.birthday, 6, 5) FROM customer_keys k"
        " JOIN customers c ON c.id = k.customer_id"
        f" WHERE {_DATED}"
    )


def registration_days(conn: sqlite3.Connection) -> list[Any]:
    """(key, date ordinal of created_at's UTC date) of every customer key."""
    col = _ORDINAL_SQL.format(col="c.created_at")
    return conn.execute(f"SELECT k.key, {col} FROM customer_keys k JOIN customers c ON c.id = k.customer_id").fetchall()


def purchase_days(conn: sqlite3.Connection, last: bool, stores: Collection[int] | None = None) -> list[Any]:
    """(key, first or ``last`` purchase day), the last one at ``stores`` if given."""
    where, params = "purchases > 0", []
    if last and stores is not None:
        where += f" AND store IN ({','.join('?' * len(stores))})"
        params = sorted(stores)
    agg = "MAX" if last else "MIN"
    return conn.execute(f"SELECT key, {agg}(day) FROM agg_days WHERE {where} GROUP BY key", params).fetchall()


def window_leavings(conn: sqlite3.Connection, table: str, today: int, n: int) -> Iterable[tuple[int, int]]:
    """(key, the first day a row of the last ``n`` days of ``table`` leaves an n-day window)."""
    return conn.execute(
        f"SELECT key, MIN(CASE WHEN day > ? THEN day ELSE day + ? END) FROM {table} WHERE day > ? GROUP BY key",
        (today, n, today - n),
    )


def window_leavings_many(
    conn: sqlite3.Connection, table: str, today: int, lengths: Sequence[int]
) -> Iterable[tuple[int, int]]:
    """:func:`window_leavings` of several window lengths in one scan: per key, the least day on which a row of
    one of the windows leaves it (a row of day d leaves the shortest window holding it first, at d + n)."""
    lengths = sorted(set(lengths))
    cases = " ".join(f"WHEN day > {today - n} THEN day + {n}" for n in lengths)
    return conn.execute(
        f"SELECT key, MIN(CASE WHEN day > ? THEN day {cases} END) FROM {table} WHERE day > ? GROUP BY key",
        (today, today - lengths[-1]),
    )


# -- the daily refresh -------------------------------------------------------------------------------------


def refreshed_day(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT value FROM settings WHERE name = 'segments_refreshed_day'").fetchone()
    return int(row[0]) if row else None


def set_refreshed_day(conn: sqlite3.Connection, today: int) -> None:
    conn.execute(
        "INSERT INTO settings (name, value) VALUES ('segments_refreshed_day', ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (str(today),),
    )


# -- RFM -------------------------------------------------------------------------------------------------


def rfm_inputs(conn: sqlite3.Connection, today: int, window: int) -> list[tuple[int, int, int, int]]:
    """(key, last purchase day, purchases, spend) of each customer with a purchase in the ``window`` days."""
    return conn.execute(
        "SELECT key, MAX(CASE WHEN purchases > 0 THEN day END), SUM(purchases), SUM(spend) FROM agg_days"
        " WHERE day > ? AND day <= ? GROUP BY key HAVING SUM(purchases) > 0",
        (today - window, today),
    ).fetchall()


def clear_rfm(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM customer_rfm")


def insert_rfm(conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """Rows of (key, r, f, m, class, days_since, purchases, spend)."""
    conn.executemany(
        "INSERT INTO customer_rfm (key, r, f, m, class, days_since, purchases, spend) VALUES (?,?,?,?,?,?,?,?)", rows
    )


def rfm_cells(conn: sqlite3.Connection, keys: set[int] | None = None) -> list[Any]:
    """(r, f, class, count, spend) per cell; with ``keys``, of those customers only."""
    if keys is None:
        return conn.execute(
            "SELECT r, f, class, COUNT(*), SUM(spend) FROM customer_rfm GROUP BY r, f, class"
        ).fetchall()
    cells: dict[tuple[int, int, str], list[int]] = {}
    for key, r, f, klass, spend in conn.execute("SELECT key, r, f, class, spend FROM customer_rfm"):
        if key in keys:
            cell = cells.setdefault((r, f, klass), [0, 0])
            cell[0] += 1
            cell[1] += spend
    return [(r, f, klass, n, spend) for (r, f, klass), (n, spend) in sorted(cells.items())]
