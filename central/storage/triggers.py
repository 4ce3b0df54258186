"""The triggers' SQL (docs/triggers.md): definitions and versions, per-customer runs, the events outbox,
the exactly-once register, statistics, and the effects of actions that are plain rows.

Module-level functions take the caller's connection (the engine's transaction, the ingest's);
:class:`TriggerQueries` is the console's side (``Store`` gathers it).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .connection import Database
from .portable import POSTGRESQL, dialect

ACTIVE = ("wait", "pause", "queue")
_CHUNK = 500
RUN_COLUMNS = (
    "trigger_id",
    "customer_key",
    "version",
    "step",
    "phase",
    "pass_no",
    "since",
    "started",
    "held_at",
    "restart_at",
    "wake_at",
)


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def engine_pragmas(conn: sqlite3.Connection) -> None:
    """The engine's connection: a 256 MB page cache (its runs' indexes are visited at random)."""
    conn.execute("PRAGMA cache_size = -262144")


# -- the events outbox (written in the ingest's transaction) ------------------------------------------------


def any_running(conn: sqlite3.Connection) -> bool:
    """A trigger runs or is stopped (its customers keep their progress: events count when it resumes)."""
    return conn.execute("SELECT 1 FROM triggers WHERE state IN ('running', 'stopped') LIMIT 1").fetchone() is not None


def _utc(text: Any, fallback: str) -> str:
    if not isinstance(text, str):
        return fallback
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return fallback
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def event_time(text: Any, fallback: str) -> str:
    """An event's time as UTC text (``fallback`` when it is not a readable ISO time)."""
    return _utc(text, fallback)


def record_events(conn: sqlite3.Connection, events: Iterable[Mapping[str, Any]], now: str) -> int:
    """The ingest's hook: what the triggers may wait for, one row per customer event; only while a trigger runs."""
    rows: list[tuple[Any, ...]] = []
    if not events or not any_running(conn):
        return 0
    for env in events:
        body = env.get("body")
        if not isinstance(body, Mapping) or not body.get("customer_id"):
            continue
        cid, kind, store = body["customer_id"], env.get("kind"), env.get("store")
        if kind == "purchase":
            lines = body.get("lines") or ()
            cats = {str(x["category"]) for x in lines if isinstance(x, Mapping) and x.get("category")}
            skus = {str(x["sku"]) for x in lines if isinstance(x, Mapping) and x.get("sku")}
            total, pin, pout = (
                int(body.get("total") or 0),
                int(body.get("accrued") or 0),
                int(body.get("redeemed") or 0),
            )
            rows.append(
                (
                    cid,
                    "purchase",
                    body.get("at") or env.get("at"),
                    store,
                    total,
                    None,
                    None,
                    "\n".join(sorted(cats)),
                    "\n".join(sorted(skus)),
                    pin,
                    pout,
                )
            )
        elif kind in ("refund", "cancel"):
            amount = int(body.get("amount") or 0)
            rows.append((cid, "refund", body.get("at") or env.get("at"), store, amount, None, None, None, None, 0, 0))
        elif kind == "registration":
            rows.append((cid, "registration", body.get("at") or env.get("at"), store, 0, None, None, None, None, 0, 0))
        elif kind == "manual":
            points = int(body.get("points") or 0)
            rows.append(
                (
                    cid,
                    "points",
                    body.get("at") or env.get("at"),
                    store,
                    abs(points),
                    "manual",
                    "credited" if points > 0 else "debited",
                    None,
                    None,
                    0,
                    0,
                )
            )
    if not rows:
        return 0
    conn.executemany(
        "INSERT INTO trigger_events (customer_id, kind, at, store, amount, ref, detail, categories, products,"
        " points_in, points_out) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [(r[0], r[1], _utc(r[2], now), *r[3:]) for r in rows],
    )
    return len(rows)


