"""Service messages answering what happened to a customer, each switched on per event, store and channel.

Events: ``phone_code`` (the code the till asks for at registration: the agent makes it and sends it up
in the registration event, and the central server sends it), ``points_received`` and ``points_spent``
(a receipt with points), ``points_expiring`` (the soonest points to expire within
:data:`EXPIRY_DAYS` days, told once per expiry date). A switch names the template to send; the store
``''`` row holds for every store and a store's own row overrides it (a row without a template switches
the event off at that store).

The sender runs :func:`queue_due` at each pass while it holds its lease. Every message is queued with
a cause unique per customer and channel (``code:<code>``, ``tx:<id>:received``,
``expiring:<date>``), so a pass repeated after a crash queues nothing twice. Receipts are followed by
a cursor (``settings.messages_notice_cursor``); while no switch is on it follows the newest receipt, so
switching an event on does not message the past.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

EVENTS = ("phone_code", "points_received", "points_spent", "points_expiring", "level_changed", "redeem_code")
#: the redemption confirmation code: not queued by this pass but on the till's request
#: (central/messages/confirmations.py); its switch also tells the store's agents to ask for it
REDEEM_CODE = "redeem_code"
#: channels a service message may go by
NOTICE_CHANNELS = ("sms", "email", "push", "telegram", "voice", "cashier")
EXPIRY_DAYS = 7
#: a phone code is sent only for a registration this recent (the till's code lives shorter)
CODE_WINDOW = dt.timedelta(hours=1)
CURSOR = "messages_notice_cursor"
LEVEL_CURSOR = "messages_level_cursor"
TILL_CURSOR = "messages_till_consent_cursor"
EXPIRY_DAY = "messages_expiry_notice_day"
BATCH = 2000


def resolve(switches: Iterable[Mapping[str, Any]], event: str, store: str | None) -> list[tuple[str, int]]:
    """(channel, template id) switched on for ``event`` at ``store``: the store's own row, else every store's."""
    chosen: dict[str, int | None] = {}
    for row in switches:
        if row["event"] == event and row["store"] == "":
            chosen.setdefault(row["channel"], row["template_id"])
    for row in switches:
        if row["event"] == event and store and row["store"] == store:
            chosen[row["channel"]] = row["template_id"]
    return [(channel, tid) for channel, tid in sorted(chosen.items()) if tid is not None]


def redeem_required(switches: Iterable[Mapping[str, Any]], store: str) -> bool:
    """Whether ``store``'s tills must confirm redemptions with a code (a channel of ``redeem_code`` on there)."""
    return bool(resolve(switches, REDEEM_CODE, store))


class NoticeStore(Protocol):  # the Store's named methods this pass uses (storage/messages.py NoticeQueries)
    def transaction(self) -> Any: ...
    def message_switches(self) -> list[dict[str, Any]]: ...
    def message_template(self, template_id: int) -> dict[str, Any] | None: ...
    def pending_phone_codes(self, since: str) -> list[tuple[str, str | None, str]]: ...
    def last_transaction_id(self) -> int: ...
    def transactions_after(self, after: int, limit: int) -> list[dict[str, Any]]: ...
    def expiring_between(self, start: str, end: str) -> list[tuple[str, str | None, str, int]]: ...
    def queue_notice(
        self,
        cause: str,
        customer_id: str,
        channel_name: str,
        template_id: int,
        language: str,
        extra: dict[str, Any],
        not_before: str | None = None,
    ) -> int: ...
    def setting(self, name: str, default: str | None = None) -> str | None: ...
    def last_customer_version(self) -> int: ...
    def customers_changed_after(self, version: int, limit: int) -> list[tuple[str, str | None, str | None, int]]: ...
    def levels_seen(self, ids: list[str]) -> dict[str, str | None]: ...
    def see_levels(self, rows: list[tuple[str, str | None]]) -> None: ...
    def see_all_levels(self) -> None: ...
    def consents_without_history(self, version: int, limit: int) -> tuple[list[tuple[str, str, str, str]], int]: ...
    def add_consent_history(self, rows: list[tuple[str, str, int, str, str | None, str]]) -> None: ...
    def replace_setting(self, name: str, value: str) -> None: ...


