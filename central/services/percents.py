"""A customer's personal percents: network-wide and per store (accrual.md, step 5).

A personal percent replaces the level's and the base percent for this
customer: a store percent wins in its store, the network percent everywhere
else. Both are decimal strings with at most two decimals, 0..100, stored as
the agents read them (``customers.network_percent``,
``customer_store_percents``) and sent down with the customer's next delta.

A percent may end (docs/triggers.md, "A percent until a date"): its end is kept as the first instant it no
longer applies; the form shows and takes the last day it applies (``network_percent_until``,
``store_percent_until_<store id>``, YYYY-MM-DD, inclusive, in the store's local time, the chain's for the
network percent). A changed percent without a date does not end; an unchanged one keeps its end. The nightly
job removes a percent whose end has come.

Who may set them: whoever may change the customer (``customers.write``); the
network percent touches every store, so a store manager sets only the store
percents of their own stores and leaves the rest as they are.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from typing import Any

from shared.numbers import MAX_PERCENT, PERCENT_DECIMALS, parse_scaled

from ..points.versions import bump_versions
from ..storage.aggregates import DEFAULT_CHAIN_ZONE
from ..storage.clock import now_utc
from ..storage.store import Store
from . import audit
from .access import Actor, Forbidden, FormError
from .accounts import _writable
from .customers import check_customer
from .text import _

NETWORK = "network_percent"
STORE_FIELD = "store_percent_"
NETWORK_UNTIL = "network_percent_until"
STORE_UNTIL = "store_percent_until_"


def _zone(name: str | None, fallback: dt.tzinfo | None = None) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name) if name else (fallback or zoneinfo.ZoneInfo(DEFAULT_CHAIN_ZONE))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return fallback or zoneinfo.ZoneInfo(DEFAULT_CHAIN_ZONE)


def last_day(ends_at: str | None, zone: dt.tzinfo) -> str | None:
    """The last local day (YYYY-MM-DD) a percent ending at ``ends_at`` (UTC text) applies on."""
    if not ends_at:
        return None
    moment = dt.datetime.fromisoformat(ends_at)
    return (moment.astimezone(zone) - dt.timedelta(microseconds=1)).date().isoformat()


def end_of_day(day: str, zone: dt.tzinfo) -> str:
    """The end (the next day's first instant, UTC text) of a percent that applies until ``day`` inclusive.

    :raises ValueError: not a date YYYY-MM-DD.
    """
    if len(day) != 10:
        raise ValueError(day)
    start = dt.datetime.combine(dt.date.fromisoformat(day) + dt.timedelta(days=1), dt.time(), zone)
    return start.astimezone(dt.UTC).isoformat(timespec="seconds")


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
    network_ends, store_ends = db.percent_ends(customer_id)
    chain = _zone(db.setting("chain_timezone"))
    stores = [
        {
            "id": s["id"],
            "name": s["name"],
            "percent": set_here.get(s["id"]),
            "ends_at": store_ends.get(s["id"]) if s["id"] in set_here else None,
            "until": last_day(store_ends.get(s["id"]), _zone(s.get("timezone"), chain))
            if s["id"] in set_here
            else None,
        }
        for s in db.stores()
        if not actor.scoped or s["id"] in actor.stores
    ]
    network = customer["network_percent"]
    return {
        "network": network,
        "network_ends_at": network_ends if network else None,
        "network_until": last_day(network_ends, chain) if network else None,
        "stores": stores,
        "network_editable": not actor.scoped,
    }


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

    zones = {s["id"]: s.get("timezone") for s in db.stores()}
    chain = _zone(db.setting("chain_timezone"))
    visible = {s for s in zones if not actor.scoped or s in actor.stores}
    unknown = [
        k
        for k in data
        if (k.startswith(STORE_UNTIL) and k[len(STORE_UNTIL) :] not in visible)
        or (k.startswith(STORE_FIELD) and not k.startswith(STORE_UNTIL) and k[len(STORE_FIELD) :] not in visible)
    ]
    if unknown:
        raise Forbidden(f"{actor.username} may not set a percent for {', '.join(sorted(unknown))}")
    now = now_utc()
    today = dt.datetime.fromisoformat(now)

    def read_end(field: str, value: str | None, old_value: str | None, old_end: str | None, zone: dt.tzinfo) -> Any:
        """The percent's end after the form: none for no percent; the old end for an unchanged percent whose
        date was left as shown; else the posted date's end (blank: none)."""
        if value is None:
            return None
        if field not in data:
            return old_end if value == old_value else None
        day = str(data[field] or "").strip()
        if not day:
            return None
        if value == old_value and day == last_day(old_end, zone):
            return old_end
        try:
            end = end_of_day(day, zone)
        except ValueError:
            errors[field] = _("Write the last day as YYYY-MM-DD, or leave it empty for no end.")
            return old_end
        if end <= now or dt.date.fromisoformat(day) < today.astimezone(zone).date():
            errors[field] = _("This day has passed: choose today or a later day, or leave it empty for no end.")
            return old_end
        return end

    with db.transaction() as conn:
        before_stores = db.store_percents(customer_id)
        old_network_end, old_store_ends = db.percent_ends(customer_id)
        network = customer["network_percent"] if actor.scoped else read(NETWORK, customer["network_percent"])
        network_end = (
            (old_network_end if network == customer["network_percent"] else None)
            if actor.scoped
            else read_end(NETWORK_UNTIL, network, customer["network_percent"], old_network_end, chain)
        )
        after_stores = dict(before_stores)
        after_ends = dict(old_store_ends)
        for store in sorted(visible):
            value = read(STORE_FIELD + store, before_stores.get(store))
            if value is None:
                after_stores.pop(store, None)
            else:
                after_stores[store] = value
            end = read_end(
                STORE_UNTIL + store,
                value,
                before_stores.get(store),
                old_store_ends.get(store),
                _zone(zones.get(store), chain),
            )
            if end is None:
                after_ends.pop(store, None)
            else:
                after_ends[store] = end
        if errors:
            raise FormError(errors)
        before = {"network_percent": customer["network_percent"], "store_percents": before_stores}
        after = {"network_percent": network, "store_percents": after_stores}
        if network_end or old_network_end:
            before["network_percent_ends_at"], after["network_percent_ends_at"] = old_network_end, network_end
        if after_ends or old_store_ends:
            before["store_percent_ends"], after["store_percent_ends"] = old_store_ends, after_ends
        if before == after:
            return after
        db.set_personal_percents(customer_id, network, after_stores, network_end, after_ends)
        bump_versions(conn, [customer_id])
        audit.record(
            conn, actor, "customer.percents", "customer", customer_id, before, after, store=customer["home_store"]
        )
    return after
