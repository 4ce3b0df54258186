"""Saved filters: a named query string of a list page (customers, transactions), one's own or shared."""

from __future__ import annotations

from typing import Any

from ..storage.clock import now_utc
from ..storage.store import Store
from . import audit
from .access import Actor, Forbidden, FormError
from .text import _

AREAS = ("customers", "transactions", "reports")


def list_filters(db: Store, actor: Actor, area: str) -> list[dict[str, Any]]:
    """The actor's own filters and those others shared, by name."""
    return db.saved_filters(area, actor.id or 0)


def save_filter(db: Store, actor: Actor, area: str, name: str, query: str, shared: bool) -> int:
    if area not in AREAS:
        raise FormError({"name": _("Unknown list.")})
    name = name.strip()
    if not name or len(name) > 80:
        raise FormError({"name": _("Name the filter (1 to 80 characters).")})
    if not query:
        raise FormError({"name": _("Set a search or a condition first.")})
    with db.transaction() as conn:
        ident = db.save_filter(actor.id or 0, area, name, query, shared, now_utc())
        audit.record(
            conn, actor, "filter.save", "saved_filter", name, None, {"area": area, "query": query, "shared": shared}
        )
        return ident


def delete_filter(db: Store, actor: Actor, filter_id: int) -> None:
    row = db.saved_filter(filter_id)
    if row is None:
        return
    if row["user_id"] != actor.id and not actor.can("users.manage"):
        raise Forbidden("only its owner or an administrator may delete a saved filter")
    with db.transaction() as conn:
        db.delete_saved_filter(filter_id)
        audit.record(
            conn,
            actor,
            "filter.delete",
            "saved_filter",
            row["name"],
            {"area": row["area"], "query": row["query"]},
            None,
        )
