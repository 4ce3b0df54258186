"""Messages to customers: channels, templates, consent history, mailings, the outbox, the sender's lease.

Functions take a connection (the caller's transaction); :class:`MessageQueries` (on the Store) wraps
the ones the services read with and the ones the sender uses on its own connection. Times are ISO 8601
UTC strings (central/storage/clock.py).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from ..marketing import engine as segments
from ..points.versions import bump_versions
from . import secretbox, triggers
from .clock import now_utc
from .connection import Database

#: outbox states; the first two are still to be sent
PENDING = ("queued", "sending")
STATES = ("queued", "sending", "sent", "delivered", "failed", "skipped")


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


# -- channels and templates ---------------------------------------------------------------------


def channel(conn: sqlite3.Connection, name: str, db_path: str) -> dict[str, Any] | None:
    """A channel's row with its settings and its secrets opened (``secrets_unreadable`` when the instance
    folder's key does not open them: each secret reads as "")."""
    rows = _rows(conn.execute("SELECT * FROM message_channels WHERE channel = ?", (name,)))
    if not rows:
        return None
    row = rows[0]
    row["settings"] = json.loads(row["settings"])
    row["secrets_unreadable"] = False
    try:
        row["secrets"] = secretbox.open_(db_path, row["secrets"])
    except secretbox.UnreadableSecrets:
        row["secrets"] = dict.fromkeys(secretbox.names(row["secrets"]), "")
        row["secrets_unreadable"] = True
    return row


def save_channel(
    conn: sqlite3.Connection,
    name: str,
    settings: dict[str, Any],
    secrets: dict[str, str],
    enabled: bool,
    rate: int,
    by: str,
    db_path: str,
) -> None:
    """Save a channel; its secrets are sealed with the instance folder's key (storage/secretbox.py)."""
    conn.execute(
        "INSERT INTO message_channels (channel, settings, secrets, enabled, rate_per_second, updated_at, updated_by)"
        " VALUES (?,?,?,?,?,?,?) ON CONFLICT (channel) DO UPDATE SET settings = excluded.settings,"
        " secrets = excluded.secrets, enabled = excluded.enabled, rate_per_second = excluded.rate_per_second,"
        " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        (
            name,
            json.dumps(settings, sort_keys=True),
            secretbox.seal(db_path, secrets),
            int(enabled),
            rate,
            now_utc(),
            by,
        ),
    )


def template(conn: sqlite3.Connection, template_id: int) -> dict[str, Any] | None:
    rows = _rows(conn.execute("SELECT * FROM message_templates WHERE id = ?", (template_id,)))
    return rows[0] if rows else None


def save_template(
    conn: sqlite3.Connection,
    name: str,
    channel_name: str,
    language: str,
    kind: str,
    subject: str,
    body: str,
    by: str,
    html: str | None = None,
) -> int:
    now = now_utc()
    conn.execute(
        "INSERT INTO message_templates (name, channel, language, kind, subject, body, created_at, updated_at,"
        " updated_by, html) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (name, channel, language) DO UPDATE SET"
        " kind = excluded.kind, subject = excluded.subject, body = excluded.body,"
        " updated_at = excluded.updated_at, updated_by = excluded.updated_by, html = excluded.html",
        (name, channel_name, language, kind, subject, body, now, now, by, html),
    )
    return int(
        conn.execute(
            "SELECT id FROM message_templates WHERE name = ? AND channel = ? AND language = ?",
            (name, channel_name, language),
        ).fetchone()[0]
    )


# -- consent ------------------------------------------------------------------------------------


def set_consent(
    conn: sqlite3.Connection,
    customer_id: str,
    key: str,
    granted: bool,
    source: str,
    actor: str | None,
    at: str | None = None,
) -> bool:
    """Set one consent in ``customers.consents`` and record it in the history; False if unchanged.

    The customer gets a new version: consents travel down to the stores (sync.md).
    """
    row = conn.execute("SELECT consents FROM customers WHERE id = ?", (customer_id,)).fetchone()
    if row is None:
        raise KeyError(customer_id)
    consents = json.loads(row[0] or "{}")
    if bool(consents.get(key)) == granted and key in consents:
        return False
    consents[key] = granted
    conn.execute("UPDATE customers SET consents = ? WHERE id = ?", (json.dumps(consents, sort_keys=True), customer_id))
    conn.execute(
        "INSERT INTO consent_history (customer_id, channel, granted, source, actor, at) VALUES (?,?,?,?,?,?)",
        (customer_id, key, int(granted), source, actor, at or now_utc()),
    )
    bump_versions(conn, [customer_id])
    return True


