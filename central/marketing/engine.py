"""The segments' engine: the set-based evaluator, live membership, the date-change refresh, RFM.

* :func:`member_keys` evaluates a definition for every customer at once: each
  criterion is one SQL query over the aggregates (central/storage/aggregates.py),
  the customers row, cards and tags, giving a set of customer keys; audiences
  are unions, the segment their intersection minus the excluded audience. A
  nested segment is read as its stored member set, never inlined. Identical
  criteria of one evaluation are computed once.
* :func:`on_event` re-evaluates the customers an ingest round touched against the
  dynamic segments whose criteria can change with what happened
  (``evaluate.event_kinds``), with the per-customer evaluator, inside the ingest's
  transaction; entering and leaving are written with their time and cause.
* :func:`refresh_date` visits, when the local date changes, only the customers whose
  next flip day (``segment_flips``) has come.
* :func:`compute_rfm` scores every customer with a purchase in the window.

Both evaluators read the same facts, and tests/marketing/test_segment_property.py
checks they agree on random definitions and customers.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ..storage import aggregates
from ..storage import segments as store
from ..storage.clock import now_utc
from .segments.compiled import Round
from .segments.definition import Criterion, Definition, Period, parse_definition, time_relative
from .segments.evaluate import (
    CATEGORY,
    PRODUCT,
    Context,
    Facts,
    _birthday_window,
    age_on,
    criterion_flip,
    definition_events,
    evaluate,
    next_flip,
)
from .segments.rfm import CLASS_NAMES, DEFAULT_WINDOW, class_codes, rfm_scores

Keys = set[int]
_ORDINAL_SQL = "CAST(julianday(substr({col}, 1, 10)) - 1721424.5 AS INTEGER)"


class SetEvaluator:
    """Evaluates definitions over all customers for one ``today`` (criteria shared within it)."""

    def __init__(self, conn: sqlite3.Connection, today: int, member_sets: Callable[[int], Keys] | None = None) -> None:
        self.conn = conn
        self.today = today
        self.zone = aggregates.chain_zone(conn)
        self._cache: dict[Criterion, Keys] = {}
        self._universe: Keys | None = None
        self._member_sets = member_sets or (lambda segment: store.members(self.conn, segment))

    def keys(self, sql: str, params: Iterable[Any] = ()) -> Keys:
        return {r[0] for r in self.conn.execute(sql, tuple(params))}

    @property
    def universe(self) -> Keys:
        if self._universe is None:
            self._universe = self.keys(
                "SELECT k.key FROM customer_keys k JOIN customers c ON c.id = k.customer_id WHERE c.merged_into IS NULL"
            )
        return self._universe

    def members(self, definition: Definition) -> Keys:
        result: Keys | None = None
        for audience in sorted(definition.audiences, key=len):
            found = self.audience(audience)
            result = found if result is None else result & found
            if not result:
                return set()
        result = result if result is not None else set()
        if definition.exclude:
            result = result - self.audience(definition.exclude)
        return result & self.universe

    def audience(self, criteria: Iterable[Criterion]) -> Keys:
        found: Keys = set()
        for c in criteria:
            found |= self.criterion(c)
        return found

    def criterion(self, c: Criterion) -> Keys:
        if c not in self._cache:
            self._cache[c] = getattr(self, "_" + c.type)(c) & self.universe
        return self._cache[c]

    # -- helpers -----------------------------------------------------------------------------------

    def _customers(self, where: str, params: Iterable[Any] = ()) -> Keys:
        return self.keys(
            "SELECT k.key FROM customer_keys k JOIN customers c ON c.id = k.customer_id"
            f" WHERE c.merged_into IS NULL AND ({where})",
            params,
        )

    def _period(self, period: Period, column: str = "+day") -> tuple[str, list[Any]]:
        """The period as a condition; ``+day`` keeps SQLite on the key-ordered scan (GROUP BY key, no sort)."""
        first, last = period.bounds(self.today)
        parts, params = [], []
        if first is not None:
            parts.append(f"{column} >= ?")
            params.append(first)
        if last is not None:
            parts.append(f"{column} <= ?")
            params.append(last)
        return (" AND ".join(parts) or "1 = 1"), params

    @staticmethod
    def _in(column: str, values: Iterable[Any]) -> tuple[str, list[Any]]:
        values = sorted(values)
        return f"{column} IN ({','.join('?' * len(values))})", values

    @staticmethod
    def _range(expr: str, low: int | None, high: int | None) -> tuple[str, list[Any]]:
        parts, params = [], []
        if low is not None:
            parts.append(f"{expr} >= ?")
            params.append(low)
        if high is not None:
            parts.append(f"{expr} <= ?")
            params.append(high)
        return (" AND ".join(parts) or "1 = 1"), params

    def _local_instant(self, ordinal: int) -> str:
        """The UTC time (text, as ``created_at`` keeps it) of a local day's start in the chain's zone."""
        start = dt.datetime.combine(dt.date.fromordinal(ordinal), dt.time(), self.zone)
        return start.astimezone(dt.UTC).isoformat(timespec="seconds")

    def _sum_in_range(
        self, table: str, column: str, where: str, params: list[Any], low: int | None, high: int | None
    ) -> Keys:
        """Customers whose SUM(column) over the rows is in range; those without rows count as 0."""
        having, hparams = self._range(f"SUM({column})", low, high)
        found = self.keys(f"SELECT key FROM {table} WHERE {where} GROUP BY key HAVING {having}", params + hparams)
        if (low is None or low <= 0) and (high is None or high >= 0):
            found |= self.universe - self.keys(f"SELECT DISTINCT key FROM {table} WHERE {where}", params)
        return found

    # -- the criteria ------------------------------------------------------------------------------

    def _age(self, c: Criterion) -> Keys:
        today = dt.date.fromordinal(self.today)
        parts, params = ["c.birthday IS NOT NULL AND c.birthday GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"], []
        if c.get("from") is not None:  # born on or before the last day giving that age
            parts.append("substr(c.birthday, 1, 10) <= ?")
            params.append(self._born_by(c["from"], today))
        if c.get("to") is not None:
            parts.append("substr(c.birthday, 1, 10) > ?")
            params.append(self._born_by(c["to"] + 1, today))
        return self._valid_birthdays(self._customers(" AND ".join(parts), params))

    @staticmethod
    def _born_by(years: int, today: dt.date) -> str:
        """The latest birth date whose age today is >= ``years`` (age is monotone in the birth date)."""
        low, high = dt.date(1, 1, 1).toordinal(), today.toordinal()
        if age_on(dt.date.fromordinal(low), today) < years:
            return "0000-00-00"
        while low < high:
            mid = (low + high + 1) // 2
            if age_on(dt.date.fromordinal(mid), today) >= years:
                low = mid
            else:
                high = mid - 1
        return dt.date.fromordinal(low).isoformat()

    def _valid_birthdays(self, keys: Keys) -> Keys:
        return keys  # birthdays are checked dates when they are written (the console's profile form)

    def _birthday(self, c: Criterion) -> Keys:
        where = "c.birthday GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"
        if c.get("months"):
            cond, params = self._in("CAST(substr(c.birthday, 6, 2) AS INTEGER)", c["months"])
            return self._customers(f"{where} AND {cond}", params)
        # the answer depends on the birthday's month and day only: list those that match today
        before, after = c.get("days_before") or 0, c.get("days_after") or 0
        days = [dt.date.fromordinal(d) for d in range(dt.date(2000, 1, 1).toordinal(), dt.date(2001, 1, 1).toordinal())]
        hits = [d.strftime("%m-%d") for d in days if _birthday_window(d, self.today, before, after)]
        if not hits:
            return set()
        cond, params = self._in("substr(c.birthday, 6, 5)", hits)
        return self._customers(f"{where} AND {cond}", params)

    def _gender(self, c: Criterion) -> Keys:
        cond, params = self._in(
            "CASE WHEN c.gender IN ('male', 'female') THEN c.gender ELSE 'unknown' END", c["values"]
        )
        return self._customers(cond, params)

    def _consent(self, c: Criterion) -> Keys:
        parts = " OR ".join("json_type(c.consents, ?) = 'true'" for _ in c["channels"])
        return self._customers(f"json_valid(c.consents) AND ({parts})", [f'$."{ch}"' for ch in sorted(c["channels"])])

    def _field(self, c: Criterion) -> Keys:
        # custom values compare as text with Unicode case folding: read the non-empty ones, decide in Python
        path = '$."' + c["field"].replace('"', '\\"') + '"'
        texts = {}
        for key, value, kind in self.conn.execute(
            "SELECT k.key, json_extract(c.custom, ?), json_type(c.custom, ?) FROM customer_keys k JOIN customers c"
            " ON c.id = k.customer_id WHERE c.merged_into IS NULL AND json_valid(c.custom)"
            " AND json_extract(c.custom, ?) IS NOT NULL",
            (path, path, path),
        ):
            texts[key] = _as_text(True if kind == "true" else False if kind == "false" else value)
        op = c["operator"]
        if op in ("empty", "not_empty"):
            filled = {k for k, v in texts.items() if v != ""}
            return (self.universe - filled) if op == "empty" else filled
        needle = c["value"].casefold()
        if op == "=":
            return {k for k, v in texts.items() if v.casefold() == needle}
        return {k for k, v in texts.items() if needle in v.casefold()}

    def _registration(self, c: Criterion) -> Keys:
        parts, params = ["1 = 1"], []
        if c.get("stores") is not None:
            cond, more = self._in("c.home_store", c["stores"])
            parts.append(cond)
            params += more
        first = last = None
        if c.get("date_from") is not None or c.get("date_to") is not None:
            first, last = c.get("date_from"), c.get("date_to")
        elif c.get("days_from") is not None or c.get("days_to") is not None:
            # days since registration in [from, to] <=> registered on a day in [today - to, today - from]
            if c.get("days_to") is not None:
                first = self.today - c["days_to"]
            if c.get("days_from") is not None:
                last = self.today - c["days_from"]
        if first is not None:
            parts.append("c.created_at >= ?")
            params.append(self._local_instant(first))
        if last is not None:
            parts.append("c.created_at < ?")
            params.append(self._local_instant(last + 1))
        return self._customers(" AND ".join(parts), params)

    def _home_store(self, c: Criterion) -> Keys:
        cond, params = self._in("c.home_store", c["stores"])
        return self._customers(cond, params)

    def _kind(self, c: Criterion) -> Keys:
        carded = self._customers("EXISTS (SELECT 1 FROM cards WHERE cards.customer_id = c.id)")
        out: Keys = set()
        if "registered" in c["values"]:
            out |= carded
        if "potential" in c["values"]:
            out |= self.universe - carded
        return out

    def _card(self, c: Criterion) -> Keys:
        parts, params = ["d.status = 'active'"], []
        if c.get("categories") is not None:
            cond, more = self._in("d.category_id", c["categories"])
            parts.append(cond)
            params += more
        if c.get("number_from") is not None or c.get("number_to") is not None:
            parts.append("d.number != '' AND d.number NOT GLOB '*[^0-9]*'")
            low, high = c.get("number_from"), c.get("number_to")
            cond, more = self._range(
                "CAST(d.number AS INTEGER)", None if low is None else int(low), None if high is None else int(high)
            )
            parts.append(cond)
            params += more
        return self._customers(
            f"EXISTS (SELECT 1 FROM cards d WHERE d.customer_id = c.id AND {' AND '.join(parts)})", params
        )

    def _level(self, c: Criterion) -> Keys:
        cond, params = self._in("c.level", c["levels"])
        return self._customers(cond, params)

    def _tag(self, c: Criterion) -> Keys:
        cond, params = self._in("t.tag", c["tags"])
        rows = self.conn.execute(
            "SELECT k.key, COUNT(DISTINCT t.tag) FROM customer_tags t"
            " JOIN customer_keys k ON k.customer_id = t.customer_id"
            f" WHERE {cond} GROUP BY k.key",
            params,
        ).fetchall()
        if c["mode"] == "any":
            return {k for k, _ in rows}
        if c["mode"] == "all":
            return {k for k, n in rows if n == len(c["tags"])}
        return self.universe - {k for k, _ in rows}

    def _balance(self, c: Criterion) -> Keys:
        cond, params = self._range("c.balance", c.get("from"), c.get("to"))
        return self._customers(cond, params)

    def _days_ago_range(self, c: Criterion) -> tuple[int | None, int | None]:
        if c.get("date_from") is not None or c.get("date_to") is not None:
            return c.get("date_from"), c.get("date_to")
        first = None if c.get("days_to") is None else self.today - c["days_to"]
        last = None if c.get("days_from") is None else self.today - c["days_from"]
        return first, last

    def _first_purchase(self, c: Criterion) -> Keys:
        having, params = self._range("MIN(day)", *self._days_ago_range(c))
        return self.keys(f"SELECT key FROM agg_days WHERE purchases > 0 GROUP BY key HAVING {having}", params)

    def _last_purchase(self, c: Criterion) -> Keys:
        where, params = "purchases > 0", []
        if c.get("stores") is not None:
            cond, params = self._in("store", c["stores"])
            where += " AND " + cond
        having, more = self._range("MAX(day)", *self._days_ago_range(c))
        return self.keys(f"SELECT key FROM agg_days WHERE {where} GROUP BY key HAVING {having}", params + more)

    def _days_where(self, c: Criterion) -> tuple[str, list[Any]]:
        where, params = self._period(c["period"])
        if c.get("stores") is not None:
            cond, more = self._in("store", c["stores"])
            where, params = f"{where} AND {cond}", params + more
        return where, params

    def _purchases(self, c: Criterion) -> Keys:
        where, params = self._days_where(c)
        return self._sum_in_range("agg_days", "purchases", where, params, c.get("from"), c.get("to"))

    def _spend(self, c: Criterion) -> Keys:
        where, params = self._days_where(c)
        return self._sum_in_range("agg_days", "spend", where, params, c.get("from"), c.get("to"))

    def _ratio(self, c: Criterion, column: str, low: int | None, high: int | None) -> Keys:
        where, params = self._period(c["period"])
        having, hparams = ["SUM(purchases) > 0"], []
        if low is not None:
            having.append(f"? * SUM(purchases) <= SUM({column})")
            hparams.append(low)
        if high is not None:
            having.append(f"SUM({column}) <= ? * SUM(purchases)")
            hparams.append(high)
        return self.keys(
            f"SELECT key FROM agg_days WHERE {where} GROUP BY key HAVING {' AND '.join(having)}", params + hparams
        )

    def _average_check(self, c: Criterion) -> Keys:
        return self._ratio(c, "spend", c.get("from"), c.get("to"))

    def _average_items(self, c: Criterion) -> Keys:
        return self._ratio(c, "items", c.get("from_quantity"), c.get("to_quantity"))

    def _enough(self, minimum: int | None) -> tuple[str, list[Any]]:
        return ("SUM(quantity) >= ?", [minimum]) if minimum else ("SUM(quantity) > 0", [])

    def _bought_category(self, c: Criterion) -> Keys:
        where, params = self._days_where(c)
        cond, more = self._in("item", c["categories"])
        having, hparams = self._enough(c.get("min_quantity"))
        return self.keys(
            f"SELECT key FROM agg_items WHERE kind = {CATEGORY} AND {cond} AND {where} GROUP BY key HAVING {having}",
            more + params + hparams,
        )

    def _bought_products(self, c: Criterion) -> Keys:
        where, params = self._period(c["period"])
        cond, more = self._in("item", c["products"])
        having, hparams = self._enough(c.get("min_quantity"))
        rows = self.conn.execute(
            f"SELECT key, COUNT(*) FROM (SELECT key, item FROM agg_items WHERE kind = {PRODUCT} AND {cond} AND {where}"
            f" GROUP BY key, item HAVING {having}) GROUP BY key",
            more + params + hparams,
        ).fetchall()
        if c["mode"] == "any":
            return {k for k, _ in rows}
        return {k for k, n in rows if n == len(c["products"])}

    def _product_name(self, c: Criterion) -> Keys:
        needle = c["text"].casefold()
        products = [
            i
            for i, name in self.conn.execute("SELECT id, name FROM catalog_products WHERE name IS NOT NULL")
            if needle in name.casefold()
        ]
        if not products:
            return set()
        where, params = self._period(c["period"])
        cond, more = self._in("item", products)
        return self.keys(
            f"SELECT key FROM (SELECT key, item FROM agg_items WHERE kind = {PRODUCT} AND {cond}"
            f" AND {where}"
            " GROUP BY key, item HAVING SUM(quantity) > 0)",
            more + params,
        )

    def _points(self, c: Criterion) -> Keys:
        where, params = self._period(c["period"])
        if c.get("types") is not None:
            cond, more = self._in("type", c["types"])
            where, params = f"{where} AND {cond}", params + more
        column = "accrued" if c["direction"] == "accrued" else "redeemed"
        return self._sum_in_range("agg_points", column, where, params, c.get("from"), c.get("to"))

    def _rfm(self, c: Criterion) -> Keys:
        parts, params = ["1 = 1"], []
        for name, column in (("classes", "class"), ("r", "r"), ("f", "f"), ("m", "m")):
            if c.get(name) is not None:
                cond, more = self._in(column, c[name])
                parts.append(cond)
                params += more
        return self.keys(f"SELECT key FROM customer_rfm WHERE {' AND '.join(parts)}", params)

    # promotions, promo codes, triggers and messages come with their issues: nobody has any yet
    def _promotion(self, c: Criterion) -> Keys:
        return set() if c["took_part"] else set(self.universe)

    def _promo_code(self, c: Criterion) -> Keys:
        return set()

    def _trigger(self, c: Criterion) -> Keys:
        return set(self.universe) if c["state"] == "never" else set()

    def _message(self, c: Criterion) -> Keys:
        return set()

    def _in_segment(self, c: Criterion) -> Keys:
        inside: Keys = set()
        for segment in c["segments"]:
            inside |= self._member_sets(segment)
        return inside if c["in"] else self.universe - inside


#: the live count's evaluators per database file: (made at, today, evaluator); see :func:`live_evaluator`
_LIVE: dict[str, tuple[float, int, SetEvaluator]] = {}
LIVE_SECONDS = 20.0


def live_evaluator(conn: sqlite3.Connection, today: int, *, clock: Callable[[], float] | None = None) -> SetEvaluator:
    """An evaluator whose criterion sets are reused for ``LIVE_SECONDS`` (the same day): while a marketer
    edits a draft, each new count computes only the criterion that changed. Counts may lag the ingest by
    that long; saving a segment computes its members afresh (:func:`recompute`)."""
    import time

    now = (clock or time.monotonic)()
    path = next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "") or str(id(conn))
    made = _LIVE.get(path)
    if made is None or made[1] != today or now - made[0] > LIVE_SECONDS:
        made = (now, today, SetEvaluator(conn, today))
        _LIVE[path] = made
    made[2].conn = conn  # (a web request's own connection: the sets are kept, not the connection)
    return made[2]


def _as_text(value: Any) -> str:
    """A custom field's value as the per-customer evaluator reads it (``str`` of the JSON value)."""
    return "" if value is None else str(value)


