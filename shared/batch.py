"""Many receipts at once: the batch quote (head office's what-if over months of history).

``quote_batch(rules, prepared)`` quotes receipts laid out in columns
(shared/columns.py: ``prepare``, ``prepare_columns``) under a rule set of the
same time zone -- the draft and the current one, say -- with the Cython
kernel's ``nogil`` loop, in parallel over receipts. ``quote_batch_reference``
loops the reference calculator and gives the same answers (tests, the
bench's baseline); without the kernel, ``quote_batch`` falls back to it.

The result (:class:`BatchResult`) has ``line_accrued``/``line_redeemed`` per
line and per receipt ``accrued``, ``redeemed``, ``max_redeemable`` and
``status`` (0 ok, 1 redeem over the limit: nothing accrued or redeemed).
:func:`totals_by_day` and :func:`totals_by_category` sum it the way the
what-if shows it.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from . import accrual, tables
from ._accrual_py import K_ONE
from .columns import LINE_INPUTS, RECEIPT_INPUTS, Item, Prepared, Vocabulary, prepare, prepare_columns
from .errors import RedeemOverLimit
from .receipts import Campaign, CustomerTerms, Line, Receipt, Reward
from .rules import RuleSet

__all__ = ["BatchResult", "Prepared", "prepare", "prepare_columns", "quote_batch", "quote_batch_reference"]

OK = 0
REDEEM_OVER_LIMIT = 1


@dataclass(frozen=True, eq=False)
class BatchResult:
    """Points per line and per receipt; ``status`` 1 marks a receipt refused (redeem over the limit)."""

    line_accrued: np.ndarray
    line_redeemed: np.ndarray
    accrued: np.ndarray
    redeemed: np.ndarray
    max_redeemable: np.ndarray
    status: np.ndarray
    #: money off per line by promotions' discounts (docs/accrual.md, "Promotions"); 0 for a refused receipt
    line_discount: np.ndarray

    @classmethod
    def empty(cls, receipts: int, lines: int) -> BatchResult:
        return cls(
            np.zeros(lines, np.int64),
            np.zeros(lines, np.int64),
            np.zeros(receipts, np.int64),
            np.zeros(receipts, np.int64),
            np.zeros(receipts, np.int64),
            np.zeros(receipts, np.int8),
            np.zeros(lines, np.int64),
        )

    def equals(self, other: BatchResult) -> bool:
        """Every array equal (results are compared exactly, never approximately)."""
        return all(
            np.array_equal(getattr(self, name), getattr(other, name))
            for name in (
                "line_accrued",
                "line_redeemed",
                "accrued",
                "redeemed",
                "max_redeemable",
                "status",
                "line_discount",
            )
        )


@dataclass(frozen=True, eq=False)
class VocabularyTables:
    """The rule set looked up once per vocabulary entry (what the kernel indexes per line)."""

    categories: tuple[str, ...]  # the prepared ones, then products' categories new to them
    product_k: np.ndarray  # per sku, x1000, -1: no product k
    product_redeemable: np.ndarray
    product_category: np.ndarray  # per sku, index into categories, -1: none
    category_k_item: np.ndarray  # per category, x1000
    category_redeemable: np.ndarray
    level_percent: np.ndarray  # per level, x100, -1: unknown to the rule set


def vocabulary_tables(rules: RuleSet, prepared: Prepared) -> VocabularyTables:
    """Look every SKU, category and level of ``prepared`` up in ``rules`` (shared/tables.py)."""
    names = Vocabulary((name, i) for i, name in enumerate(prepared.categories))
    size = len(prepared.skus)
    product_k = np.full(size, -1, np.int32)
    product_redeemable = np.ones(size, np.uint8)
    product_category = np.full(size, -1, np.int32)
    index = prepared.sku_index
    for sku in rules.products:
        i = index.get(sku)
        if i is not None:
            entry = tables.product_entry(rules, sku)
            product_k[i], product_redeemable[i] = entry.k, entry.redeemable
            product_category[i] = names.code(entry.category)
    known = set(tables.category_names(rules))
    unknown = tables.CategoryEntry(K_ONE, True)  # a category the rule set does not name
    entries = [tables.category_entry(rules, name) if name in known else unknown for name in names]
    percents = tables.level_percents(rules)
    return VocabularyTables(
        categories=tuple(names),
        product_k=product_k,
        product_redeemable=product_redeemable,
        product_category=product_category,
        category_k_item=np.array([e.k_item for e in entries], np.int32),
        category_redeemable=np.array([e.redeemable for e in entries], np.uint8),
        level_percent=np.array([percents.get(name, -1) for name in prepared.levels], np.int32),
    )


def quote_batch(rules: RuleSet, prepared: Prepared, threads: int = 0) -> BatchResult:
    """Quote every prepared receipt under ``rules`` with the kernel (all cores by default).

    Without the kernel (not built, or LOYALTY_PUREPYTHON), the reference loop
    answers, slower and the same.
    """
    if rules.timezone != prepared.timezone:
        raise ValueError(
            f"the receipts were prepared in {prepared.timezone}, the rule set is in {rules.timezone}: prepare again"
        )
    calc = accrual.NativeCalculator(rules) if accrual.NativeCalculator is not None else None
    if calc is None or not calc.kernel_ready:
        return quote_batch_reference(rules, items_of(prepared))
    from native._accrual import quote_columns

    out = BatchResult.empty(prepared.receipts, prepared.lines)
    quote_columns(calc, prepared, vocabulary_tables(rules, prepared), out, threads or _cores())
    return out


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def quote_batch_reference(rules: RuleSet, items: Iterable[Item]) -> BatchResult:
    """The same answers as :func:`quote_batch`, by the reference calculator, receipt by receipt."""
    calc = accrual.PythonCalculator(rules)
    lines: list[tuple[int, int, int]] = []
    receipts: list[tuple[int, int, int, int]] = []
    for receipt, terms, balance, entries in items:
        multipliers = [c for c in entries if isinstance(c, Campaign)]
        rewards = [c for c in entries if isinstance(c, Reward)]
        try:
            q = calc.quote(receipt, terms, balance, multipliers, rewards)
        except RedeemOverLimit as exc:
            receipts.append((0, 0, exc.max_redeemable, REDEEM_OVER_LIMIT))
            lines.extend([(0, 0, 0)] * len(receipt.lines))
        else:
            receipts.append((q.accrued, q.redeemed, q.max_redeemable, OK))
            lines.extend((line.accrued, line.redeemed, line.discount) for line in q.lines)
    per_line = np.array(lines, np.int64).reshape(-1, 3)
    per_receipt = np.array(receipts, np.int64).reshape(-1, 4)
    return BatchResult(
        np.ascontiguousarray(per_line[:, 0]),
        np.ascontiguousarray(per_line[:, 1]),
        np.ascontiguousarray(per_receipt[:, 0]),
        np.ascontiguousarray(per_receipt[:, 1]),
        np.ascontiguousarray(per_receipt[:, 2]),
        per_receipt[:, 3].astype(np.int8),
        np.ascontiguousarray(per_line[:, 2]),
    )


def items_of(prepared: Prepared, limit: int | None = None) -> list[Item]:
    """The prepared receipts (the first ``limit`` of them) as calculator inputs again."""
    zone = zoneinfo.ZoneInfo(prepared.timezone)
    cols = {name: getattr(prepared, name).tolist() for name in (*RECEIPT_INPUTS, *LINE_INPUTS, "line_start")}
    starts = prepared.campaign_start.tolist()
    out: list[Item] = []
    for r in range(prepared.receipts if limit is None else min(limit, prepared.receipts)):
        day = dt.date.fromordinal(cols["day"][r])
        at = dt.datetime(day.year, day.month, day.day, cols["hour"][r], tzinfo=zone)
        lines = tuple(
            Line(
                amount=cols["amount"][i],
                sku=_name(prepared.skus, cols["sku"][i]),
                category=_name(prepared.categories, cols["category"][i]),
                discount=cols["discount"][i],
                quantity=cols["quantity"][i],
            )
            for i in range(cols["line_start"][r], cols["line_start"][r + 1])
        )
        terms = CustomerTerms(
            level=_name(prepared.levels, cols["level"][r]),
            network_percent=None if cols["network_percent"][r] < 0 else cols["network_percent"][r],
            store_percent=None if cols["store_percent"][r] < 0 else cols["store_percent"][r],
        )
        campaigns = tuple(prepared.campaigns[j] for j in cols["campaign"][starts[r] : starts[r + 1]])
        balance = cols["balance"][r] if cols["has_balance"][r] else None
        out.append((Receipt(lines=lines, at=at, redeem=cols["redeem"][r]), terms, balance, campaigns))
    return out


def _name(vocabulary: tuple[str, ...], index: int) -> str | None:
    return None if index < 0 else vocabulary[index]


# -- the what-if's sums -----------------------------------------------------------------------


def line_categories(rules: RuleSet, prepared: Prepared) -> tuple[np.ndarray, tuple[str, ...]]:
    """Each line's category under ``rules`` (the receipt's, else the product's) and the names."""
    t = vocabulary_tables(rules, prepared)
    sent = prepared.category
    from_product = np.where(prepared.sku >= 0, t.product_category[np.maximum(prepared.sku, 0)], -1)
    return np.where(sent >= 0, sent, from_product).astype(np.int32), t.categories


def totals_by_day(prepared: Prepared, result: BatchResult) -> dict[dt.date, int]:
    """Points accrued per local day (exact integer sums)."""
    if not prepared.receipts:
        return {}
    days, inverse = np.unique(prepared.day, return_inverse=True)
    sums = np.zeros(len(days), np.int64)
    np.add.at(sums, inverse, result.accrued)
    return {dt.date.fromordinal(int(d)): int(s) for d, s in zip(days, sums, strict=True)}


def totals_by_category(rules: RuleSet, prepared: Prepared, result: BatchResult) -> dict[str | None, int]:
    """Points accrued per line category under ``rules`` (None: lines without a category)."""
    codes, names = line_categories(rules, prepared)
    sums = np.zeros(len(names) + 1, np.int64)
    np.add.at(sums, codes + 1, result.line_accrued)
    return {(names[i - 1] if i else None): int(sums[i]) for i in np.flatnonzero(sums).tolist()}