def record_consents(
    conn: sqlite3.Connection, customer_id: str, changes: dict[str, bool], source: str, actor: str | None
) -> None:
    """History rows for consents already changed in ``customers.consents`` by the caller (the profile form)."""
    at = now_utc()
    conn.executemany(
        "INSERT INTO consent_history (customer_id, channel, granted, source, actor, at) VALUES (?,?,?,?,?,?)",
        [(customer_id, key, int(granted), source, actor, at) for key, granted in changes.items()],
    )


def consent_history(conn: sqlite3.Connection, customer_id: str) -> list[dict[str, Any]]:
    return _rows(
        conn.execute(
            "SELECT channel, granted, source, actor, at FROM consent_history WHERE customer_id = ? ORDER BY id",
            (customer_id,),
        )
    )


# -- the outbox ---------------------------------------------------------------------------------


def enqueue(
    conn: sqlite3.Connection,
    cause: str,
    customer_ids: Iterable[str],
    channel_name: str,
    kind: str,
    template_id: int,
    language: str,
    *,
    mailing_id: int | None = None,
    address: str | None = None,
    extra: dict[str, Any] | None = None,
    not_before: str | None = None,
) -> int:
    """Queue one message per customer; a (cause, customer, channel) already queued is left alone.

    Returns how many rows were added.
    """
    now = now_utc()
    extra_text = json.dumps(extra or {}, sort_keys=True)
    before = conn.total_changes
    conn.executemany(
        "INSERT INTO message_outbox (cause, customer_id, channel, kind, template_id, language, mailing_id, address,"
        " extra, not_before, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (cause, customer_id, channel) DO NOTHING",
        (
            (
                cause,
                cid,
                channel_name,
                kind,
                template_id,
                language,
                mailing_id,
                address,
                extra_text,
                not_before or now,
                now,
                now,
            )
            for cid in customer_ids
        ),
    )
    return conn.total_changes - before


def due(conn: sqlite3.Connection, now: str, limit: int) -> list[dict[str, Any]]:
    """Rows to send now, oldest first (rows left 'sending' by a crash included)."""
    return _rows(
        conn.execute(
            "SELECT o.* FROM message_outbox o LEFT JOIN mailings m ON m.id = o.mailing_id"
            " WHERE o.state IN ('queued', 'sending') AND o.not_before <= ? AND (m.state IS NULL OR m.state = 'running')"
            " ORDER BY o.not_before, o.id LIMIT ?",
            (now, limit),
        )
    )


def mark_sending(
    conn: sqlite3.Connection, row_id: int, subject: str, body: str, sent_to: str, html: str | None = None
) -> None:
    conn.execute(
        "UPDATE message_outbox SET state = 'sending', attempts = attempts + 1, subject = ?, body = ?,"
        " sent_to = ?, html = ?, updated_at = ? WHERE id = ?",
        (subject, body, sent_to, html, now_utc(), row_id),
    )


def _outcome(conn: sqlite3.Connection, outcome: str, at: str, where: str, params: Sequence[Any]) -> None:
    """The rows matching ``where`` reached ``outcome``: a triggers' event each (docs/triggers.md), and the dynamic
    segments with a message criterion follow for the customers of a mailing's rows (docs/segments.md); nothing
    is read for them unless such a segment exists."""
    triggers.record_message_outcome(conn, outcome, at, where, params)
    if segments.segments_read(conn, "message"):
        customers = [
            r[0]
            for r in conn.execute(
                f"SELECT DISTINCT customer_id FROM message_outbox WHERE mailing_id IS NOT NULL AND ({where})", params
            )
        ]
        segments.customer_changed(conn, customers, "message")


def mark_sent(conn: sqlite3.Connection, row_id: int, gateway_id: str | None) -> None:
    now = now_utc()
    conn.execute(
        "UPDATE message_outbox SET state = 'sent', gateway_id = ?, sent_at = ?, why = NULL, updated_at = ?"
        " WHERE id = ? AND state = 'sending'",
        (gateway_id, now, now, row_id),
    )


def mark_retry(conn: sqlite3.Connection, row_id: int, why: str, not_before: str, attempts: int) -> None:
    conn.execute(
        "UPDATE message_outbox SET state = 'queued', why = ?, not_before = ?, attempts = ?, updated_at = ?"
        " WHERE id = ?",
        (why, not_before, attempts, now_utc(), row_id),
    )


