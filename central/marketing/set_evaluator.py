"""The set-based evaluator over SQL: each criterion one query over the aggregates (central/storage/aggregates.py),
the customers row, cards and tags, giving a set of customer keys (the queries are central/storage/segment_engine.py's);
audiences are unions, the segment their intersection minus the excluded audience; a nested segment is read as its
stored member set, never inlined. The column evaluator (central/marketing/columns.py) answers what it has columns
for and hands the rest to this one; the engine (central/marketing/engine.py) uses both."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from ..storage import aggregates
from ..storage import segment_engine as queries
from ..storage import segments as store
from .segments.definition import Criterion, Definition, Period
from .segments.evaluate import CATEGORY, PRODUCT, _birthday_window, age_on

Keys = set[int]


def _as_text(value: Any) -> str:
    """A custom field's value as the per-customer evaluator reads it (``str`` of the JSON value)."""
    return "" if value is None else str(value)


class SetEvaluator:
    """Evaluates definitions over all customers for one ``today`` (criteria shared within it); the queries are
    central/storage/segment_engine.py's."""

    def __init__(self, conn: sqlite3.Connection, today: int, member_sets: Callable[[int], Keys] | None = None) -> None:
        self.sets = queries.CriterionSets(conn)
        self.today = today
        self.zone = aggregates.chain_zone(conn)
        self._cache: dict[Criterion, Keys] = {}
        self._universe: Keys | None = None
        self._member_sets = member_sets or (lambda segment: store.members(self.sets.connection, segment))

    @property
    def universe(self) -> Keys:
        if self._universe is None:
            self._universe = self.sets.universe()
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

    def _period(self, period: Period) -> tuple[int | None, int | None]:
        return period.bounds(self.today)

    def _local_instant(self, ordinal: int) -> str:
        """The UTC time (text, as ``created_at`` keeps it) of a local day's start in the chain's zone."""
        start = dt.datetime.combine(dt.date.fromordinal(ordinal), dt.time(), self.zone)
        return start.astimezone(dt.UTC).isoformat(timespec="seconds")

    # -- the criteria ------------------------------------------------------------------------------

    def _age(self, c: Criterion) -> Keys:
        today = dt.date.fromordinal(self.today)
        # born on or before the last day giving the lowest age, after the last one giving one more than the highest
        on_or_before = None if c.get("from") is None else self._born_by(c["from"], today)
        after = None if c.get("to") is None else self._born_by(c["to"] + 1, today)
        return self._valid_birthdays(self.sets.born(on_or_before, after))

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
        if c.get("months"):
            return self.sets.birthday_months(c["months"])
        # the answer depends on the birthday's month and day only: list those that match today
        before, after = c.get("days_before") or 0, c.get("days_after") or 0
        days = [dt.date.fromordinal(d) for d in range(dt.date(2000, 1, 1).toordinal(), dt.date(2001, 1, 1).toordinal())]
        hits = [d.strftime("%m-%d") for d in days if _birthday_window(d, self.today, before, after)]
        if not hits:
            return set()
        return self.sets.birthday_days(hits)

    def _gender(self, c: Criterion) -> Keys:
        return self.sets.gender(c["values"])

    def _consent(self, c: Criterion) -> Keys:
        return self.sets.consent(c["channels"])

    def _field(self, c: Criterion) -> Keys:
        # custom values compare as text with Unicode case folding: read the non-empty ones, decide in Python
        path = '$."' + c["field"].replace('"', '\\"') + '"'
        texts = {}
        for key, value, kind in self.sets.field_values(path):
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
        first = last = None
        if c.get("date_from") is not None or c.get("date_to") is not None:
            first, last = c.get("date_from"), c.get("date_to")
        elif c.get("days_from") is not None or c.get("days_to") is not None:
            # days since registration in [from, to] <=> registered on a day in [today - to, today - from]
            if c.get("days_to") is not None:
                first = self.today - c["days_to"]
            if c.get("days_from") is not None:
                last = self.today - c["days_from"]
        return self.sets.registered(
            c.get("stores"),
            None if first is None else self._local_instant(first),
            None if last is None else self._local_instant(last + 1),
        )

    def _home_store(self, c: Criterion) -> Keys:
        return self.sets.home_store(c["stores"])

    def _kind(self, c: Criterion) -> Keys:
        carded = self.sets.carded()
        out: Keys = set()
        if "registered" in c["values"]:
            out |= carded
        if "potential" in c["values"]:
            out |= self.universe - carded
        return out

    def _card(self, c: Criterion) -> Keys:
        low, high = c.get("number_from"), c.get("number_to")
        return self.sets.card(
            c.get("categories"), None if low is None else int(low), None if high is None else int(high)
        )

    def _level(self, c: Criterion) -> Keys:
        return self.sets.level(c["levels"])

    def _tag(self, c: Criterion) -> Keys:
        rows = self.sets.tag_counts(c["tags"])
        if c["mode"] == "any":
            return {k for k, _ in rows}
        if c["mode"] == "all":
            return {k for k, n in rows if n == len(c["tags"])}
        return self.universe - {k for k, _ in rows}

    def _balance(self, c: Criterion) -> Keys:
        return self.sets.balance(c.get("from"), c.get("to"))

    def _days_ago_range(self, c: Criterion) -> tuple[int | None, int | None]:
        if c.get("date_from") is not None or c.get("date_to") is not None:
            return c.get("date_from"), c.get("date_to")
        first = None if c.get("days_to") is None else self.today - c["days_to"]
        last = None if c.get("days_from") is None else self.today - c["days_from"]
        return first, last

    def _first_purchase(self, c: Criterion) -> Keys:
        return self.sets.first_purchase(*self._days_ago_range(c))

    def _last_purchase(self, c: Criterion) -> Keys:
        return self.sets.last_purchase(c.get("stores"), *self._days_ago_range(c))

    def _purchases(self, c: Criterion) -> Keys:
        return self.sets.day_sum(
            "purchases", self._period(c["period"]), c.get("stores"), c.get("from"), c.get("to"), self.universe
        )

    def _spend(self, c: Criterion) -> Keys:
        return self.sets.day_sum(
            "spend", self._period(c["period"]), c.get("stores"), c.get("from"), c.get("to"), self.universe
        )

    def _average_check(self, c: Criterion) -> Keys:
        return self.sets.ratio("spend", self._period(c["period"]), c.get("from"), c.get("to"))

    def _average_items(self, c: Criterion) -> Keys:
        return self.sets.ratio("items", self._period(c["period"]), c.get("from_quantity"), c.get("to_quantity"))

    def _bought_category(self, c: Criterion) -> Keys:
        return self.sets.bought_category(
            CATEGORY, c["categories"], self._period(c["period"]), c.get("stores"), c.get("min_quantity")
        )

    def _bought_products(self, c: Criterion) -> Keys:
        rows = self.sets.bought_product_counts(PRODUCT, c["products"], self._period(c["period"]), c.get("min_quantity"))
        if c["mode"] == "any":
            return {k for k, _ in rows}
        return {k for k, n in rows if n == len(c["products"])}

    def _product_name(self, c: Criterion) -> Keys:
        needle = c["text"].casefold()
        products = [i for i, name in self.sets.product_names() if needle in name.casefold()]
        if not products:
            return set()
        return self.sets.bought_any(PRODUCT, products, self._period(c["period"]))

    def _points(self, c: Criterion) -> Keys:
        column = "accrued" if c["direction"] == "accrued" else "redeemed"
        return self.sets.points(
            column, self._period(c["period"]), c.get("types"), c.get("from"), c.get("to"), self.universe
        )

    def _rfm(self, c: Criterion) -> Keys:
        filters = [
            (column, c[name])
            for name, column in (("classes", "class"), ("r", "r"), ("f", "f"), ("m", "m"))
            if c.get(name) is not None
        ]
        return self.sets.rfm(filters)

    # the promotions, promo codes, trigger runs and messages themselves (docs/segments.md)
    def _promotion(self, c: Criterion) -> Keys:
        rewarded = self.sets.rewarded(c["promotions"])
        return rewarded if c["took_part"] else self.universe - rewarded

    def _promo_code(self, c: Criterion) -> Keys:
        return self.sets.codes(c["lists"], c["state"])

    def _trigger(self, c: Criterion) -> Keys:
        if c["state"] == "never":
            return self.universe - self.sets.trigger_runs(c["trigger"], c.get("step"), "entered")
        return self.sets.trigger_runs(c["trigger"], c.get("step"), c["state"])

    def _message(self, c: Criterion) -> Keys:
        return self.sets.messages(c["mailings"], c["outcome"])

    def _in_segment(self, c: Criterion) -> Keys:
        inside: Keys = set()
        for segment in c["segments"]:
            inside |= self._member_sets(segment)
        return inside if c["in"] else self.universe - inside


#: the live count's evaluators per database file: (made at, today, evaluator); see :func:`live_evaluator`
