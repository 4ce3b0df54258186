"""Importing customers, cards and balances from CSV or XLSX: a dry run first, then the good rows or all.

:func:`read_table` reads the file (CSV: UTF-8 or Windows-1251, comma or
semicolon; XLSX: the first sheet, through openpyxl). :func:`check` validates
every row against the file itself and the database and lists each problem
as (row, column, message) -- the row number is the spreadsheet's, the header
being row 1. Nothing is written by a check. :func:`apply` imports either
everything (refused while any row is bad) or only the good rows, in chunks
of :data:`CHUNK` rows per transaction, reporting progress after each chunk;
an imported balance is a permanent lot with a ledger entry ``import``, so
the books stay balanced. The optional ``program`` column names the bonus
program the balance goes to (by name; empty: the default program).

Columns (header names, any case; Russian names work too): ``id``, ``phone``,
``name``, ``email``, ``birthday``, ``gender``, ``card``, ``balance``,
``level``, ``store``, ``program``, ``tags``, ``sms``, ``email_consent``, ``personal_data``,
``language`` (of the messages we send: ``ru`` or ``en``; empty: Russian for a new customer, unchanged in
an update), ``created_at`` and ``custom_<field>`` for head office's fields. Every row needs a phone or a card.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.identifiers import InvalidIdentifier, normalize_phone

from ..marketing import engine as segments
from ..points.levels import recompute
from ..points.programs import default_program, permanent_lot_id
from ..points.receipt_log import ReceiptLog
from ..points.versions import VersionCounter, bump_versions
from ..storage.clock import now_utc
from ..storage.messages import record_consents
from ..storage.store import Store
from . import audit
from .access import Actor, FormError
from .accounts import parse_tags
from .cards import category_of
from .fields import definitions, parse_value
from .spreadsheets import zip_bomb
from .text import N_, _

CHUNK = 500
MAX_ROWS = 2_000_000
MAX_BALANCE = 10**12
_ID = re.compile(r"\A[A-Za-z0-9_.-]{1,64}\Z")
_EMAIL = re.compile(r"\A[^@\s]+@[^@\s]+\.[^@\s]+\Z")
ALIASES = {
    "id": "id",
    "customer_id": "id",
    "phone": "phone",
    "телефон": "phone",
    "name": "name",
    "имя": "name",
    "фио": "name",
    "email": "email",
    "e-mail": "email",
    "почта": "email",
    "birthday": "birthday",
    "дата рождения": "birthday",
    "gender": "gender",
    "пол": "gender",
    "card": "card",
    "карта": "card",
    "номер карты": "card",
    "balance": "balance",
    "баланс": "balance",
    "баллы": "balance",
    "level": "level",
    "уровень": "level",
    "store": "store",
    "магазин": "store",
    "program": "program",
    "программа": "program",
    "бонусная программа": "program",
    "tags": "tags",
    "теги": "tags",
    "sms": "sms",
    "email_consent": "email_consent",
    "personal_data": "personal_data",
    "created_at": "created_at",
    "дата регистрации": "created_at",
    "language": "language",
    "lang": "language",
    "язык": "language",
}
#: the language of messages as a file may write it (customers.language: ru or en)
_LANGUAGE = {
    "": "",
    "ru": "ru",
    "rus": "ru",
    "russian": "ru",
    "русский": "ru",
    "ру": "ru",
    "en": "en",
    "eng": "en",
    "english": "en",
    "английский": "en",
}
_GENDER = {
    "": "",
    "f": "female",
    "female": "female",
    "ж": "female",
    "жен": "female",
    "женский": "female",
    "m": "male",
    "male": "male",
    "м": "male",
    "муж": "male",
    "мужской": "male",
}


class _Programs(dict[str, int]):
    """Program names in lower case -> id (a file's names match in any case); ``names`` as written."""

    def __init__(self, names: Mapping[str, int]) -> None:
        super().__init__({name.lower(): pid for name, pid in names.items()})
        self.names = list(names)


class ImportFileError(FormError):
    """The file cannot be read as a table at all."""

    def __init__(self, message: str) -> None:
        super().__init__({"file": message})


@dataclass
class Table:
    columns: list[str]  # canonical names ("" for a column we do not know)
    headers: list[str]  # as written in the file
    rows: list[list[Any]]


MODES = ("create", "update")
# columns an update leaves alone: points move through the ledger (points by hand), a registration date is history
NOT_UPDATED = ("balance", "program", "created_at")


@dataclass
class Report:
    total: int = 0
    good: list[int] = field(default_factory=list)  # indexes into the table's rows
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (row number, column, message)
    unknown_columns: list[str] = field(default_factory=list)
    parsed: dict[int, dict[str, Any]] = field(default_factory=dict)
    mode: str = "create"
    ignored_columns: list[str] = field(default_factory=list)  # known columns an update does not change
    # update mode: the customer each good row found, and what would change: index -> {column: (before, after)}
    matched: dict[int, str] = field(default_factory=dict)
    changes: dict[int, dict[str, tuple[Any, Any]]] = field(default_factory=dict)

    @property
    def bad_rows(self) -> int:
        return len({row for row, _, _ in self.problems})

    def summary(self, limit: int = 1000) -> dict[str, Any]:
        out = {
            "total": self.total,
            "good": len(self.good),
            "bad": self.bad_rows,
            "unknown_columns": self.unknown_columns,
            "problems": [list(p) for p in self.problems[:limit]],
            "more_problems": max(0, len(self.problems) - limit),
            "mode": self.mode,
        }
        if self.mode == "update":
            listed = [
                [index + 2, self.matched[index], column, _shown(before), _shown(after)]
                for index in sorted(self.changes)
                for column, (before, after) in self.changes[index].items()
            ]
            out.update(
                ignored_columns=self.ignored_columns,
                changed=len(self.changes),
                unchanged=len(self.good) - len(self.changes),
                changes=listed[:limit],
                more_changes=max(0, len(listed) - limit),
            )
        return out


def _shown(value: Any) -> str:
    """A value in the dry run's list of changes, as a person reads it."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def read_table(data: bytes, filename: str) -> Table:
    """The file's header and rows, as cell values (CSV: strings; XLSX: what openpyxl gives)."""
    name = filename.lower()
    if name.endswith(".xlsx") or data[:2] == b"PK":
        rows = _xlsx_rows(data)
    elif name.endswith((".csv", ".txt")) or not name:
        rows = _csv_rows(data)
    else:
        raise ImportFileError(_("Upload a .csv or .xlsx file."))
    rows = [r for r in rows if any(v not in (None, "") for v in r)]
    if not rows:
        raise ImportFileError(_("The file is empty."))
    if len(rows) == 1:
        raise ImportFileError(_("The file has no rows below its header."))
    headers = [str(h or "").strip() for h in rows[0]]
    if len(rows) - 1 > MAX_ROWS:
        raise ImportFileError(_("At most %(n)s rows per file.", n=f"{MAX_ROWS:,}"))
    columns = [_canonical(h) for h in headers]
    for i, column in enumerate(columns):
        if column and column in columns[:i]:  # two columns for one field: which would be meant?
            raise ImportFileError(_("The file has two columns named %(column)s.", column=headers[i][:40]))
    if "phone" not in columns and "card" not in columns:
        raise ImportFileError(_("The first row must name the columns, with at least phone or card."))
    width = len(headers)
    from .exports import unquote

    # an export's "'+7..." (kept from being a formula) is the phone +7... again
    body = [[unquote(v) for v in r[:width]] + [None] * (width - len(r)) for r in rows[1:]]
    return Table(columns, headers, body)


def _canonical(header: str) -> str:
    key = header.strip().lower()
    if key.startswith("custom_"):
        return key
    return ALIASES.get(key, "")


# byte order marks, longest first (UTF-32 LE starts like UTF-16 LE)
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def decode_text(data: bytes) -> str:
    """A text file's content: UTF-8, UTF-16 or UTF-32 (by their byte order mark), UTF-8 or Windows-1251 without one.

    UTF-16 without a mark is recognised by its zero bytes. Anything else (a
    binary file, another encoding) is a clear :class:`ImportFileError`, never a
    table of garbled text.
    """
    unreadable = _(
        "The file's text cannot be read. Save it as CSV UTF-8 (or Windows-1251, or Unicode text) and upload it again."
    )
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                raise ImportFileError(unreadable) from None
    head = data[:4096]
    if b"\x00" in head:  # UTF-16 without a mark: every other byte of Latin text and digits is zero
        encoding = "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
        candidates: tuple[str, ...] = (encoding,)
    else:
        candidates = ("utf-8", "cp1251")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if not _CONTROL.search(text):
            return text
    raise ImportFileError(unreadable)


def _csv_rows(data: bytes) -> list[list[Any]]:
    text = decode_text(data)
    first = text.split("\n", 1)[0]
    # Excel saves "CSV" with commas or semicolons (by locale) and "Unicode text" with tabs
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        return list(reader)
    except csv.Error:  # a field over the csv module's limit: a quote left open makes one of the rest of the file
        why = _("a value longer than %(n)s characters (a quote left open?)", n=f"{csv.field_size_limit():,}")
        raise ImportFileError(_("line %(line)s: %(message)s", line=reader.line_num, message=why)) from None


def _xlsx_rows(data: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook

    try:
        if zip_bomb(io.BytesIO(data)):
            raise ImportFileError(_("This is not a readable XLSX file (%(error)s).", error=_("a zip bomb")))
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except ImportFileError:
        raise
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise ImportFileError(_("This is not a readable XLSX file (%(error)s).", error=type(exc).__name__)) from None
    try:
        return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    except Exception as exc:  # noqa: BLE001 -- a damaged sheet: openpyxl, zipfile or the XML parser
        raise ImportFileError(_("This is not a readable XLSX file (%(error)s).", error=type(exc).__name__)) from None
    finally:
        book.close()


def _text(value: Any) -> str:
    """A cell as text: Excel keeps long digit strings (phones, cards) as numbers; give their digits back."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _points(value: Any) -> int:
    """Points as minor units from "1 234,56", 1234.56 (a spreadsheet number) or 1234; ValueError otherwise."""
    text = _text(value).replace("\u00a0", "").replace(" ", "").replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = Decimal("NaN")
    # Decimal also reads "NaN", "Infinity", "1_000" and other scripts' digits ("١٢"): none is a number of points here
    if not number.is_finite() or not text.isascii() or "_" in text:
        raise ValueError(_("Write points like 150 or 150.50."))
    minor = number * 100
    if minor != minor.to_integral_value():
        raise ValueError(_("At most two decimals."))
    if abs(minor) > MAX_BALANCE:
        raise ValueError(_("That is too many points."))
    return int(minor)


def check(
    db: Store, actor: Actor, table: Table, progress: Callable[[int, int], None] | None = None, *, mode: str = "create"
) -> Report:
    """Validate every row (nothing is written); each problem names its row and column.

    ``mode="create"`` adds new customers (a phone, card or id already known
    makes the row bad); ``mode="update"`` finds each row's existing customer by
    its id, card or phone (all it gives must name the same customer) and lists
    what would change: only the cells that are filled are written, an empty
    cell leaves the customer's value as it is.
    """
    actor.require("import")
    if mode not in MODES:
        raise FormError({"mode": _("Choose whether to add new customers or update existing ones.")})
    report = Report(total=len(table.rows), mode=mode)
    report.unknown_columns = [h for h, c in zip(table.headers, table.columns, strict=True) if not c]
    if mode == "update":
        report.ignored_columns = [h for h, c in zip(table.headers, table.columns, strict=True) if c in NOT_UPDATED]
    fields_ = {f["name"]: f["type"] for f in definitions(db)}
    for c in table.columns:
        if c.startswith("custom_") and c[7:] not in fields_:
            report.unknown_columns.append(c)
    stores = {s["id"] for s in db.stores()}
    levels = db.level_names()
    programs = _Programs(db.programs_by_name())
    categories = db.card_ranges()
    seen_phones: dict[str, int] = {}
    seen_cards: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    for index, raw in enumerate(table.rows):
        number = index + 2
        values = {
            c: v for c, v in zip(table.columns, raw, strict=True) if c and not (mode == "update" and c in NOT_UPDATED)
        }
        row, problems = _parse_row(values, fields_, stores, levels, categories, programs, mode == "update")
        row["given"] = {c for c, v in values.items() if _text(v)}
        for key, seen in (("phone", seen_phones), ("card", seen_cards), ("id", seen_ids)):
            if row.get(key) and key not in problems:
                if row[key] in seen:
                    problems[key] = _("The same as row %(n)d.", n=seen[row[key]])
                else:
                    seen[row[key]] = number
        for column, message in problems.items():
            report.problems.append((number, column, message))
        if not problems:
            report.parsed[index] = row
        if progress is not None and index % 1000 == 999:
            progress(index + 1, report.total)
    if mode == "update":
        _match_existing(db, report)
    else:
        _against_database(db, report, table)
    report.good = sorted(report.parsed)
    if progress is not None:
        progress(report.total, report.total)
    return report


def _parse_row(
    values: Mapping[str, Any],
    fields_: Mapping[str, str],
    stores: set[str],
    levels: set[str],
    categories: list[dict[str, Any]],
    programs: _Programs,
    update: bool = False,
) -> tuple[dict[str, Any], dict[str, str]]:
    row: dict[str, Any] = {}
    problems: dict[str, str] = {}
    phone, card = _text(values.get("phone")), re.sub(r"[\s-]", "", _text(values.get("card")))
    if not phone and not card and not (update and _text(values.get("id"))):
        problems["phone"] = (
            _("Each row needs an id, a phone or a card.") if update else _("Each row needs a phone or a card.")
        )
    if phone:
        try:
            row["phone"] = normalize_phone(phone)
        except InvalidIdentifier as exc:
            problems["phone"] = _(exc.template, **exc.params)
    if card:
        if not card.isdigit() or not 4 <= len(card) <= 32:
            problems["card"] = _("A card number has 4 to 32 digits.")
        else:
            row["card"] = card
            category = category_of(categories, card)
            row["card_category"] = category["id"] if category else None
    ident = _text(values.get("id"))
    if ident:
        if _ID.match(ident):
            row["id"] = ident
        else:
            problems["id"] = _("An id has 1 to 64 latin letters, digits and . _ -")
    name = _text(values.get("name"))
    if len(name) > 200:
        problems["name"] = _("At most 200 characters.")
    row["name"] = name or None
    email = _text(values.get("email")).lower()
    if email and not _EMAIL.match(email):
        problems["email"] = _("This is not an email address.")
    row["email"] = email or None
    for key in ("birthday", "created_at"):
        text = _text(values.get(key))
        if text:
            try:
                day = dt.date.fromisoformat(text[:10])
                if not dt.date(1900, 1, 1) <= day <= dt.date.today():
                    raise ValueError
                row[key] = day.isoformat()
            except ValueError:
                problems[key] = _("Write a past date as YYYY-MM-DD.")
    gender = _GENDER.get(_text(values.get("gender")).lower())
    if gender is None:
        problems["gender"] = _("Write female or male (or leave it empty).")
    row["gender"] = gender or None
    language = _LANGUAGE.get(_text(values.get("language")).lower())
    if language is None:
        problems["language"] = _("Write ru or en (or leave it empty).")
    row["language"] = language or None
    if values.get("balance") not in (None, ""):
        try:
            row["balance"] = _points(values["balance"])
        except ValueError as exc:
            problems["balance"] = str(exc)
    level = _text(values.get("level"))
    if level and level not in levels:
        problems["level"] = _("Unknown level %(name)s.", name=level) if levels else _("Define the levels first.")
    row["level"] = level or None
    store = _text(values.get("store"))
    if store and store not in stores:
        problems["store"] = _("Unknown store %(id)s.", id=store)
    row["store"] = store or None
    program = _text(values.get("program"))
    if program:
        found = programs.get(program.lower())
        if found is None:
            problems["program"] = _(
                "Unknown bonus program %(name)s (the programs are: %(names)s).",
                name=program,
                names=", ".join(sorted(programs.names)),
            )
        row["program"] = found
    try:
        row["tags"] = parse_tags(_text(values.get("tags")))
    except ValueError as exc:
        problems["tags"] = _("Tags are words of letters, digits and dashes (at most 30); not %(tag)s.", tag=str(exc))
    consents = {}
    for column, key in (("sms", "sms"), ("email_consent", "email"), ("personal_data", "personal_data")):
        if values.get(column) not in (None, ""):
            try:
                consents[key] = bool(parse_value("yes_no", values[column]))
            except ValueError as exc:
                problems[column] = str(exc)
    row["consents"] = consents
    custom = {}
    for column, value in values.items():
        if column.startswith("custom_") and column[7:] in fields_:
            try:
                parsed = parse_value(fields_[column[7:]], value)
            except ValueError as exc:
                problems[column] = str(exc)
                continue
            if parsed is not None:
                custom[column[7:]] = parsed
    row["custom"] = custom
    return row, problems


def _against_database(db: Store, report: Report, table: Table) -> None:
    """Phones, cards and ids already in the database make a row bad."""
    for key, message in (
        ("phone", _("This phone belongs to customer %(id)s already.")),
        ("card", _("Card already issued to customer %(id)s.")),
        ("id", _("Customer %(id)s exists already.")),
    ):
        wanted = {row[key]: index for index, row in report.parsed.items() if row.get(key)}
        for value, owner in db.holders(key, wanted):
            index = wanted[value]
            report.problems.append((index + 2, key, message % {"id": owner}))
            report.parsed.pop(index, None)
    report.problems.sort()


_KEY_NAMES = {"id": N_("id"), "card": N_("card"), "phone": N_("phone")}


def _match_existing(db: Store, report: Report) -> None:
    """Update mode: each good row's customer (by id, card, phone) and its changes; a row that finds none is bad."""
    rows = report.parsed
    by_id, by_card, by_phone = (
        db.live_customers_by(key, (r[key] for r in rows.values() if r.get(key))) for key in ("id", "card", "phone")
    )
    first_row: dict[str, int] = {}
    for index, row in list(rows.items()):
        number, problems = index + 2, []
        found = {
            key: table[row[key]]
            for key, table in (("id", by_id), ("card", by_card), ("phone", by_phone))
            if row.get(key) and row[key] in table
        }
        if row.get("id") and "id" not in found:
            problems.append(("id", _("No customer has the id %(id)s.", id=row["id"])))
        if row.get("card") and "card" not in found:
            problems.append(("card", _("No customer has the card %(card)s.", card=row["card"])))
        owners = set(found.values())
        if not problems and not owners:
            problems.append(("phone", _("No customer has this phone; to add new customers, choose that mode.")))
        if len(owners) > 1:
            names = ", ".join(f"{_KEY_NAMES[key]} \u2192 {owner}" for key, owner in found.items())
            problems.append((next(iter(found)), _("These belong to different customers: %(list)s.", list=names)))
        if not problems:
            owner = owners.pop()
            if owner in first_row:
                problems.append((next(iter(found)), _("The same customer as row %(n)d.", n=first_row[owner])))
            else:
                first_row[owner] = number
                report.matched[index] = owner
        if problems:
            report.problems.extend((number, column, message) for column, message in problems)
            rows.pop(index)
    report.problems.sort()
    current = db.customers_with_tags(sorted(report.matched.values()))
    for index, cid in report.matched.items():
        changes = _changes(current[cid], rows[index])
        if changes:
            report.changes[index] = changes


_SIMPLE = {
    "name": "name",
    "email": "email",
    "birthday": "birthday",
    "gender": "gender",
    "level": "level",
    "store": "home_store",
    "phone": "phone",
}
_CONSENTS = {"sms": "sms", "email_consent": "email", "personal_data": "personal_data"}


def _changes(customer: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """What a row would change on its customer: {column: (before, after)}, filled cells only."""
    given, out = row["given"], {}
    for column, attr in _SIMPLE.items():
        if column in given and row.get(column) is not None and row[column] != customer[attr]:
            out[column] = (customer[attr], row[column])
    if "language" in given and row.get("language") and row["language"] != (customer.get("language") or "ru"):
        out["language"] = (customer.get("language") or "ru", row["language"])
    consents = json.loads(customer["consents"] or "{}")
    for column, key in _CONSENTS.items():
        if column in given and key in row["consents"] and row["consents"][key] != bool(consents.get(key)):
            out[column] = (bool(consents.get(key)), row["consents"][key])
    custom = json.loads(customer["custom"] or "{}")
    for name, value in row["custom"].items():
        if custom.get(name) != value:
            out[f"custom_{name}"] = (custom.get(name), value)
    added = [t for t in row["tags"] if t not in customer["tags"]]
    if added:
        out["tags"] = (customer["tags"], sorted(set(customer["tags"]) | set(added)))
    return out


def apply(
    db: Store,
    actor: Actor,
    table: Table,
    report: Report,
    *,
    good_rows_only: bool,
    source: str,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Import the checked rows; returns how many customers were created (update mode: updated).

    :raises FormError: there are bad rows and ``good_rows_only`` is false (nothing written).
    """
    actor.require("import")
    if report.problems and not good_rows_only:
        raise FormError(
            {"file": _("%(n)d rows have problems: fix them, or import only the good rows.", n=report.bad_rows)}
        )
    if report.mode == "update":
        return _apply_updates(db, actor, report, source, progress)
    indexes = report.good
    done = 0
    for start in range(0, len(indexes), CHUNK):
        _write(db, actor, [report.parsed[i] for i in indexes[start : start + CHUNK]])
        done = min(start + CHUNK, len(indexes))
        if progress is not None:
            progress(done, len(indexes))
    with db.transaction() as conn:
        segments.follow_pending(conn)  # the new customers enter the dynamic segments, in one pass for the file
        audit.record(
            conn,
            actor,
            "import.customers",
            "import",
            source,
            None,
            {"file": source, "imported": done, "skipped_rows": report.bad_rows, "total": report.total},
        )
    return done


def _write(db: Store, actor: Actor, rows: Iterable[dict[str, Any]]) -> None:
    now = now_utc()
    with db.transaction() as conn:
        default = default_program(conn)
        counter = VersionCounter(conn)
        log = ReceiptLog(conn, now)
        customers, cards, tags, lots, ledger = [], [], [], [], []
        ids = []
        rows_written = list(rows)
        for row in rows_written:
            cid = row.get("id") or secrets.token_hex(16)
            ids.append(cid)
            created = (row.get("created_at") + "T00:00:00+00:00") if row.get("created_at") else now
            balance = row.get("balance") or 0
            consents = {"personal_data": True, **row["consents"]}
            customers.append(
                (
                    cid,
                    row.get("store"),
                    row.get("phone"),
                    row["name"],
                    row["email"],
                    row.get("birthday"),
                    row["gender"],
                    row["level"],
                    json.dumps(consents, sort_keys=True),
                    json.dumps(row["custom"], ensure_ascii=False, sort_keys=True),
                    balance,
                    counter(),
                    created,
                    "import",
                )
            )
            if row.get("card"):
                cards.append((row["card"], cid, now, row.get("card_category"), now))
            tags += [(cid, t) for t in row["tags"]]
            if balance:
                op = f"import-{secrets.token_hex(12)}"
                program = row.get("program") or default
                lots.append((permanent_lot_id(cid, program, default), cid, balance, balance, op, now, program))
                ledger.append(
                    (
                        cid,
                        balance,
                        "import",
                        op,
                        row.get("store"),
                        now,
                        now,
                        "imported balance",
                        actor.username,
                        program,
                    )
                )
                log.operation(
                    "import",
                    cid,
                    balance,
                    now,
                    store=row.get("store"),
                    event_id=op,
                    channel="import",
                    detail={"operator": actor.username, "program": program},
                )
        db.add_imported_customers(customers, cards, tags, lots, ledger)
        for cid, row in zip(ids, rows_written, strict=True):  # the language of messages, when the file gives it
            if row.get("language"):
                db.set_message_language(cid, row["language"])
        for customer in customers:  # the consent history: what the file gave each new customer
            given = json.loads(customer[8])
            record_consents(conn, customer[0], {k: v for k, v in given.items() if v}, "import", actor.username)
        log.flush()
        recompute(conn, [c for c, row in zip(ids, customers, strict=True) if row[7] is None], now)
        counter.save()
        segments.follow_later(conn, ids, segments.ALL_CHANGES, "import")


def _apply_updates(
    db: Store, actor: Actor, report: Report, source: str, progress: Callable[[int, int], None] | None
) -> int:
    """Write the listed changes, :data:`CHUNK` customers per transaction; each customer's change is audited."""
    indexes = sorted(report.changes)
    for start in range(0, len(indexes), CHUNK):
        with db.transaction() as conn:
            ids = []
            for index in indexes[start : start + CHUNK]:
                cid, changes = report.matched[index], report.changes[index]
                ids.append(cid)
                _update_one(db, conn, actor, cid, changes)
            bump_versions(conn, ids)
            segments.follow_later(conn, ids, segments.ALL_CHANGES, "import")
        if progress is not None:
            progress(min(start + CHUNK, len(indexes)), len(indexes))
    with db.transaction() as conn:
        segments.follow_pending(conn)
        audit.record(
            conn,
            actor,
            "import.update",
            "import",
            source,
            None,
            {
                "file": source,
                "updated": len(indexes),
                "unchanged": len(report.good) - len(indexes),
                "skipped_rows": report.bad_rows,
                "total": report.total,
            },
        )
    return len(indexes)


def _update_one(db: Store, conn: Any, actor: Actor, cid: str, changes: Mapping[str, tuple[Any, Any]]) -> None:
    customer = db.customer_import_state(cid)
    consents, custom = json.loads(customer["consents"] or "{}"), json.loads(customer["custom"] or "{}")
    sets: dict[str, Any] = {}
    for column, (_before, after) in changes.items():
        if column in _SIMPLE:
            sets[_SIMPLE[column]] = after
            if column == "phone":
                sets["phone_verified"] = 0  # confirmed at a till, as a phone changed by hand
        elif column in _CONSENTS:
            consents[_CONSENTS[column]] = after
            sets["consents"] = json.dumps(consents, sort_keys=True)
            record_consents(conn, cid, {_CONSENTS[column]: bool(after)}, "import", actor.username)
        elif column == "language":
            sets["language"] = after
        elif column.startswith("custom_"):
            custom[column[7:]] = after
            sets["custom"] = json.dumps(custom, ensure_ascii=False, sort_keys=True)
        elif column == "tags":
            db.add_customer_tags(cid, after)
    if sets:
        db.update_customer_columns(cid, sets)
    audit.record(
        conn,
        actor,
        "customer.import_update",
        "customer",
        cid,
        {column: before for column, (before, _after) in changes.items()},
        {column: after for column, (_before, after) in changes.items()},
        store=sets.get("home_store", customer["home_store"]),
    )
