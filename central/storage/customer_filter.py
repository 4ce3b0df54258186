"""A customer filter as SQL: one parameterised WHERE clause over ``customers c``.

central/services/filters.py checks what the list page's URL says (fields, operations, values, the period,
the quick search) and hands over a :class:`CustomerFilter` of sound values; this module only turns it into
SQL. Values are always parameters; the field and operation names choose among fixed SQL texts here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .portable import SQLITE
from .schema_pg2 import PG_FOLDED_DOC

#: a checked condition: (field, operation, its value normalised: a number, a UTC moment, a phone, ...)
CheckedCondition = tuple[str, str, Any]
Builder = Callable[[str, Any, "tuple[int, int] | None"], tuple[str, list[Any]]]

_SALES = "kind IN ('purchase', 'refund', 'cancel') AND customer_id IS NOT NULL"


@dataclass
class CustomerFilter:
    """A filter the service has checked."""

    scope: list[str] | None = None  # a scoped user's stores; None: every customer
    home_only: bool = False  # with ``scope``: only customers registered there (else also those who shopped there)
    kind: str = "all"  # "all", "registered" (has a card), "potential" (no card)
    long_terms: list[str] = field(default_factory=list)  # quick search terms for the trigram index (3+ characters)
    short_terms: list[str] = field(default_factory=list)  # shorter terms, matched as substrings of its matches
    conditions: list[CheckedCondition] = field(default_factory=list)
    any_condition: bool = False  # OR the conditions (else AND)
    period: tuple[int, int] | None = None  # epoch seconds [start, end) for the "in the period" fields


def customer_filter_sql(f: CustomerFilter, backend: str = SQLITE) -> tuple[str, list[Any]]:
    """The WHERE clause over ``customers c`` (customers merged away never match) and its parameters, for
    ``backend`` ("sqlite" or "postgresql": the quick search's index differs)."""
    clauses: list[str] = ["c.merged_into IS NULL"]
    params: list[Any] = []
    if f.scope is not None:
        marks = ",".join("?" * len(f.scope)) or "NULL"
        if f.home_only:
            clauses.append(f"c.home_store IN ({marks})")
            params += sorted(f.scope)
        else:
            clauses.append(
                f"(c.home_store IN ({marks}) OR c.id IN (SELECT customer_id FROM customer_stores"
                f" WHERE store IN ({marks})))"
            )
            params += sorted(f.scope) * 2
    if f.kind == "registered":
        clauses.append("EXISTS (SELECT 1 FROM cards WHERE customer_id = c.id)")
    elif f.kind == "potential":
        clauses.append("NOT EXISTS (SELECT 1 FROM cards WHERE customer_id = c.id)")
    search = search_sql(f.long_terms, f.short_terms, backend)
    if search:
        clauses.append(search[0])
        params += search[1]
    parts: list[str] = []
    for name, op, value in f.conditions:
        sql, values = condition_sql(name, op, value, f.period)
        parts.append(sql)
        params += values
    if parts:
        clauses.append("(" + (" OR " if f.any_condition else " AND ").join(parts) + ")")
    return " AND ".join(clauses), params


#: PostgreSQL: a text folded as the search index's ``folded`` column, compared with a folded term
_PG_FOLDED_TERM = '(lower(? COLLATE "und-x-icu") COLLATE "default")'


def search_sql(long_terms: list[str], short_terms: list[str], backend: str = SQLITE) -> tuple[str, list[Any]] | None:
    """Every term must match the customer's search row (name, phone, email, id, cards) or one of their tags.

    The row is a trigram full-text index; the tags are found through their distinct names
    (``customer_search_tag_names``, migration 38: a tag written rewrites no search row), so each term is a set of
    customers: those whose row holds it, and the holders of the tag names holding it. Terms under 3 characters
    filter the long terms' matches (alone: a scan of the rows and of the tag names).

    SQLite: FTS5's trigram ``MATCH`` (case folded over Unicode; the tag names have their own FTS5 table), the short
    terms with ``LIKE`` (ASCII case folded). PostgreSQL, the same matches: each long term a substring of the text
    folded by ICU (a pg_trgm GIN index on that expression, migration 28; the tag names folded alike), each short
    term ``LIKE`` under the "C" collation (ASCII).
    """
    if not long_terms and not short_terms:
        return None
    conditions: list[str] = []
    params: list[Any] = []
    if backend != SQLITE:
        for term in long_terms:
            pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conditions.append(
                f"c.id IN (SELECT customer_id FROM customer_search WHERE {PG_FOLDED_DOC} LIKE {_PG_FOLDED_TERM}"
                " UNION SELECT customer_id FROM customer_tags WHERE tag IN (SELECT tag FROM customer_search_tag_names"
                f' WHERE (lower(tag COLLATE "und-x-icu") COLLATE "default") LIKE {_PG_FOLDED_TERM}))'
            )
            params += [pattern, pattern]
        for term in short_terms:
            pattern = "%" + term.replace("%", "").replace("_", "").replace("\\", "\\\\") + "%"
            conditions.append(
                'c.id IN (SELECT customer_id FROM customer_search WHERE doc COLLATE "C" LIKE ?'
                " UNION SELECT customer_id FROM customer_tags WHERE tag IN (SELECT tag FROM customer_search_tag_names"
                ' WHERE tag COLLATE "C" LIKE ?))'
            )
            params += [pattern, pattern]
        return " AND ".join(conditions), params
    for term in long_terms:
        phrase = '"' + term.replace('"', '""') + '"'
        conditions.append(
            "c.rowid IN (SELECT rowid FROM customer_search WHERE customer_search MATCH ?"
            " UNION SELECT h.rowid FROM customer_tags t JOIN customers h ON h.id = t.customer_id WHERE t.tag IN"
            " (SELECT n.tag FROM customer_search_tags s JOIN customer_search_tag_names n ON n.id = s.rowid"
            " WHERE customer_search_tags MATCH ?))"
        )
        params += [phrase, phrase]
    for term in short_terms:
        # "+doc": SQLite's own LIKE on the text; FTS5 3.40 would take it to its index and miss non-ASCII
        # terms under 3 letters ("Ив" found nothing)
        pattern = "%" + term.replace("%", "").replace("_", "") + "%"
        if long_terms:  # a filter of the long terms' matches, row by row
            conditions.append(
                "(EXISTS (SELECT 1 FROM customer_search s WHERE s.rowid = c.rowid AND +s.doc LIKE ?)"
                " OR EXISTS (SELECT 1 FROM customer_tags t WHERE t.customer_id = c.id AND t.tag LIKE ?))"
            )
        else:
            conditions.append(
                "c.rowid IN (SELECT rowid FROM customer_search WHERE +doc LIKE ? UNION SELECT h.rowid FROM"
                " customer_tags t JOIN customers h ON h.id = t.customer_id WHERE t.tag IN (SELECT tag FROM"
                " customer_search_tag_names WHERE tag LIKE ?))"
            )
        params += [pattern, pattern]
    return " AND ".join(conditions), params


def condition_sql(name: str, op: str, value: Any, period: tuple[int, int] | None) -> tuple[str, list[Any]]:
    """One checked condition as SQL. :raises ValueError: a field or operation this module does not know."""
    if name.startswith("custom:"):
        return _custom(name[7:], op, value)
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ValueError(f"no customer filter field {name!r}")
    return builder(op, value, period)


def _text(column: str) -> Builder:
    def build(op: str, value: Any, *rest: Any) -> tuple[str, list[Any]]:
        if op == "contains":
            return f"c.{column} LIKE ?", [f"%{value}%"]
        if op == "equals":
            return f"c.{column} = ?", [value]
        if op == "empty":
            return f"(c.{column} IS NULL OR c.{column} = '')", []
        return f"(c.{column} IS NOT NULL AND c.{column} != '')", []

    return build


def _compare(expression: str) -> Builder:
    def build(op: str, value: Any, *rest: Any) -> tuple[str, list[Any]]:
        return f"{expression} {'>=' if op == 'ge' else '<='} ?", [value]

    return build


def _moment(column: str) -> Builder:
    def build(op: str, value: Any, *rest: Any) -> tuple[str, list[Any]]:
        if op == "never":
            return f"c.{column} IS NULL", []
        return f"c.{column} {'>=' if op == 'after' else '<'} ?", [value]

    return build


def _birthday(op: str, value: Any, *rest: Any) -> tuple[str, list[Any]]:
    if op == "empty":
        return "c.birthday IS NULL", []
    if op == "month":  # "03"
        return "substr(c.birthday, 6, 2) = ?", [value]
    if op == "day":  # "03-08"
        return "substr(c.birthday, 6, 5) = ?", [value]
    return f"c.birthday {'>=' if op == 'from' else '<='} ?", [value]


def _period_agg(expression: str) -> Builder:
    def build(op: str, value: Any, period: tuple[int, int] | None) -> tuple[str, list[Any]]:
        if period is None:
            raise ValueError("an 'in the period' condition needs the period")
        # customers without any sale in the period have 0: "at most" must include them
        having = f"{expression} {'>=' if op == 'ge' else '>'} ?"
        sql = (
            f"c.id {'IN' if op == 'ge' else 'NOT IN'} (SELECT customer_id FROM transactions WHERE {_SALES}"
            f" AND at_epoch >= ? AND at_epoch < ? GROUP BY customer_id HAVING {having})"
        )
        return sql, [period[0], period[1], value]

    return build


def _choice(column: str) -> Builder:
    def build(op: str, value: Any, *rest: Any) -> tuple[str, list[Any]]:
        if op == "empty":
            return f"(c.{column} IS NULL OR c.{column} = '')", []
        if op == "is_not":
            return f"(c.{column} IS NULL OR c.{column} != ?)", [value]
        if column == "gender" and not value:
            return "(c.gender IS NULL OR c.gender = '')", []
        return f"c.{column} = ?", [value]

    return build


def _card(op: str, value: Any, *rest: Any) -> tuple[str, list[Any]]:
    if op == "equals":
        return "c.id IN (SELECT customer_id FROM cards WHERE number = ?)", [value]
    return "c.id IN (SELECT customer_id FROM cards WHERE number LIKE ?)", [f"%{value}%"]


def _tag(op: str, value: Any, *rest: Any) -> tuple[str, list[Any]]:
    sql = "c.id IN (SELECT customer_id FROM customer_tags WHERE tag = ?)"
    return (sql if op == "has" else f"NOT {sql}"), [value]


def _consent(op: str, value: Any, *rest: Any) -> tuple[str, list[Any]]:
    sql = "CAST(json_extract(c.consents, ?) AS INTEGER) = 1"  # json_extract is TEXT on PostgreSQL
    return (sql if op == "has" else f"NOT COALESCE({sql}, 0)"), [f"$.{value}"]


def _segment(op: str, value: Any, *rest: Any) -> tuple[str, list[Any]]:
    sql = (
        "c.id IN (SELECT k.customer_id FROM segment_members m JOIN customer_keys k ON k.key = m.key"
        " WHERE m.segment_id = ?)"
    )
    return (sql if op == "is" else f"NOT {sql}"), [value]


def _rfm(op: str, value: Any, *rest: Any) -> tuple[str, list[Any]]:
    sql = "c.id IN (SELECT k.customer_id FROM customer_rfm r JOIN customer_keys k ON k.key = r.key WHERE r.class = ?)"
    return (sql if op == "is" else f"NOT {sql}"), [value]


def _custom(name: str, op: str, value: Any) -> tuple[str, list[Any]]:
    path = f"$.{name}"
    if op == "empty":
        return "json_extract(c.custom, ?) IS NULL", [path]
    if op == "contains":
        return "CAST(json_extract(c.custom, ?) AS TEXT) LIKE ?", [path, f"%{value}%"]
    return "CAST(json_extract(c.custom, ?) AS TEXT) = ?", [path, value]


_BUILDERS: dict[str, Builder] = {
    "name": _text("name"),
    "email": _text("email"),
    "phone": _text("phone"),
    "card": _card,
    "phone_verified": lambda op, *rest: (f"c.phone_verified = {1 if op == 'yes' else 0}", []),
    "birthday": _birthday,
    "gender": _choice("gender"),
    "level": _choice("level"),
    "home_store": _choice("home_store"),
    "channel": _choice("channel"),
    "balance": _compare("c.balance"),
    "spend": _compare("c.spend"),
    "visits": _compare("c.visits"),
    "avg_check": _compare("(CASE WHEN c.visits > 0 THEN c.spend / c.visits ELSE 0 END)"),
    "spend_period": _period_agg("SUM(amount)"),
    "visits_period": _period_agg("SUM(kind = 'purchase')"),
    "avg_check_period": _period_agg("SUM(amount) / MAX(SUM(kind = 'purchase'), 1)"),
    "last_purchase": _moment("last_purchase_at"),
    "last_accrual": _moment("last_accrual_at"),
    "last_redemption": _moment("last_redemption_at"),
    "created": _moment("created_at"),
    "tag": _tag,
    "consent": _consent,
    "segment": _segment,
    "rfm": _rfm,
}
