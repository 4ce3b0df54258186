"""Importing a chain's receipt history (``loyalty-central import-receipts``): docs/import-receipts.md.

A file (CSV, XLSX, JSON Lines or Parquet) holds one row per receipt line; the
rows of one receipt are consecutive. It is read twice:

1. :func:`check` parses every row and lists every bad one with its line number
   and why (unknown store, amounts that do not add up, a refund of an unknown
   receipt, a duplicated receipt id, a bad date or number). A dry run stops
   here; a real run refuses to write anything while one row is bad.
2. :func:`run` builds, batch by batch, the very events a store agent sends
   (``shared/events.py``: a ``registration`` for each customer new to the
   chain, a ``purchase`` per receipt, a ``refund`` per refund) and applies each
   batch through the ingest's own transaction
   (``central/storage/ingest.py``, ``commit_ingest`` -> ``central/points/ledger.py``),
   so the ledger, lots, customers' aggregates and levels come out as if the
   receipts had come from the tills. There is no second copy of the ledger logic.
   On SQLite a second process writes each batch while the next one is made
   (:class:`_Overlap`, central/storage/import_pipeline.py; docs/import-receipts.md,
   "Both cores").

Event ids are derived from (store, receipt id), and each batch's events go into
the idempotency register (``applied_events``, agent ``import``) in the same
transaction as their effect: the same file imported twice adds nothing, and an
import cut off at any point resumes where its last batch committed.

With ``points="compute"`` each batch's receipts are quoted by the batch kernel
(``shared/batch.py``, the what-if's code) under each store's current rule set,
with the customer's level as it stands when the batch starts (a customer the chain does not know yet: the
level their spend of 0 earns, when the level program promotes automatically).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import operator
import re
import uuid
import zoneinfo
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from flask_babel import gettext as _

from shared.events import SCHEMA_VERSION
from shared.numbers import format_scaled

from ..gc_pause import without_gc
from ..points.receipt_log import LineBlock, LineColumns, ParsedTimes
from ..storage.import_pipeline import Conflict, Writer
from ..storage.ingest import IngestUnit
from ..storage.line_pack import RowSpan
from ..storage.store import Store
from .spreadsheets import zip_bomb

AGENT = "import"  # the pseudo-agent the register rows of imported events name
TERMINAL = "import"
BATCH_RECEIPTS = 20_000
MAX_ERRORS = 10_000
KEEP_LINES = 2_000_000

#: field -> header names it is recognised by (compared lower-case, "_"/"-" as spaces)
ALIASES: dict[str, tuple[str, ...]] = {
    "receipt": ("receipt", "receipt id", "receipt no", "check", "basket id", "чек", "номер чека", "id чека"),
    "kind": ("kind", "type", "operation", "тип", "операция", "вид"),
    "refund_of": ("refund of", "refunds", "original receipt", "возврат чека", "чек продажи", "исходный чек"),
    "store": ("store", "store id", "shop", "магазин", "код магазина", "id магазина"),
    "at": ("at", "date", "time", "datetime", "date time", "дата", "время", "дата и время", "дата время"),
    "customer_id": (
        "customer id",
        "customer",
        "external id",
        "client id",
        "клиент",
        "id клиента",
        "код клиента",
        "внешний id",
    ),
    "card": ("card", "card number", "карта", "номер карты"),
    "phone": ("phone", "phone number", "телефон", "номер телефона"),
    "sku": ("sku", "product id", "article", "артикул", "код товара"),
    "name": ("name", "product", "product name", "наименование", "товар", "название"),
    "category": ("category", "department", "категория", "группа", "отдел"),
    "quantity": ("quantity", "qty", "количество", "кол во"),
    "price": ("price", "цена"),
    "amount": ("amount", "line amount", "sum", "сумма", "сумма строки"),
    "discount": ("discount", "скидка", "сумма скидки"),
    "total": ("total", "receipt total", "итого", "сумма чека"),
    "accrued": ("accrued", "points accrued", "начислено", "начислено баллов"),
    "redeemed": ("redeemed", "points redeemed", "списано", "списано баллов"),
}
REFUND_WORDS = {"refund", "return", "r", "возврат", "в"}
SALE_WORDS = {"", "sale", "purchase", "s", "продажа", "п"}
RECEIPT_FIELDS = ("kind", "refund_of", "at", "customer_id", "card", "phone", "total")
_MONEY = re.compile(r"\A([0-9]+)(?:[.,]([0-9]{1,2}))?\Z")
_QUANTITY = re.compile(r"\A([0-9]+)(?:[.,]([0-9]{1,3}))?\Z")
_RU_DATE = re.compile(r"\A([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})(?:[ T]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?)?\Z")


class ImportError_(Exception):
    """The file cannot be read at all (format, header, mapping): nothing was written."""


@dataclass
class Mapping_:
    """How a file's columns map to the fields (the defaults, or a mapping file)."""

    columns: dict[str, str] = field(default_factory=dict)  # field -> header in the file
    date_format: str | None = None
    refund_values: set[str] = field(default_factory=lambda: set(REFUND_WORDS))


def load_mapping(path: str | Path | None) -> Mapping_:
    """A mapping file (JSON or TOML): ``columns`` (field -> header), ``date_format``, ``refund_values``."""
    if path is None:
        return Mapping_()
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
        if str(path).endswith(".toml"):
            import tomllib

            doc = tomllib.loads(text)
        else:
            doc = json.loads(text)
    except Exception as exc:  # noqa: BLE001 -- json, toml and the decoder raise their own kinds
        raise ImportError_(_("The mapping file is not valid (%(error)s).", error=_shown(str(exc), 200))) from None
    if not isinstance(doc, dict):
        raise ImportError_(_("The mapping file is not valid (%(error)s).", error=_("not a table of keys")))
    unknown = set(doc) - {"columns", "date_format", "refund_values"}
    columns = doc.get("columns", {})
    if not isinstance(columns, dict) or not all(isinstance(v, str | int) for v in columns.values()):
        raise ImportError_(
            _("The mapping file is not valid (%(error)s).", error=_("columns must name a header for each field"))
        )
    bad = [f for f in columns if f not in ALIASES]
    if unknown or bad:
        raise ImportError_(
            _("The mapping file names unknown keys: %(keys)s.", keys=", ".join(sorted(unknown | set(bad))))
        )
    date_format = doc.get("date_format")
    if date_format is not None and not isinstance(date_format, str):
        raise ImportError_(
            _("The mapping file is not valid (%(error)s).", error=_("date_format must be a text (a strptime format)"))
        )
    refunds = doc.get("refund_values", [])
    if not isinstance(refunds, list) or not all(isinstance(v, str | int) for v in refunds):
        raise ImportError_(
            _("The mapping file is not valid (%(error)s).", error=_("refund_values must be a list of words"))
        )
    mapping = Mapping_(columns={k: str(v) for k, v in columns.items()}, date_format=date_format)
    if "refund_values" in doc:
        mapping.refund_values = {_canonical(str(v)) for v in refunds}
    return mapping


def _canonical(header: str) -> str:
    return " ".join(str(header).strip().lower().replace("_", " ").replace("-", " ").split())


def field_index(headers: Sequence[Any], mapping: Mapping_) -> dict[str, int]:
    """field -> column position; the mapping file's names first, then the known aliases."""
    canon = [_canonical(h) for h in headers]
    found: dict[str, int] = {}
    for name, header in mapping.columns.items():
        if _canonical(header) not in canon:
            raise ImportError_(_("The mapping names column %(column)s, which the file does not have.", column=header))
        found[name] = canon.index(_canonical(header))
    taken = set(found.values())
    if len(taken) < len(found):
        raise ImportError_(
            _(
                "The mapping names one column for two fields: %(fields)s.",
                fields=", ".join(sorted(f for f in found if list(found.values()).count(found[f]) > 1)),
            )
        )
    for name, aliases in ALIASES.items():
        if name in found:
            continue
        for i, header in enumerate(canon):
            if header in aliases and i not in taken:
                found[name] = i
                taken.add(i)
                break
    for i in sorted(found.values()):
        if canon.count(canon[i]) > 1:  # which of the two would be meant?
            raise ImportError_(_("The file has two columns named %(column)s.", column=_shown(str(headers[i]))))
    missing = [f for f in ("receipt", "store", "at") if f not in found]
    if missing:
        raise ImportError_(
            _("The file has no column for: %(fields)s (see docs/import-receipts.md).", fields=", ".join(missing))
        )
    return found


# -- reading the formats ---------------------------------------------------------------------------