def add_events(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Events from elsewhere (segments entered/left, message outcomes): (customer, kind, at, store, amount, ref,
    detail)."""
    if rows and any_running(conn):
        conn.executemany(
            "INSERT INTO trigger_events (customer_id, kind, at, store, amount, ref, detail) VALUES (?,?,?,?,?,?,?)",
            rows,
        )


def record_changes(
    conn: sqlite3.Connection,
    customer_ids: Iterable[str],
    kind: str,
    at: str,
    *,
    store: str | None = None,
    amount: int = 0,
    ref: str | None = None,
    detail: str | None = None,
) -> None:
    """Console edits and other writes as events, in the write's transaction: ``tags``, ``profile``, ``level``,
    ``card`` (blocked, unblocked), ``points`` (by hand: ``ref`` the operation, ``detail`` credited/debited),
    ``promo_code`` (``ref`` the list, ``detail`` received/activated). Only while a trigger runs or is stopped."""
    add_events(conn, [(cid, kind, at, store, amount, ref, detail) for cid in customer_ids])


#: message outcomes a trigger may wait for (marketing.md: delivered, opened, clicked, not delivered)
OUTCOMES = ("delivered", "opened", "clicked", "failed")


def record_message_outcome(conn: sqlite3.Connection, outcome: str, at: str, where: str, params: Sequence[Any]) -> int:
    """The messages outbox's rows matching ``where`` (SQL over ``message_outbox``) reached ``outcome``: one event
    per row with a customer (``ref`` its template), in the caller's transaction. Returns the events written."""
    assert outcome in OUTCOMES
    if not any_running(conn):
        return 0
    return conn.execute(
        "INSERT INTO trigger_events (customer_id, kind, at, store, amount, ref, detail)"
        " SELECT customer_id, 'message', ?, NULL, 0, CAST(template_id AS TEXT), ? FROM message_outbox"
        f" WHERE customer_id IS NOT NULL AND ({where})",
        (at, outcome, *params),
    ).rowcount


def prune_events(
    conn: sqlite3.Connection, before: str, after: int | None = None, chunk: int = 20000
) -> tuple[int, int | None]:
    """Delete the events the engine has read (up to its cursor) dated before ``before`` in one id range of
    ``chunk`` ids after ``after`` (None: from the oldest); returns (rows deleted, the next range's ``after``, None
    when done). The caller repeats it, a transaction each; ids grow with time, so a range without an old row
    ends the work."""
    read = cursor(conn)
    if after is None:
        first = conn.execute("SELECT MIN(id) FROM trigger_events").fetchone()[0]
        if first is None:
            return 0, None
        after = first - 1
    if read is None or after >= read:
        return 0, None
    last = min(read, after + chunk)
    deleted = conn.execute(
        "DELETE FROM trigger_events WHERE id > ? AND id <= ? AND at < ?", (after, last, before)
    ).rowcount
    return deleted, (last if deleted and last < read else None)


def cursor(conn: sqlite3.Connection, name: str = "trigger_events") -> int | None:
    row = conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def set_cursor(conn: sqlite3.Connection, value: int, name: str = "trigger_events") -> None:
    conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (name, value),
    )


def segment_changes_after(conn: sqlite3.Connection, after: int | None, limit: int) -> list[tuple[Any, ...]]:
    """(id, customer, segment, entered, at) of the segments' history after a cursor (None: the newest id only,
    with no rows: the triggers' first look starts from now)."""
    if after is None:
        row = conn.execute("SELECT MAX(id) FROM segment_history").fetchone()
        return [(row[0] or 0, None, None, None, None)]
    return conn.execute(
        "SELECT h.id, k.customer_id, h.segment_id, h.entered, h.at FROM segment_history h"
        " JOIN customer_keys k ON k.key = h.key WHERE h.id > ? ORDER BY h.id LIMIT ?",
        (after, limit),
    ).fetchall()


def events_after(conn: sqlite3.Connection, after: int, limit: int) -> list[tuple[int, str, str, str]]:
    """(id, customer id, at, kind) of the events after the cursor."""
    return conn.execute(
        "SELECT id, customer_id, at, kind FROM trigger_events WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
    ).fetchall()


def customer_events(conn: sqlite3.Connection, customer_ids: Sequence[str], since: str) -> list[tuple[Any, ...]]:
    """(customer, kind, at, store, amount, ref, detail, categories, products, points in, points out) of these
    customers since a moment."""
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(customer_ids), _CHUNK):
        chunk = list(customer_ids[start : start + _CHUNK])
        out += conn.execute(
            "SELECT customer_id, kind, at, store, amount, ref, detail, categories, products, points_in, points_out"
            f" FROM trigger_events WHERE customer_id IN ({','.join('?' * len(chunk))}) AND at >= ? ORDER BY id",
            [*chunk, since],
        ).fetchall()
    return out