def till_consents(db: NoticeStore) -> int:
    """Consent history for registrations at a till: the ingest writes a new customer's consents (from the
    registration event) without history; here each gets its rows, source ``till``, at the registration's
    time, actor ``store <id>``. Customers with any history already (console, import) are left alone."""
    with db.transaction():
        cursor = db.setting(TILL_CURSOR)
        found, last = db.consents_without_history(int(cursor or 0), BATCH)
        rows = []
        for customer_id, store, consents, created_at in found:
            try:
                given = json.loads(consents)
            except ValueError:
                continue
            for key, granted in sorted(given.items()):
                if isinstance(granted, bool):
                    rows.append((customer_id, key, int(granted), "till", f"store {store}", created_at))
        if rows:
            db.add_consent_history(rows)
        db.replace_setting(TILL_CURSOR, str(last))
    return len(rows)


def queue_due(db: NoticeStore, now: dt.datetime) -> int:
    """Queue the service messages due now; returns how many were added."""
    till_consents(db)
    switches = db.message_switches()
    with db.transaction():
        if not any(row["template_id"] is not None for row in switches):
            db.replace_setting(CURSOR, str(db.last_transaction_id()))
            db.replace_setting(LEVEL_CURSOR, "")
            return 0
    templates: dict[int, dict[str, Any] | None] = {}

    def queue(event: str, store: str | None, cause: str, customer_id: str, extra: dict[str, Any]) -> int:
        added = 0
        for channel, template_id in resolve(switches, event, store):
            if template_id not in templates:
                templates[template_id] = db.message_template(template_id)
            template = templates[template_id]
            if template is None or template["channel"] != channel:
                continue
            added += db.queue_notice(cause, customer_id, channel, template_id, template["language"], extra)
        return added

    added = 0
    stamp = now.astimezone(dt.UTC).isoformat(timespec="seconds")
    with db.transaction():
        since = (now - CODE_WINDOW).astimezone(dt.UTC).isoformat(timespec="seconds")
        for customer_id, store, code in db.pending_phone_codes(since):
            added += queue("phone_code", store, f"code:{code}", customer_id, {"code": code})
    with db.transaction():
        cursor = db.setting(CURSOR)
        after = int(cursor) if cursor is not None else db.last_transaction_id()
        rows = db.transactions_after(after, BATCH)
        for row in rows:
            if not row["customer_id"]:
                continue
            if row["accrued"] > 0:
                extra = {"points_minor": row["accrued"]}
                added += queue("points_received", row["store"], f"tx:{row['id']}:received", row["customer_id"], extra)
            if row["redeemed"] > 0:
                extra = {"points_minor": row["redeemed"]}
                added += queue("points_spent", row["store"], f"tx:{row['id']}:spent", row["customer_id"], extra)
        db.replace_setting(CURSOR, str(rows[-1]["id"] if rows else after))
    added += _levels(db, switches, queue)
    today = stamp[:10]
    if db.setting(EXPIRY_DAY) != today:
        with db.transaction():
            end = (now + dt.timedelta(days=EXPIRY_DAYS)).astimezone(dt.UTC).isoformat(timespec="seconds")
            for customer_id, store, date, points in db.expiring_between(stamp, end):
                extra = {"points_minor": points}
                added += queue("points_expiring", store, f"expiring:{date}", customer_id, extra)
            db.replace_setting(EXPIRY_DAY, today)
    return added


def _levels(db: NoticeStore, switches: list[dict[str, Any]], queue: Any) -> int:
    """Level changes: customers changed since the cursor whose level differs from the one last seen. When the
    notice is switched on, every customer's level is remembered first (the cursor is "" while it is off); a
    customer seen for the first time after that (a new registration) is only remembered."""
    added = 0
    with db.transaction():
        if not any(r["event"] == "level_changed" and r["template_id"] is not None for r in switches):
            db.replace_setting(LEVEL_CURSOR, "")
            return 0
        cursor = db.setting(LEVEL_CURSOR)
        if not cursor:
            db.see_all_levels()
            db.replace_setting(LEVEL_CURSOR, str(db.last_customer_version()))
            return 0
        after = int(cursor)
        rows = db.customers_changed_after(after, BATCH)
        if not rows:
            return 0
        seen = db.levels_seen([r[0] for r in rows])
        for customer_id, store, level, version in rows:
            if customer_id in seen and level and seen[customer_id] != level:
                added += queue("level_changed", store, f"level:{version}", customer_id, {})
        db.see_levels([(r[0], r[2]) for r in rows])
        db.replace_setting(LEVEL_CURSOR, str(rows[-1][3]))
    return added