def mark_final(conn: sqlite3.Connection, row_id: int, state: str, why: str) -> None:
    now = now_utc()
    conn.execute(
        "UPDATE message_outbox SET state = ?, why = ?, updated_at = ? WHERE id = ?",
        (state, why[:1000], now, row_id),
    )
    if state == "failed":  # not delivered, for good: a triggers' event
        _outcome(conn, "failed", now, "id = ?", (row_id,))


def postpone(conn: sqlite3.Connection, row_id: int, not_before: str, why: str) -> None:
    conn.execute(
        "UPDATE message_outbox SET not_before = ?, why = ?, updated_at = ? WHERE id = ?",
        (not_before, why, now_utc(), row_id),
    )


def delivery_report(
    conn: sqlite3.Connection, channel_name: str, gateway_id: str, delivered: bool, why: str | None = None
) -> int:
    """A gateway's report on a message it took; returns the rows changed (0: unknown id or already final)."""
    now = now_utc()
    if delivered:
        cur = conn.execute(
            "UPDATE message_outbox SET state = 'delivered', delivered_at = ?, updated_at = ?"
            " WHERE channel = ? AND gateway_id = ? AND state = 'sent'",
            (now, now, channel_name, gateway_id),
        )
    else:
        cur = conn.execute(
            "UPDATE message_outbox SET state = 'failed', why = ?, updated_at = ?"
            " WHERE channel = ? AND gateway_id = ? AND state IN ('sent', 'delivered')",
            (why or "not delivered", now, channel_name, gateway_id),
        )
    if cur.rowcount:  # the outcome as a triggers' event, in this transaction (docs/triggers.md)
        _outcome(
            conn,
            "delivered" if delivered else "failed",
            now,
            "channel = ? AND gateway_id = ? AND updated_at = ?",
            (channel_name, gateway_id, now),
        )
    return cur.rowcount


def mark_engaged(conn: sqlite3.Connection, row_id: int, clicked: bool) -> int:
    """The first opening (and click) of an email; a click counts as an opening. Rows changed."""
    now = now_utc()
    before = conn.execute("SELECT opened_at, clicked_at FROM message_outbox WHERE id = ?", (row_id,)).fetchone()
    if clicked:
        sql = "UPDATE message_outbox SET opened_at = COALESCE(opened_at, ?), clicked_at = COALESCE(clicked_at, ?)"
        changed = conn.execute(sql + " WHERE id = ?", (now, now, row_id)).rowcount
    else:
        changed = conn.execute(
            "UPDATE message_outbox SET opened_at = COALESCE(opened_at, ?) WHERE id = ?", (now, row_id)
        ).rowcount
    if before is not None:  # the first opening and the first click as triggers' events
        if before[0] is None:
            _outcome(conn, "opened", now, "id = ?", (row_id,))
        if clicked and before[1] is None:
            _outcome(conn, "clicked", now, "id = ?", (row_id,))
    return changed


def marketing_sent_since(conn: sqlite3.Connection, customer_id: str, since: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT sent_at FROM message_outbox WHERE customer_id = ? AND kind = 'marketing' AND sent_at >= ?",
            (customer_id, since),
        )
    ]


def counts(conn: sqlite3.Connection, mailing_id: int) -> dict[str, int]:
    out = dict.fromkeys(STATES, 0)
    for state, n in conn.execute(
        "SELECT state, COUNT(*) FROM message_outbox WHERE mailing_id = ? GROUP BY state", (mailing_id,)
    ):
        out[state] = n
    return out


def customer_messages(conn: sqlite3.Connection, customer_id: str, limit: int = 200) -> list[dict[str, Any]]:
    return _rows(
        conn.execute(
            "SELECT id, cause, channel, kind, mailing_id, state, why, attempts, subject, body, sent_to, created_at,"
            " sent_at, delivered_at FROM message_outbox WHERE customer_id = ? ORDER BY id DESC LIMIT ?",
            (customer_id, limit),
        )
    )


# -- the lease ----------------------------------------------------------------------------------


def take_lease(conn: sqlite3.Connection, name: str, holder: str, seconds: float) -> bool:
    """Take or renew the lease; False while another holder's lease has not expired."""
    now = dt.datetime.now(dt.UTC)
    expires = (now + dt.timedelta(seconds=seconds)).isoformat(timespec="milliseconds")
    cur = conn.execute(
        "INSERT INTO message_lease (name, holder, expires_at) VALUES (?,?,?) ON CONFLICT (name) DO UPDATE SET"
        " holder = excluded.holder, expires_at = excluded.expires_at"
        " WHERE message_lease.holder = excluded.holder OR message_lease.expires_at < ?",
        (name, holder, expires, now.isoformat(timespec="milliseconds")),
    )
    return cur.rowcount == 1


