"""The audit log: one row per console write (who, when, what, before and after), in the write's transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from ..storage.clock import now_utc
from ..storage.store import Store
from .access import Actor


def record(
    conn: sqlite3.Connection,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: str | int | None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    *,
    store: str | None = None,
) -> None:
    """Write one audit row inside the caller's transaction (so the write and its record land together)."""
    conn.execute(
        "INSERT INTO audit_log (at, user_id, username, action, entity, entity_id, store, before, after)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (now_utc(), actor.id, actor.username, action, entity, None if entity_id is None else str(entity_id), store,
         _json(before), _json(after)),
    )


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def entries(db: Store, actor: Actor, *, entity: str | None = None, entity_id: str | None = None,
            before_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The audit log, newest first (``before_id`` pages back); administrators and marketers."""
    actor.require("audit.read")
    return history(db, entity=entity, entity_id=entity_id, before_id=before_id, limit=limit)


def history(db: Store, *, entity: str | None = None, entity_id: str | None = None,
            before_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Audit rows of one object, unchecked: callers check access to the object first."""
    where, params = ["1 = 1"], []
    if entity is not None:
        where.append("entity = ?")
        params.append(entity)
    if entity_id is not None:
        where.append("entity_id = ?")
        params.append(entity_id)
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    rows = db.rows(
        f"SELECT * FROM audit_log WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?", [*params, limit]
    )
    for row in rows:
        row["before"] = json.loads(row["before"]) if row["before"] else None
        row["after"] = json.loads(row["after"]) if row["after"] else None
    return rows