def read_rows(path: str | Path) -> Iterator[tuple[int, list[Any]]]:
    """(line number, values) of every row; the first one yielded is the header (its line number too)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        yield from _csv(path)
    elif suffix == ".xlsx":
        yield from _xlsx(path)
    elif suffix in (".jsonl", ".ndjson"):
        yield from _jsonl(path)
    elif suffix == ".parquet":
        yield from _parquet(path)
    else:
        raise ImportError_(_("Use a .csv, .xlsx, .jsonl or .parquet file."))


def _csv(path: Path) -> Iterator[tuple[int, list[Any]]]:
    raw = path.open("rb")
    head = raw.read(65536)
    raw.seek(0)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with its BOM (a spreadsheet's "Unicode text")
        encoding = "utf-16"
    else:
        try:
            head.decode("utf-8-sig")
            encoding = "utf-8-sig"
        except UnicodeDecodeError as exc:
            if exc.start > len(head) - 4:  # a character cut by the sample's end
                encoding = "utf-8-sig"
            else:
                encoding = "cp1251"
        nul = _nul_line(raw)
        if nul:  # text has none: a binary file, or UTF-16 without its BOM
            raw.close()
            why = _("a NUL byte: the file is not text (or is UTF-16 without its byte order mark)")
            raise ImportError_(_("line %(line)s: %(message)s", line=nul, message=why))
    text = io.TextIOWrapper(raw, encoding=encoding, newline="")
    reader = None
    try:
        sample = text.read(65536)
        text.seek(0)
        delimiter = ";" if sample.split("\n", 1)[0].count(";") > sample.split("\n", 1)[0].count(",") else ","
        reader = csv.reader(text, delimiter=delimiter)
        start = 1  # a row's first line (a quoted value may hold line breaks: reader.line_num is its last)
        for row in reader:
            if row:
                yield start, row
            start = reader.line_num + 1
    except UnicodeDecodeError:
        raise ImportError_(_("The file is neither UTF-8 nor Windows-1251 text.")) from None
    except csv.Error:  # a field over the csv module's limit (a quote left open makes one of the rest of the file)
        line = reader.line_num if reader is not None else 1
        why = _("a value longer than %(n)s characters (a quote left open?)", n=f"{csv.field_size_limit():,}")
        raise ImportError_(_("line %(line)s: %(message)s", line=line, message=why)) from None
    finally:
        text.close()


def _nul_line(raw: Any) -> int:
    """The line of the file's first NUL byte (0: none); the file is read by chunks (memchr: no per-line work)."""
    lines, chunk = 1, raw.read(1 << 20)
    while chunk:
        at = chunk.find(b"\x00")
        if at >= 0:
            raw.seek(0)
            return lines + chunk.count(b"\n", 0, at)
        lines += chunk.count(b"\n")
        chunk = raw.read(1 << 20)
    raw.seek(0)
    return 0


def _xlsx(path: Path) -> Iterator[tuple[int, list[Any]]]:
    import openpyxl

    try:
        if zip_bomb(str(path)):
            raise ImportError_(_("This is not a readable XLSX file (%(error)s).", error=_("a zip bomb")))
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except ImportError_:
        raise
    except Exception as exc:  # noqa: BLE001 -- openpyxl raises many kinds for a damaged file
        raise ImportError_(_("This is not a readable XLSX file (%(error)s).", error=type(exc).__name__)) from None
    try:
        found = False
        for number, row in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1):
            if any(v is not None and v != "" for v in row):
                found = True
                yield number, list(row)
        if not found and len(book.worksheets) > 1:
            raise ImportError_(
                _(
                    "The first sheet (%(sheet)s) is empty: the import reads the first sheet only.",
                    sheet=book.worksheets[0].title,
                )
            )
    except ImportError_:
        raise
    except Exception as exc:  # noqa: BLE001 -- a damaged sheet: openpyxl, zipfile or the XML parser
        raise ImportError_(_("This is not a readable XLSX file (%(error)s).", error=type(exc).__name__)) from None
    finally:
        book.close()


def _jsonl(path: Path) -> Iterator[tuple[int, list[Any]]]:
    """The first object's keys are the header; the bad lines before it come right after it."""
    headers: list[str] | None = None
    known: set[str] = set()
    before: list[tuple[int, list[Any]]] = []  # bad lines before the first object
    with path.open("rb") as f:
        for number, data in enumerate(f, start=1):
            why = None
            try:
                text = data.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                text, why = "", _("not UTF-8 text")
            if why is None and not text.strip():
                continue
            doc = None
            if why is None:
                with contextlib.suppress(ValueError, RecursionError):  # RecursionError: nested too deep
                    doc = json.loads(text, parse_float=str)  # 123.45 stays the decimal text it was
                if not isinstance(doc, dict):
                    why = _("not a JSON object")
                elif headers is not None and not doc.keys() <= known:
                    extra = ", ".join(str(k) for k in doc if k not in known)
                    why = _("keys the first line does not have: %(keys)s", keys=_shown(extra))
            if why is not None:
                if headers is None:
                    before.append((number, [_BadLine(why)]))
                else:
                    yield number, [_BadLine(why)]
                continue
            assert isinstance(doc, dict)
            if headers is None:
                headers = list(doc)
                known = set(headers)
                yield 0, headers
                yield from before
            yield number, [doc.get(h) for h in headers]
    if headers is None and before:
        line, (bad,) = before[0]
        raise ImportError_(_("line %(line)s: %(message)s", line=line, message=bad.why))


class _BadLine:
    def __init__(self, why: str) -> None:
        self.why = why