def release_lease(conn: sqlite3.Connection, name: str, holder: str) -> None:
    conn.execute("DELETE FROM message_lease WHERE name = ? AND holder = ?", (name, holder))


# -- customers as messages see them -------------------------------------------------------------


#: what the rules and templates read of a customer. A customer whose cards all stopped being active (blocked,
#: lost) gets no marketing (CardsPro: subscriptions off while no card is active; docs/web-card.md), as a blocked one
_CUSTOMER_COLUMNS = (
    "c.id, c.name, c.phone, c.email, c.level, c.balance,"
    " CASE WHEN c.blocked = 1 OR (EXISTS (SELECT 1 FROM cards k WHERE k.customer_id = c.id)"
    " AND NOT EXISTS (SELECT 1 FROM cards k WHERE k.customer_id = c.id AND k.status = 'active')) THEN 1 ELSE 0"
    " END AS blocked, c.consents, c.merged_into, c.language,"
    " c.home_store, s.name AS store_name, s.timezone FROM customers c LEFT JOIN stores s ON s.id = c.home_store"
)


def message_customer(conn: sqlite3.Connection, customer_id: str) -> dict[str, Any] | None:
    """What the rules and the templates need of a customer: consents, addresses, home store and zone."""
    cur = conn.execute(f"SELECT {_CUSTOMER_COLUMNS} WHERE c.id = ?", (customer_id,))
    rows = _rows(cur)
    if not rows:
        return None
    out = rows[0]
    out["consents"] = json.loads(out["consents"] or "{}")
    for channel_name, address in conn.execute(
        "SELECT channel, address FROM customer_channels WHERE customer_id = ?", (customer_id,)
    ):
        if channel_name == "telegram":
            out["telegram_chat"] = address
        elif channel_name == "push":
            out["push_subscription"] = address
    return out


