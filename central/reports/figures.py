"""The dashboard's figures from the rollups' rows and the columns (no I/O).

Inputs are what central/storage/report_queries.py returns: ``sales`` rows (day, identified, receipts, refunds,
sales, lines, accrued, redeemed), ``points`` rows (day, kind, accrued, redeemed) and the balance before the
period; the customer counts come from :class:`~central.reports.columns.Columns`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .definitions import BY_HAND, MEASURES, RECEIPT_KINDS, Period, bucket, bucket_label, buckets, ratio

Totals = dict[str, int]


def _empty() -> Totals:
    return {
        "sales": 0,
        "receipts": 0,
        "identified_receipts": 0,
        "refunds": 0,
        "customers": 0,
        "new_customers": 0,
        "points_accrued": 0,
        "points_redeemed": 0,
        "points_expired": 0,
        "points_by_hand": 0,
        "points_net": 0,
    }


def sum_rows(
    sales: Sequence[Sequence[Any]], points: Sequence[Sequence[Any]], key: Callable[[int], int] = lambda day: 0
) -> dict[int, Totals]:
    """Totals per ``key(day)`` of the rollups' rows (one key: the whole period)."""
    out: dict[int, Totals] = {}
    for day, identified, receipts, refunds, amount, _lines, _acc, _red in sales:
        k = key(day)
        acc = out.get(k)
        if acc is None:
            acc = out[k] = _empty()
        acc["sales"] += amount or 0
        acc["receipts"] += receipts or 0
        acc["refunds"] += refunds or 0
        if identified:
            acc["identified_receipts"] += receipts or 0
    for day, kind, accrued, redeemed in points:
        k = key(day)
        acc = out.get(k)
        if acc is None:
            acc = out[k] = _empty()
        accrued, redeemed = accrued or 0, redeemed or 0
        acc["points_net"] += accrued - redeemed
        if kind in RECEIPT_KINDS:
            acc["points_accrued"] += accrued
            acc["points_redeemed"] += redeemed
        elif kind == "expire":
            acc["points_expired"] -= accrued
        elif kind in BY_HAND:
            acc["points_by_hand"] += accrued
    return out


def finish(acc: Totals, liability: int) -> dict[str, Any]:
    """The figures of :data:`MEASURES` from summed totals (ratios also as exact pairs)."""
    return {
        "sales": acc["sales"],
        "receipts": acc["receipts"],
        "average_check": ratio(acc["sales"], acc["receipts"]),
        "average_check_exact": [acc["sales"], acc["receipts"]],
        "customers": acc["customers"],
        "new_customers": acc["new_customers"],
        "share_identified": ratio(acc["identified_receipts"], acc["receipts"]),
        "share_identified_exact": [acc["identified_receipts"], acc["receipts"]],
        "points_accrued": acc["points_accrued"],
        "points_redeemed": acc["points_redeemed"],
        "points_expired": acc["points_expired"],
        "points_by_hand": acc["points_by_hand"],
        "liability": liability,
        "refunds": acc["refunds"],
    }


def grain_function(grain: str) -> Callable[[np.ndarray], np.ndarray]:
    """Days (ordinals) -> their bucket's first day, vectorised through a table over the days given."""

    def of(days: np.ndarray) -> np.ndarray:
        if grain == "day" or days.size == 0:
            return days
        low, high = int(days.min()), int(days.max())
        table = np.array([bucket(d, grain) for d in range(low, high + 1)], np.int32)
        return table[days - low]

    return of


def dashboard(
    period: Period,
    grain: str,
    current: tuple[Sequence[Any], Sequence[Any], int],
    previous: tuple[Sequence[Any], Sequence[Any], int],
    customers: Mapping[str, Any],
) -> dict[str, Any]:
    """The dashboard: each figure for the period and the previous one, and its series by ``grain``.

    ``current`` / ``previous``: (sales rows, points rows, balance before the period); ``customers``: ``total``,
    ``new``, ``previous_total``, ``previous_new``, ``series`` and ``new_series`` (bucket start -> count).
    """
    sales, points, before = current
    total = sum_rows(sales, points).get(0, _empty())
    total["customers"], total["new_customers"] = customers["total"], customers["new"]
    figures = finish(total, before + total["points_net"])
    p_sales, p_points, p_before = previous
    old = sum_rows(p_sales, p_points).get(0, _empty())
    old["customers"], old["new_customers"] = customers["previous_total"], customers["previous_new"]
    before_figures = finish(old, p_before + old["points_net"])
    first, last = period.span
    starts = {day: bucket(day, grain) for day in range(first, last + 1)}
    per = sum_rows(sales, points, starts.__getitem__)
    series: dict[str, list[Any]] = {m: [] for m in MEASURES}
    labels = []
    running = before
    for start in buckets(period, grain):
        acc = per.get(start, _empty())
        acc["customers"] = customers["series"].get(start, 0)
        acc["new_customers"] = customers["new_series"].get(start, 0)
        running += acc["points_net"]
        shown = finish(acc, running)
        labels.append(bucket_label(start, grain))
        for measure in MEASURES:
            series[measure].append(shown[measure])
    return {
        "period": period.to_dict(),
        "previous_period": period.previous().to_dict(),
        "grain": grain,
        "figures": figures,
        "previous": before_figures,
        "labels": labels,
        "series": series,
    }
