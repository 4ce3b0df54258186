"""Tags in bulk: add or remove one tag on every customer of a filtered list or of a segment (docs/segments.md).

One customer's tags are edited on their account (central/services/accounts.py ``set_tags``). Here a tag is
added to (or removed from) many customers in one transaction: each changed customer gets its audit row
(``customer.tags``, shown in their log), and the dynamic segments reading tags follow in the same transaction
(central/marketing/engine.py ``customer_changed``). A store manager changes only the customers registered at
their stores; the others the list shows them are left as they are and counted.
"""

from __future__ import annotations

from typing import Any

from ..marketing import engine
from ..storage.store import Store
from . import audit, segments
from .access import Actor, FormError
from .accounts import parse_tags
from .filters import CustomerQuery, where
from .text import _

MODES = ("add", "remove")


def _tag(text: Any) -> str:
    try:
        tags = parse_tags(text if isinstance(text, str) else "")
    except ValueError:
        tags = []
    if len(tags) != 1:
        raise FormError({"tag": _("Write one tag: letters, digits and dashes.")})
    return tags[0]


def tag_customers(db: Store, actor: Actor, customer_ids: list[str], tag: Any, mode: str) -> dict[str, int]:
    """Add or remove ``tag`` on these customers: ``{"changed": n, "unchanged": n, "skipped": n}``."""
    actor.require("customers.write")
    name = _tag(tag)
    if mode not in MODES:
        raise FormError({"mode": _("Add or remove.")})
    ids = sorted(set(customer_ids))
    homes = db.customers_home(ids)
    allowed = [c for c in ids if c in homes and (not actor.scoped or homes[c] in actor.stores)]
    with db.transaction() as conn:
        having = db.tagged_customers(name, allowed)
        if mode == "add":
            changing = [c for c in allowed if c not in having]
            db.add_tag_to(name, changing)
        else:
            changing = [c for c in allowed if c in having]
            db.remove_tag_from(name, changing)
        for customer_id in changing:
            audit.record(
                conn,
                actor,
                "customer.tags",
                "customer",
                customer_id,
                {"tag": name} if mode == "remove" else None,
                {"tag": name, "bulk": mode},
                store=homes[customer_id],
            )
        if changing:
            engine.customer_changed(conn, changing, "tags")
    return {"changed": len(changing), "unchanged": len(allowed) - len(changing), "skipped": len(ids) - len(allowed)}


def tag_filtered(db: Store, actor: Actor, query: CustomerQuery, zone: str, tag: Any, mode: str) -> dict[str, int]:
    """The tag on every customer the customer list's filter finds (within the actor's scope)."""
    actor.require("customers.write")
    sql, params = where(query, actor, zone, db.dialect)
    return tag_customers(db, actor, db.customer_ids_where(sql, params), tag, mode)


def tag_segment(db: Store, actor: Actor, segment_id: int, tag: Any, mode: str) -> dict[str, int]:
    """The tag on every member of a segment the actor may see."""
    actor.require("customers.write")
    ids: list[str] = []
    after = 0
    while True:
        page = segments.members(db, actor, segment_id, after=after, limit=5000)
        ids += page["customers"]
        if page["next"] is None:
            break
        after = page["next"]
    return tag_customers(db, actor, ids, tag, mode)


def known_tags(db: Store) -> list[tuple[str, int]]:
    return db.all_tags()
