"""Segments for the console: create, edit, copy, delete, count, members, RFM (docs/segments.md).

Each write checks the actor (administrators and marketers), validates the
definition (central/marketing/segments: every problem named, translated here),
and writes in one transaction with its audit row. A dynamic segment's members
are computed when it is saved and kept current by the ingest and the daily
refresh (central/marketing/engine.py); a static one keeps its members until a
person changes them (:func:`recompute` fills it from its criteria on demand).

A store manager sees, in counts and member lists, only the customers of their
stores (home store or a store they bought in).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..marketing import engine
from ..marketing.columns import current as current_columns
from ..marketing.segments.definition import Definition, DefinitionError, parse_definition
from ..storage.clock import now_utc
from ..storage.store import NotFound, Store
from . import audit
from .access import ADMIN, MARKETER, Actor, Forbidden, FormError
from .filters import CustomerQuery, where
from .text import N_, _

_log = logging.getLogger(__name__)

KINDS = ("static", "dynamic")
SAMPLE = 20
audit.ACTIONS.update(
    {
        "segment.create": N_("Segment created"),
        "segment.edit": N_("Segment changed"),
        "segment.delete": N_("Segment deleted"),
        "segment.recompute": N_("Segment recomputed"),
        "segment.members": N_("Segment members changed by hand"),
    }
)

#: who uses a segment (triggers, promotions, mailings register here as they come): (database, segment id) -> names
USERS: list[Callable[[Store, int], list[str]]] = []


def require_write(actor: Actor) -> None:
    """:class:`Forbidden` unless the actor may change segments (administrators and marketers); views call it
    before they read a form, so a refusal is a 403 whatever the form holds."""
    if actor.role not in (ADMIN, MARKETER):
        raise Forbidden(f"{actor.username} ({actor.role}) may not change segments")


def _translate(error: DefinitionError) -> FormError:
    """The definition's problems in the user's language, criteria and parameters named as the page names them."""
    from .segment_form import CRITERION_LABELS, PARAM_LABELS

    def label(key: str, value: Any) -> Any:
        if key == "criterion" and value in CRITERION_LABELS:
            return str(_(CRITERION_LABELS[value]))
        if key in ("name", "high", "low") and isinstance(value, str) and value.strip("'") in PARAM_LABELS:
            return str(_(PARAM_LABELS[value.strip("'")]))
        if key == "names" and isinstance(value, str):
            return ", ".join(str(_(PARAM_LABELS[n])) if n in PARAM_LABELS else n for n in value.split(", "))
        return value

    def gettext(message: str, **params: Any) -> str:
        return _(message, **{k: label(k, v) for k, v in params.items()})

    return FormError({f"definition.{where}": message for where, message in error.messages(gettext).items()})


def check_definition(db: Store, doc: Any, segment_id: int | None = None) -> Definition:
    """The parsed definition, or :class:`FormError` naming each criterion and parameter at fault."""
    graph = db.nested_segments()
    try:
        return parse_definition(doc, self_id=segment_id, nested_of=graph.get)
    except DefinitionError as error:
        raise _translate(error) from None


def _name(db: Store, name: Any, segment_id: int | None) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 120:
        raise FormError({"name": _("Name the segment (1 to 120 characters).")})
    holder = db.segment_id_named(name)
    if holder is not None and holder != segment_id:
        raise FormError({"name": _("A segment with this name exists.")})
    return name


def _visible(db: Store, actor: Actor, keys: set[int]) -> set[int]:
    """The customers of ``keys`` the actor may see: a store manager's stores' customers only (their home
    store, or with ``STORE_MANAGER_SCOPE`` = shopped also a store they bought in)."""
    if not actor.scoped:
        return keys
    return keys & db.customer_keys_in_stores(actor.stores, home_only=actor.scope == "home")


def create(
    db: Store,
    actor: Actor,
    name: Any,
    kind: str,
    definition: Any = None,
    *,
    members: list[str] | None = None,
    cause: str = "hand",
) -> int:
    """A new segment; a dynamic one gets its members now, a static one ``members`` (customer ids, in the same
    transaction, with ``cause``). Returns its id."""
    require_write(actor)
    if kind not in KINDS:
        raise FormError({"kind": _("A segment is static or dynamic.")})
    name = _name(db, name, None)
    parsed = check_definition(db, definition) if definition is not None or kind == "dynamic" else None
    now = now_utc()
    with db.transaction() as conn:
        segment_id = db.add_segment(
            name, kind, None if parsed is None else json.dumps(parsed.to_doc()), actor.username, now
        )
        if kind == "dynamic":
            engine.recompute(conn, segment_id, db.chain_today(), "created", now)
        elif members:
            db.change_segment_members(segment_id, set(db.customer_keys(members).values()), (), now, cause)
        audit.record(
            conn,
            actor,
            "segment.create",
            "segment",
            segment_id,
            None,
            {"name": name, "kind": kind, "definition": parsed and parsed.to_doc()},
        )
    return segment_id


def edit(db: Store, actor: Actor, segment_id: int, *, name: Any = None, definition: Any = None) -> None:
    """Rename and/or change the definition; a dynamic segment's members follow at once (cause ``edit``)."""
    require_write(actor)
    row = _row(db, segment_id)
    new_name = _name(db, name, segment_id) if name is not None else row["name"]
    parsed = check_definition(db, definition, segment_id) if definition is not None else None
    now = now_utc()
    with db.transaction() as conn:
        text = row["definition"] if parsed is None else json.dumps(parsed.to_doc())
        db.update_segment(segment_id, new_name, text, actor.username, now)
        if row["kind"] == "dynamic" and parsed is not None:
            engine.recompute(conn, segment_id, db.chain_today(), "edit", now)
        audit.record(
            conn,
            actor,
            "segment.edit",
            "segment",
            segment_id,
            {"name": row["name"], "definition": json.loads(row["definition"] or "null")},
            {"name": new_name, "definition": json.loads(text or "null")},
        )


