"""The pivot table: which source answers which figure by which dimensions, and the table's assembly (no I/O).

Sources (docs/reports.md):

* the rollups (``report_sales``, ``report_categories``, ``report_hours``, ``report_points``) answer the additive
  figures by store, time, level, identified, category (sales) and hour (receipts), and the points figures by store
  and time;
* the columns (central/reports/columns.py: every receipt, with its hour, level, categories and points, and the
  points operations that are not receipts) answer the rest by any dimensions: distinct customers, receipts by
  category, anything by category and hour together, points by category, hour, level or identified, and every
  figure by the customer's dimensions (segment, RFM class, gender, age band, registration month: identified
  receipts and operations only).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..services.exports import csv_text, xlsx_cell
from ..services.text import _
from .definitions import (
    CUSTOMER_DIMENSIONS,
    DIMENSIONS,
    MAX_CELLS,
    MEASURES,
    TIME_DIMENSIONS,
    ReportError,
    bucket_label,
    ratio,
)

#: dimensions each rollup table can group by (time dimensions come from its day)
ROLLUP_DIMENSIONS = {
    "report_sales": {"store", "level", "identified", *TIME_DIMENSIONS},
    "report_categories": {"store", "level", "identified", "category", *TIME_DIMENSIONS},
    "report_hours": {"store", "hour", *TIME_DIMENSIONS},
    "report_points": {"store", *TIME_DIMENSIONS},
}
#: additive components of the figures: figure -> components it is made of
COMPONENTS = {
    "sales": ("sales",),
    "receipts": ("receipts",),
    "average_check": ("sales", "receipts"),
    "share_identified": ("identified_receipts", "receipts"),
    "points_accrued": ("points_accrued",),
    "points_redeemed": ("points_redeemed",),
    "points_expired": ("points_expired",),
    "points_by_hand": ("points_by_hand",),
    "customers": ("customers",),
    "new_customers": ("new_customers",),
}
WEEKDAYS = ("1 Mon", "2 Tue", "3 Wed", "4 Thu", "5 Fri", "6 Sat", "7 Sun")


@dataclass
class Plan:
    """Which source gives each component."""

    rollup: dict[str, str] = field(default_factory=dict)  # component -> rollup table
    columns: set[str] = field(default_factory=set)  # components from the columns
    identified_only: bool = False


def plan(rows: Sequence[str], cols: Sequence[str], measures: Sequence[str]) -> Plan:
    """Choose the sources: a rollup when one keeps the figure by these dimensions (cheapest), else the columns,
    which hold every receipt, its categories and points, and the other points operations. A figure no source has
    by these dimensions (a share identified by a customer's dimension) is a clear error."""
    dims = set(rows) | set(cols)
    if set(rows) & set(cols):
        raise ReportError({"columns": _("A dimension cannot be both a row and a column.")})
    if not measures:
        raise ReportError({"measures": _("Choose at least one figure.")})
    if "liability" in measures:
        raise ReportError(
            {"measures": _("Liability is a balance at a moment, not a sum: see it on the dashboard and its chart.")}
        )
    result = Plan()
    customer_dims = dims & CUSTOMER_DIMENSIONS

    def refuse(measure: str, by: Iterable[str]) -> ReportError:
        return ReportError(
            {
                "measures": _(
                    "%(figure)s cannot be split by %(dims)s.",
                    figure=str(MEASURES[measure]),
                    dims=", ".join(str(DIMENSIONS[d]) for d in sorted(by)),
                )
            }
        )

    for measure in measures:
        for part in COMPONENTS[measure]:
            if part.startswith("points_"):  # by store and time from report_points; by any other dimension the columns
                if dims <= ROLLUP_DIMENSIONS["report_points"]:
                    result.rollup[part] = "report_points"
                else:
                    result.columns.add(part)
                    result.identified_only |= bool(customer_dims)
                continue
            if customer_dims:  # the customer's dimensions: identified receipts only (a share would be 100 %)
                if part == "identified_receipts":
                    raise refuse(measure, customer_dims)
                result.columns.add(part)
                result.identified_only = True
                continue
            if part in ("customers", "new_customers"):
                result.columns.add(part)
                continue
            table = None
            for candidate in ("report_sales", "report_hours", "report_categories"):
                if (
                    dims <= ROLLUP_DIMENSIONS[candidate]
                    and not (candidate == "report_categories" and part != "sales")
                    # report_hours' sales are the purchases' only (a refund is not in it): net sales by hour, columns
                    and not (candidate == "report_hours" and part not in ("receipts", "identified_receipts"))
                ):
                    table = candidate
                    break
            if table is None:  # e.g. receipts by category, sales by category and hour: the columns count them
                result.columns.add(part)
            else:
                result.rollup[part] = table
    if result.columns:  # the columns' pass is made anyway: it adds the categories' sales up faster than their table
        for part, table in list(result.rollup.items()):
            if table == "report_categories":
                del result.rollup[part]
                result.columns.add(part)
    return result


def time_value(dim: str, day: int) -> str:
    date = dt.date.fromordinal(day)
    if dim == "month":
        return date.strftime("%Y-%m")
    if dim == "week":
        return bucket_label(day - date.weekday(), "week")
    if dim == "weekday":
        return WEEKDAYS[date.weekday()]
    return date.isoformat()


Cells = dict[tuple[Any, ...], dict[str, int]]


def add(cells: Cells, key: tuple[Any, ...], values: Mapping[str, int]) -> None:
    acc = cells.setdefault(key, {})
    for name, value in values.items():
        acc[name] = acc.get(name, 0) + int(value or 0)


@dataclass
class Table:
    rows: list[str]
    cols: list[str]
    measures: list[str]
    row_keys: list[tuple[Any, ...]]
    col_keys: list[tuple[Any, ...]]
    cells: Cells  # (row key + col key) -> components
    row_totals: Cells
    col_totals: Cells
    total: dict[str, int]
    identified_only: bool = False

    @property
    def size(self) -> int:
        return max(1, len(self.row_keys)) * max(1, len(self.col_keys)) * len(self.measures)

    def value(self, parts: Mapping[str, int] | None, measure: str) -> Any:
        parts = parts or {}
        if measure == "average_check":
            return ratio(parts.get("sales", 0), parts.get("receipts", 0))
        if measure == "share_identified":
            return ratio(parts.get("identified_receipts", 0), parts.get("receipts", 0))
        return parts.get(COMPONENTS[measure][0], 0)

    def sort(self, by: str | None, descending: bool) -> None:
        """Rows by a figure's row total (``by`` a measure) or by their labels."""
        if by in self.measures:
            self.row_keys.sort(
                key=lambda k: (
                    self.value(self.row_totals.get(k), by) is None,
                    self.value(self.row_totals.get(k), by) or 0,
                ),
                reverse=descending,
            )
        else:
            self.row_keys.sort(key=lambda k: tuple(str(x) for x in k), reverse=descending)

    def to_dict(self, labels: Mapping[str, Mapping[Any, str]] | None = None) -> dict[str, Any]:
        def name(dims: Sequence[str], key: tuple[Any, ...]) -> list[str]:
            return [str((labels or {}).get(d, {}).get(v, v)) for d, v in zip(dims, key, strict=True)]

        return {
            "rows": self.rows,
            "columns": self.cols,
            "measures": self.measures,
            "identified_only": self.identified_only,
            "column_keys": [name(self.cols, k) for k in self.col_keys],
            "body": [
                {
                    "key": name(self.rows, r),
                    "cells": [[self.value(self.cells.get(r + c), m) for m in self.measures] for c in self.col_keys],
                    "total": [self.value(self.row_totals.get(r), m) for m in self.measures],
                }
                for r in self.row_keys
            ],
            "column_totals": [[self.value(self.col_totals.get(c), m) for m in self.measures] for c in self.col_keys],
            "total": [self.value(self.total, m) for m in self.measures],
        }

    def records(self, labels: Mapping[str, Mapping[Any, str]] | None = None) -> Iterable[list[Any]]:
        """The table flat, for CSV and XLSX: a header, then one line per row with its cells and total."""
        shown = self.to_dict(labels)
        head = list(self.rows) or [""]
        for ck in shown["column_keys"] or [[]]:
            for m in self.measures:
                head.append(" / ".join([*ck, m]) if ck else m)
        if self.cols:
            head += [f"total / {m}" for m in self.measures]
        yield head
        for line in shown["body"] or ([{"key": [], "cells": [], "total": shown["total"]}] if not self.rows else []):
            cells = [v for cell in line["cells"] for v in cell] if self.cols else list(line["total"])
            yield [*(line["key"] or [""]), *cells, *(line["total"] if self.cols else [])]
        if self.rows:
            cells = [v for cell in shown["column_totals"] for v in cell] if self.cols else []
            yield ["total", *[""] * (len(self.rows) - 1), *cells, *shown["total"]]


def check_size(table: Table, limit: int = MAX_CELLS) -> None:
    if table.size > limit:
        raise TooLarge(table.size, limit)


class TooLarge(ReportError):
    def __init__(self, size: int, limit: int) -> None:
        self.cells = size
        super().__init__(
            {
                "size": _(
                    "This table has %(n)d cells, more than the %(limit)d a page can show: narrow the period or the"
                    " dimensions, or export it (CSV or XLSX).",
                    n=size,
                    limit=limit,
                )
            }
        )


def to_csv(records: Iterable[list[Any]]) -> str:
    """Records as CSV; a label (a till's category name, a segment's) that looks like a formula is neutralized."""
    return csv_text(records)


def to_xlsx(records: Iterable[list[Any]], title: str = "Report") -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31] or "Report")
    for record in records:
        sheet.append([xlsx_cell(sheet, v) for v in record])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- the other reports as flat records (CSV, XLSX) --------------------------------------------------------------


def dashboard_records(out: Mapping[str, Any]) -> Iterable[list[Any]]:
    """The dashboard's series: one line per bucket, one column per figure (the same numbers as its JSON)."""
    measures = list(out["series"])
    yield ["period", *measures]
    for i, label in enumerate(out["labels"]):
        yield [label, *(out["series"][m][i] for m in measures)]
    yield ["total", *(out["figures"][m] for m in measures)]
    yield ["previous period", *(out["previous"][m] for m in measures)]


def cohort_records(out: Mapping[str, Any]) -> Iterable[list[Any]]:
    """Cohorts: one line per (cohort, month after): customers active, retention, sales."""
    yield ["cohort", "customers", "month", "months_after", "active", "retention", "sales"]
    months = out["months"]
    for i, row in enumerate(out["cohorts"]):
        for k, active in enumerate(row["active"]):
            yield [row["cohort"], row["customers"], months[i + k], k, active, row["retention"][k], row["sales"][k]]


def effect_records(out: Mapping[str, Any]) -> Iterable[list[Any]]:
    rows = out["rows"]
    names = list(rows[0]) if rows else ["label"]
    yield names
    for row in rows:
        yield [row[n] for n in names]
