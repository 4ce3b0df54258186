"""Customer deltas for down-sync: pages of CustomerDelta (shared/events.py) by version.

Every change of a customer gives it the next value of one chain-wide counter
(``counters.customer_version``). A page is "every customer relevant to this
store whose version is in (after, upto]", ordered by version, so the same
query serves the live stream, an agent catching up and a full snapshot
(``after = 0``); an agent that has applied a page may set its cursor to
``upto``. Which customers are relevant to a store is the ``customer_scope``
setting: ``all`` (default) or ``visited`` (home store plus stores where the
customer bought something); see docs/central.md. A delta carries the ids of the
segments the customer is in (promotions' audiences at the till); a membership
change gives the customer a new version (central/storage/segments.py): a big one owes them, and the
publisher gives them at the start of its pass (central/sync/publisher.py), so the pass's pages carry them.

A store is sent only the lots of its program (central/points/programs.py), so an
agent's balance is the customer's balance in that program. A store's
program change gives the customers with lots in the old or the new program
new versions (central/services/stores.py), so the next pages carry them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..storage.store import Store


def customer_page(
    db: Store, store_id: str, after: int, limit: int = 500, cache: dict[Any, Any] | None = None
) -> tuple[list[dict[str, Any]], int, bool]:
    """(deltas, upto, more) for one store: at most ``limit`` customers with version > after.

    :param cache: one publishing pass's memo. With the ``all`` scope every store's
        page after the same cursor is the same customers, so they are read once (in
        one snapshot: ``applied`` must be read with the ``lots`` it describes) and
        only put together per store.
    """
    scope = db.setting("customer_scope", "all")
    shared = scope == "all" and cache is not None
    page = cache.get((after, limit)) if shared else None  # type: ignore[union-attr]
    if page is None:
        page = db.customer_delta_page(None if scope == "all" else store_id, after, limit)
        if shared:
            cache[(after, limit)] = page  # type: ignore[index]
    rows, upto, more, cards, lots, messages, percents, applied, programs, segments, uses, codes = page
    stores, default = programs
    program = stores.get(store_id, default)
    store_percents = percents.get(store_id, {})
    store_applied = applied.get(store_id, {})
    deltas = []
    for cid, version, name, phone, verified, birthday, level, network_percent, blocked, consents, ends in rows:
        store_percent, store_ends = store_percents.get(cid, (None, None))
        delta = {
            "customer_id": cid,
            "version": version,
            "name": name,
            "phone": phone,
            "phone_verified": bool(verified),
            "birthday": birthday,
            "level": level,
            "network_percent": network_percent,
            "store_percent": store_percent,
            "blocked": bool(blocked),
            "cards": cards[cid],
            "lots": [lot for pid, lot in lots[cid] if pid == program],
            "applied": store_applied,
            "messages": messages[cid],
            "consents": json.loads(consents),
            "segments": segments[cid],
            "promotion_uses": uses[cid],
            "promo_codes": codes[cid],
        }
        # a percent's end only when it has one: older agents ignore the field and keep the percent until the
        # nightly job removes it (docs/sync.md, "Personal percents with an end")
        if network_percent is not None and ends:
            delta["network_percent_ends_at"] = ends
        if store_percent is not None and store_ends:
            delta["store_percent_ends_at"] = store_ends
        deltas.append(delta)
    return deltas, upto, more