# -- triggers and versions ---------------------------------------------------------------------------------------


def running(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return _rows(
        conn.execute(
            "SELECT t.id, t.version, t.owner_store, t.started_at, t.slot, t.slot_count,"
            " COALESCE(s.timezone, '') AS timezone FROM triggers t LEFT JOIN stores s ON s.id = t.owner_store"
            " WHERE t.state = 'running' ORDER BY t.id"
        )
    )


def version_document(conn: sqlite3.Connection, trigger_id: int, version: int) -> str | None:
    row = conn.execute(
        "SELECT document FROM trigger_versions WHERE trigger_id = ? AND version = ?", (trigger_id, version)
    ).fetchone()
    return row[0] if row else None


def set_slot(conn: sqlite3.Connection, trigger_id: int, slot: str | None, count: int) -> None:
    conn.execute("UPDATE triggers SET slot = ?, slot_count = ? WHERE id = ?", (slot, count, trigger_id))


# -- runs ---------------------------------------------------------------------------------------------------------


def wake_for_events(conn: sqlite3.Connection, trigger: Mapping[str, Any], firsts: Mapping[int, str], now: str) -> None:
    """Customers with new events: a fresh run (since their first new event) or the active run woken now."""
    conn.executemany(
        "INSERT INTO trigger_runs (trigger_id, customer_key, version, step, phase, pass_no, since, started, wake_at)"
        " VALUES (?,?,?,0,'wait',1,?,?,?) ON CONFLICT (trigger_id, customer_key) DO UPDATE SET wake_at = ?"
        " WHERE trigger_runs.phase IN ('wait', 'pause', 'queue')"
        " AND (trigger_runs.wake_at IS NULL OR trigger_runs.wake_at > ?)",
        [(trigger["id"], key, trigger["version"], at, at, now, now, now) for key, at in firsts.items()],
    )


def wake_customers_with_events(conn: sqlite3.Connection, trigger_id: int, since: str, now: str) -> None:
    """A trigger resumed: its active runs of customers with events since it stopped are woken now."""
    conn.execute(
        "UPDATE trigger_runs SET wake_at = ? WHERE trigger_id = ? AND phase IN ('wait', 'pause', 'queue')"
        " AND customer_key IN (SELECT k.key FROM trigger_events e JOIN customer_keys k ON k.customer_id ="
        " e.customer_id WHERE e.at >= ?)",
        (now, trigger_id, since),
    )


def due(conn: sqlite3.Connection, trigger_id: int, now: str, limit: int) -> list[dict[str, Any]]:
    return _rows(
        conn.execute(
            f"SELECT {', '.join(RUN_COLUMNS)}, furthest FROM trigger_runs WHERE trigger_id = ? AND wake_at IS NOT NULL"
            " AND wake_at <= ? ORDER BY wake_at LIMIT ?",
            (trigger_id, now, limit),
        )
    )


def run_of(conn: sqlite3.Connection, trigger_id: int, key: int) -> dict[str, Any] | None:
    found = _rows(
        conn.execute(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM trigger_runs WHERE trigger_id = ? AND customer_key = ?",
            (trigger_id, key),
        )
    )
    return found[0] if found else None


#: what ``save_runs`` writes of a run, by (trigger, customer); ``furthest`` (migration 41): the furthest step ever
#: passed, kept in the same row write (the segments' trigger criterion reads it)
SAVED_COLUMNS = (*RUN_COLUMNS[2:], "furthest")


def save_runs(conn: sqlite3.Connection, runs: Sequence[Sequence[Any]]) -> None:
    """Runs' progress: rows of SAVED_COLUMNS then trigger and customer (runs read by ``due``: they exist)."""
    conn.executemany(
        f"UPDATE trigger_runs SET {', '.join(c + ' = ?' for c in SAVED_COLUMNS)}"
        " WHERE trigger_id = ? AND customer_key = ?",
        runs,
    )


def enter_runs(
    conn: sqlite3.Connection, values: Sequence[Any], wakes: Sequence[tuple[int, int]], moments: Mapping[int, str]
) -> int:
    """Every customer not merged away gets a new run (a trigger's start), in one ``INSERT ... SELECT`` in key order:
    ``values`` are RUN_COLUMNS' without ``customer_key`` and ``wake_at``; ``wakes`` are (key, code) of the customers
    with a wake-up, ``moments`` each code's wake-up (UTC text); the others get none. A customer already in is left
    alone. Returns the customers (as ``insert_runs_for_all`` counts them).

    The wake-ups travel as one JSON parameter: SQLite reads it into a temporary table keyed by customer (its
    ``json_each``), PostgreSQL joins ``jsonb_array_elements`` (a hash join)."""
    others = [c for c in RUN_COLUMNS if c not in ("customer_key", "wake_at")]
    pairs = json.dumps(wakes, separators=(",", ":"))
    codes = json.dumps(sorted(moments.items()), separators=(",", ":"))
    marks = ",".join("?" * len(others))
    into = f"INSERT INTO trigger_runs (customer_key, {', '.join(others)}, wake_at) SELECT k.key, {marks}, w.wake"
    everyone = (
        " FROM customer_keys k JOIN customers c ON c.id = k.customer_id LEFT JOIN {entry} e ON e.key = k.key"
        " LEFT JOIN {moments} w ON w.code = e.code WHERE c.merged_into IS NULL ORDER BY k.key"
        " ON CONFLICT (trigger_id, customer_key) DO NOTHING"
    )
    if dialect(conn) == POSTGRESQL:
        conn.execute(
            into
            + everyone.format(
                entry="(SELECT (x ->> 0)::bigint AS key, (x ->> 1)::bigint AS code"
                " FROM jsonb_array_elements(?::jsonb) x)",
                moments="(SELECT (x ->> 0)::bigint AS code, x ->> 1 AS wake FROM jsonb_array_elements(?::jsonb) x)",
            ),
            [*values, pairs, codes],
        )
    else:  # SQLite: temporary tables (this connection's), the customers' one filled in key order by json_each
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS trigger_entry (key INTEGER PRIMARY KEY, code INTEGER NOT NULL)")
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS trigger_entry_wake (code INTEGER PRIMARY KEY, wake TEXT NOT NULL)"
        )
        conn.execute("DELETE FROM temp.trigger_entry")
        conn.execute("DELETE FROM temp.trigger_entry_wake")
        conn.execute(
            "INSERT INTO temp.trigger_entry_wake (code, wake) SELECT value ->> 0, value ->> 1 FROM json_each(?)",
            (codes,),
        )
        conn.execute(
            "INSERT INTO temp.trigger_entry (key, code) SELECT value ->> 0, value ->> 1 FROM json_each(?)", (pairs,)
        )
        conn.execute(
            into + everyone.format(entry="temp.trigger_entry", moments="temp.trigger_entry_wake"), list(values)
        )
        conn.execute("DELETE FROM temp.trigger_entry")
    return conn.execute(
        "SELECT COUNT(*) FROM customer_keys k JOIN customers c ON c.id = k.customer_id WHERE c.merged_into IS NULL"
    ).fetchone()[0]