# -- the per-customer side -------------------------------------------------------------------------------


class _ProductNames(Mapping[int, str]):
    """Product names, read on first use (only the "product name" criterion needs them)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._names: dict[int, str] | None = None

    def _all(self) -> dict[int, str]:
        if self._names is None:
            self._names = dict(self.conn.execute("SELECT id, name FROM catalog_products WHERE name IS NOT NULL"))
        return self._names

    def __getitem__(self, key: int) -> str:
        return self._all()[key]

    def __iter__(self) -> Any:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def context(conn: sqlite3.Connection, today: int, member: Callable[[int, int], bool] | None = None) -> Context:
    return Context(
        today=today,
        product_names=_ProductNames(conn),
        member=member or (lambda segment, key: store.is_member(conn, segment, key)),
    )


def evaluate_keys(conn: sqlite3.Connection, definition: Definition, keys: Iterable[int], today: int) -> Keys:
    """The per-customer evaluator over some customers (as the event path runs it)."""
    facts = aggregates.load_facts(conn, sorted(set(keys)))
    ctx = context(conn, today)
    return {k for k, f in facts.items() if evaluate(definition, f, ctx)}


# -- segments kept current -----------------------------------------------------------------------------------


def _definition(row: Mapping[str, Any]) -> Definition | None:
    return parse_definition(json.loads(row["definition"])) if row.get("definition") else None


def _ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Segments with the ones they nest first (definitions are acyclic)."""
    by_id = {r["id"]: r for r in rows}
    done: list[dict[str, Any]] = []
    seen: set[int] = set()

    def visit(row: dict[str, Any]) -> None:
        if row["id"] in seen:
            return
        seen.add(row["id"])
        definition = row["_def"]
        for child in sorted(definition.nested if definition else ()):
            if child in by_id:
                visit(by_id[child])
        done.append(row)

    for row in rows:
        visit(row)
    return done