def _parquet(path: Path) -> Iterator[tuple[int, list[Any]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError_(_("Reading Parquet needs pyarrow (pip install pyarrow).")) from None
    try:
        source = pq.ParquetFile(path)
        names = list(source.schema_arrow.names)
    except Exception as exc:  # noqa: BLE001 -- pyarrow raises OSError, ArrowInvalid, ... for a damaged file
        raise ImportError_(_("This is not a readable Parquet file (%(error)s).", error=_shown(str(exc)))) from None
    yield 1, names
    number = 1
    batches = source.iter_batches(batch_size=65536)
    while True:
        try:
            batch = next(batches, None)
        except Exception as exc:  # noqa: BLE001 -- a damaged page
            raise ImportError_(_("This is not a readable Parquet file (%(error)s).", error=_shown(str(exc)))) from None
        if batch is None:
            break
        columns = []
        for name, column in zip(names, batch.columns, strict=True):
            try:
                columns.append(column.to_pylist())
            except (ValueError, OverflowError, ArithmeticError) as exc:  # a time out of Python's range, ...
                first = next(i for i in range(len(column)) if _unreadable(column[i]))
                raise ImportError_(
                    _(
                        "line %(line)s: %(message)s",
                        line=number + 1 + first,
                        message=_(
                            "column %(column)s has values that cannot be read (%(error)s)",
                            column=name,
                            error=_shown(str(exc)),
                        ),
                    )
                ) from None
        for values in zip(*columns, strict=True):
            number += 1
            yield number, list(values)


def _unreadable(scalar: Any) -> bool:
    """Whether an Arrow value has no Python value (a text not UTF-8, a time out of range, ...)."""
    try:
        scalar.as_py()
    except (ValueError, OverflowError, ArithmeticError):
        return True
    return False


# -- parsing values --------------------------------------------------------------------------------


class Bad(ValueError):
    pass


#: the most digits of a whole amount (9,999,999,999.99), of points and of a quantity's whole part: so a receipt's
#: sums stay far inside the ledger's 64-bit integers
MONEY_DIGITS = 10
POINTS_DIGITS = 10
QUANTITY_DIGITS = 6


def _shown(text: str, width: int = 40) -> str:
    """A value as a message quotes it: cut to ``width`` characters."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _text(value: Any) -> str:
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)  # the shortest text that reads back as this float (spreadsheets store floats)
    return str(value).strip()


_MONEY_SEEN: dict[str, int] = {}


def money(value: Any, what: str) -> int:
    """A decimal amount like 123.45 (or 123,45) -> minor units, exactly (no floats)."""
    if type(value) is str:  # the common case first: "123.45" (prices repeat: the texts seen are remembered)
        cents = _MONEY_SEEN.get(value)
        if cents is not None:
            return cents
        whole, dot, frac = value.partition(".")
        if (
            dot
            and len(frac) == 2
            and whole.isdigit()
            and frac.isdigit()
            and whole.isascii()
            and frac.isascii()
            and len(whole) <= MONEY_DIGITS
        ):
            cents = int(whole) * 100 + int(frac)
            if len(_MONEY_SEEN) < 100_000:
                _MONEY_SEEN[value] = cents
            return cents
    text = _text(value)
    if " " in text or "\u00a0" in text:
        text = text.replace(" ", "").replace("\u00a0", "")
    match = _MONEY.match(text)
    if not match:
        raise Bad(_("%(field)s must be an amount like 123.45, not %(value)r", field=what, value=_shown(text)))
    if len(match.group(1).lstrip("0")) > MONEY_DIGITS:
        raise Bad(_("%(field)s is too large: %(value)r", field=what, value=_shown(text)))
    return int(match.group(1).lstrip("0") or "0") * 100 + int((match.group(2) or "0").ljust(2, "0"))


def points_value(value: Any, what: str) -> int:
    text = _text(value)
    if not text:
        return 0
    if not (text.isdigit() and text.isascii()):
        raise Bad(_("%(field)s must be whole points like 150, not %(value)r", field=what, value=_shown(text)))
    if len(text.lstrip("0")) > POINTS_DIGITS:
        raise Bad(_("%(field)s is too large: %(value)r", field=what, value=_shown(text)))
    return int(text.lstrip("0") or "0")


def quantity(value: Any) -> int:
    """x1000, like shared/receipts.py; empty means 1."""
    text = _text(value)
    if not text:
        return 1000
    match = _QUANTITY.match(text)
    if not match:
        raise Bad(_("quantity must be a number like 1 or 0.455, not %(value)r", value=_shown(text)))
    if len(match.group(1).lstrip("0")) > QUANTITY_DIGITS:
        raise Bad(_("%(field)s is too large: %(value)r", field="quantity", value=_shown(text)))
    # 0: a weighed or service line sent without a quantity (shared/receipts.py); it earns on its amount
    return int(match.group(1).lstrip("0") or "0") * 1000 + int((match.group(2) or "0").ljust(3, "0"))


EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def moment(value: Any, zone: zoneinfo.ZoneInfo, date_format: str | None) -> dt.datetime:
    """An aware time: ISO 8601 or DD.MM.YYYY [HH:MM[:SS]]; without an offset, the store's local time."""
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, dt.date):
        when = dt.datetime(value.year, value.month, value.day)
    else:
        text = _text(value)
        try:
            if date_format:
                when = dt.datetime.strptime(text, date_format)
            elif match := _RU_DATE.match(text):
                d, m, y, hh, mm, ss = match.groups()
                when = dt.datetime(int(y), int(m), int(d), int(hh or 0), int(mm or 0), int(ss or 0))
            else:
                when = dt.datetime.fromisoformat(text)
        except ValueError:
            raise Bad(_("bad date %(value)r: use 2017-03-01 14:05 or 01.03.2017 14:05", value=_shown(text))) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    try:
        utc = when.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc <= dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
        raise Bad(
            _(
                "date %(value)r is out of range: a receipt is from 1970 until today",
                value=_shown(when.isoformat(sep=" ")),
            )
        )
    return when


# -- receipts --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Line:
    sku: str | None
    name: str | None
    category: str | None
    quantity: int
    price: int | None
    discount: int
    amount: int
    accrued: int
    redeemed: int


@dataclass(slots=True)
class SaleLines:
    """Sale lines as columns, one row per line (the fields of :class:`Line`): the columnar reader's whole file,
    or a batch's lines (:meth:`taken`, :meth:`of`), which the kernel and the events read by slicing instead of
    reading each line's attributes."""

    sku: np.ndarray  # object: str | None
    name: np.ndarray  # object: str | None
    category: np.ndarray  # object: str | None
    quantity: np.ndarray  # int64, x1000
    price: np.ndarray  # object: int | None
    discount: np.ndarray  # int64
    amount: np.ndarray  # int64
    accrued: np.ndarray  # int64 (the file's)
    redeemed: np.ndarray  # int64 (the file's)
    #: the columnar reader's: each line's sku and category as an index into ``names`` (-1: none)
    coded: tuple[np.ndarray, np.ndarray, list[str]] | None = None

    def __len__(self) -> int:
        return len(self.amount)

    def taken(self, rows: Any) -> SaleLines:
        """Rows of these (a slice, a view; or an index array, a copy)."""
        coded = None if self.coded is None else (self.coded[0][rows], self.coded[1][rows], self.coded[2])
        return SaleLines(
            self.sku[rows],
            self.name[rows],
            self.category[rows],
            self.quantity[rows],
            self.price[rows],
            self.discount[rows],
            self.amount[rows],
            self.accrued[rows],
            self.redeemed[rows],
            coded,
        )

    @classmethod
    def of(cls, lines: Sequence[Line]) -> SaleLines:
        """Line objects (the row reader's) as columns."""
        n = len(lines)

        def objects(name: str) -> np.ndarray:
            out = np.empty(n, object)
            out[:] = [getattr(line, name) for line in lines]
            return out

        def integers(name: str) -> np.ndarray:
            return np.fromiter((getattr(line, name) for line in lines), np.int64, n)

        return cls(
            objects("sku"),
            objects("name"),
            objects("category"),
            integers("quantity"),
            objects("price"),
            integers("discount"),
            integers("amount"),
            integers("accrued"),
            integers("redeemed"),
        )


#: the fields of a sale line, in :class:`Line`'s order
LINE_NAMES = ("sku", "name", "category", "quantity", "price", "discount", "amount", "accrued", "redeemed")


class LineRun(RowSpan[Line]):
    """A receipt's lines as rows ``[start, stop)`` of a :class:`SaleLines` (the columnar reader's): it reads as
    the list of :class:`Line` it stands for (and equals it), each made when asked; ``amount`` is their sum."""

    __slots__ = ("amount", "lines")

    def __init__(self, lines: SaleLines, start: int, stop: int, amount: int) -> None:
        super().__init__(start, stop)
        self.lines = lines
        self.amount = amount

    def _row(self, row: int) -> Line:
        lines = self.lines
        return Line(*(getattr(lines, name)[row : row + 1].tolist()[0] for name in LINE_NAMES))

    def __iter__(self) -> Iterator[Line]:
        a, b, lines = self.start, self.stop, self.lines
        return map(Line, *(getattr(lines, name)[a:b].tolist() for name in LINE_NAMES))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LineRun | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


@dataclass
class Receipt:
    store: str
    receipt: str
    first_line: int
    refund: bool = False
    refund_of: str | None = None
    at: dt.datetime | None = None
    customer: tuple[str, str] | None = None  # ("customer_id" | "card" | "phone", value)
    total: int | None = None
    #: Line objects (the row reader's), or a run of the columnar reader's columns that reads as them
    lines: list[Line] | LineRun = field(default_factory=list)

    @property
    def amount(self) -> int:
        lines = self.lines
        if type(lines) is LineRun:
            return lines.amount
        return sum(line.amount for line in lines)


@dataclass
class Problem:
    line: int
    message: str


@dataclass
class Report:
    rows: int = 0
    receipts: int = 0
    refunds: int = 0
    lines: int = 0
    problems: list[Problem] = field(default_factory=list)
    bad_count: int = 0
    new_stores: set[str] = field(default_factory=set)
    stores: set[str] = field(default_factory=set)  # every store the file names
    refund_targets: set[tuple[str, str]] = field(default_factory=set)
    #: the receipts read, kept for the import (so a file up to KEEP_LINES lines is parsed once)
    parsed: list[Receipt] | None = field(default_factory=list)

    def bad(self, line: int, message: str) -> None:
        self.bad_count += 1
        if len(self.problems) < MAX_ERRORS:
            self.problems.append(Problem(line, message))


class Parser:
    """Groups a file's rows into receipts (consecutive rows with the same store and receipt id).

    A receipt's own fields (operation, date, customer, total, refund of) are parsed on its first
    row; the next rows only have to carry the same text there (or no total).
    """

    def __init__(self, db: Store, path: str | Path, mapping: Mapping_, store_timezone: str = "UTC") -> None:
        self.path = path
        self.mapping = mapping
        self.stores = {row["id"]: zoneinfo.ZoneInfo(row["timezone"]) for row in db.stores()}
        try:  # the time zone of the stores --create-stores makes: their receipts' times without an offset
            self.default_zone = zoneinfo.ZoneInfo(store_timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ImportError_(
                _(
                    "Unknown time zone %(zone)s: write an IANA time zone like Europe/Moscow.",
                    zone=_shown(store_timezone),
                )
            ) from None

    def receipts(self, report: Report | None = None) -> Iterator[tuple[Receipt | None, list[Problem]]]:
        """Each receipt of the file with the problems of its rows (None when its first row is unreadable)."""
        if Path(self.path).suffix.lower() == ".parquet":
            fast = _columnar(self, self.path)
            if fast is not None:  # the whole file read by columns (a clean file in the common layout)
                if report is not None:
                    report.rows = fast.rows
                yield from ((receipt, []) for receipt in fast.receipts)
                return
        yield from self.by_row(report)

    def by_row(self, report: Report | None) -> Iterator[tuple[Receipt | None, list[Problem]]]:
        """The row-by-row reader: every format, every row's own problems."""
        rows = read_rows(self.path)
        try:
            _header_line, headers = next(rows)
        except StopIteration:
            raise ImportError_(_("The file is empty.")) from None
        index = field_index(headers, self.mapping)
        width = len(headers)
        none = width  # the index of the None padded on every row: a field the file does not have
        at = {name: index.get(name, none) for name in ALIASES}
        i_store, i_receipt = at["store"], at["receipt"]
        head_fields = operator.itemgetter(
            *(at[name] for name in ("kind", "refund_of", "at", "customer_id", "card", "phone"))
        )
        i_total = at["total"]
        line_fields = operator.itemgetter(
            *(
                at[name]
                for name in (
                    "sku",
                    "name",
                    "category",
                    "quantity",
                    "price",
                    "discount",
                    "amount",
                    "accrued",
                    "redeemed",
                )
            )
        )
        line = self._line
        current: Receipt | None = None
        kept: list[Line] = []  # the current receipt's lines
        head_raw: tuple[Any, ...] = ()
        problems: list[Problem] = []
        count = 0
        for number, values in rows:
            count += 1
            if values and type(values[0]) is _BadLine:
                yield None, [Problem(number, values[0].why)]
                continue
            if len(values) != width:
                if any(v is not None and v != "" for v in values[width:]):
                    yield (
                        None,
                        [
                            Problem(
                                number,
                                _(
                                    "this row has %(cells)s cells, the header %(width)s (a separator inside a value?)",
                                    cells=len(values),
                                    width=width,
                                ),
                            )
                        ],
                    )
                    continue
                values = (values + [None] * width)[:width]
            values.append(None)
            store, receipt_id = values[i_store], values[i_receipt]
            store = store.strip() if type(store) is str else _text(store)
            receipt_id = receipt_id.strip() if type(receipt_id) is str else _text(receipt_id)
            if current is not None and (store != current.store or receipt_id != current.receipt):
                yield current, problems
                current, problems = None, []
            if not store or not receipt_id:
                yield None, [Problem(number, _("a row needs a store and a receipt id"))]
                continue
            try:
                raw = head_fields(values)
                if current is None:
                    current = Receipt(store, receipt_id, number, lines=(kept := []))
                    head_raw = raw
                    self._head(current, raw, values[i_total])
                elif raw != head_raw or (
                    values[i_total] not in (None, "") and _text(values[i_total]) != _text(head_raw_total(current))
                ):
                    self._differs(current, raw, values[i_total])
                if not current.refund:
                    kept.append(line(line_fields(values)))
            except Bad as exc:
                problems.append(Problem(number, str(exc)))
        if report is not None:
            report.rows = count
        if current is not None:
            yield current, problems

    def _head(self, receipt: Receipt, raw: Sequence[Any], total: Any) -> None:
        kind_raw, refund_of, when, customer_id, card, phone = raw
        zone = self.stores.get(receipt.store, self.default_zone)
        kind = _canonical(_text(kind_raw)) if kind_raw not in (None, "") else ""
        if kind in self.mapping.refund_values:
            receipt.refund = True
        elif kind not in SALE_WORDS:
            raise Bad(_("unknown operation %(value)r (a sale or a refund)", value=kind))
        receipt.at = moment(when, zone, self.mapping.date_format)
        for name, value in (("customer_id", customer_id), ("card", card), ("phone", phone)):
            text = _text(value)
            if text:
                receipt.customer = (name, text)
                break
        receipt.total = money(total, "total") if _text(total) else None
        receipt.refund_of = _text(refund_of) or None

    def _differs(self, receipt: Receipt, raw: Sequence[Any], total: Any) -> None:
        """A later row of the receipt: the same receipt fields as its first row, or a clear problem."""
        probe = Receipt(receipt.store, receipt.receipt, receipt.first_line)
        self._head(probe, raw, total)
        for name, mine, theirs in (
            ("operation", probe.refund, receipt.refund),
            ("date", probe.at, receipt.at),
            ("customer", probe.customer, receipt.customer),
            ("total", probe.total, receipt.total),
            ("refund of", probe.refund_of, receipt.refund_of),
        ):
            if mine != theirs and not (name == "total" and mine is None):
                raise Bad(
                    _(
                        "this row's %(field)s differs from the receipt's first row (line %(line)s)",
                        field=name,
                        line=receipt.first_line,
                    )
                )

    @staticmethod
    def _line(v: Sequence[Any]) -> Line:
        sku, name, category, q_raw, price_raw, discount_raw, amount_raw, accrued_raw, redeemed_raw = v
        if amount_raw is None or amount_raw == "":
            raise Bad(_("a sale's line needs an amount"))
        amount = money(amount_raw, "amount")
        discount = (
            0 if discount_raw is None or discount_raw == "" or discount_raw == "0" else money(discount_raw, "discount")
        )
        q = 1000 if q_raw is None or q_raw == "" or q_raw == "1" else quantity(q_raw)
        price = None if price_raw is None or price_raw == "" else money(price_raw, "price")
        # price x quantity may have a fraction of a minor unit; tills round it either way (shared/receipts.py)
        if price is not None and q and amount not in (price * q // 1000 - discount, -(-price * q // 1000) - discount):
            raise Bad(
                _(
                    "amount does not add up: price %(price)s x quantity %(quantity)s - discount %(discount)s"
                    " is not %(amount)s",
                    price=_cents(price),
                    quantity=format_scaled(q, 3),
                    discount=_cents(discount),
                    amount=_cents(amount),
                )
            )
        return Line(
            (sku.strip() if type(sku) is str else _text(sku)) or None,
            (name.strip() if type(name) is str else _text(name)) or None,
            (category.strip() if type(category) is str else _text(category)) or None,
            q,
            price,
            discount,
            amount,
            0
            if accrued_raw is None or accrued_raw == "" or accrued_raw == "0"
            else int(accrued_raw)
            if type(accrued_raw) is str
            and len(accrued_raw) <= POINTS_DIGITS
            and accrued_raw.isdigit()
            and accrued_raw.isascii()
            else points_value(accrued_raw, "accrued"),
            0
            if redeemed_raw is None or redeemed_raw == "" or redeemed_raw == "0"
            else points_value(redeemed_raw, "redeemed"),
        )


# -- the columnar reader ---------------------------------------------------------------------------


class _Unsure(Exception):
    """The columnar reader cannot vouch for the file: the row-by-row reader reads it (and names its problems)."""


_INVALID = object()  # a value the row reader would refuse (a row of a refund may have it: refunds have no lines)


@dataclass
class _Columns:
    rows: int
    receipts: Iterator[Receipt]


def _columnar(parser: Parser, path: str | Path) -> _Columns | None:
    """A Parquet file read by whole columns: the receipts as the row reader gives them, or None when some value
    is not clean (the row reader then reads the file, and names each problem with its line).

    Each column's distinct values are parsed once, by the row reader's own functions (so a value means here
    exactly what it means there), and spread back over the rows with numpy; the receipts are the runs of
    rows with the same store and receipt id, whose receipt fields (operation, date, customer, refund of) must
    be the same on every row and whose total, when a later row repeats it, the same text.
    """
    try:
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    try:
        table = pq.ParquetFile(path).read()
    except Exception:  # noqa: BLE001 -- a damaged file: the row reader says so
        return None
    try:
        return _columnar_read(parser, table, np, pa)
    except (_Unsure, ValueError, OverflowError, ArithmeticError):  # a text not UTF-8, a time out of range, ...
        return None  # the row reader names the problem


def _columnar_read(parser: Parser, table: Any, np: Any, pa: Any) -> _Columns:
    headers = table.column_names
    index = field_index(headers, parser.mapping)
    n = table.num_rows
    if n == 0:
        raise _Unsure
    columns: dict[str, Any] = {}
    for name, i in index.items():
        column = table.column(i)
        kind = column.type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)):
            raise _Unsure  # floats, dates, ...: the row reader's conversions
        columns[name] = column

    def codes(name: str) -> tuple[Any, list[Any]]:
        """(each row's code, the distinct raw values by code; the last code is a missing value)."""
        column = columns.get(name)
        if column is None:
            return np.zeros(n, np.int64), [None]
        encoded = column.combine_chunks().dictionary_encode()
        values = encoded.dictionary.to_pylist()
        return _indices(encoded.indices, len(values)), [*values, None]

    def parsed(name: str, parse: Callable[[Any], Any]) -> tuple[Any, Any]:
        """(each row's code, the parsed value by code as an object array); a refused value is _INVALID."""
        code, values = codes(name)
        out = []
        for value in values:
            try:
                out.append(parse(value))
            except Bad:
                out.append(_INVALID)
        return code, np.array(out + [None], dtype=object)[:-1]

    def text(value: Any) -> str:
        return value.strip() if type(value) is str else _text(value)

    store_code, store_text = parsed("store", text)
    receipt_code, receipt_text = parsed("receipt", text)
    store_of, receipt_of = store_text[store_code], receipt_text[receipt_code]

    def used(code: Any, size: int) -> Any:
        """The codes some row has (a mask over the distinct values)."""
        mask = np.zeros(size, bool)
        mask[code] = True
        return mask

    if not (
        all(store_text[used(store_code, len(store_text))]) and all(receipt_text[used(receipt_code, len(receipt_text))])
    ):
        raise _Unsure  # a row without a store or a receipt id
    # runs of rows of one receipt (the stripped texts decide, as in the row reader)
    change = np.empty(n, bool)
    change[0] = True
    change[1:] = np.asarray(store_of[1:] != store_of[:-1], bool) | np.asarray(receipt_of[1:] != receipt_of[:-1], bool)
    starts = np.flatnonzero(change)
    run = np.cumsum(change) - 1  # each row's receipt
    first = starts[run]  # each row's receipt's first row
    heads = {}
    for name in ("kind", "refund_of", "at", "customer_id", "card", "phone"):
        code, values = codes(name)
        if (code != code[first]).any():
            raise _Unsure  # a later row with other receipt fields: the row reader compares them
        heads[name] = (code[starts], values)
    total_code, total_values = codes("total")
    empty_total = np.array([v is None or v == "" for v in total_values])
    later = total_code != total_code[first]
    if (later & ~empty_total[total_code]).any():
        raise _Unsure

    # the receipts' own fields, parsed once per receipt (a refund or a sale, its time, customer, total)
    kinds = [_canonical(_text(v)) if v not in (None, "") else "" for v in heads["kind"][1]]
    for kind in kinds:
        if kind not in parser.mapping.refund_values and kind not in SALE_WORDS:
            raise _Unsure
    refund_by_code = np.array([kind in parser.mapping.refund_values for kind in kinds])
    refund = refund_by_code[heads["kind"][0]]
    receipt_stores = store_of[starts].tolist()
    receipt_ids = receipt_of[starts].tolist()
    at_code, at_values = heads["at"]
    moments: dict[tuple[int, Any], dt.datetime] = {}
    ats = []
    for store, code in zip(receipt_stores, at_code.tolist(), strict=True):
        zone = parser.stores.get(store, parser.default_zone)
        when = moments.get((code, zone))
        if when is None:
            try:
                when = moments[(code, zone)] = moment(at_values[code], zone, parser.mapping.date_format)
            except Bad:
                raise _Unsure from None
        ats.append(when)
    who = []
    for name in ("customer_id", "card", "phone"):
        code, values = heads[name]
        texts = np.array([_text(v) for v in values] + [""], dtype=object)[:-1]
        who.append((name, texts[code].tolist()))
    refund_code, refund_values = heads["refund_of"]
    refund_texts = np.array([_text(v) or None for v in refund_values] + [None], dtype=object)[:-1]
    refund_of = refund_texts[refund_code].tolist()

    def total_of(value: Any) -> int | None:
        return money(value, "total") if _text(value) else None

    totals = np.array([_try(total_of, v) for v in total_values] + [None], dtype=object)[:-1]
    if any(t is _INVALID for t in totals[used(total_code[starts], len(totals))]):
        raise _Unsure
    receipt_total = totals[total_code[starts]].tolist()

    # the lines: each distinct value parsed by the row reader's rules (Parser._line), spread over the sale rows
    # as columns (no object per line: SaleLines, each receipt a LineRun of it)
    sale_rows = np.flatnonzero(~refund[run])

    def sale_values(name: str, parse: Callable[[Any], Any]) -> tuple[Any, Any]:
        """(each sale row's code, the parsed value by code); a sale row's value refused: _Unsure."""
        code, values = parsed(name, parse)
        code = code[sale_rows]
        if any(v is _INVALID for v in values[used(code, len(values))]):
            raise _Unsure
        return code, values

    def integers(name: str, parse: Callable[[Any], Any]) -> Any:
        """Each sale row's value of an integer field, as int64."""
        code, values = sale_values(name, parse)
        try:
            return np.array([0 if v is _INVALID else v for v in values.tolist()], np.int64)[code]
        except OverflowError:
            raise _Unsure from None

    def objects(name: str, parse: Callable[[Any], Any]) -> Any:
        code, values = sale_values(name, parse)
        return values[code]

    def amount(v: Any) -> int:
        if v is None or v == "":
            raise Bad("")
        return money(v, "amount")

    amounts = integers("amount", amount)
    discounts = integers("discount", lambda v: 0 if v is None or v == "" or v == "0" else money(v, "discount"))
    quantities = integers("quantity", lambda v: 1000 if v is None or v == "" or v == "1" else quantity(v))
    price_code, price_values = sale_values("price", lambda v: None if v is None or v == "" else money(v, "price"))
    prices = price_values[price_code]
    accrued = integers(
        "accrued",
        lambda v: (
            0
            if v is None or v == "" or v == "0"
            else int(v)
            if type(v) is str and len(v) <= POINTS_DIGITS and v.isdigit() and v.isascii()
            else points_value(v, "accrued")
        ),
    )
    redeemed = integers("redeemed", lambda v: 0 if v is None or v == "" or v == "0" else points_value(v, "redeemed"))
    if len(amounts) and int(amounts.max()) * len(amounts) >= 2**63:
        raise _Unsure  # the receipts' sums below are int64
    priced = np.array([p is not None for p in price_values.tolist()], bool)[price_code]
    if priced.any():  # price x quantity - discount against the amount, as Parser._line checks it
        p = prices[priced]
        q = quantities[priced].astype(object)
        a, d = amounts[priced].astype(object), discounts[priced].astype(object)
        low, high = p * q // 1000 - d, -(-p * q // 1000) - d
        wrong = np.asarray(q != 0, bool) & np.asarray(a != low, bool) & np.asarray(a != high, bool)
        if wrong.any():
            raise _Unsure
    names: dict[str, int] = {}  # the skus' and the categories' texts, coded once for the kernel

    def named(field_name: str) -> tuple[Any, Any]:
        """(each sale row's text of a name field, or None; its index in ``names``, -1 for None)."""
        code, values = sale_values(field_name, lambda v: text(v) or None)
        ids = np.array([-1 if v is None else names.setdefault(v, len(names)) for v in values.tolist()], np.int32)
        return values[code], ids[code]

    sku, sku_code = named("sku")
    category, category_code = named("category")
    table = SaleLines(
        sku,
        objects("name", lambda v: text(v) or None),
        category,
        quantities,
        prices,
        discounts,
        amounts,
        accrued,
        redeemed,
        coded=(sku_code, category_code, list(names)),
    )
    # each receipt's lines: a run of the sale rows, and their amount
    stops = np.searchsorted(sale_rows, np.append(starts[1:], n))
    begins = np.searchsorted(sale_rows, starts)
    running = np.zeros(len(sale_rows) + 1, np.int64)
    np.cumsum(amounts, out=running[1:])
    sums = (running[stops] - running[begins]).tolist()
    begin, ends = begins.tolist(), stops.tolist()
    is_refund = refund.tolist()

    def made() -> Iterator[Receipt]:  # one at a time: the check's progress moves as they come
        for i, (store, ident, start) in enumerate(zip(receipt_stores, receipt_ids, starts.tolist(), strict=True)):
            customer = None
            for name, texts in who:
                if texts[i]:
                    customer = (name, texts[i])
                    break
            returned = is_refund[i]
            yield Receipt(
                store,
                ident,
                start + 2,
                returned,
                refund_of[i],
                ats[i],
                customer,
                receipt_total[i],
                [] if returned else LineRun(table, begin[i], ends[i], sums[i]),
            )

    return _Columns(n, made())


def _indices(indices: Any, missing: int) -> np.ndarray:
    """An Arrow dictionary's indices as int64, a missing value as ``missing``; read from the Arrow buffer
    (``Array.to_numpy`` imports pandas: ~0.3 s of the check)."""
    if indices.null_count:
        indices = indices.fill_null(missing)
    width = np.dtype(f"int{indices.type.bit_width}")
    buffer = indices.buffers()[1]
    return np.frombuffer(buffer, width, len(indices), indices.offset * width.itemsize).astype(np.int64)


def _dense(code: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """:func:`_factorize` of ``names[code]`` (-1: None) from the codes, by numpy: the same indexes and names
    (``names`` distinct)."""
    distinct, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # the distinct codes in order of first appearance
    order = order[distinct[order] >= 0]
    rank = np.full(len(distinct), -1, np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    return rank[inverse.reshape(-1)], [names[c] for c in distinct[order].tolist()]


def _factorize(values: list[str | None]) -> tuple[Any, list[str]]:
    """(each value's dense index, -1 for None; the distinct values in order of first appearance)."""
    import numpy as np

    distinct = [v for v in dict.fromkeys(values) if v is not None]  # in C: first appearance kept
    index: dict[str | None, int] = {v: i for i, v in enumerate(distinct)}
    index[None] = -1
    return np.array(list(map(index.__getitem__, values)), np.int32), distinct


def _try(parse: Callable[[Any], Any], value: Any) -> Any:
    try:
        return parse(value)
    except Bad:
        return _INVALID


def _store_id(text: str) -> bool:
    """Whether a store the file brings can be created under this id (``Store.add_store``'s rule)."""
    from shared.wire import WireError, check_id

    try:
        check_id(text, "store id")
    except WireError:
        return False
    return True


def head_raw_total(receipt: Receipt) -> str:
    return "" if receipt.total is None else _cents(receipt.total)


def _cents(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


def check(
    db: Store,
    path: str | Path,
    mapping: Mapping_ | None = None,
    *,
    create_stores: bool = False,
    store_timezone: str = "UTC",
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Read the whole file and list every bad row; writes nothing. ``store_timezone``: that of the stores
    ``create_stores`` makes (a time without an offset in their receipts is theirs)."""
    with without_gc():
        return _check(db, path, mapping, create_stores=create_stores, store_timezone=store_timezone, progress=progress)


def _check(
    db: Store,
    path: str | Path,
    mapping: Mapping_ | None,
    *,
    create_stores: bool,
    store_timezone: str,
    progress: Callable[[int], None] | None,
) -> Report:
    mapping = mapping or Mapping_()
    parser = Parser(db, path, mapping, store_timezone)
    report = Report()
    seen: set[tuple[str, str]] = set()
    sold: set[tuple[str, str]] = set()
    refunded: set[tuple[str, str]] = set()
    asked: dict[tuple[str, str], int] = {}  # refunds of receipts not in the file: looked up in the ledger
    seen_count = 0
    for receipt, problems in parser.receipts(report):
        for p in problems:
            report.bad(p.line, p.message)
        if receipt is None:
            continue
        key = (receipt.store, receipt.receipt)
        report.lines += len(receipt.lines)
        report.stores.add(receipt.store)
        if report.parsed is not None:
            if report.lines <= KEEP_LINES:
                report.parsed.append(receipt)
            else:
                report.parsed = None  # too big to hold: the import reads the file again
        seen_count += 1
        if progress is not None and not seen_count & 1023:  # a bar's update costs: once per 1,024 receipts
            progress(report.lines + report.refunds)
        if receipt.store not in parser.stores and receipt.store not in report.new_stores:
            if not create_stores:
                report.bad(
                    receipt.first_line,
                    _("unknown store %(store)s (add it, or use --create-stores)", store=receipt.store),
                )
            elif _store_id(receipt.store):
                report.new_stores.add(receipt.store)
            else:
                report.bad(
                    receipt.first_line,
                    _(
                        "store id %(store)r cannot be created: 1 to 64 of A-Z a-z 0-9 _ . -",
                        store=_shown(receipt.store),
                    ),
                )
        if key in seen:
            report.bad(
                receipt.first_line,
                _(
                    "duplicated receipt id %(receipt)s (its rows must be consecutive and appear once)",
                    receipt=receipt.receipt,
                ),
            )
            continue
        seen.add(key)
        if receipt.refund:
            report.refunds += 1
            if not receipt.refund_of:
                report.bad(receipt.first_line, _("a refund must name the receipt it refunds"))
                continue
            target = (receipt.store, receipt.refund_of)
            if target in refunded:
                report.bad(receipt.first_line, _("receipt %(receipt)s is refunded twice", receipt=receipt.refund_of))
            refunded.add(target)
            report.refund_targets.add(target)
            if target not in sold:
                asked[target] = receipt.first_line
            continue
        report.receipts += 1
        sold.add(key)
        if problems:
            continue
        if not receipt.lines:
            report.bad(receipt.first_line, _("a sale needs at least one line"))
        elif receipt.total is not None and receipt.total != receipt.amount:
            report.bad(
                receipt.first_line,
                _(
                    "amount does not add up: the lines come to %(lines)s, the total says %(total)s",
                    lines=_cents(receipt.amount),
                    total=_cents(receipt.total),
                ),
            )
    if progress is not None:
        progress(report.lines + report.refunds)
    if not report.rows:
        raise ImportError_(_("The file has no rows below its header."))
    if asked:
        found = ledger_receipts(db, list(asked))
        already = ledger_refunds(db, list(asked))
        for target, line in sorted(asked.items(), key=lambda kv: kv[1]):
            if target not in found:
                report.bad(
                    line,
                    _(
                        "refund of an unknown receipt %(receipt)s (neither in the file nor in the ledger)",
                        receipt=target[1],
                    ),
                )
            elif target in already:
                report.bad(line, _("receipt %(receipt)s is already refunded in the ledger", receipt=target[1]))
    report.problems.sort(key=lambda p: p.line)
    return report


# -- the ledger's side -----------------------------------------------------------------------------


def event_id(kind: str, store: str, receipt: str) -> str:
    """The stable id of an imported receipt's event: the idempotency key is (store, receipt id)."""
    return hashlib.blake2b(f"{kind}\0{store}\0{receipt}".encode(), digest_size=16).hexdigest()


@dataclass
class Original:
    customer_id: str | None
    total: int
    accrued: int
    redeemed: int
    lines: list[tuple[str, int, int, int]]  # (quantity text, amount, accrued, redeemed)


def ledger_receipts(db: Store, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Original]:
    """Purchases already in the ledger, by (store, receipt id), with their lines."""
    out: dict[tuple[str, str], Original] = {}
    ids: dict[int, tuple[str, str]] = {}
    wanted = set(keys)
    for tid, store, receipt, cid, amount, accrued, redeemed in db.purchases_by_receipt(
        sorted({key[1] for key in keys})
    ):
        if (store, receipt) in wanted:
            out[(store, receipt)] = Original(cid, amount, accrued, redeemed, [])
            ids[tid] = (store, receipt)
    for tid, q, amount, accrued, redeemed in db.transaction_lines_of(sorted(ids)):
        out[ids[tid]].lines.append((q, amount, accrued, redeemed))
    return out


def ledger_refunds(db: Store, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    wanted = set(keys)
    found = set()
    for store, receipt in db.reversed_receipts(sorted({key[1] for key in keys})):
        if (store, receipt) in wanted:
            found.add((store, receipt))
    return found


@dataclass
class Outcome:
    receipts: int = 0
    refunds: int = 0
    skipped: int = 0  # already imported (by an earlier run of the same file)
    lines: int = 0
    customers_created: int = 0
    stores_created: int = 0
    accrued: int = 0
    refused: int = 0  # compute mode: the redemption was over the new rules' limit, nothing accrued
    #: seconds: reading (a file too big to keep), the kernel, building the events, the database (the
    #: register and customers looked up, the ingest's transaction)
    timings: dict[str, float] = field(
        default_factory=lambda: {"read": 0.0, "kernel": 0.0, "events": 0.0, "database": 0.0}
    )
    #: the same, in this process's CPU seconds (the figure that holds on a shared machine)
    cpu: dict[str, float] = field(default_factory=lambda: {"kernel": 0.0, "events": 0.0, "database": 0.0})


@dataclass
class _Batch:
    """One batch's receipts as the kernel and the events read them: the sales' lines as columns (a slice of the
    columnar reader's, or made from the row reader's Line objects), and each receipt's time once (its ISO text
    as its events say it, and its UTC epoch seconds, as the kernel and the receipt log read it)."""

    receipts: list[Receipt]
    sales: list[Receipt]
    #: the sales' lines, one sale after the other: sale k's are rows ``bounds[k]:bounds[k + 1]``
    lines: SaleLines
    bounds: np.ndarray
    ats: list[str]
    epochs: np.ndarray  # int64, ``int(at.timestamp())`` of each receipt
    sale_at: np.ndarray  # each sale's index in ``receipts``
    #: each line's points: the file's, or the kernel's (``Importer._compute``)
    accrued: np.ndarray
    redeemed: np.ndarray

    @classmethod
    def of(cls, receipts: list[Receipt]) -> _Batch:
        sale_at = np.array([i for i, r in enumerate(receipts) if not r.refund], np.int64)
        sales = [receipts[i] for i in sale_at.tolist()]
        runs = [r.lines for r in sales]
        counts = np.fromiter(map(len, runs), np.int64, len(runs))
        bounds = np.zeros(len(runs) + 1, np.int64)
        np.cumsum(counts, out=bounds[1:])
        first = runs[0] if runs else None
        if type(first) is LineRun and all(type(run) is LineRun and run.lines is first.lines for run in runs):
            starts = np.fromiter((run.start for run in runs), np.int64, len(runs))
            if (starts[1:] == starts[:-1] + counts[:-1]).all():  # consecutive runs: one slice (a view)
                lines = first.lines.taken(slice(int(starts[0]), int(starts[-1] + counts[-1])))
            else:  # some receipts left out (imported before): their runs, one after the other
                lines = first.lines.taken(np.repeat(starts - bounds[:-1], counts) + np.arange(bounds[-1]))
        else:
            lines = SaleLines.of([line for run in runs for line in run])
        ats = [r.at.isoformat() for r in receipts]  # type: ignore[union-attr]
        epochs = np.fromiter((int(r.at.timestamp()) for r in receipts), np.int64, len(receipts))  # type: ignore[union-attr]
        return cls(receipts, sales, lines, bounds, ats, epochs, sale_at, lines.accrued, lines.redeemed)

    def times(self) -> ParsedTimes:
        """The receipts' times for the receipt log (``ReceiptLog.prime_whens``): those in whole seconds."""
        stores = [r.store for r in self.receipts]
        ats, epochs = self.ats, self.epochs
        if any(r.at.microsecond for r in self.receipts):  # type: ignore[union-attr]
            whole = [i for i, r in enumerate(self.receipts) if not r.at.microsecond]  # type: ignore[union-attr]
            stores, ats, epochs = [stores[i] for i in whole], [ats[i] for i in whole], epochs[whole]
        return ParsedTimes(stores, ats, epochs)


class Importer:
    """Turns batches of receipts into agents' events and applies them through the ingest's transaction."""

    def __init__(self, db: Store, *, points: str, report: Report, store_timezone: str = "UTC") -> None:
        if points not in ("keep", "compute"):
            raise ValueError(points)
        self.db = db
        self.points = points
        self.report = report
        self.store_timezone = store_timezone
        self.outcome = Outcome()
        self.customers: dict[tuple[str, str], str] = {}
        self.originals: dict[tuple[str, str], Original] = {}
        self.seq: dict[str, int] = {}
        self._seq_loaded = False
        self._ids: dict[int, str] = {}  # id(receipt) -> its event id, for the batch being applied
        self._quantities: dict[int, str] = {}  # quantity x1000 -> its text in an event
        self.rules: dict[str, Any] = {}
        self.docs: dict[str, dict[str, Any]] = {}
        self._fingerprints: dict[str, str] = {}
        #: the level of a customer new to the chain (compute mode): the one a spend of 0 earns, when levels follow
        #: spend (accrual.md, "Levels"); None when there is no program or it does not promote by itself
        self.entry_level: str | None = None
        #: the batches written by a second process while the next ones are made (SQLite: :class:`_Overlap`)
        self.overlap: _Overlap | None = None

    # -- setup ---------------------------------------------------------------------------------

    def load_rules(self) -> None:
        """Each store's current rule set, as published (compute mode)."""
        if self.points != "compute":
            return
        from shared.rules import parse_rules

        from .rules import with_program

        program = self.db.level_program()
        self.entry_level = program.level_for(0) if program.auto else None
        latest = self.db.latest_rules()
        for row in self.db.stores():
            if row["id"] in latest:
                version, doc = latest[row["id"]]
                published = {**with_program(self.db, doc, row), "version": version}
                self.docs[row["id"]] = published
                self.rules[row["id"]] = parse_rules(published)

    def create_stores(self) -> None:
        """Create the stores the file brings (--create-stores)."""
        for store in sorted(self.report.new_stores):
            if not self.db.store_exists(store):
                self.db.add_store(store, store, self.store_timezone)
                self.outcome.stores_created += 1

    def missing_rules(self, stores: set[str]) -> list[str]:
        return sorted(s for s in stores if s not in self.rules) if self.points == "compute" else []

    # -- one batch -----------------------------------------------------------------------------

    def apply(self, receipts: list[Receipt]) -> None:
        import time

        wall, cpu = self.outcome.timings, self.outcome.cpu
        clock, spent = time.perf_counter(), time.process_time()

        def lap(what: str) -> None:
            nonlocal clock, spent
            now, used = time.perf_counter(), time.process_time()
            wall[what] += now - clock
            cpu[what] += used - spent
            clock, spent = now, used

        receipts = self._fresh(receipts)
        if not receipts:
            return
        self._resolve_customers(receipts)
        levels = self._levels(receipts) if self.points == "compute" else {}
        lap("database")
        batch = _Batch.of(receipts)
        if self.points == "compute":
            self._compute(batch, levels)
        lap("kernel")
        events = self._events(batch)
        lap("events")
        unit = IngestUnit(events=events, times=batch.times())
        if self.overlap is None:
            self.db.commit_ingest(unit)
        else:
            self.overlap.write(unit)
        lap("database")

    def _fresh(self, receipts: list[Receipt]) -> list[Receipt]:
        """The receipts not imported yet (their event id is not in the register)."""
        ids = [event_id("refund" if r.refund else "purchase", r.store, r.receipt) for r in receipts]
        # an overlapped import that found nothing imported when it started knows none of its own receipts' ids is in
        # the register (the check refused duplicates; a second import of the same file at the same time would
        # clash on the register's key in the writer, nothing counted twice)
        known = {} if self.overlap is not None and self.overlap.first else self.db.known_ids(ids)
        fresh = [r for r, ident in zip(receipts, ids, strict=True) if ident not in known]
        self._ids = {id(r): ident for r, ident in zip(receipts, ids, strict=True) if ident not in known}
        self.outcome.skipped += len(receipts) - len(fresh)
        return fresh

    def _resolve_customers(self, receipts: list[Receipt]) -> None:
        wanted = {r.customer for r in receipts if r.customer is not None and not r.refund} - set(self.customers)
        by_kind: dict[str, list[str]] = {"customer_id": [], "card": [], "phone": []}
        for kind, value in wanted:
            by_kind[kind].append(value)
        for kind, values in by_kind.items():
            for value, cid in self.db.customers_by(kind, values):
                self.customers[(kind, value)] = cid

    def _levels(self, receipts: list[Receipt]) -> dict[str, str | None]:
        ids = sorted({self.customers[r.customer] for r in receipts if r.customer in self.customers})
        if self.overlap is None:
            return self.db.customer_levels(ids)
        # the levels the ledger holds (the batch before may not be written yet), the database's for the others
        held = self.overlap.ledger.customers
        levels = {cid: state.level for cid in ids if (state := held.get(cid)) is not None}
        levels.update(self.db.customer_levels([cid for cid in ids if cid not in levels]))
        return levels

    def _compute(self, batch: _Batch, levels: Mapping[str, str | None]) -> None:
        """Quote the sales with each store's current rule set through the batch kernel: the batch's lines'
        ``accrued`` and ``redeemed`` become the kernel's."""
        from shared import batch as kernel
        from shared.columns import prepare_columns

        # stores whose rule sets say the same (the store's id apart) are quoted together: one kernel call
        by_rules: dict[str, list[int]] = {}
        for k, r in enumerate(batch.sales):
            by_rules.setdefault(self._fingerprint(r.store), []).append(k)
        accrued, redeemed = batch.accrued.copy(), batch.redeemed.copy()
        customers = self.customers
        for members in by_rules.values():
            store = batch.sales[members[0]].store
            rules = self.rules[store]
            n = len(members)
            group = np.array(members, np.int64)
            counts = batch.bounds[group + 1] - batch.bounds[group]
            line_start = np.zeros(n + 1, np.int64)
            np.cumsum(counts, out=line_start[1:])
            rows: Any
            if n == len(batch.sales):
                rows = slice(None)  # the whole batch (one rule set): its columns as they are
            else:  # the group's runs of the batch's lines, one after the other
                rows = np.repeat(batch.bounds[group] - line_start[:-1], counts) + np.arange(line_start[-1])
            lines = batch.lines.taken(rows)
            if lines.coded is not None:  # the reader's codes: no text hashed per line
                sku, skus = _dense(lines.coded[0], lines.coded[2])
                category, categories = _dense(lines.coded[1], lines.coded[2])
            else:
                sku, skus = _factorize(lines.sku.tolist())
                category, categories = _factorize(lines.category.tolist())
            asked = lines.redeemed
            sums = np.zeros(len(asked) + 1, np.int64)
            np.cumsum(asked, out=sums[1:])
            redeem = sums[line_start[1:]] - sums[line_start[:-1]]
            level_names: dict[str, int] = {}
            level = np.full(n, -1, np.int32)
            for i, k in enumerate(members):
                r = batch.sales[k]
                cid = customers.get(r.customer) if r.customer else None
                # a customer not in the chain yet is created by this batch: at the level a spend of 0 earns
                name = levels.get(cid) if cid else self.entry_level if r.customer else None
                if name:
                    level[i] = level_names.setdefault(name, len(level_names))
            prepared = prepare_columns(
                rules.timezone,
                at=batch.epochs[batch.sale_at[group]],
                line_start=line_start,
                sku=sku,
                category=category,
                amount=lines.amount,
                discount=lines.discount,
                skus=skus,
                categories=categories,
                redeem=redeem,
                level=level,
                levels=list(level_names),
            )
            # a thread pool costs more than it saves on a small group
            out = kernel.quote_batch(rules, prepared, threads=0 if len(asked) > 200_000 else 1)
            refused = np.asarray(out.status) != 0
            self.outcome.refused += int(refused.sum())  # over the new rules' limit: nothing accrued, old redemption
            by_line = np.repeat(refused, counts)
            accrued[rows] = np.where(by_line, 0, out.line_accrued)
            redeemed[rows] = np.where(by_line, asked, out.line_redeemed)
        batch.accrued, batch.redeemed = accrued, redeemed

    def _fingerprint(self, store: str) -> str:
        """What a store's rule set says, without the store's id (equal ones give equal answers)."""
        if store not in self._fingerprints:
            doc = {k: v for k, v in self.docs[store].items() if k != "store"}
            self._fingerprints[store] = json.dumps(doc, sort_keys=True, default=str)
        return self._fingerprints[store]

    def _next_seq(self, store: str) -> int:
        if self._seq_loaded is False:  # every store's last imported seq, in one scan of the register
            self.seq.update(self.db.last_applied_seqs(AGENT))
            self._seq_loaded = True
        seq = self.seq[store] = self.seq.get(store, 0) + 1
        return seq

    def _envelope(self, kind: str, store: str, ident: str, at: str, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "id": ident,
            "seq": self._next_seq(store),
            "store": store,
            "agent": AGENT,
            "kind": kind,
            "at": at,
            "body": body,
        }

    def _line_columns(
        self, batch: _Batch, quantity_text: Callable[[int], str]
    ) -> tuple[LineColumns, list[int], list[tuple[int, int, int]]]:
        """The batch's sale lines as one LineColumns (the purchases' ``lines`` are runs of it), each sale's
        bounds in it, and each sale's (accrued, redeemed, total); an anonymous receipt's lines move no points."""
        sales, lines, bounds = batch.sales, batch.lines, batch.bounds
        counts = np.diff(bounds)
        anonymous = np.repeat(np.fromiter((r.customer is None for r in sales), bool, len(sales)), counts)
        accrued, redeemed = batch.accrued.copy(), batch.redeemed.copy()
        accrued[anonymous] = 0
        redeemed[anonymous] = 0
        # each distinct quantity's text once, spread over the lines
        distinct, inverse = np.unique(lines.quantity, return_inverse=True)
        texts = self._quantities
        quantity = np.array(
            [texts[q] if q in texts else quantity_text(q) for q in distinct.tolist()] + [""], dtype=object
        )[:-1][inverse.reshape(-1)]
        table = LineColumns(
            sku=lines.sku.tolist(),
            name=lines.name.tolist(),
            category=lines.category.tolist(),
            quantity=quantity.tolist(),
            price=lines.price.tolist(),
            discount=lines.discount.tolist(),
            amount=lines.amount.tolist(),
            accrued=accrued.tolist(),
            redeemed=redeemed.tolist(),
        )
        per_sale = []
        for column in (accrued, redeemed, lines.amount):
            running = np.zeros(len(column) + 1, np.int64)
            np.cumsum(column, out=running[1:])
            per_sale.append((running[bounds[1:]] - running[bounds[:-1]]).tolist())
        return table, bounds.tolist(), list(zip(*per_sale, strict=True))

    def _events(self, batch: _Batch) -> list[dict[str, Any]]:
        receipts = batch.receipts
        events: list[dict[str, Any]] = []
        o = self.outcome
        want_targets = self.report.refund_targets
        missing = [
            (r.store, r.refund_of) for r in receipts if r.refund and (r.store, r.refund_of) not in self.originals
        ]
        if missing:
            self.originals.update(ledger_receipts(self.db, missing))  # type: ignore[arg-type]
        texts = self._quantities

        def quantity_text(q: int) -> str:
            texts[q] = str(q // 1000) if not q % 1000 else format_scaled(q, 3)
            return texts[q]

        table, bounds, sums = self._line_columns(batch, quantity_text)
        k = -1  # the sale's index in the batch's sales
        for r, at in zip(receipts, batch.ats, strict=True):
            if r.refund:
                original = self.originals.pop((r.store, r.refund_of))  # type: ignore[arg-type]
                events.append(
                    self._envelope(
                        "refund",
                        r.store,
                        self._ids.get(id(r)) or event_id("refund", r.store, r.receipt),
                        at,
                        {
                            "refund_id": r.receipt,
                            "receipt_id": r.refund_of,
                            "terminal": TERMINAL,
                            "customer_id": original.customer_id,
                            "at": at,
                            "amount": original.total,
                            "accrued": original.accrued,
                            "redeemed": original.redeemed,
                            "lines": [
                                {"index": i, "quantity": q, "amount": a, "accrued": acc, "redeemed": red}
                                for i, (q, a, acc, red) in enumerate(original.lines)
                            ],
                        },
                    )
                )
                o.refunds += 1
                continue
            cid = None
            if r.customer is not None:
                cid = self.customers.get(r.customer)
                if cid is None:
                    kind, value = r.customer
                    cid = value if kind == "customer_id" else uuid.uuid4().hex
                    self.customers[r.customer] = cid
                    events.append(
                        self._envelope(
                            "registration",
                            r.store,
                            event_id("registration", *r.customer),
                            at,
                            {
                                "customer_id": cid,
                                "phone": value if kind == "phone" else None,
                                "card": value if kind == "card" else None,
                                "name": None,
                                "consents": {},
                                "confirmation_code": None,
                                "terminal": TERMINAL,
                                "at": at,
                            },
                        )
                    )
                    o.customers_created += 1
            k += 1
            a, b = bounds[k], bounds[k + 1]
            lines = LineBlock(table, a, b)
            accrued, redeemed, total = sums[k]
            version = getattr(self.rules.get(r.store), "version", 0) if self.points == "compute" else 0
            events.append(
                self._envelope(
                    "purchase",
                    r.store,
                    self._ids.get(id(r)) or event_id("purchase", r.store, r.receipt),
                    at,
                    {
                        "receipt_id": r.receipt,
                        "terminal": TERMINAL,
                        "customer_id": cid,
                        "card": r.customer[1] if r.customer and r.customer[0] == "card" else None,
                        "at": at,
                        "rules_version": version or 0,
                        "total": total,
                        "accrued": accrued,
                        "redeemed": redeemed,
                        "offline": False,
                        "lines": lines,
                    },
                )
            )
            if (r.store, r.receipt) in want_targets:
                self.originals[(r.store, r.receipt)] = Original(
                    cid,
                    total,
                    accrued,
                    redeemed,
                    list(
                        zip(
                            table.quantity[a:b], table.amount[a:b], table.accrued[a:b], table.redeemed[a:b], strict=True
                        )
                    ),
                )
            o.receipts += 1
            o.lines += b - a
            o.accrued += accrued
        return events


class _Overlap:
    """Both cores (docs/import-receipts.md, "Both cores"): each batch's writes, made by the ingest's own code on
    a deferred connection, go to a writer process that commits them batch by batch while the next batch is made;
    the ledger keeps its customers, lots and levels across batches (the import is their only writer while it runs;
    the writer's fences stop it when another writer moved the ids or the customers' versions)."""

    def __init__(self, db: Store) -> None:
        self.db = db
        self.state = db.import_state()
        self.ledger = db.import_ledger()
        #: nothing was imported before (the register holds no event of the import's)
        self.first = not db.last_applied_seqs(AGENT)
        self.writer = Writer(db.path)

    def write(self, unit: IngestUnit) -> None:
        if any(e["kind"] == "registration" and (e["body"]["phone"] or e["body"]["card"]) for e in unit.events):
            self.writer.drain()  # a registration reads the phones and cards the batches before wrote
        self.writer.begin(self.state.fences())
        self.db.ingest_deferred(unit, self.ledger, self.state, self.writer)
        self.writer.commit()

    def finish(self) -> None:
        try:
            self.writer.drain()
        finally:
            self.writer.close()

    def abort(self) -> None:
        self.writer.close(abort=True)


def _draining(report: Report) -> Iterator[Receipt]:
    """The kept receipts, each let go once handed over (the import's memory falls as it goes)."""
    parsed, report.parsed = report.parsed or [], None
    parsed.reverse()
    while parsed:
        yield parsed.pop()


def run(
    db: Store,
    path: str | Path,
    report: Report,
    *,
    points: str = "keep",
    mapping: Mapping_ | None = None,
    store_timezone: str = "UTC",
    batch_receipts: int = BATCH_RECEIPTS,
    progress: Callable[[int], None] | None = None,
    overlap: bool | None = None,
) -> Outcome:
    """Import a checked file (``report`` from :func:`check`, without problems), batch by batch.

    ``overlap``: write each batch in a second process while the next is made (docs/import-receipts.md, "Both
    cores"); None: when the database allows it (``overlap_refused``), False: one batch after the other."""
    if report.bad_count:
        raise ImportError_(
            _("Nothing imported: %(n)s rows have problems (run with --dry-run to list them).", n=report.bad_count)
        )
    importer = Importer(db, points=points, report=report, store_timezone=store_timezone)
    if overlap is not False:
        refused = db.overlap_refused()
        if refused is not None and overlap:
            raise ValueError(f"this import cannot overlap its writes: {refused}")
        overlap = refused is None
    with without_gc(), _import_connection(db, defer_indexes=report.lines >= DEFER_INDEXES_LINES):
        if not overlap:
            return _run(db, path, report, importer, mapping, batch_receipts, progress)
        importer.overlap = _Overlap(db)
        try:
            outcome = _run(db, path, report, importer, mapping, batch_receipts, progress)
            importer.overlap.finish()
        except Conflict:
            importer.overlap.abort()
            raise ImportError_(
                _(
                    "Another writer changed the customers or the catalog while the import ran; the batches before"
                    " are imported: run the import again to resume."
                )
            ) from None
        except BaseException:
            importer.overlap.abort()
            raise
        return outcome


#: an import of this many lines builds the segments' aggregates' secondary indexes once at its end
DEFER_INDEXES_LINES = 300_000


@contextlib.contextmanager
def _import_connection(db: Store, *, defer_indexes: bool) -> Iterator[None]:
    """The import connection's settings, put back afterwards (docs/import-receipts.md, "Speed").

    * a bigger page cache and temporary tables in memory;
    * ``synchronous = NORMAL``: in WAL mode a commit is not synced at once, so a power cut may lose
      the last batches but never corrupts the database; the import resumes them (idempotent);
    * a big import drops the segments' aggregates' two secondary indexes and builds them once at the end
      (sorted, far cheaper than a random insert per line); a run cut off before that leaves them
      missing until ``Store.mend_line_indexes`` (``central/storage/connection.py``) runs: at the
      next import, or the next start of ``loyalty-central serve``.

    The settings and the indexes are ``central/storage/receipt_import.py``'s (``import_pragmas``,
    ``drop_line_indexes``).
    """
    with db.import_pragmas():
        db.mend_line_indexes()
        if defer_indexes:
            # the segments' aggregates keep their indexes while a dynamic segment reads them in each batch
            db.drop_line_indexes(aggregates=not db.has_dynamic_segments())
        try:
            yield
        finally:
            db.mend_line_indexes()


def _run(
    db: Store,
    path: str | Path,
    report: Report,
    importer: Importer,
    mapping: Mapping_ | None,
    batch_receipts: int,
    progress: Callable[[int], None] | None,
) -> Outcome:
    import time

    importer.load_rules()
    missing = importer.missing_rules(report.stores)
    if missing:
        raise ImportError_(
            _(
                "No rule set for store(s) %(stores)s: publish one, or import with --points keep.",
                stores=", ".join(missing),
            )
        )
    importer.create_stores()
    if report.parsed is not None:
        source: Any = _draining(report)
    else:
        source = (receipt for receipt, _problems in Parser(db, path, mapping or Mapping_()).receipts())
    pending: list[Receipt] = []
    lines = 0
    clock = time.perf_counter()
    for receipt in source:
        assert receipt is not None
        pending.append(receipt)
        lines += max(1, len(receipt.lines))
        if len(pending) >= batch_receipts:
            importer.outcome.timings["read"] += time.perf_counter() - clock
            importer.apply(pending)
            pending = []
            if progress is not None:
                progress(lines)
            clock = time.perf_counter()
    importer.outcome.timings["read"] += time.perf_counter() - clock
    if pending:
        importer.apply(pending)
    if progress is not None:
        progress(lines)
    return importer.outcome