def insert_runs_for_all(conn: sqlite3.Connection, values: Sequence[Any]) -> int:
    """Every customer not merged away gets a new run (a trigger's start whose first step is a pause alone), the
    same for all: ``values`` are RUN_COLUMNS' without ``customer_key``. A customer already in is left alone.
    Returns the customers."""
    others = [c for c in RUN_COLUMNS if c != "customer_key"]
    conn.execute(
        f"INSERT INTO trigger_runs (customer_key, {', '.join(others)}) SELECT k.key, {','.join('?' * len(others))}"
        " FROM customer_keys k JOIN customers c ON c.id = k.customer_id WHERE c.merged_into IS NULL ORDER BY k.key"
        " ON CONFLICT (trigger_id, customer_key) DO NOTHING",
        list(values),
    )
    return conn.execute(
        "SELECT COUNT(*) FROM customer_keys k JOIN customers c ON c.id = k.customer_id WHERE c.merged_into IS NULL"
    ).fetchone()[0]


def on_counts(conn: sqlite3.Connection, trigger_id: int) -> dict[tuple[int, str], int]:
    return {
        (step, phase): n
        for step, phase, n in conn.execute(
            "SELECT step, phase, COUNT(*) FROM trigger_runs WHERE trigger_id = ? GROUP BY step, phase", (trigger_id,)
        )
    }