def message_customers(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """:func:`message_customer` for many at once (the sender's batch): two queries per 500 ids."""
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        part = list(ids[start : start + 500])
        marks = ",".join("?" * len(part))
        for row in _rows(conn.execute(f"SELECT {_CUSTOMER_COLUMNS} WHERE c.id IN ({marks})", part)):
            row["consents"] = json.loads(row["consents"] or "{}")
            out[row["id"]] = row
        for customer_id, channel_name, address in conn.execute(
            f"SELECT customer_id, channel, address FROM customer_channels WHERE customer_id IN ({marks})", part
        ):
            if customer_id in out and channel_name in ("telegram", "push"):
                out[customer_id]["telegram_chat" if channel_name == "telegram" else "push_subscription"] = address
    return out


def soonest_expiry(conn: sqlite3.Connection, customer_id: str, now: str) -> tuple[str | None, int]:
    """(date, points) of the customer's soonest expiring points that are not expired yet."""
    row = conn.execute(
        "SELECT substr(expires_at, 1, 10), SUM(points) FROM lots WHERE customer_id = ? AND points > 0"
        " AND expires_at = (SELECT MIN(expires_at) FROM lots WHERE customer_id = ? AND points > 0"
        " AND expires_at IS NOT NULL AND expires_at > ?) GROUP BY expires_at",
        (customer_id, customer_id, now),
    ).fetchone()
    return (row[0], int(row[1])) if row else (None, 0)


def soonest_expiries(conn: sqlite3.Connection, ids: Sequence[str], now: str) -> dict[str, tuple[str | None, int]]:
    """:func:`soonest_expiry` for many customers at once (the sender's batch): one query per 500 ids;
    a customer with nothing expiring is absent (``(None, 0)``)."""
    out: dict[str, tuple[str | None, int]] = {}
    for start in range(0, len(ids), 500):
        part = list(ids[start : start + 500])
        marks = ",".join("?" * len(part))
        for customer_id, day, points in conn.execute(
            "SELECT l.customer_id, substr(l.expires_at, 1, 10), SUM(l.points) FROM lots l"
            " JOIN (SELECT customer_id, MIN(expires_at) AS soonest FROM lots"
            f" WHERE customer_id IN ({marks}) AND points > 0 AND expires_at IS NOT NULL AND expires_at > ?"
            " GROUP BY customer_id) s ON s.customer_id = l.customer_id AND l.expires_at = s.soonest"
            " WHERE l.points > 0 GROUP BY l.customer_id, l.expires_at",
            [*part, now],
        ):
            out[customer_id] = (day, int(points))
    return out


def existing_customers(conn: sqlite3.Connection, ids: Sequence[str]) -> set[str]:
    marks = ",".join("?" * len(ids))
    return (
        {
            r[0]
            for r in conn.execute(f"SELECT id FROM customers WHERE id IN ({marks}) AND merged_into IS NULL", list(ids))
        }
        if ids
        else set()
    )


def customers_by_phone(conn: sqlite3.Connection, phone: str) -> list[str]:
    return [r[0] for r in conn.execute("SELECT id FROM customers WHERE phone = ? AND merged_into IS NULL", (phone,))]


# -- mailings -----------------------------------------------------------------------------------


def add_mailing(
    conn: sqlite3.Connection,
    name: str,
    channel_name: str,
    template_id: int,
    kind: str,
    send_at: str,
    total: int,
    by: str,
) -> int:
    now = now_utc()
    cur = conn.execute(
        "INSERT INTO mailings (name, channel, template_id, kind, state, send_at, total, created_at, created_by)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (name, channel_name, template_id, kind, "queueing", send_at, total, now, by),
    )
    return int(cur.lastrowid or 0)


def set_mailing_state(conn: sqlite3.Connection, mailing_id: int, state: str, only_from: str | None = None) -> None:
    if only_from is None:
        conn.execute("UPDATE mailings SET state = ? WHERE id = ?", (state, mailing_id))
    else:
        conn.execute("UPDATE mailings SET state = ? WHERE id = ? AND state = ?", (state, mailing_id, only_from))


def hold_mailing(conn: sqlite3.Connection, mailing_id: int, held: str) -> None:
    conn.execute(
        "UPDATE message_outbox SET not_before = ? WHERE mailing_id = ? AND state = 'queued'", (held, mailing_id)
    )


def release_mailing(conn: sqlite3.Connection, mailing_id: int, when: str, held: str) -> None:
    conn.execute(
        "UPDATE message_outbox SET not_before = ? WHERE mailing_id = ? AND state = 'queued' AND not_before = ?",
        (when, mailing_id, held),
    )


# -- start links and linked chats ---------------------------------------------------------------


def add_link_token(
    conn: sqlite3.Connection, token_hash: str, customer_id: str, channel_name: str, expires_at: str
) -> None:
    conn.execute(
        "INSERT INTO link_tokens (token_hash, customer_id, channel, expires_at) VALUES (?,?,?,?)",
        (token_hash, customer_id, channel_name, expires_at),
    )


def use_link_token(conn: sqlite3.Connection, token_hash: str, channel_name: str, now: str) -> str | None:
    """The customer of an unused, unexpired token, marking it used; None otherwise."""
    found = conn.execute(
        "SELECT customer_id, expires_at, used_at FROM link_tokens WHERE token_hash = ? AND channel = ?",
        (token_hash, channel_name),
    ).fetchone()
    if found is None or found[2] is not None or found[1] <= now:
        return None
    conn.execute("UPDATE link_tokens SET used_at = ? WHERE token_hash = ?", (now, token_hash))
    return str(found[0])


def link_address(conn: sqlite3.Connection, customer_id: str, channel_name: str, address: str, now: str) -> None:
    conn.execute(
        "INSERT INTO customer_channels (customer_id, channel, address, linked_at) VALUES (?,?,?,?)"
        " ON CONFLICT (customer_id, channel) DO UPDATE SET address = excluded.address,"
        " linked_at = excluded.linked_at",
        (customer_id, channel_name, address, now),
    )


def unlink_address(conn: sqlite3.Connection, customer_id: str, channel_name: str) -> None:
    conn.execute("DELETE FROM customer_channels WHERE customer_id = ? AND channel = ?", (customer_id, channel_name))


def customers_by_address(conn: sqlite3.Connection, channel_name: str, address: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT customer_id FROM customer_channels WHERE channel = ? AND address = ?", (channel_name, address)
        )
    ]


