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

import json
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from ..marketing import engine
from ..marketing.segments.definition import Definition, DefinitionError, parse_definition
from ..storage import aggregates
from ..storage import segments as table
from ..storage.clock import now_utc
from ..storage.store import Store
from . import audit
from .access import ADMIN, MARKETER, Actor, Forbidden, FormError
from .text import N_, _

KINDS = ("static", "dynamic")
SAMPLE = 20
audit.ACTIONS.update({
    "segment.create": N_("Segment created"), "segment.edit": N_("Segment changed"),
    "segment.delete": N_("Segment deleted"), "segment.recompute": N_("Segment recomputed"),
    "segment.members": N_("Segment members changed by hand"),
})

#: who uses a segment (triggers, promotions, mailings register here as they come): segment id -> names
USERS: list[Callable[[sqlite3.Connection, int], list[str]]] = []


def _require_write(actor: Actor) -> None:
    if actor.role not in (ADMIN, MARKETER):
        raise Forbidden(f"{actor.username} ({actor.role}) may not change segments")


def _translate(error: DefinitionError) -> FormError:
    return FormError({f"definition.{where}": message for where, message in error.messages(_).items()})


def check_definition(db: Store, doc: Any, segment_id: int | None = None) -> Definition:
    """The parsed definition, or :class:`FormError` naming each criterion and parameter at fault."""
    graph = table.nested_of(db.conn)
    try:
        return parse_definition(doc, self_id=segment_id, nested_of=graph.get)
    except DefinitionError as error:
        raise _translate(error) from None


def _name(db: Store, name: Any, segment_id: int | None) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 120:
        raise FormError({"name": _("Name the segment (1 to 120 characters).")})
    row = db.conn.execute("SELECT id FROM segments WHERE name = ?", (name,)).fetchone()
    if row and row[0] != segment_id:
        raise FormError({"name": _("A segment with this name exists.")})
    return name


def _visible(db: Store, actor: Actor, keys: set[int]) -> set[int]:
    if not actor.scoped:
        return keys
    stores = sorted(actor.stores)
    marks = ",".join("?" * len(stores)) or "NULL"
    allowed = {r[0] for r in db.conn.execute(
        "SELECT k.key FROM customer_keys k JOIN customers c ON c.id = k.customer_id WHERE c.home_store IN"
        f" ({marks}) OR EXISTS (SELECT 1 FROM customer_stores s WHERE s.customer_id = c.id AND s.store IN ({marks}))",
        stores + stores)}
    return keys & allowed


def create(db: Store, actor: Actor, name: Any, kind: str, definition: Any = None) -> int:
    """A new segment; a dynamic one gets its members now. Returns its id."""
    _require_write(actor)
    if kind not in KINDS:
        raise FormError({"kind": _("A segment is static or dynamic.")})
    name = _name(db, name, None)
    parsed = check_definition(db, definition) if definition is not None or kind == "dynamic" else None
    now = now_utc()
    with db.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO segments (name, kind, definition, created_by, created_at, changed_by, changed_at)"
            " VALUES (?,?,?,?,?,?,?)", (name, kind, None if parsed is None else json.dumps(parsed.to_doc()),
                                        actor.username, now, actor.username, now))
        segment_id = int(cur.lastrowid or 0)
        if kind == "dynamic":
            engine.recompute(conn, segment_id, aggregates.today(conn), "created", now)
        audit.record(conn, actor, "segment.create", "segment", segment_id, None,
                     {"name": name, "kind": kind, "definition": parsed and parsed.to_doc()})
    return segment_id


def edit(db: Store, actor: Actor, segment_id: int, *, name: Any = None, definition: Any = None) -> None:
    """Rename and/or change the definition; a dynamic segment's members follow at once (cause ``edit``)."""
    _require_write(actor)
    row = _row(db, segment_id)
    new_name = _name(db, name, segment_id) if name is not None else row["name"]
    parsed = check_definition(db, definition, segment_id) if definition is not None else None
    now = now_utc()
    with db.transaction() as conn:
        text = row["definition"] if parsed is None else json.dumps(parsed.to_doc())
        conn.execute("UPDATE segments SET name = ?, definition = ?, changed_by = ?, changed_at = ? WHERE id = ?",
                     (new_name, text, actor.username, now, segment_id))
        if row["kind"] == "dynamic" and parsed is not None:
            engine.recompute(conn, segment_id, aggregates.today(conn), "edit", now)
        audit.record(conn, actor, "segment.edit", "segment", segment_id,
                     {"name": row["name"], "definition": json.loads(row["definition"] or "null")},
                     {"name": new_name, "definition": json.loads(text or "null")})


def copy(db: Store, actor: Actor, segment_id: int, name: Any) -> int:
    row = _row(db, segment_id)
    new_id = create(db, actor, name, row["kind"], json.loads(row["definition"]) if row["definition"] else None)
    if row["kind"] == "static":
        with db.transaction() as conn:
            table.change_members(conn, new_id, table.members(conn, segment_id), (), now_utc(), "copy")
    return new_id


def used_by(db: Store, segment_id: int) -> list[str]:
    """What uses the segment: other segments nesting it, and each registered user (triggers, promotions...)."""
    found = [_("segment %(name)s", name=name) for ident, name in db.conn.execute("SELECT id, name FROM segments")
             if segment_id in table.nested_of(db.conn).get(ident, frozenset())]
    for user in USERS:
        found += user(db.conn, segment_id)
    return found