def wake_queue(conn: sqlite3.Connection, trigger_id: int, step: int, places: int, now: str) -> None:
    """The first ``places`` customers queued for a step (first come first served) are woken now."""
    conn.execute(
        "UPDATE trigger_runs SET wake_at = ? WHERE trigger_id = ? AND customer_key IN (SELECT customer_key FROM"
        " trigger_runs WHERE trigger_id = ? AND step = ? AND phase = 'queue' ORDER BY held_at, customer_key LIMIT ?)",
        (now, trigger_id, trigger_id, step, places),
    )


def registrations_without_purchase(conn: sqlite3.Connection, stores: Sequence[str] = ()) -> list[tuple[int, str]]:
    """(key, created_at) of every customer not merged away without a purchase (at ``stores`` if given): those an
    inactivity timer counts from their registration."""
    where, params = "purchases > 0", []
    if stores:
        where += f" AND store IN ({','.join('?' * len(stores))})"
        params = list(stores)
    return conn.execute(
        "SELECT k.key, c.created_at FROM customer_keys k JOIN customers c ON c.id = k.customer_id"
        f" WHERE c.merged_into IS NULL AND c.created_at IS NOT NULL AND k.key NOT IN (SELECT key FROM agg_days"
        f" WHERE {where})",
        params,
    ).fetchall()


def last_purchase_days(conn: sqlite3.Connection, stores: Sequence[str] = ()) -> dict[int, int]:
    if stores:
        marks = ",".join("?" * len(stores))
        return dict(
            conn.execute(
                f"SELECT key, MAX(day) FROM agg_days WHERE purchases > 0 AND store IN ({marks}) GROUP BY key",
                list(stores),
            ).fetchall()
        )
    return dict(conn.execute("SELECT key, MAX(day) FROM agg_days WHERE purchases > 0 GROUP BY key").fetchall())


def customer_key(conn: sqlite3.Connection, customer_id: str) -> int | None:
    row = conn.execute("SELECT key FROM customer_keys WHERE customer_id = ?", (customer_id,)).fetchone()
    return row[0] if row else None