_PARSED: dict[tuple[int, str], Definition | None] = {}


def dynamic_segments(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The dynamic segments, nested ones first, their definitions parsed (once per text: a small cache)."""
    rows = [
        {"id": i, "definition": d}
        for i, d in conn.execute("SELECT id, definition FROM segments WHERE kind = 'dynamic' ORDER BY id")
    ]
    for row in rows:
        ident = (row["id"], row["definition"] or "")
        if ident not in _PARSED:
            if len(_PARSED) > 10000:
                _PARSED.clear()
            _PARSED[ident] = _definition(row)
        row["_def"] = _PARSED[ident]
    return _ordered([r for r in rows if r["_def"] is not None])


def flips_for(
    conn: sqlite3.Connection,
    definition: Definition,
    today: int,
    keys: Iterable[int] | None = None,
    facts: Mapping[int, Facts] | None = None,
) -> dict[int, int | None]:
    """Each customer's next flip day for a definition (exact, per customer)."""
    if not any(time_relative(c) for c in definition.criteria()):
        return {}
    if facts is None:
        facts = aggregates.load_facts(conn, sorted(set(keys or ())))
    return {k: next_flip(definition, f, today) for k, f in facts.items()}


def all_flips(conn: sqlite3.Connection, definition: Definition, today: int) -> dict[int, int]:
    """The next flip day of every customer (set-based, never later than the exact one: a visit too early is cheap)."""
    days: dict[int, int] = {}

    def keep(rows: Iterable[tuple[int, int | None]]) -> None:
        for key, day in rows:
            if day is not None and day > today and (key not in days or day < days[key]):
                days[key] = day

    for c in {c for c in definition.criteria() if time_relative(c)}:
        if c.type in ("age", "birthday"):
            table = {}
            for ordinal in range(dt.date(2000, 1, 1).toordinal(), dt.date(2001, 1, 1).toordinal()):
                born = dt.date.fromordinal(ordinal)
                table[born.strftime("%m-%d")] = criterion_flip(c, Facts(0, birthday=born), today)
            for key, mmdd in conn.execute(
                "SELECT k.key, substr(c.birthday, 6, 5) FROM customer_keys k"
                " JOIN customers c ON c.id = k.customer_id"
                " WHERE c.birthday GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"
            ):
                keep([(key, table.get(mmdd))])
        elif c.type in ("first_purchase", "last_purchase", "registration"):
            low, high = c.get("days_from"), c.get("days_to")
            if c.type == "registration":
                col = _ORDINAL_SQL.format(col="c.created_at")
                rows = conn.execute(
                    f"SELECT k.key, {col} FROM customer_keys k JOIN customers c ON c.id = k.customer_id"
                ).fetchall()
                shifts = (-1, 0, 1)  # the UTC date is the local one give or take a day
            else:
                where, params = "purchases > 0", []
                if c.type == "last_purchase" and c.get("stores") is not None:
                    where += f" AND store IN ({','.join('?' * len(c['stores']))})"
                    params = sorted(c["stores"])
                agg = "MIN" if c.type == "first_purchase" else "MAX"
                rows = conn.execute(
                    f"SELECT key, {agg}(day) FROM agg_days WHERE {where} GROUP BY key", params
                ).fetchall()
                shifts = (0,)
            for key, day in rows:
                if day is None:
                    continue
                candidates = [
                    day + s + b for s in shifts for b in (low, None if high is None else high + 1) if b is not None
                ]
                later = [d for d in candidates if d > today]
                keep([(key, min(later) if later else None)])
        else:
            n = c["period"].last_days
            table = {
                "points": "agg_points",
                "bought_category": "agg_items",
                "bought_products": "agg_items",
                "product_name": "agg_items",
            }.get(c.type, "agg_days")
            keep(
                conn.execute(
                    f"SELECT key, MIN(CASE WHEN day > ? THEN day ELSE day + ? END) FROM {table}"
                    " WHERE day > ? GROUP BY key",
                    (today, n, today - n),
                )
            )
    return days


def recompute(
    conn: sqlite3.Connection, segment_id: int, today: int, cause: str = "recompute", at: str | None = None
) -> tuple[int, int]:
    """Set a segment's members to what its definition gives now (set-based); rebuild its flips."""
    row = store.segment_row(conn, segment_id)
    if row is None or not row["definition"]:
        return 0, 0
    definition = parse_definition(json.loads(row["definition"]))
    wanted = SetEvaluator(conn, today).members(definition)
    current = store.members(conn, segment_id)
    changed = store.change_members(conn, segment_id, wanted - current, current - wanted, at or now_utc(), cause)
    if row["kind"] == "dynamic":
        store.lower_flips(conn, all_flips(conn, definition, today))
    return changed


#: every change a criterion may depend on (a merge changes them all)
ALL_CHANGES = frozenset(
    {
        "purchase",
        "refund",
        "points",
        "level",
        "registration",
        "profile",
        "card",
        "tags",
        "segment",
        "rfm",
        "promotion",
        "promo_code",
        "trigger",
        "message",
    }
)
#: event kinds of the ingest -> the changes they may make (evaluate.event_kinds)
EVENT_CHANGES = {
    "purchase": {"purchase", "points", "level"},
    "refund": {"refund", "points", "level"},
    "cancel": {"refund", "points", "level"},
    "registration": {"registration", "profile", "card"},
    "phone_confirmed": {"profile"},
    "manual": {"points"},
}


def on_event(
    conn: sqlite3.Connection,
    customer_ids: Iterable[str],
    changes: Iterable[str],
    today: int,
    at: str | None = None,
    cause: str = "event",
) -> dict[int, tuple[int, int]]:
    """Re-evaluate these customers against the dynamic segments ``changes`` can affect; segment -> (in, out)."""
    ids = sorted(set(customer_ids))
    changes = set(changes)
    segments = dynamic_segments(conn)
    if not ids or not segments:
        return {}
    keys = set(aggregates.keys_of(conn, ids).values())
    return _reevaluate(
        conn, segments, keys, lambda d: bool(_traits(d)[1] & changes), today, at or now_utc(), cause, exact_flips=False
    )


_TRAITS: dict[int, tuple[Definition, bool, frozenset[str]]] = {}


def _traits(definition: Definition) -> tuple[bool, frozenset[str]]:
    """(time-relative at all, the changes that concern it) of a definition, found once per parsed definition."""
    found = _TRAITS.get(id(definition))
    if found is None or found[0] is not definition:
        if len(_TRAITS) > 10000:
            _TRAITS.clear()
        found = _TRAITS[id(definition)] = (
            definition,
            any(time_relative(c) for c in definition.criteria()),
            definition_events(definition),
        )
    return found[1], found[2]


def _reevaluate(
    conn: sqlite3.Connection,
    segments: list[dict[str, Any]],
    keys: set[int],
    concerned: Callable[[Definition], bool],
    today: int,
    at: str,
    cause: str,
    *,
    exact_flips: bool,
) -> dict[int, tuple[int, int]]:
    """The per-customer evaluator over ``keys`` for the segments ``concerned`` (and those nesting a change).

    Criteria are compiled once per call (segments/compiled.py): each distinct criterion is answered once per
    customer. Membership changes are written together, before a segment that nests others is evaluated
    (it reads their membership) and at the end."""
    facts: dict[int, Facts] | None = None
    compiled: Round | None = None
    current: dict[int, set[int]] = {}
    moved: dict[int, set[int]] = {}  # segment -> keys whose membership changed (for the segments nesting it)
    flips: dict[int, int | None] = dict.fromkeys(keys) if exact_flips else {}
    pending: list[tuple[int, set[int], set[int]]] = []
    every_key: set[int] = set()  # compiled flips to take for every key (segments evaluated for all of them)
    result = {}
    for row in segments:
        definition: Definition = row["_def"]
        relative = _traits(definition)[0]
        affected = set(keys) if concerned(definition) else set()
        for nested in definition.nested:
            affected |= moved.get(nested, set())
        if not affected and not (exact_flips and relative):
            continue
        if facts is None:
            # only the tables some dynamic segment's criteria read
            needed = {t for r in segments for c in r["_def"].criteria() for t in aggregates.TABLES_OF.get(c.type, ())}
            facts = aggregates.load_facts(conn, sorted(keys), tables=needed)
            compiled = Round(context(conn, today))
            for segment, key in store.member_pairs(conn, keys):
                current.setdefault(segment, set()).add(key)
        assert compiled is not None
        plan = compiled.plan(definition)
        if affected:
            if definition.nested and pending:
                store.change_members_many(conn, pending, at, cause)
                pending = []
            answer = compiled.members(plan, facts, affected)
            inside = affected & current.get(row["id"], set())
            entered, left = answer - inside, inside - answer
            if entered or left:
                pending.append((row["id"], entered, left))
                moved[row["id"]] = entered | left
                result[row["id"]] = (len(entered), len(left))
        if relative and (exact_flips or len(affected) == len(keys)):
            every_key.update(plan[2])  # all of them: one earliest day per customer over these, below
        elif relative:
            flip_of = compiled.next_flip
            for k in affected:
                if k in facts and (day := flip_of(plan, facts[k])) is not None:
                    if flips.get(k) is None or day < flips[k]:  # type: ignore[operator]
                        flips[k] = day
    if pending:
        store.change_members_many(conn, pending, at, cause)
    if every_key and facts is not None and compiled is not None:
        flips_of, chosen = compiled.first_flip, tuple(sorted(every_key))
        for k in keys:
            if k in facts and (day := flips_of(chosen, facts[k])) is not None:
                if flips.get(k) is None or day < flips[k]:  # type: ignore[operator]
                    flips[k] = day
    if exact_flips:
        store.set_flips(conn, flips)
    else:
        store.lower_flips(conn, {k: d for k, d in flips.items() if d is not None})
    return result


def after_ingest(conn: sqlite3.Connection, customer_ids: set[str], events: Iterable[Mapping[str, Any]]) -> None:
    """The ingest's hook (central/storage/ingest.py), inside its transaction: each touched customer against
    the segments their own events can change, with their event's kind as the cause."""
    if not customer_ids or not conn.execute("SELECT 1 FROM segments WHERE kind = 'dynamic' LIMIT 1").fetchone():
        return
    kinds: dict[str, set[str]] = {}
    for env in events:
        body = env.get("body") or {}
        cid = body.get("customer_id") if isinstance(body, Mapping) else None
        kinds.setdefault(cid or "", set()).add(env["kind"])
    every = set().union(*kinds.values()) if kinds else set()
    groups: dict[frozenset[str], list[str]] = {}
    for cid in customer_ids:  # (a card holder joined to its owner has no event of its own: every kind)
        groups.setdefault(frozenset(kinds.get(cid) or every), []).append(cid)
    today = aggregates.today(conn)
    for group_kinds, ids in groups.items():
        changes = set().union(*(EVENT_CHANGES.get(k, {k}) for k in group_kinds)) if group_kinds else set()
        cause = "purchase" if "purchase" in group_kinds else min(group_kinds) if group_kinds else "event"
        on_event(conn, ids, changes, today, cause=cause)


def customer_changed(conn: sqlite3.Connection, customer_ids: Iterable[str], change: str) -> None:
    """A console write changed customers (``profile``, ``tags``, ``points``...): the dynamic segments that
    read it follow, in the write's transaction (central/services/accounts.py)."""
    if conn.execute("SELECT 1 FROM segments WHERE kind = 'dynamic' LIMIT 1").fetchone():
        on_event(conn, customer_ids, {change}, aggregates.today(conn), cause=change)


def refresh_date(conn: sqlite3.Connection, today: int, at: str | None = None) -> dict[int, tuple[int, int]]:
    """The local date became ``today``: re-evaluate only the customers whose flip day has come."""
    due = {r[0] for r in conn.execute("SELECT key FROM segment_flips WHERE day <= ?", (today,))}
    result: dict[int, tuple[int, int]] = {}
    segments = dynamic_segments(conn)
    if due and segments:
        keys = sorted(due)
        for start in range(0, len(keys), 5000):
            chunk = set(keys[start : start + 5000])
            for segment, moved in _reevaluate(
                conn, segments, chunk, lambda d: _traits(d)[0], today, at or now_utc(), "date", exact_flips=True
            ).items():
                before = result.get(segment, (0, 0))
                result[segment] = (before[0] + moved[0], before[1] + moved[1])
    conn.execute(
        "INSERT INTO settings (name, value) VALUES ('segments_refreshed_day', ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (str(today),),
    )
    return result


def refresh_if_new_day(conn: sqlite3.Connection, now: dt.datetime | None = None) -> dict[int, tuple[int, int]] | None:
    """Run :func:`refresh_date` for each local day since the last refresh (the clock may be a fake one)."""
    today = aggregates.today(conn, now)
    row = conn.execute("SELECT value FROM settings WHERE name = 'segments_refreshed_day'").fetchone()
    last = int(row[0]) if row else today - 1
    if last >= today:
        return None
    result: dict[int, tuple[int, int]] = {}
    for day in range(max(last + 1, today - 366), today + 1):
        result.update(refresh_date(conn, day))
    return result


# -- RFM ------------------------------------------------------------------------------------------------------


def compute_rfm(conn: sqlite3.Connection, today: int, window: int = DEFAULT_WINDOW) -> int:
    """Score every customer with a purchase in the last ``window`` days; returns how many."""
    rows = conn.execute(
        "SELECT key, MAX(CASE WHEN purchases > 0 THEN day END), SUM(purchases), SUM(spend) FROM agg_days"
        " WHERE day > ? AND day <= ? GROUP BY key HAVING SUM(purchases) > 0",
        (today - window, today),
    ).fetchall()
    conn.execute("DELETE FROM customer_rfm")
    if not rows:
        return 0
    data = np.array(rows, dtype=np.int64)
    keys, last, purchases, spend = data[:, 0], data[:, 1], data[:, 2], data[:, 3]
    days_since = today - last
    r, f, m = rfm_scores(days_since, purchases, spend)
    codes = class_codes(r, f)
    names = np.array(CLASS_NAMES, dtype=object)[codes]
    conn.executemany(
        "INSERT INTO customer_rfm (key, r, f, m, class, days_since, purchases, spend) VALUES (?,?,?,?,?,?,?,?)",
        zip(
            keys.tolist(),
            r.tolist(),
            f.tolist(),
            m.tolist(),
            names.tolist(),
            days_since.tolist(),
            purchases.tolist(),
            spend.tolist(),
            strict=True,
        ),
    )
    return len(rows)


def rfm_grid(conn: sqlite3.Connection) -> dict[str, Any]:
    """The 5x5 grid: per (R, F) the count, spend and share of the scored customers; per class the same."""
    rows = conn.execute("SELECT r, f, class, COUNT(*), SUM(spend) FROM customer_rfm GROUP BY r, f, class").fetchall()
    total = sum(r[3] for r in rows)
    cells = {
        (r, f): {"class": klass, "count": n, "spend": spend, "share": (n / total if total else 0.0)}
        for r, f, klass, n, spend in rows
    }
    classes: dict[str, dict[str, Any]] = {}
    for (_, _), cell in cells.items():
        entry = classes.setdefault(cell["class"], {"count": 0, "spend": 0})
        entry["count"] += cell["count"]
        entry["spend"] += cell["spend"]
    for entry in classes.values():
        entry["share"] = entry["count"] / total if total else 0.0
    return {"total": total, "cells": cells, "classes": classes}
