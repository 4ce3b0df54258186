"""Merging two customers (the same person registered twice): nothing is lost.

Everything of the source moves to the target in one transaction: cards,
lots (the permanent points of each program added to the target's permanent
lot in the same program: programs stay apart), every
ledger entry and transaction, stores visited, tags, comments, cashier
messages, debts and flags; balance, spend and visits add up; profile fields
the target lacks are taken from the source. The source stays as a tombstone
(``merged_into``, blocked, without a phone) with a snapshot of its state in
``merges``, so later events from agents that still know the old id land on
the target (central/points/ledger.py redirects them), and the target's balance
still equals the sum of its ledger and of its lots.
"""

from __future__ import annotations

from ..marketing import engine as segments
from ..points.merging import FILL as _FILL
from ..points.merging import merge_rows
from ..points.merging import row as _row
from ..points.versions import bump_versions
from ..storage import aggregates
from ..storage.store import NotFound, Store
from . import audit
from .access import Actor, FormError
from .customers import check_customer
from .text import _


def merge(db: Store, actor: Actor, source: str, target: str) -> None:
    """Merge ``source`` into ``target`` (both must be the actor's to change)."""
    actor.require("customers.write")
    source, target = source.strip(), target.strip()
    if not target:
        raise FormError({"target": _("Choose the customer to merge into.")})
    if source == target:
        raise FormError({"target": _("A customer cannot be merged into themselves.")})
    src = check_customer(db, actor, source, write=True)
    try:
        dst = check_customer(db, actor, target, write=True)
    except NotFound:
        raise FormError({"target": _("There is no customer %(id)s.", id=target)}) from None
    for row, field in ((src, "source"), (dst, "target")):
        if row["merged_into"]:
            raise FormError(
                {field: _("Customer %(id)s was already merged into %(into)s.", id=row["id"], into=row["merged_into"])}
            )
    with db.transaction() as conn:
        dst = _row(conn, target)
        snapshot, fills = merge_rows(conn, source, target, actor.username)
        bump_versions(conn, [source, target])
        segments.on_event(conn, [source, target], segments.ALL_CHANGES, aggregates.today(conn), cause="merge")
        audit.record(
            conn,
            actor,
            "customer.merge",
            "customer",
            target,
            {"source": snapshot, "target": {k: dst[k] for k in ("balance", "spend", "visits", *_FILL)}},
            {"merged": source, "balance": dst["balance"] + snapshot["customer"]["balance"], "filled": fills},
            store=dst["home_store"],
        )