def copy(db: Store, actor: Actor, segment_id: int, name: Any) -> int:
    row = _row(db, segment_id)
    keys = sorted(db.segment_members(segment_id)) if row["kind"] == "static" else []
    ids = db.customer_ids_of_keys(keys)
    return create(
        db,
        actor,
        name,
        row["kind"],
        json.loads(row["definition"]) if row["definition"] else None,
        members=[ids[k] for k in keys if k in ids],
        cause="copy",
    )


def used_by(db: Store, segment_id: int) -> list[str]:
    """What uses the segment: other segments nesting it, and each registered user (triggers, promotions...)."""
    nested = db.nested_segments()
    found = [
        _("segment %(name)s", name=name)
        for ident, name in db.segment_names()
        if segment_id in nested.get(ident, frozenset())
    ]
    for user in USERS:
        found += user(db, segment_id)
    return found


def delete(db: Store, actor: Actor, segment_id: int) -> None:
    """Refused while something uses it, saying what."""
    require_write(actor)
    row = _row(db, segment_id)
    users = used_by(db, segment_id)
    if users:
        raise FormError({"segment": _("The segment is in use: %(users)s.", users=", ".join(users))})
    with db.transaction() as conn:
        db.delete_segment(segment_id)
        audit.record(
            conn,
            actor,
            "segment.delete",
            "segment",
            segment_id,
            {"name": row["name"], "kind": row["kind"], "size": row["size"]},
            None,
        )


def recompute(db: Store, actor: Actor, segment_id: int) -> tuple[int, int]:
    """Members := what the criteria give now (a static segment's "recompute on demand")."""
    require_write(actor)
    row = _row(db, segment_id)
    if not row["definition"]:
        raise FormError({"definition": _("The segment has no criteria to compute from.")})
    with db.transaction() as conn:
        changed = engine.recompute(conn, segment_id, db.chain_today(), "recompute")
        audit.record(
            conn, actor, "segment.recompute", "segment", segment_id, None, {"entered": changed[0], "left": changed[1]}
        )
    return changed


