"""Exporting any filtered list to CSV or XLSX (openpyxl, write-only mode: rows streamed to disk).

Money and points are written exactly: as "1234.56" in CSV and as decimal
numbers (``Decimal``, never a float) in XLSX, so the sheet sums right and
the file imports back.

Text is never a formula (OWASP "CSV injection"): a text cell that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return -- a customer
named ``=HYPERLINK(...)``, a phone ``+7...`` -- gets a leading single quote,
in CSV and XLSX alike, and XLSX cells of text are written as strings, never
as formulas. Numbers (``int``, ``Decimal``) are left alone: a negative
amount stays a number. The import takes such a quote off again
(:func:`unquote`), so an export imports back.

Every value of every export goes through :func:`cell` (one place to change
what a cell may hold). The console runs an XLSX export as a background job (``jobs``, kind ``export``) that reports
rows written through ``progress`` and leaves the file for a download link.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

Column = tuple[str, str, Callable[[dict[str, Any]], Any]]


def money(value: int | None) -> Decimal | None:
    """Minor units as an exact decimal (123456 -> Decimal("1234.56"))."""
    return None if value is None else Decimal(int(value)).scaleb(-2)


#: what makes a spreadsheet read a cell as a formula (OWASP)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutral(value: Any) -> Any:
    """A cell value that no spreadsheet runs: text starting like a formula gets a leading "'"."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def unquote(value: Any) -> Any:
    """What :func:`neutral` wrote, read back (the import): "'=x" -> "=x"; anything else unchanged."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


def cell(value: Any) -> Any:
    """One exported value as it goes into a cell: the single place every export (CSV and XLSX) writes through.

    Text that a spreadsheet would run as a formula is neutralized (:func:`neutral`).
    """
    return neutral(value)


def csv_stream(columns: Sequence[Column], rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """CSV text chunk by chunk (UTF-8 with a BOM so Excel reads Cyrillic right)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow([key for key, _, _ in columns])
    for i, row in enumerate(rows, 1):
        writer.writerow(["" if v is None else str(v) for v in (cell(get(row)) for _, _, get in columns)])
        if i % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_text(records: Iterable[Sequence[Any]]) -> str:
    """Plain records (a report's, a code list's) as CSV text, every value through :func:`cell`."""
    out = io.StringIO()
    writer = csv.writer(out)
    for record in records:
        writer.writerow(["" if v is None else v for v in map(cell, record)])
    return out.getvalue()


def xlsx_cell(sheet: Any, value: Any) -> Any:
    """A value for a write-only sheet's row: through :func:`cell`, text as a string cell (openpyxl would take
    "=..." for a formula)."""
    value = cell(value)
    if not isinstance(value, str):
        return value
    from openpyxl.cell import WriteOnlyCell

    text = WriteOnlyCell(sheet, value)
    text.data_type = "s"
    return text


def write_xlsx(
    columns: Sequence[Column],
    rows: Iterable[dict[str, Any]],
    title: str,
    out: Any,
    progress: Callable[[int], None] | None = None,
    every: int = 2000,
) -> int:
    """Write an XLSX workbook to ``out`` (a path or a binary file), rows streamed; returns the rows written.

    ``progress(rows written)`` is called every ``every`` rows and at the end.
    """
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append([key for key, _, _ in columns])
    getters = [get for _, _, get in columns]
    written = 0
    for row in rows:
        sheet.append([xlsx_cell(sheet, get(row)) for get in getters])
        written += 1
        if progress is not None and written % every == 0:
            progress(written)
    book.save(out)
    if progress is not None:
        progress(written)
    return written


def xlsx_file(columns: Sequence[Column], rows: Iterable[dict[str, Any]], title: str) -> io.BufferedRandom:
    """An XLSX workbook in a temporary file (rewound), header row of column keys then one row per item."""
    out = tempfile.TemporaryFile()
    write_xlsx(columns, rows, title, out)
    out.seek(0)
    return out  # type: ignore[return-value]


CUSTOMER_COLUMNS: list[Column] = [
    ("id", "ID", lambda r: r["id"]),
    ("name", "Name", lambda r: r["name"]),
    ("phone", "Phone", lambda r: r["phone"]),
    ("phone_verified", "Phone verified", lambda r: "yes" if r["phone_verified"] else "no"),
    ("email", "Email", lambda r: r["email"]),
    ("card", "Card", lambda r: r["card"]),
    ("level", "Level", lambda r: r["level"]),
    ("balance", "Balance", lambda r: money(r["balance"])),
    ("spend", "Spend", lambda r: money(r["spend"])),
    ("visits", "Visits", lambda r: r["visits"]),
    ("home_store", "Store", lambda r: r["home_store"]),
    ("created_at", "Registered", lambda r: r["created_at"]),
    ("last_purchase_at", "Last purchase", lambda r: r["last_purchase_at"]),
]