def customer_ids(conn: sqlite3.Connection, keys: Sequence[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = list(keys[start : start + _CHUNK])
        out.update(
            conn.execute(
                f"SELECT key, customer_id FROM customer_keys WHERE key IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
        )
    return out


# -- the exactly-once register and statistics -------------------------------------------------------------------


def claim_actions(
    conn: sqlite3.Connection, trigger_id: int, keys: Sequence[tuple[int, int, int, int, int, str]], now: str
) -> set[tuple[int, int, int, int, int]]:
    """Register actions' keys (version, customer, step, pass, action; kind); returns the keys newly registered --
    those already done are left out (their effects are not repeated)."""
    if not keys:
        return set()
    done: set[tuple[int, int, int, int, int]] = set()
    customers = sorted({k[1] for k in keys})
    for start in range(0, len(customers), _CHUNK):
        chunk = customers[start : start + _CHUNK]
        done.update(
            conn.execute(
                "SELECT version, customer_key, step, pass_no, action FROM trigger_actions WHERE trigger_id = ?"
                f" AND customer_key IN ({','.join('?' * len(chunk))})",
                [trigger_id, *chunk],
            ).fetchall()
        )
    fresh = [k for k in keys if k[:5] not in done]
    conn.executemany(
        "INSERT INTO trigger_actions (trigger_id, version, customer_key, step, pass_no, action, kind, done_at)"
        " VALUES (?,?,?,?,?,?,?,?)",
        [(trigger_id, *k, now) for k in fresh],
    )
    return {k[:5] for k in fresh}


def bump_stats(conn: sqlite3.Connection, trigger_id: int, counts: Mapping[int, tuple[int, int]]) -> None:
    conn.executemany(
        "INSERT INTO trigger_stats (trigger_id, step, entered, actions) VALUES (?,?,?,?)"
        " ON CONFLICT (trigger_id, step) DO UPDATE SET entered = trigger_stats.entered + excluded.entered,"
        " actions = trigger_stats.actions + excluded.actions",
        [(trigger_id, step, e, a) for step, (e, a) in counts.items()],
    )


def entered_counts(conn: sqlite3.Connection, trigger_id: int) -> dict[int, int]:
    return dict(conn.execute("SELECT step, entered FROM trigger_stats WHERE trigger_id = ?", (trigger_id,)).fetchall())


# -- effects that are plain rows (in the engine's transaction) -------------------------------------------------


def change_tags(conn: sqlite3.Connection, added: Sequence[tuple[str, str]], removed: Sequence[tuple[str, str]]) -> None:
    """(customer, tag) pairs added and removed."""
    if added:  # in key order: the tags' and the search index's pages are visited once each
        conn.executemany(
            "INSERT INTO customer_tags (customer_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING", sorted(added)
        )
    if removed:
        conn.executemany("DELETE FROM customer_tags WHERE customer_id = ? AND tag = ?", sorted(removed))


def add_comment(conn: sqlite3.Connection, customer_id: str, by: str, text: str, at: str) -> None:
    conn.execute(
        "INSERT INTO customer_comments (customer_id, username, text, created_at) VALUES (?,?,?,?)",
        (customer_id, by, text, at),
    )


def add_cashier_message(
    conn: sqlite3.Connection, ident: str, customer_id: str, text: str, until: str | None, at: str, by: str
) -> None:
    conn.execute(
        "INSERT INTO customer_messages (id, customer_id, text, until, created_at, created_by) VALUES (?,?,?,?,?,?)"
        " ON CONFLICT DO NOTHING",
        (ident, customer_id, text, until, at, by),
    )


def set_cards_status(conn: sqlite3.Connection, customer_id: str, blocked: bool, reason: str, at: str) -> None:
    if blocked:
        conn.execute(
            "UPDATE cards SET status = 'blocked', reason = ?, updated_at = ? WHERE customer_id = ?"
            " AND status = 'active'",
            (reason, at, customer_id),
        )
    else:
        conn.execute(
            "UPDATE cards SET status = 'active', reason = NULL, updated_at = ? WHERE customer_id = ?"
            " AND status = 'blocked'",
            (at, customer_id),
        )


def bind_store(conn: sqlite3.Connection, customer_id: str, store: str) -> None:
    conn.execute("UPDATE customers SET home_store = ? WHERE id = ?", (store, customer_id))


def set_percent(
    conn: sqlite3.Connection, customer_id: str, percent: str, store: str | None, ends_at: str | None = None
) -> None:
    """The customer's network (``store`` None) or store percent, ending at ``ends_at`` (None: it does not end,
    and an old end is cleared)."""
    if store is None:
        conn.execute(
            "UPDATE customers SET network_percent = ?, network_percent_ends_at = ? WHERE id = ?",
            (percent, ends_at, customer_id),
        )
    else:
        conn.execute(
            "INSERT INTO customer_store_percents (customer_id, store, percent, ends_at) VALUES (?,?,?,?)"
            " ON CONFLICT (customer_id, store) DO UPDATE SET percent = excluded.percent, ends_at = excluded.ends_at",
            (customer_id, store, percent, ends_at),
        )


def template_row(conn: sqlite3.Connection, template_id: int) -> dict[str, Any] | None:
    found = _rows(
        conn.execute("SELECT id, channel, kind, language FROM message_templates WHERE id = ?", (template_id,))
    )
    return found[0] if found else None


# -- the console's side ---------------------------------------------------------------------------------------


class TriggerQueries(Database):
    """Triggers for the console (central/services/triggers.py)."""

    def use_engine_pragmas(self) -> None:
        engine_pragmas(self.conn)

    def triggers_list(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM triggers ORDER BY grp, name, id")

    def trigger_row(self, trigger_id: int) -> dict[str, Any] | None:
        found = self.rows("SELECT * FROM triggers WHERE id = ?", (trigger_id,))
        return found[0] if found else None

    def trigger_document(self, trigger_id: int, version: int) -> dict[str, Any] | None:
        text = version_document(self.conn, trigger_id, version)
        return json.loads(text) if text else None

    def add_trigger(self, doc: Mapping[str, Any], at: str, by: str) -> int:
        cur = self.conn.execute(
            "INSERT INTO triggers (name, owner_store, grp, state, version, created_at, updated_at, updated_by)"
            " VALUES (?,?,?,'draft',1,?,?,?)",
            (doc["name"], doc["owner_store"], doc["group"], at, at, by),
        )
        ident = int(cur.lastrowid or 0)
        self.conn.execute(
            "INSERT INTO trigger_versions (trigger_id, version, document, created_at, created_by) VALUES (?,1,?,?,?)",
            (ident, json.dumps(doc, ensure_ascii=False, sort_keys=True), at, by),
        )
        return ident

    def save_trigger_version(self, trigger_id: int, doc: Mapping[str, Any], new_version: bool, at: str, by: str) -> int:
        row = self.trigger_row(trigger_id)
        assert row is not None
        version = row["version"] + 1 if new_version else row["version"]
        self.conn.execute(
            "INSERT INTO trigger_versions (trigger_id, version, document, created_at, created_by) VALUES (?,?,?,?,?)"
            " ON CONFLICT (trigger_id, version) DO UPDATE SET document = excluded.document,"
            " created_at = excluded.created_at, created_by = excluded.created_by",
            (trigger_id, version, json.dumps(doc, ensure_ascii=False, sort_keys=True), at, by),
        )
        self.conn.execute(
            "UPDATE triggers SET name = ?, owner_store = ?, grp = ?, version = ?, updated_at = ?, updated_by = ?"
            " WHERE id = ?",
            (doc["name"], doc["owner_store"], doc["group"], version, at, by, trigger_id),
        )
        return version

    def set_trigger_state(self, trigger_id: int, state: str, at: str, by: str) -> None:
        self.conn.execute(
            "UPDATE triggers SET state = ?, ran = CASE WHEN ? = 'running' THEN 1 ELSE ran END,"
            " started_at = CASE WHEN ? = 'running' THEN COALESCE(started_at, ?) ELSE started_at END,"
            " updated_at = ?, updated_by = ? WHERE id = ?",
            (state, state, state, at, at, by, trigger_id),
        )

    def trigger_step_counts(self, trigger_id: int) -> dict[str, Any]:
        return {
            "phases": on_counts(self.conn, trigger_id),
            "stats": {
                step: {"entered": e, "actions": a}
                for step, e, a in self.conn.execute(
                    "SELECT step, entered, actions FROM trigger_stats WHERE trigger_id = ?", (trigger_id,)
                )
            },
        }

    def customer_triggers(self, customer_id: str) -> list[dict[str, Any]]:
        return self.rows(
            "SELECT t.id, t.name, t.state, r.version, r.step, r.phase, r.pass_no, r.since, r.wake_at"
            " FROM trigger_runs r JOIN triggers t ON t.id = r.trigger_id"
            " JOIN customer_keys k ON k.key = r.customer_key WHERE k.customer_id = ? ORDER BY t.name",
            (customer_id,),
        )

    def trigger_store_zone(self, store: str) -> str | None:
        row = self.conn.execute("SELECT timezone FROM stores WHERE id = ?", (store,)).fetchone()
        return row[0] if row else None

    def trigger_known(self) -> dict[str, Any]:
        """What a trigger document may name: stores, segments (static ones), message templates."""
        return {
            "stores": [r[0] for r in self.conn.execute("SELECT id FROM stores")],
            "zones": {r[0]: r[1] for r in self.conn.execute("SELECT id, timezone FROM stores") if r[1]},
            "segments": dict(self.conn.execute("SELECT id, kind FROM segments").fetchall()),
            "templates": dict(self.conn.execute("SELECT id, channel FROM message_templates").fetchall()),
            "code_lists": [r[0] for r in self.conn.execute("SELECT id FROM promo_code_lists WHERE kind = 'personal'")],
        }