def change_members(
    db: Store,
    actor: Actor,
    segment_id: int,
    *,
    add: list[str] = (),  # type: ignore[assignment]
    remove: list[str] = (),
) -> tuple[int, int]:  # type: ignore[assignment]
    """Add or remove customers of a static segment by hand (cause ``hand``); unknown ids: nothing changes."""
    require_write(actor)
    row = _row(db, segment_id)
    if row["kind"] != "static":
        raise FormError({"segment": _("Only a static segment's members are changed by hand.")})
    wanted = sorted({*add, *remove})
    known = db.existing_customers(wanted)
    unknown = [cid for cid in wanted if cid not in known]
    if unknown:
        raise FormError({"customers": _("Unknown customers: %(ids)s.", ids=", ".join(unknown[:20]))})
    with db.transaction() as conn:
        keys = db.customer_keys(wanted)
        current = db.segment_members(segment_id)
        entered = {keys[c] for c in add} - current
        left = {keys[c] for c in remove} & current - entered
        changed = db.change_segment_members(segment_id, entered, left, now_utc(), "hand")
        audit.record(
            conn,
            actor,
            "segment.members",
            "segment",
            segment_id,
            None,
            {"added": sorted(add), "removed": sorted(remove)},
        )
    return changed


def _row(db: Store, segment_id: int) -> dict[str, Any]:
    row = db.segment(segment_id)
    if row is None:
        raise NotFound(f"no segment {segment_id}")
    return row


# -- reading -------------------------------------------------------------------------------------------


def list_segments(db: Store, actor: Actor, search: str = "") -> list[dict[str, Any]]:
    """Every segment whose name contains ``search`` (case-insensitive), by name; a store manager's sizes count
    only their stores' customers."""
    actor.require("customers.read")
    rows = db.segment_list()
    needle = search.strip().casefold()
    rows = [r for r in rows if needle in r["name"].casefold()]
    if actor.scoped and rows:
        mine = db.customer_keys_in_stores(actor.stores, home_only=actor.scope == "home")
        for r in rows:
            r["size"] = len(db.segment_members(r["id"]) & mine)
    return sorted(rows, key=lambda r: r["name"].casefold())


def preview(db: Store, actor: Actor, definition: Any, segment_id: int | None = None) -> dict[str, Any]:
    """The live count and up to 20 sample customers of a draft definition (nothing saved)."""
    parsed = check_definition(db, definition, segment_id)
    with db.snapshot() as conn:  # every criterion's set read from the same committed state
        evaluator = engine.live_evaluator(conn, db.chain_today())
        if not actor.scoped:  # the count and the first keys straight from the answer's array (no set of keys)
            count, sample = evaluator.count_and_first(parsed, SAMPLE)
            ids = db.customer_ids_of_keys(sample)
            return {"count": count, "sample": [ids[k] for k in sample if k in ids]}
        found = evaluator.members(parsed)
    keys = _visible(db, actor, found)
    sample = sorted(keys)[:SAMPLE]
    ids = db.customer_ids_of_keys(sample)
    return {"count": len(keys), "sample": [ids[k] for k in sample if k in ids]}


def members(db: Store, actor: Actor, segment_id: int, *, after: int = 0, limit: int = 100) -> dict[str, Any]:
    """A page of member customer ids (keyset on the key), the count the actor may see."""
    actor.require("customers.read")
    _row(db, segment_id)
    keys = sorted(_visible(db, actor, db.segment_members(segment_id)))
    page = [k for k in keys if k > after][:limit]
    ids = db.customer_ids_of_keys(page)
    return {
        "count": len(keys),
        "customers": [ids[k] for k in page if k in ids],
        "next": page[-1] if len(page) == limit else None,
    }


def compute_rfm(db: Store, actor: Actor, window: int = 365) -> int:
    require_write(actor)
    with db.transaction() as conn:
        today = db.chain_today()
        scored = engine.compute_rfm(conn, today, window)
        db.replace_setting("rfm_window", str(window))
        for row in engine.dynamic_segments(conn):
            if any(c.type == "rfm" for c in row["_def"].criteria()):
                engine.recompute(conn, row["id"], today, "rfm")
    return scored


def rfm_grid(db: Store, actor: Actor) -> Mapping[str, Any]:
    """Counts, spend and share per (R, F) cell and per class (the RFM page); a store manager's of their
    stores' customers only."""
    actor.require("customers.read")
    with db.snapshot() as conn:
        keys = db.customer_keys_in_stores(actor.stores, home_only=actor.scope == "home") if actor.scoped else None
        return engine.rfm_grid(conn, keys)


