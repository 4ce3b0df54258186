"""A customer's personal percents: network-wide and per store (accrual.md, step 5).

A personal percent replaces the level's and the base percent for this
customer: a store percent wins in its store, the network percent everywhere
else. Both are decimal strings with at most two decimals, 0..100, stored as
the agents read them (``customers.network_percent``,
``customer_store_percents``) and sent down with the customer's next delta.

Who may set them: whoever may change the customer (``customers.write``); the
network percent touches every store, so a store manager sets only the store
percents of their own stores and leaves the rest as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.numbers import MAX_PERCENT, PERCENT_DECIMALS, parse_scaled

from ..points.versions import bump_versions
from ..storage.store import Store
from . import audit
from .access import Actor, Forbidden, FormError
from .accounts import _writable
from .customers import check_customer
from .text import _

NETWORK = "network_percent"
STORE_FIELD = "store_percent_"


def canonical(text: str) -> str | None:
    """The percent as stored ("5", "2.5", "0.75"); None for a blank field.

    :raises ValueError: not a percent 0..100 with at most two decimals.
    """
    text = (text or "").strip().replace(",", ".")
    if not text:
        return None
    scaled = parse_scaled(text, PERCENT_DECIMALS)
    if scaled > MAX_PERCENT:
        raise ValueError(text)
    whole, cents = divmod(scaled, 10**PERCENT_DECIMALS)
    return f"{whole}.{cents:02d}".rstrip("0") if cents else str(whole)


def percents(db: Store, actor: Actor, customer_id: str) -> dict[str, Any]:
    """The network percent and every store the actor sees, with the customer's percent there (or None)."""
    customer = check_customer(db, actor, customer_id)
    set_here = db.store_percents(customer_id)
    stores = [
        {"id": s["id"], "name": s["name"], "percent": set_here.get(s["id"])}
        for s in db.stores()
        if not actor.scoped or s["id"] in actor.stores
    ]
    return {"network": customer["network_percent"], "stores": stores, "network_editable": not actor.scoped}


def set_percents(db: Store, actor: Actor, customer_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Save the form: ``network_percent`` and ``store_percent_<store id>`` (blank: no personal percent).

    Stores the actor cannot see keep their percents; a store manager's form has no network percent.
    :returns: the customer's percents after the change.
    """
    customer = _writable(db, actor, customer_id)
    if actor.scoped and NETWORK in data and (data.get(NETWORK) or "").strip() != (customer["network_percent"] or ""):
        raise Forbidden(f"{actor.username} may not change the network-wide percent")
    errors: dict[str, str] = {}
    message = _("Write a percent 0..100 with at most 2 decimals, like 5 or 2.5, or leave it empty.")

    def read(field: str, current: str | None) -> str | None:
        if field not in data:
            return current
        try:
            return canonical(str(data[field]))
        except ValueError:
            errors[field] = message
            return current

    visible = {s["id"] for s in db.stores() if not actor.scoped or s["id"] in actor.stores}
    unknown = [k for k in data if k.startswith(STORE_FIELD) and k[len(STORE_FIELD) :] not in visible]
    if unknown:
        raise Forbidden(f"{actor.username} may not set a percent for {', '.join(sorted(unknown))}")
    with db.transaction() as conn:
        before_stores = db.store_percents(customer_id)
        network = customer["network_percent"] if actor.scoped else read(NETWORK, customer["network_percent"])
        after_stores = dict(before_stores)
        for store in sorted(visible):
            value = read(STORE_FIELD + store, before_stores.get(store))
            if value is None:
                after_stores.pop(store, None)
            else:
                after_stores[store] = value
        if errors:
            raise FormError(errors)
        before = {"network_percent": customer["network_percent"], "store_percents": before_stores}
        after = {"network_percent": network, "store_percents": after_stores}
        if before == after:
            return after
        db.set_personal_percents(customer_id, network, after_stores)
        bump_versions(conn, [customer_id])
        audit.record(
            conn, actor, "customer.percents", "customer", customer_id, before, after, store=customer["home_store"]
        )
    return after
