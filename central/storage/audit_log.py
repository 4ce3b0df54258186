"""The audit log (``audit_log``): one row per console write, added in the write's own transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from .connection import Database


def add_audit_row(
    conn: sqlite3.Connection,
    at: str,
    user_id: int | None,
    username: str,
    action: str,
    entity: str,
    entity_id: str | None,
    store: str | None,
    before: str | None,
    after: str | None,
) -> None:
    """One audit row on the caller's connection, inside its open transaction (the write and its record land
    together). A function, not a method: the services hand it the ``conn`` of ``with db.transaction() as conn``."""
    conn.execute(
        "INSERT INTO audit_log (at, user_id, username, action, entity, entity_id, store, before, after)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (at, user_id, username, action, entity, entity_id, store, before, after),
    )


def _decoded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row["before"] = json.loads(row["before"]) if row["before"] else None
        row["after"] = json.loads(row["after"]) if row["after"] else None
    return rows


class AuditLog(Database):
    """Reading the ``audit_log`` table (its rows' ``before`` and ``after`` decoded from JSON)."""

    def audit_rows(
        self,
        equal: Sequence[tuple[str, Any]] = (),
        *,
        at_from: str | None = None,
        at_before: str | None = None,
        id_below: int | None = None,
        id_above: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Audit rows whose columns equal the values of ``equal`` ((column, value); columns of the code, never
        the user's), at or after ``at_from``, before ``at_before``, below or above an id; newest first, or
        oldest first when paging forward (``id_above``)."""
        columns = {"username", "action", "entity", "entity_id"}
        where, params = ["1 = 1"], []
        for column, value in equal:
            if column not in columns:
                raise ValueError(f"not an audit column: {column}")
            where.append(f"{column} = ?")
            params.append(value)
        for clause, value in (("at >= ?", at_from), ("at < ?", at_before), ("id < ?", id_below), ("id > ?", id_above)):
            if value is not None:
                where.append(clause)
                params.append(value)
        order = "ASC" if id_above is not None and id_below is None else "DESC"
        return _decoded(
            self.rows(
                f"SELECT * FROM audit_log WHERE {' AND '.join(where)} ORDER BY id {order} LIMIT ?", [*params, limit]
            )
        )

    def audit_usernames(self) -> list[str]:
        """Everyone who appears in the audit log, sorted."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT username FROM audit_log ORDER BY username")]