class MessageQueries(Database):
    """Named reads of the messages' tables for the services (writes: the functions above, in a transaction)."""

    def outbox(self, where: str = "1 = 1", params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.rows(f"SELECT * FROM message_outbox WHERE {where} ORDER BY id", params)

    def message_channel(self, name: str) -> dict[str, Any] | None:
        return channel(self.conn, name, self.path)

    def message_template(self, template_id: int) -> dict[str, Any] | None:
        return template(self.conn, template_id)

    def message_template_in(self, name: str, channel_name: str, language: str) -> dict[str, Any] | None:
        """The template ``name`` of a channel in another language (its variant), if there is one."""
        rows = _rows(
            self.conn.execute(
                "SELECT * FROM message_templates WHERE name = ? AND channel = ? AND language = ?",
                (name, channel_name, language),
            )
        )
        return rows[0] if rows else None

    def set_message_language(self, customer_id: str, language: str | None) -> bool:
        """The customer's language for messages (in the caller's transaction); False if it was already so."""
        cur = self.conn.execute(
            "UPDATE customers SET language = ? WHERE id = ? AND language IS NOT ?",
            (language, customer_id, language),
        )
        return cur.rowcount > 0

    def message_templates(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM message_templates ORDER BY name, channel, language")

    def message_customer(self, customer_id: str) -> dict[str, Any] | None:
        return message_customer(self.conn, customer_id)

    def message_customers(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return message_customers(self.conn, ids)

    def soonest_expiry(self, customer_id: str) -> tuple[str | None, int]:
        return soonest_expiry(self.conn, customer_id, now_utc())

    def soonest_expiries(self, ids: Sequence[str]) -> dict[str, tuple[str | None, int]]:
        return soonest_expiries(self.conn, ids, now_utc())

    def existing_customers(self, ids: Sequence[str]) -> set[str]:
        return existing_customers(self.conn, ids)

    def outbox_id(self, cause: str, customer_id: str, channel_name: str) -> int:
        return int(
            self.conn.execute(
                "SELECT id FROM message_outbox WHERE cause = ? AND customer_id = ? AND channel = ?",
                (cause, customer_id, channel_name),
            ).fetchone()[0]
        )

    def mailing(self, mailing_id: int) -> dict[str, Any] | None:
        rows = self.rows("SELECT * FROM mailings WHERE id = ?", (mailing_id,))
        return rows[0] if rows else None

    def mailing_counts(self, mailing_id: int) -> dict[str, int]:
        return counts(self.conn, mailing_id)

    def mailing_reasons(self, mailing_id: int) -> dict[str, int]:
        return {
            f"{state}: {why}": n
            for state, why, n in self.conn.execute(
                "SELECT state, why, COUNT(*) FROM message_outbox WHERE mailing_id = ? AND state IN ('failed',"
                " 'skipped')"
                " GROUP BY state, why",
                (mailing_id,),
            )
        }

    def mailings(self, limit: int = 200) -> list[dict[str, Any]]:
        """The newest mailings with their template's name and counts per state."""
        rows = self.rows(
            "SELECT m.*, t.name AS template_name FROM mailings m LEFT JOIN message_templates t"
            " ON t.id = m.template_id ORDER BY m.id DESC LIMIT ?",
            (limit,),
        )
        for row in rows:
            row["counts"] = counts(self.conn, row["id"])
        return rows

    def mailing_engagement(self, mailing_id: int) -> tuple[int, int]:
        """(opened, clicked) messages of a mailing."""
        row = self.conn.execute(
            "SELECT COUNT(opened_at), COUNT(clicked_at) FROM message_outbox WHERE mailing_id = ?", (mailing_id,)
        ).fetchone()
        return int(row[0]), int(row[1])

    def mailing_unsubscribed(self, mailing_id: int) -> int:
        """Recipients who withdrew the mailing's channel consent themselves (the link, a STOP reply, the
        bot) after their message went."""
        row = self.conn.execute(
            "SELECT COUNT(DISTINCT o.customer_id) FROM message_outbox o JOIN consent_history h"
            " ON h.customer_id = o.customer_id AND h.channel = o.channel AND h.granted = 0"
            " AND h.source IN ('customer', 'gateway') AND h.at >= o.sent_at"
            " WHERE o.mailing_id = ? AND o.sent_at IS NOT NULL",
            (mailing_id,),
        ).fetchone()
        return int(row[0])

    def messages_of(self, customer_id: str) -> list[dict[str, Any]]:
        return customer_messages(self.conn, customer_id)

    def consents_of(self, customer_id: str) -> list[dict[str, Any]]:
        return consent_history(self.conn, customer_id)

    # -- the sender's (central/messages/sender.py): its writes run in the caller's transaction -------------

    def due_messages(self, now: str, limit: int) -> list[dict[str, Any]]:
        """Outbox rows to send now, oldest first (rows left 'sending' by a crash included)."""
        return due(self.conn, now, limit)

    def marketing_sent_since(self, customer_id: str, since: str) -> list[str]:
        """When the customer's marketing messages sent since ``since`` went (the frequency cap)."""
        return marketing_sent_since(self.conn, customer_id, since)

    def take_message_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Take or renew the lease; False while another holder's lease has not expired."""
        return take_lease(self.conn, name, holder, seconds)

    def release_message_lease(self, name: str, holder: str) -> None:
        release_lease(self.conn, name, holder)

    def mark_message_sending(self, row_id: int, subject: str, body: str, sent_to: str, html: str | None = None) -> None:
        """The rendered text (and an email's HTML) stored with the row as it goes to the gateway (one attempt
        more)."""
        mark_sending(self.conn, row_id, subject, body, sent_to, html)

    def mark_message_sent(self, row_id: int, gateway_id: str | None) -> None:
        mark_sent(self.conn, row_id, gateway_id)

    def mark_message_retry(self, row_id: int, why: str, not_before: str, attempts: int) -> None:
        """Back to 'queued' until ``not_before``, with why."""
        mark_retry(self.conn, row_id, why, not_before, attempts)

    def forget_dead_address(self, customer_id: str, channel_name: str, address: str) -> bool:
        """Delete the customer's address on a channel if it is still ``address`` (a push subscription the push
        service says is gone); a newer one saved meanwhile stays. True if a row went."""
        cur = self.conn.execute(
            "DELETE FROM customer_channels WHERE customer_id = ? AND channel = ? AND address = ?",
            (customer_id, channel_name, address),
        )
        return cur.rowcount > 0

    def mark_message_final(self, row_id: int, state: str, why: str) -> None:
        """'failed' or 'skipped' for good, with why."""
        mark_final(self.conn, row_id, state, why)

    def postpone_message(self, row_id: int, not_before: str, why: str) -> None:
        """Not before ``not_before`` (quiet hours, the frequency cap): no attempt spent."""
        postpone(self.conn, row_id, not_before, why)


def add_cashier_message_once(conn: sqlite3.Connection, message_id: str, customer_id: str, text: str, at: str) -> None:
    """A cashier message from the message outbox; its id comes from the outbox row, so a repeat adds nothing."""
    conn.execute(
        "INSERT INTO customer_messages (id, customer_id, text, until, created_at, created_by)"
        " VALUES (?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
        (message_id, customer_id, text, None, at, "messages"),
    )


# -- service messages: switches and the events they answer (central/messages/notices.py) -----------


def switches(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return _rows(
        conn.execute(
            "SELECT event, store, channel, template_id, updated_at, updated_by FROM message_switches"
            " ORDER BY event, store, channel"
        )
    )


def set_switch(
    conn: sqlite3.Connection, event: str, store: str, channel_name: str, template_id: int | None, by: str
) -> None:
    conn.execute(
        "INSERT INTO message_switches (event, store, channel, template_id, updated_at, updated_by)"
        " VALUES (?,?,?,?,?,?) ON CONFLICT (event, store, channel) DO UPDATE SET"
        " template_id = excluded.template_id, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        (event, store, channel_name, template_id, now_utc(), by),
    )


def clear_switch(conn: sqlite3.Connection, event: str, store: str, channel_name: str) -> None:
    conn.execute(
        "DELETE FROM message_switches WHERE event = ? AND store = ? AND channel = ?", (event, store, channel_name)
    )


class NoticeQueries(Database):
    """What the sender's service-message pass reads (central/messages/notices.py); its writes run in the
    caller's transaction."""

    def message_switches(self) -> list[dict[str, Any]]:
        return switches(self.conn)

    def pending_phone_codes(self, since: str) -> list[tuple[str, str | None, str]]:
        """(customer, home store, code) of registrations since ``since`` whose phone is not confirmed yet."""
        return [
            (r[0], r[1], r[2])
            for r in self.conn.execute(
                "SELECT id, home_store, confirmation_code FROM customers WHERE confirmation_code IS NOT NULL"
                " AND created_at >= ? AND phone_verified = 0 AND merged_into IS NULL",
                (since,),
            )
        ]

    def last_transaction_id(self) -> int:
        return int(self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM transactions").fetchone()[0])

    def transactions_after(self, after: int, limit: int) -> list[dict[str, Any]]:
        """Receipts with points after ``after`` (the notices' cursor), oldest first."""
        return _rows(
            self.conn.execute(
                "SELECT id, customer_id, store, kind, accrued, redeemed FROM transactions WHERE id > ?"
                " ORDER BY id LIMIT ?",
                (after, limit),
            )
        )

    def expiring_between(self, start: str, end: str) -> list[tuple[str, str | None, str, int]]:
        """(customer, home store, date, points) of the soonest lot expiring in [start, end) per customer."""
        return [
            (r[0], r[1], r[2], int(r[3]))
            for r in self.conn.execute(
                "SELECT l.customer_id, c.home_store, substr(MIN(l.expires_at), 1, 10), SUM(l.points) FROM lots l"
                " JOIN customers c ON c.id = l.customer_id AND c.merged_into IS NULL"
                " WHERE l.points > 0 AND l.expires_at >= ? AND l.expires_at < ? GROUP BY l.customer_id, c.home_store",
                (start, end),
            )
        ]

    def last_customer_version(self) -> int:
        return int(self.conn.execute("SELECT COALESCE(MAX(version), 0) FROM customers").fetchone()[0])

    def customers_changed_after(self, version: int, limit: int) -> list[tuple[str, str | None, str | None, int]]:
        """(customer, home store, level, version) of customers changed after ``version``, oldest change first."""
        return [
            (r[0], r[1], r[2], int(r[3]))
            for r in self.conn.execute(
                "SELECT id, home_store, level, version FROM customers WHERE version > ? AND merged_into IS NULL"
                " ORDER BY version LIMIT ?",
                (version, limit),
            )
        ]

    def levels_seen(self, ids: Sequence[str]) -> dict[str, str | None]:
        marks = ",".join("?" * len(ids))
        sql = f"SELECT customer_id, level FROM message_levels WHERE customer_id IN ({marks})"
        return dict(self.conn.execute(sql, list(ids)))

    def consents_without_history(self, version: int, limit: int) -> tuple[list[tuple[str, str, str, str]], int]:
        """Customers changed after ``version`` whose consents have no history at all (a registration at a
        till: the ingest writes the state only): ([(customer, store, consents JSON, created_at)], last version
        looked at)."""
        rows = self.conn.execute(
            "SELECT id, home_store, consents, created_at, version FROM customers WHERE version > ? ORDER BY version"
            " LIMIT ?",
            (version, limit),
        ).fetchall()
        if not rows:
            return [], version
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))
        known = {
            r[0]
            for r in self.conn.execute(
                f"SELECT DISTINCT customer_id FROM consent_history WHERE customer_id IN ({marks})", ids
            )
        }
        found = [(r[0], r[1], r[2], r[3]) for r in rows if r[0] not in known and r[1] and r[2] and r[2] != "{}"]
        return found, int(rows[-1][4])

    def add_consent_history(self, rows: Sequence[tuple[str, str, int, str, str | None, str]]) -> None:
        """(customer, channel, granted, source, actor, at) rows, in the caller's transaction."""
        self.conn.executemany(
            "INSERT INTO consent_history (customer_id, channel, granted, source, actor, at) VALUES (?,?,?,?,?,?)", rows
        )

    def see_all_levels(self) -> None:
        """Remember every customer's level now (level notices switched on: changes from here on are told)."""
        self.conn.execute("DELETE FROM message_levels")
        self.conn.execute(
            "INSERT INTO message_levels (customer_id, level) SELECT id, level FROM customers WHERE merged_into IS NULL"
        )

    def see_levels(self, rows: Sequence[tuple[str, str | None]]) -> None:
        """Remember the levels customers are at now (in the caller's transaction)."""
        self.conn.executemany(
            "INSERT INTO message_levels (customer_id, level) VALUES (?, ?)"
            " ON CONFLICT (customer_id) DO UPDATE SET level = excluded.level",
            rows,
        )

    def queue_notice(
        self,
        cause: str,
        customer_id: str,
        channel_name: str,
        template_id: int,
        language: str,
        extra: dict[str, Any],
        not_before: str | None = None,
    ) -> int:
        """One service message (cause unique per customer and channel: queued once), in the caller's transaction;
        ``not_before`` in the past puts it ahead of what is due (a code a till waits for)."""
        return enqueue(
            self.conn,
            cause,
            [customer_id],
            channel_name,
            "service",
            template_id,
            language,
            extra=extra,
            not_before=not_before,
        )
