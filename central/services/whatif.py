"""What-if: what a draft rule set would have cost over the store's last N days, against the current rules.

The store's real receipts of the period (purchases with a customer: the
anonymous ones earn nothing under any rules) are read from ``transactions``
with their lines packed as fixed-width integers (central/points/receipt_log.py), laid
out in columns (``shared.columns.prepare_columns``) once, and quoted twice
with the Cython batch kernel (``shared.batch.quote_batch``): under the
current rule set and under the draft. Both are compared per local day and
per category. Each receipt keeps the customer's level at the time of
purchase and the points actually redeemed on it (redeemed points are not
accrued on unless the rules say so); the customer's personal percents are
the ones they have now (in this store, else network-wide: a receipt does not
record them), and campaigns are left out. A receipt whose redemption a rule set would not have allowed is
counted apart ("refused"): it earns nothing in that column.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shared import accrual, batch
from shared.columns import prepare_columns
from shared.numbers import PERCENT_DECIMALS, parse_scaled
from shared.rules import RuleSet, parse_rules

from ..points.receipt_log import LINE_DTYPE
from ..storage.store import Store
from .access import Actor
from .rules import validate, with_program

MAX_DAYS = 366


@dataclass
class Comparison:
    days: int
    receipts: int = 0
    lines: int = 0
    issued: int = 0  # what the stores' agents actually accrued on these receipts
    current: int = 0
    draft: int = 0
    refused_current: int = 0
    refused_draft: int = 0
    by_day: list[tuple[dt.date, int, int]] = field(default_factory=list)
    by_category: list[tuple[str | None, int, int]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    engine: str = accrual.ENGINE
    has_current: bool = True

    @property
    def difference(self) -> int:
        return self.draft - self.current

    @property
    def change_permille(self) -> int | None:
        """The draft's cost against the current rules' in tenths of a percent (integer arithmetic)."""
        return None if not self.current else (self.draft - self.current) * 1000 // self.current


def load(db: Store, store_id: str, timezone: str, since_epoch: int) -> tuple[Any, int, int, np.ndarray]:
    """(prepared columns, receipts, lines, per-receipt points actually accrued) of a store since a moment."""
    rows = db.purchases_since(store_id, since_epoch)
    n = len(rows)
    if n:
        at, redeemed, level_names, accrued, blobs, customer_ids = zip(*rows, strict=True)
    else:
        at, redeemed, level_names, accrued, blobs, customer_ids = (), (), (), (), (), ()
    sizes = np.fromiter((len(b) for b in blobs), np.int64, n) // LINE_DTYPE.itemsize
    line_start = np.zeros(n + 1, np.int64)
    np.cumsum(sizes, out=line_start[1:])
    lines = np.frombuffer(b"".join(blobs), LINE_DTYPE)
    level_list = sorted({x for x in level_names if x})
    codes = {name: i for i, name in enumerate(level_list)}
    level_index = np.fromiter((codes[x] if x else -1 for x in level_names), np.int32, n)
    store_percent, network_percent = personal_percents(db, store_id, customer_ids)
    skus = db.catalog_skus()
    categories = db.catalog_category_names()
    prepared = prepare_columns(
        timezone,
        at=np.asarray(at, np.int64),
        line_start=line_start,
        sku=np.ascontiguousarray(lines["sku"]),
        category=np.ascontiguousarray(lines["category"]),
        amount=np.ascontiguousarray(lines["amount"]),
        discount=np.ascontiguousarray(lines["discount"]),
        skus=skus,
        categories=categories,
        redeem=np.asarray(redeemed, np.int64),
        level=level_index,
        levels=level_list,
        store_percent=store_percent,
        network_percent=network_percent,
    )
    return prepared, n, len(lines), np.asarray(accrued, np.int64)


def personal_percents(db: Store, store_id: str, customer_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per receipt: the customer's store and network percents now, scaled by 10**PERCENT_DECIMALS (-1: none).

    Few customers have personal percents, so only theirs are read.
    """
    in_store = {cid: parse_scaled(p, PERCENT_DECIMALS) for cid, p in db.percents_in_store(store_id).items()}
    network = {cid: parse_scaled(p, PERCENT_DECIMALS) for cid, p in db.network_percents().items()}
    n = len(customer_ids)
    return (
        np.fromiter((in_store.get(c, -1) for c in customer_ids), np.int32, n),
        np.fromiter((network.get(c, -1) for c in customer_ids), np.int32, n),
    )


def compare(db: Store, actor: Actor, store_id: str, form: Any, days: int) -> Comparison:
    """The draft in ``form`` against the store's current rule set over its last ``days`` days of receipts."""
    from .rules import draft as current_draft

    store = db.get_store(store_id)
    base, _info = current_draft(db, actor, store_id)  # checks rules.read and the store scope
    _doc, draft_rules = validate(db, store, form, base)
    days = max(1, min(int(days), MAX_DAYS))
    result = Comparison(days)
    found = db.latest_rules().get(store_id)
    current_rules: RuleSet | None = None
    if found:
        current_rules = parse_rules({**with_program(db, found[1], store), "version": found[0]})
    else:
        result.has_current = False
    clock = time.perf_counter()
    since = int(time.time()) - days * 86400
    prepared, result.receipts, result.lines, issued = load(db, store_id, store["timezone"], since)
    result.issued = int(issued.sum())
    result.timings["load"] = time.perf_counter() - clock
    quoted = {}
    for name, rules in (("current", current_rules), ("draft", draft_rules)):
        clock = time.perf_counter()
        if rules is None:
            quoted[name] = None
            continue
        out = batch.quote_batch(rules, prepared)
        quoted[name] = out
        result.timings[name] = time.perf_counter() - clock
        setattr(result, name, int(out.accrued.sum()))
        setattr(result, f"refused_{name}", int((out.status != batch.OK).sum()))
    clock = time.perf_counter()
    per_day: dict[dt.date, list[int]] = {}
    per_category: dict[str | None, list[int]] = {}
    for slot, name, rules in ((0, "current", current_rules), (1, "draft", draft_rules)):
        out = quoted[name]
        if out is None or rules is None:
            continue
        for day, points in batch.totals_by_day(prepared, out).items():
            per_day.setdefault(day, [0, 0])[slot] = points
        for category, points in batch.totals_by_category(rules, prepared, out).items():
            per_category.setdefault(category, [0, 0])[slot] = points
    result.by_day = [(day, v[0], v[1]) for day, v in sorted(per_day.items())]
    result.by_category = sorted(((c, v[0], v[1]) for c, v in per_category.items()), key=lambda r: -max(r[1], r[2]))
    result.timings["sums"] = time.perf_counter() - clock
    return result