def static_segments(db: Store, actor: Actor) -> list[tuple[int, str]]:
    """(id, name) of the static segments, by name (what a person may fill by hand)."""
    actor.require("customers.read")
    rows = [r for r in db.segment_list() if r["kind"] == "static"]
    return [(r["id"], r["name"]) for r in sorted(rows, key=lambda r: r["name"].casefold())]


def segment(db: Store, actor: Actor, segment_id: int) -> dict[str, Any]:
    """The segment's row with its definition parsed (``doc``) and the size the actor may see."""
    actor.require("customers.read")
    row = _row(db, segment_id)
    row["doc"] = json.loads(row["definition"]) if row["definition"] else None
    if actor.scoped:
        row["size"] = len(_visible(db, actor, db.segment_members(segment_id)))
    return row


def size_series(db: Store, actor: Actor, segment_id: int, now: dt.datetime | None = None) -> list[tuple[str, int]]:
    """(local day, size at the day's end) from the entered/left history, oldest first, days in the chain's time
    zone (``chain_timezone``, as "today" of the criteria); the chain-wide size: a store manager sees the chart of
    the whole segment's size, not of its members."""
    actor.require("customers.read")
    zone = db.chain_zone()
    by_day: dict[str, int] = {}
    for hour, quarter, delta in db.segment_size_by_slot(segment_id):
        start = dt.datetime.fromisoformat(f"{hour}:{15 * quarter:02d}:00+00:00")
        day = start.astimezone(zone).date().isoformat()
        by_day[day] = by_day.get(day, 0) + delta
    size, out = 0, []
    for day in sorted(by_day):
        size += by_day[day]
        out.append((day, size))
    today = (now or dt.datetime.now(dt.UTC)).astimezone(zone).date().isoformat()
    if out and out[-1][0] < today:  # the size holds until today
        out.append((today, size))
    return out