def delete(db: Store, actor: Actor, segment_id: int) -> None:
    """Refused while something uses it, saying what."""
    _require_write(actor)
    row = _row(db, segment_id)
    users = used_by(db, segment_id)
    if users:
        raise FormError({"segment": _("The segment is in use: %(users)s.", users=", ".join(users))})
    with db.transaction() as conn:
        for name in ("segment_members", "segment_history"):  # (its flips expire: a visit too early is harmless)
            conn.execute(f"DELETE FROM {name} WHERE segment_id = ?", (segment_id,))
        conn.execute("DELETE FROM segments WHERE id = ?", (segment_id,))
        audit.record(conn, actor, "segment.delete", "segment", segment_id,
                     {"name": row["name"], "kind": row["kind"], "size": row["size"]}, None)


def recompute(db: Store, actor: Actor, segment_id: int) -> tuple[int, int]:
    """Members := what the criteria give now (a static segment's "recompute on demand")."""
    _require_write(actor)
    row = _row(db, segment_id)
    if not row["definition"]:
        raise FormError({"definition": _("The segment has no criteria to compute from.")})
    with db.transaction() as conn:
        changed = engine.recompute(conn, segment_id, aggregates.today(conn), "recompute")
        audit.record(conn, actor, "segment.recompute", "segment", segment_id, None,
                     {"entered": changed[0], "left": changed[1]})
    return changed


def change_members(db: Store, actor: Actor, segment_id: int, *, add: list[str] = (),  # type: ignore[assignment]
                   remove: list[str] = ()) -> tuple[int, int]:  # type: ignore[assignment]
    """Add or remove customers of a static segment by hand (cause ``hand``); unknown ids: nothing changes."""
    _require_write(actor)
    row = _row(db, segment_id)
    if row["kind"] != "static":
        raise FormError({"segment": _("Only a static segment's members are changed by hand.")})
    wanted = sorted({*add, *remove})
    known = {cid for (cid,) in db.conn.execute(
        f"SELECT id FROM customers WHERE merged_into IS NULL AND id IN ({','.join('?' * len(wanted))})", wanted)} \
        if wanted else set()
    unknown = [cid for cid in wanted if cid not in known]
    if unknown:
        raise FormError({"customers": _("Unknown customers: %(ids)s.", ids=", ".join(unknown[:20]))})
    with db.transaction() as conn:
        keys = aggregates.keys_of(conn, wanted)
        current = table.members(conn, segment_id)
        entered = {keys[c] for c in add} - current
        left = {keys[c] for c in remove} & current - entered
        changed = table.change_members(conn, segment_id, entered, left, now_utc(), "hand")
        audit.record(conn, actor, "segment.members", "segment", segment_id, None,
                     {"added": sorted(add), "removed": sorted(remove)})
    return changed


def _row(db: Store, segment_id: int) -> dict[str, Any]:
    row = table.segment_row(db.conn, segment_id)
    if row is None:
        raise FormError({"segment": _("No such segment.")})
    return row


# -- reading -------------------------------------------------------------------------------------------

def list_segments(db: Store, actor: Actor, search: str = "") -> list[dict[str, Any]]:
    rows = table.segment_rows(db.conn)
    needle = search.strip().casefold()
    return [r for r in rows if needle in r["name"].casefold()]


def preview(db: Store, actor: Actor, definition: Any, segment_id: int | None = None) -> dict[str, Any]:
    """The live count and up to 20 sample customers of a draft definition (nothing saved)."""
    parsed = check_definition(db, definition, segment_id)
    keys = _visible(db, actor, engine.live_evaluator(db.conn, aggregates.today(db.conn)).members(parsed))
    sample = sorted(keys)[:SAMPLE]
    ids = _customer_ids(db, sample)
    return {"count": len(keys), "sample": [ids[k] for k in sample if k in ids]}


def members(db: Store, actor: Actor, segment_id: int, *, after: int = 0, limit: int = 100) -> dict[str, Any]:
    """A page of member customer ids (keyset on the key), the count the actor may see."""
    _row(db, segment_id)
    keys = sorted(_visible(db, actor, table.members(db.conn, segment_id)))
    page = [k for k in keys if k > after][:limit]
    ids = _customer_ids(db, page)
    return {"count": len(keys), "customers": [ids[k] for k in page if k in ids],
            "next": page[-1] if len(page) == limit else None}


def _customer_ids(db: Store, keys: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        out.update(db.conn.execute(
            f"SELECT key, customer_id FROM customer_keys WHERE key IN ({','.join('?' * len(chunk))})", chunk))
    return out


def compute_rfm(db: Store, actor: Actor, window: int = 365) -> int:
    _require_write(actor)
    with db.transaction() as conn:
        today = aggregates.today(conn)
        scored = engine.compute_rfm(conn, today, window)
        conn.execute("INSERT INTO settings (name, value) VALUES ('rfm_window', ?) ON CONFLICT (name)"
                     " DO UPDATE SET value = excluded.value", (str(window),))
        for row in engine.dynamic_segments(conn):
            if any(c.type == "rfm" for c in row["_def"].criteria()):
                engine.recompute(conn, row["id"], today, "rfm")
    return scored


def rfm_grid(db: Store, actor: Actor) -> Mapping[str, Any]:
    """Counts, spend and share per (R, F) cell and per class (the RFM page)."""
    return engine.rfm_grid(db.conn)
