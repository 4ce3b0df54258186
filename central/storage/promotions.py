"""Promotions and promo codes (migration 13, central/storage/schema_promotions.py): the console's queries
(``PromotionQueries``, writes in the caller's transaction) and the ingest's (:func:`apply_purchases`, on
the ingest's connection, in its transaction).

A code's use is one conditional update, ``uses = uses + 1 WHERE code = ? AND uses < max_uses``: never
check-then-use. A use it refuses (the code was used up meanwhile: two stores offline with one single-use
code) is still recorded, ``accepted = 0``: the receipt stands and the list's page shows the conflict.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from . import triggers
from .clock import now_utc
from .connection import Database

_VERSION = "promotions_version"
#: a code reserved by a till online and not confirmed by its purchase event within this is released
RESERVATION_SECONDS = 120


def bump_version(conn: sqlite3.Connection) -> int:
    """The next promotions version (every change of a promotion or a list): the publisher sends it down."""
    row = conn.execute("SELECT value FROM counters WHERE name = ?", (_VERSION,)).fetchone()
    value = (row[0] if row else 0) + 1
    conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (_VERSION, value),
    )
    return value


class PromotionQueries(Database):
    """The promotions' and code lists' rows for central/services/promotions.py and the publisher."""

    # -- targeting (central/services/targeting.py): one ledger entry per (operation, customer)

    def ledger_has_entry(self, customer_id: str, event_id: str) -> bool:
        """Whether the customer's ledger holds an entry of this operation id (a targeting's once-key)."""
        return bool(
            self.rows(
                "SELECT 1 AS x FROM ledger WHERE event_id = ? AND customer_id = ? LIMIT 1", (event_id, customer_id)
            )
        )

    # -- promotions

    def promotions_version(self) -> int:
        row = self.conn.execute("SELECT value FROM counters WHERE name = ?", (_VERSION,)).fetchone()
        return int(row[0]) if row else 0

    def bump_promotions_version(self) -> int:
        return bump_version(self.conn)

    def promotion(self, promotion_id: str) -> dict[str, Any] | None:
        rows = self.rows("SELECT * FROM promotions WHERE id = ?", (promotion_id,))
        return rows[0] if rows else None

    def add_promotion(self, promotion_id: str, name: str, document: str, by: str, at: str) -> None:
        self.conn.execute(
            "INSERT INTO promotions (id, name, document, state, created_by, created_at, changed_by, changed_at)"
            " VALUES (?, ?, ?, 'draft', ?, ?, ?, ?)",
            (promotion_id, name, document, by, at, by, at),
        )

    def update_promotion(self, promotion_id: str, name: str, document: str, by: str, at: str) -> None:
        self.conn.execute(
            "UPDATE promotions SET name = ?, document = ?, changed_by = ?, changed_at = ? WHERE id = ?",
            (name, document, by, at, promotion_id),
        )

    def set_promotion_state(self, promotion_id: str, state: str, by: str, at: str) -> None:
        self.conn.execute(
            "UPDATE promotions SET state = ?, changed_by = ?, changed_at = ? WHERE id = ?",
            (state, by, at, promotion_id),
        )

    def promotion_list(self) -> list[dict[str, Any]]:
        """Every promotion with its results: receipts, customers, points, discount, sales of those receipts."""
        return self.rows(
            "SELECT p.id, p.name, p.state, p.document, p.changed_at,"
            " COUNT(r.id) AS receipts, COUNT(DISTINCT r.customer_id) AS customers,"
            " COALESCE(SUM(r.points), 0) AS points, COALESCE(SUM(r.discount), 0) AS discount,"
            " COALESCE(SUM(r.sales), 0) AS sales"
            " FROM promotions p LEFT JOIN promotion_results r ON r.promotion_id = p.id"
            " GROUP BY p.id, p.name, p.state, p.document, p.changed_at ORDER BY p.changed_at DESC, p.id"
        )

    def promotion_days(self, promotion_id: str) -> list[dict[str, Any]]:
        return self.rows(
            "SELECT day, COUNT(*) AS receipts, COUNT(DISTINCT customer_id) AS customers, SUM(points) AS points,"
            " SUM(discount) AS discount, SUM(sales) AS sales FROM promotion_results WHERE promotion_id = ?"
            " GROUP BY day ORDER BY day",
            (promotion_id,),
        )

    def active_promotions(self) -> list[dict[str, Any]]:
        return self.rows("SELECT id, document FROM promotions WHERE state = 'active' ORDER BY id")

    # -- code lists

    def add_code_list(self, row: dict[str, Any]) -> None:
        names = list(row)
        self.conn.execute(
            f"INSERT INTO promo_code_lists ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            [row[n] for n in names],
        )

    def add_codes(self, list_id: str, codes: Iterable[str], max_uses: int, customer: str | None = None) -> int:
        """Insert codes (a code already in any list is refused by the primary key: the caller checks first)."""
        codes = list(codes)
        cur = self.conn.executemany(
            "INSERT INTO promo_codes (code, list_id, max_uses, customer_id) VALUES (?, ?, ?, ?)",
            ((code, list_id, max_uses, customer) for code in codes),
        )
        if customer is not None and codes:  # a personal code issued to the customer: a triggers' event
            triggers.record_changes(
                self.conn, [customer] * len(codes), "promo_code", now_utc(), ref=list_id, detail="received"
            )
        return cur.rowcount

    def existing_codes(self, codes: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(codes), 500):
            chunk = list(codes[start : start + 500])
            found.update(
                r[0]
                for r in self.conn.execute(
                    f"SELECT code FROM promo_codes WHERE code IN ({','.join('?' * len(chunk))})", chunk
                )
            )
        return found

    def code_list(self, list_id: str) -> dict[str, Any] | None:
        rows = self.rows("SELECT * FROM promo_code_lists WHERE id = ?", (list_id,))
        return rows[0] if rows else None

    def code_lists(self) -> list[dict[str, Any]]:
        """Every list with its figures: issued, used (accepted uses), conflicts (uses past max_uses)."""
        return self.rows(
            "SELECT l.*, (SELECT COUNT(*) FROM promo_codes c WHERE c.list_id = l.id) AS issued,"
            " (SELECT COUNT(*) FROM promo_code_uses u WHERE u.list_id = l.id AND u.accepted = 1) AS used,"
            " (SELECT COUNT(*) FROM promo_code_uses u WHERE u.list_id = l.id AND u.accepted = 0) AS conflicts"
            " FROM promo_code_lists l ORDER BY l.created_at DESC, l.id"
        )

    def list_codes(self, list_id: str) -> list[tuple[str, int, int, str | None]]:
        """(code, uses, max_uses, customer) of a list, for the export."""
        return [
            (r[0], r[1], r[2], r[3])
            for r in self.conn.execute(
                "SELECT code, uses, max_uses, customer_id FROM promo_codes WHERE list_id = ? ORDER BY code", (list_id,)
            )
        ]

    def code_use_stats(self, list_id: str) -> list[dict[str, Any]]:
        """Uses by store and day."""
        return self.rows(
            "SELECT store, day, SUM(accepted) AS used, SUM(1 - accepted) AS conflicts FROM promo_code_uses"
            " WHERE list_id = ? GROUP BY store, day ORDER BY day, store",
            (list_id,),
        )

    def code_conflicts(self, list_id: str) -> list[dict[str, Any]]:
        """Every use of a code that has a refused use: both receipts, so head office sees the double use."""
        return self.rows(
            "SELECT code, store, agent, receipt_id, customer_id, at, accepted FROM promo_code_uses"
            " WHERE list_id = ? AND code IN (SELECT code FROM promo_code_uses WHERE list_id = ? AND accepted = 0)"
            " ORDER BY code, id",
            (list_id, list_id),
        )

    def store_promotion_rows(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(active promotions, every code list): what the publisher puts in each store's document."""
        return self.active_promotions(), self.rows("SELECT * FROM promo_code_lists ORDER BY id")

    def customer_promotion_facts(self, customer_ids: Sequence[str]) -> dict[str, tuple[frozenset[int], str | None]]:
        """customer id -> (segment ids, birthday): what a promotion's audience reads (the what-if)."""
        ids = sorted(set(customer_ids))
        segs: dict[str, set[int]] = {cid: set() for cid in ids}
        birthdays: dict[str, str | None] = dict.fromkeys(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for cid, segment in self.conn.execute(
                "SELECT k.customer_id, m.segment_id FROM customer_keys k JOIN segment_members m ON m.key = k.key"
                f" WHERE k.customer_id IN ({marks})",
                chunk,
            ):
                segs[cid].add(segment)
            for cid, birthday in self.conn.execute(f"SELECT id, birthday FROM customers WHERE id IN ({marks})", chunk):
                birthdays[cid] = birthday
        return {cid: (frozenset(segs[cid]), birthdays[cid]) for cid in ids}

    # -- personal codes (a personal list's codes issued to customers; they go down in the customer's delta)

    def issue_code(self, list_id: str, customer_id: str, at: str) -> str | None:
        """A free code of the list (never issued, never used) issued to the customer; None when none is left.
        In the caller's write transaction (writers take turns): the ``customer_id IS NULL`` guard keeps a code
        from being issued twice."""
        return issue_code(self.conn, list_id, customer_id, at)

    def customer_list_codes(self, list_id: str, customer_ids: Sequence[str]) -> set[str]:
        """The customers among ``customer_ids`` that hold a code of the list already."""
        held: set[str] = set()
        ids = list(dict.fromkeys(customer_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            held.update(
                r[0]
                for r in self.conn.execute(
                    f"SELECT DISTINCT customer_id FROM promo_codes WHERE list_id = ? AND customer_id IN"
                    f" ({','.join('?' * len(chunk))})",
                    [list_id, *chunk],
                )
            )
        return held

    def customer_codes(self, customer_id: str) -> list[dict[str, Any]]:
        """The personal codes issued to a customer (the profile): code, list, uses, issued."""
        return self.rows(
            "SELECT c.code, c.list_id, l.name AS list_name, c.uses, c.max_uses, c.issued_at FROM promo_codes c"
            " JOIN promo_code_lists l ON l.id = c.list_id WHERE c.customer_id = ? ORDER BY c.issued_at, c.code",
            (customer_id,),
        )

    def personal_lists(self) -> list[dict[str, Any]]:
        return self.rows("SELECT id, name FROM promo_code_lists WHERE kind = 'personal' ORDER BY id")

    def published_promotions(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT store, version FROM promotion_publish"))

    def set_published_promotions(self, store: str, version: int) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO promotion_publish (store, version) VALUES (?, ?)"
                " ON CONFLICT (store) DO UPDATE SET version = excluded.version",
                (store, version),
            )


def apply_purchases(conn: sqlite3.Connection, events: Sequence[Any], now: str) -> None:
    """The promotions of the purchases being applied (in the ingest's transaction): results, and each code's
    use by the atomic conditional update; a refused use is kept with ``accepted = 0`` (a conflict). An accepted
    use of a customer's is a triggers' event (``promo_code`` activated), in the same transaction."""
    results = []
    used: list[tuple[Any, ...]] = []
    for env in events:
        if env["kind"] == "cancel":  # a receipt voided: its codes' uses are given back, its results dropped
            _insert_results(conn, results)
            results = []
            receipt_id = env["body"]["receipt_id"]
            for use_id, code, accepted in conn.execute(
                "SELECT id, code, accepted FROM promo_code_uses WHERE store = ? AND receipt_id = ?",
                (env["store"], receipt_id),
            ).fetchall():
                if accepted:
                    conn.execute("UPDATE promo_codes SET uses = uses - 1 WHERE code = ? AND uses > 0", (code,))
                conn.execute("DELETE FROM promo_code_uses WHERE id = ?", (use_id,))
            conn.execute("DELETE FROM promotion_results WHERE store = ? AND receipt_id = ?", (env["store"], receipt_id))
            continue
        if env["kind"] != "purchase":
            continue
        body = env["body"]
        given = body.get("promotions") or ()
        if not given:
            continue
        day = str(body["at"])[:10]
        for p in given:
            results.append(
                (
                    p["id"],
                    env["store"],
                    body["receipt_id"],
                    body.get("customer_id"),
                    day,
                    p["points"],
                    p["discount"],
                    body["total"],
                )
            )
            code = p.get("promo_code")
            if code is None:
                continue
            # reserved by the till online: its purchase confirms the reservation, once (docs/sync.md)
            updated = conn.execute(
                "UPDATE promo_code_reservations SET state = 'confirmed'"
                " WHERE store = ? AND receipt_id = ? AND code = ? AND state = 'held'",
                (env["store"], body["receipt_id"], code),
            ).rowcount
            if not updated:  # offline, or the reservation ran out: the conditional update decides
                release_expired(conn, code, now)
                updated = conn.execute(
                    "UPDATE promo_codes SET uses = uses + 1 WHERE code = ? AND uses < max_uses", (code,)
                ).rowcount
            row = conn.execute("SELECT list_id FROM promo_codes WHERE code = ?", (code,)).fetchone()
            conn.execute(
                "INSERT INTO promo_code_uses (code, list_id, store, agent, receipt_id, customer_id, at, day, accepted)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    code,
                    row[0] if row else None,
                    env["store"],
                    env["agent"],
                    body["receipt_id"],
                    body.get("customer_id"),
                    body["at"],
                    day,
                    1 if updated else 0,
                ),
            )
            if updated and body.get("customer_id") and row:
                used.append((body["customer_id"], "promo_code", body["at"], env["store"], 0, row[0], "activated"))
            if not updated:
                conn.execute(
                    "INSERT INTO flags (kind, store, agent, customer_id, event_id, detail, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        "promo_code_conflict",
                        env["store"],
                        env["agent"],
                        body.get("customer_id"),
                        env["id"],
                        json.dumps({"code": code, "receipt_id": body["receipt_id"]}),
                        now,
                    ),
                )
    _insert_results(conn, results)
    if used:
        triggers.add_events(conn, [(*u[:2], triggers.event_time(u[2], now), *u[3:]) for u in used])


def _insert_results(conn: sqlite3.Connection, results: list[tuple[Any, ...]]) -> None:
    if results:
        conn.executemany(
            "INSERT INTO promotion_results (promotion_id, store, receipt_id, customer_id, day, points, discount, sales)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            results,
        )


# -- online code reservations (docs/sync.md, "Code reservations"): on the caller's connection and transaction


def release_expired(conn: sqlite3.Connection, code: str, now: str) -> int:
    """Release the code's reservations not confirmed in time (``uses - 1`` each); how many."""
    released = conn.execute(
        "UPDATE promo_code_reservations SET state = 'expired' WHERE code = ? AND state = 'held' AND expires_at < ?",
        (code, now),
    ).rowcount
    if released:
        conn.execute("UPDATE promo_codes SET uses = uses - ? WHERE code = ?", (released, code))
    return released


def reserve_code(
    conn: sqlite3.Connection,
    code: str,
    store: str,
    agent: str,
    receipt_id: str,
    customer_id: str | None,
    now: dt.datetime,
) -> str | None:
    """Reserve one use of ``code`` for a till's receipt: None when reserved (or already held for that receipt),
    else why not: ``unknown`` (no such code), ``personal`` (issued to another customer, or to one and the
    receipt names nobody), ``used_up``. The use is taken by the conditional update
    ``uses < max_uses``, never check-then-use, so two tills reserving at once get one use between them."""
    row = conn.execute("SELECT customer_id FROM promo_codes WHERE code = ?", (code,)).fetchone()
    if row is None:
        return "unknown"
    if row[0] is not None and row[0] != customer_id:
        return "personal"
    if conn.execute(
        "SELECT 1 FROM promo_code_reservations WHERE store = ? AND receipt_id = ? AND code = ?"
        " AND state IN ('held', 'confirmed')",
        (store, receipt_id, code),
    ).fetchone():
        return None  # the till asked again for the same receipt (a retried commit)
    at = now.astimezone(dt.UTC)
    release_expired(conn, code, at.isoformat(timespec="seconds"))
    if not conn.execute("UPDATE promo_codes SET uses = uses + 1 WHERE code = ? AND uses < max_uses", (code,)).rowcount:
        return "used_up"
    conn.execute(
        "INSERT INTO promo_code_reservations (code, store, agent, receipt_id, customer_id, state, created_at,"
        " expires_at) VALUES (?, ?, ?, ?, ?, 'held', ?, ?)",
        (
            code,
            store,
            agent,
            receipt_id,
            customer_id,
            at.isoformat(timespec="seconds"),
            (at + dt.timedelta(seconds=RESERVATION_SECONDS)).isoformat(timespec="seconds"),
        ),
    )
    return None


def code_status(conn: sqlite3.Connection, code: str, customer_id: str | None, now: dt.datetime) -> str | None:
    """Whether ``code`` is available now for ``customer_id``, read only (a quote's question; nothing reserved):
    None, or ``unknown``, ``personal``, ``used_up`` as :func:`reserve_code` would answer. Reservations held past
    their expiry are not counted (the next reservation releases them)."""
    row = conn.execute("SELECT customer_id, uses, max_uses FROM promo_codes WHERE code = ?", (code,)).fetchone()
    if row is None:
        return "unknown"
    if row[0] is not None and row[0] != customer_id:
        return "personal"
    stale = conn.execute(
        "SELECT COUNT(*) FROM promo_code_reservations WHERE code = ? AND state = 'held' AND expires_at < ?",
        (code, now.astimezone(dt.UTC).isoformat(timespec="seconds")),
    ).fetchone()[0]
    return None if row[1] - stale < row[2] else "used_up"


def release_code(conn: sqlite3.Connection, code: str, store: str, agent: str, receipt_id: str) -> bool:
    """Give back a till's reservation its commit did not use (docs/sync.md, "Code reservations"):
    ``held -> released`` and ``uses - 1``, once (a conditional update: a repeated release, one for a confirmed or
    expired reservation, or one nobody made changes nothing). Whether it released one."""
    released = conn.execute(
        "UPDATE promo_code_reservations SET state = 'released'"
        " WHERE code = ? AND store = ? AND agent = ? AND receipt_id = ? AND state = 'held'",
        (code, store, agent, receipt_id),
    ).rowcount
    if released:
        conn.execute("UPDATE promo_codes SET uses = uses - ? WHERE code = ? AND uses >= ?", (released, code, released))
    return bool(released)


def issue_code(conn: sqlite3.Connection, list_id: str, customer_id: str, at: str) -> str | None:
    """A free code of the list (never issued, never used) issued to the customer; None when none is left. In the
    caller's write transaction (writers take turns): the ``customer_id IS NULL`` guard never issues a code twice."""
    for _ in range(10):
        row = conn.execute(
            "SELECT code FROM promo_codes WHERE list_id = ? AND customer_id IS NULL AND uses = 0 ORDER BY code LIMIT 1",
            (list_id,),
        ).fetchone()
        if row is None:
            return None
        if conn.execute(
            "UPDATE promo_codes SET customer_id = ?, issued_at = ? WHERE code = ? AND customer_id IS NULL",
            (customer_id, at, row[0]),
        ).rowcount:
            return str(row[0])
    return None