def history(
    db: Store, actor: Actor, segment_id: int, *, before_id: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Entering and leaving, newest first, with time and cause (a store manager: their customers only)."""
    actor.require("customers.read")
    _row(db, segment_id)
    keys = None
    if actor.scoped:
        keys = db.customer_keys_in_stores(actor.stores, home_only=actor.scope == "home")
    return db.segment_history_page(segment_id, before_id, limit, keys)


def customer_segments(db: Store, actor: Actor, customer_id: str) -> list[dict[str, Any]]:
    """The segments a customer is in (the profile; the caller has checked the customer)."""
    actor.require("customers.read")
    return db.segments_of_customer(customer_id)


def customer_rfm(db: Store, actor: Actor, customer_id: str) -> dict[str, Any] | None:
    actor.require("customers.read")
    return db.customer_rfm_row(customer_id)


def profile_context(db: Store, actor: Actor, customer_id: str) -> dict[str, Any]:
    """What the profile tab shows of segments: the RFM result, the segments, the classes' labels."""
    from .segment_form import RFM_LABELS

    return {
        "customer_rfm": customer_rfm(db, actor, customer_id),
        "customer_segments": customer_segments(db, actor, customer_id),
        "rfm_labels": RFM_LABELS,
    }


def save_customers(db: Store, actor: Actor, name: Any, customer_ids: list[str]) -> int:
    """A new static segment holding these customers ("save these customers as a segment")."""
    return create(db, actor, name, "static", members=customer_ids)


def filtered_customers(db: Store, actor: Actor, query: CustomerQuery, zone: str) -> list[str]:
    """The ids of every customer the customer list's filter finds (within the actor's scope)."""
    actor.require("customers.read")
    sql, params = where(query, actor, zone, db.dialect)
    return db.customer_ids_where(sql, params)


def sample_customers(db: Store, actor: Actor, customer_ids: list[str]) -> list[dict[str, Any]]:
    """id, name and phone of these customers, in the order given (a preview's sample)."""
    found = {r["id"]: r for r in db.customers_named(customer_ids)}
    return [
        {"id": c, "name": found.get(c, {}).get("name") or "", "phone": found.get(c, {}).get("phone") or ""}
        for c in customer_ids
    ]


# -- uploads of cards or phones -------------------------------------------------------------------------------

MAX_UPLOAD_ROWS = 200_000
_HEADERS = {
    "card": "card",
    "карта": "card",
    "номер карты": "card",
    "card number": "card",
    "phone": "phone",
    "телефон": "phone",
    "mobile": "phone",
}


def read_upload(db: Store, data: bytes, filename: str) -> dict[str, Any]:
    """The customers a CSV/XLSX of cards or phones names (first column, or the column headed card/phone):
    ``found`` (customer ids, in file order, once each), ``unknown`` ((row number, text), at most 100 listed),
    ``unknown_count``, ``rows``. Nothing is changed (the dry run)."""
    from shared.identifiers import InvalidIdentifier, normalize_phone

    from .imports import ImportFileError, _csv_rows, _text, _xlsx_rows

    name = filename.lower()
    try:
        if name.endswith(".xlsx") or data[:2] == b"PK":
            rows = _xlsx_rows(data)
        elif name.endswith((".csv", ".txt")) or not name:
            rows = _csv_rows(data)
        else:
            raise FormError({"file": _("Upload a .csv or .xlsx file.")})
    except ImportFileError as exc:
        raise FormError({"file": str(exc)}) from None
    numbered = [(i, [_text(v) for v in r]) for i, r in enumerate(rows, 1) if any(v not in (None, "") for v in r)]
    if not numbered:
        raise FormError({"file": _("The file is empty.")})
    column, kind = 0, ""
    header = [h.strip().lower() for h in numbered[0][1]]
    if any(h in _HEADERS for h in header):
        column = next(i for i, h in enumerate(header) if h in _HEADERS)
        kind = _HEADERS[header[column]]
        numbered = numbered[1:]
    if len(numbered) > MAX_UPLOAD_ROWS:
        raise FormError({"file": _("At most %(n)s rows per file.", n=f"{MAX_UPLOAD_ROWS:,}")})
    values = [(line, (r[column] if column < len(r) else "").strip()) for line, r in numbered]
    cards = db.customers_by_cards([re.sub(r"[\s-]", "", v) for _line, v in values if v]) if kind != "phone" else {}
    phones: dict[int, str] = {}
    if kind != "card":
        for line, v in values:
            if not v or re.sub(r"[\s-]", "", v) in cards:
                continue
            try:
                phones[line] = normalize_phone(v)
            except InvalidIdentifier:
                pass
    by_phone = db.customers_by_phones(sorted(set(phones.values())))
    found: dict[str, None] = {}
    unknown: list[tuple[int, str]] = []
    for line, v in values:
        customer = cards.get(re.sub(r"[\s-]", "", v)) or by_phone.get(phones.get(line, ""))
        if customer:
            found.setdefault(customer)
        else:
            unknown.append((line, v))
    return {"found": list(found), "unknown": unknown[:100], "unknown_count": len(unknown), "rows": len(values)}


def apply_upload(db: Store, actor: Actor, segment_id: int, data: bytes, filename: str, mode: str) -> dict[str, Any]:
    """Add (``mode`` = add) or remove the uploaded customers; the known rows are applied (the dry run said
    which are unknown). Returns the dry run's result with ``changed`` = (entered, left)."""
    require_write(actor)
    if mode not in ("add", "remove"):
        raise FormError({"mode": _("Add or remove.")})
    result = read_upload(db, data, filename)
    if not result["found"]:
        raise FormError({"file": _("No row of the file names a known customer.")})
    if mode == "add":
        result["changed"] = change_members(db, actor, segment_id, add=result["found"])
    else:
        result["changed"] = change_members(db, actor, segment_id, remove=result["found"])
    return result


def warm_snapshot(path: str) -> threading.Thread:
    """Build the segments' column snapshot of the database at ``path`` in a background thread (``serve`` at
    start): the first count, recompute or refresh then finds it built (central/storage/segment_columns.py)."""

    def build() -> None:
        clock = time.perf_counter()
        try:
            db = Store(path)
            try:
                with db.snapshot() as conn:
                    snap = current_columns(conn)
            finally:
                db.close()
        except Exception:  # the first count builds it again; the server must not stop over this
            _log.exception("segments' column snapshot: the warm-up failed")
            return
        _log.info(
            "segments' column snapshot built in %.1f s (%d day rows)",
            time.perf_counter() - clock,
            len(snap.days["key"]),
        )

    thread = threading.Thread(target=build, name="segments-snapshot-warm-up", daemon=True)
    thread.start()
    return thread
