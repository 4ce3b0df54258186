"""Segments' tables: definitions, current members, entered/left history, the next-flip index.

* ``segments``: id, name, kind (static / dynamic), definition (JSON, central/marketing/segments),
  created and changed by and at;
* ``segment_members``: (segment, customer key) with the time it entered (unix seconds: migration 40; given
  back as ISO text by :func:`since_text`);
* ``segment_history``: every entering (1) and leaving (0) with its time and cause
  (``purchase``, ``refund``, ``date``, ``recompute``, ``edit``, ``hand`` ...);
* ``segment_flips``: each customer's next local day (date ordinal) on which the answer of some
  dynamic segment with time-relative criteria may change (central/marketing/engine.py). Never
  later than the true day; an earlier one costs only a visit.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import customer_versions
from .portable import POSTGRESQL, dialect, in_list

MIGRATION = [
    """CREATE TABLE segments (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        definition TEXT,
        size INTEGER NOT NULL DEFAULT 0,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        changed_by TEXT NOT NULL,
        changed_at TEXT NOT NULL)""",
    """CREATE TABLE segment_members (
        segment_id INTEGER NOT NULL,
        key INTEGER NOT NULL,
        since TEXT NOT NULL,
        PRIMARY KEY (segment_id, key)) WITHOUT ROWID""",
    "CREATE INDEX segment_members_key ON segment_members (key, segment_id)",
    """CREATE TABLE segment_history (
        id INTEGER PRIMARY KEY,
        segment_id INTEGER NOT NULL,
        key INTEGER NOT NULL,
        entered INTEGER NOT NULL,
        at TEXT NOT NULL,
        cause TEXT NOT NULL)""",
    "CREATE INDEX segment_history_segment ON segment_history (segment_id, id)",
    "CREATE INDEX segment_history_key ON segment_history (key, id)",  # dropped by migration 35: no query read it
    # one row per customer: the first day any dynamic segment's answer may change for them
    """CREATE TABLE segment_flips (
        key INTEGER PRIMARY KEY,
        day INTEGER NOT NULL)""",
    "CREATE INDEX segment_flips_day ON segment_flips (day)",
]


def since_seconds(at: str) -> int:
    """``segment_members.since`` of an ISO 8601 time (naive: UTC)."""
    moment = dt.datetime.fromisoformat(at)
    return int((moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp())


def since_text(seconds: int) -> str:
    """The ISO text (UTC, seconds) of ``segment_members.since``, as the writers' ``now_utc()`` gives it."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")


def segment_rows(conn: sqlite3.Connection, kind: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM segments" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
    cur = conn.execute(sql, (kind,) if kind else ())
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


def segment_row(conn: sqlite3.Connection, segment_id: int) -> dict[str, Any] | None:
    cur = conn.execute("SELECT * FROM segments WHERE id = ?", (segment_id,))
    row = cur.fetchone()
    return None if row is None else dict(zip([d[0] for d in cur.description], row, strict=True))


def nested_of(conn: sqlite3.Connection) -> dict[int, frozenset[int]]:
    """segment id -> the segments its definition nests ("in segment")."""
    out = {}
    for ident, definition in conn.execute("SELECT id, definition FROM segments"):
        nested: set[int] = set()
        doc = json.loads(definition) if definition else None
        if doc:
            for audience in [*(doc.get("audiences") or []), doc.get("exclude") or []]:
                for c in audience:
                    if c.get("type") == "in_segment":
                        nested.update(int(s) for s in c.get("segments") or ())
        out[ident] = frozenset(nested)
    return out


def members(conn: sqlite3.Connection, segment_id: int) -> set[int]:
    return {r[0] for r in conn.execute("SELECT key FROM segment_members WHERE segment_id = ?", (segment_id,))}


def is_member(conn: sqlite3.Connection, segment_id: int, key: int) -> bool:
    return (
        conn.execute("SELECT 1 FROM segment_members WHERE segment_id = ? AND key = ?", (segment_id, key)).fetchone()
        is not None
    )


def change_members(
    conn: sqlite3.Connection, segment_id: int, entered: Iterable[int], left: Iterable[int], at: str, cause: str
) -> tuple[int, int]:
    """Write entering and leaving customers with their history rows; keeps ``segments.size``."""
    entered, left = sorted(entered), sorted(left)
    if entered:
        conn.executemany(
            "INSERT INTO segment_members (segment_id, key, since) VALUES (?,?,?)",
            [(segment_id, k, since) for since in (since_seconds(at),) for k in entered],
        )
    if left:
        conn.executemany(
            "DELETE FROM segment_members WHERE segment_id = ? AND key = ?", [(segment_id, k) for k in left]
        )
    if entered or left:
        conn.executemany(
            "INSERT INTO segment_history (segment_id, key, entered, at, cause) VALUES (?,?,?,?,?)",
            [(segment_id, k, 1, at, cause) for k in entered] + [(segment_id, k, 0, at, cause) for k in left],
        )
        conn.execute("UPDATE segments SET size = size + ? WHERE id = ?", (len(entered) - len(left), segment_id))
        bump_keys(conn, [*entered, *left], at)
    return len(entered), len(left)


#: a membership change of this many customers or more owes them their new versions (a ``version_bumps`` row,
#: migration 46) instead of giving them in its own transaction: :func:`take_bumps` gives them after its commit, a
#: chunk per transaction (the publisher's pass, central/sync/publisher.py, before it reads its pages)
DEFER_BUMPS_FROM = 1000


def bump_keys(conn: sqlite3.Connection, keys: Iterable[int], at: str, id_of: Mapping[int, str] | None = None) -> None:
    """New customer versions for these customer keys (their segments changed), so their deltas go down
    (docs/sync.md, "Segments down"). In the caller's transaction, after any ``VersionCounter`` of it saved;
    :data:`DEFER_BUMPS_FROM` keys or more: owed (written down in the transaction, given after its commit).
    ``id_of``: the customer ids of (at least) these keys when the caller knows them (else they are read)."""
    keys = sorted(set(keys))
    if len(keys) >= DEFER_BUMPS_FROM:
        conn.execute("INSERT INTO version_bumps (keys, at) VALUES (?, ?)", (",".join(map(str, keys)), at))
    elif keys:
        _bump_now(conn, keys, at, id_of)


def _bump_now(conn: sqlite3.Connection, keys: list[int], at: str, id_of: Mapping[int, str] | None = None) -> None:
    """The next customer versions for these keys (sorted, distinct), in key order, now."""
    if id_of is not None and all(k in id_of for k in keys):
        ids = [id_of[k] for k in keys]
    else:
        ids = []
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            ids += [
                r[0]
                for r in conn.execute(
                    f"SELECT customer_id FROM customer_keys WHERE key IN ({','.join('?' * len(chunk))}) ORDER BY key",
                    chunk,
                )
            ]
    value = customer_versions.customer_version(conn)
    rows = [(value + n, at, cid) for n, cid in enumerate(ids, 1)]
    customer_versions.set_versions(conn, rows)
    customer_versions.save_customer_version(conn, value + len(ids))


def bumps_owed(conn: sqlite3.Connection) -> bool:
    """Whether some big membership change's customers still wait for their new versions."""
    return conn.execute("SELECT 1 FROM version_bumps LIMIT 1").fetchone() is not None


def take_bumps(conn: sqlite3.Connection, limit: int) -> int:
    """Give at most ``limit`` owed versions, the oldest change's first (its row keeps the rest, or goes), in the
    caller's transaction; returns how many customers' keys were taken (0: none owed). Two takers at once on
    PostgreSQL may give a customer two versions: harmless, its delta goes down twice."""
    row = conn.execute("SELECT seq, keys, at FROM version_bumps ORDER BY seq LIMIT 1").fetchone()
    if row is None:
        return 0
    seq, text, at = row
    keys = [int(k) for k in text.split(",")]
    now, rest = keys[:limit], keys[limit:]
    if rest:
        conn.execute("UPDATE version_bumps SET keys = ? WHERE seq = ?", (",".join(map(str, rest)), seq))
    else:
        conn.execute("DELETE FROM version_bumps WHERE seq = ?", (seq,))
    _bump_now(conn, now, at)
    return len(now)


def change_members_many(
    conn: sqlite3.Connection,
    changes: Sequence[tuple[int, Iterable[int], Iterable[int]]],
    at: str,
    cause: str,
    id_of: Mapping[int, str] | None = None,
    bump: bool = True,
) -> None:
    """:func:`change_members` for several segments at once (the same rows, history in the same order);
    ``id_of`` as :func:`bump_keys` takes it; ``bump=False`` when the customers got new versions in this
    transaction already (the ingest's: their deltas carry the new memberships)."""
    entering, leaving, history_rows, sizes = [], [], [], []
    since = since_seconds(at)
    for segment_id, entered, left in changes:
        entered, left = sorted(entered), sorted(left)
        if not entered and not left:
            continue
        entering += [(segment_id, k, since) for k in entered]
        leaving += [(segment_id, k) for k in left]
        history_rows += [(segment_id, k, 1, at, cause) for k in entered] + [(segment_id, k, 0, at, cause) for k in left]
        sizes.append((len(entered) - len(left), segment_id))
    if entering:
        conn.executemany("INSERT INTO segment_members (segment_id, key, since) VALUES (?,?,?)", entering)
    if leaving:
        conn.executemany("DELETE FROM segment_members WHERE segment_id = ? AND key = ?", leaving)
    conn.executemany(
        "INSERT INTO segment_history (segment_id, key, entered, at, cause) VALUES (?,?,?,?,?)", history_rows
    )
    conn.executemany("UPDATE segments SET size = size + ? WHERE id = ?", sizes)
    if bump:
        bump_keys(conn, [row[1] for row in entering] + [row[1] for row in leaving], at, id_of)


def history(conn: sqlite3.Connection, segment_id: int, limit: int = 100) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT h.id, k.customer_id, h.entered, h.at, h.cause FROM segment_history h"
        " JOIN customer_keys k ON k.key = h.key WHERE h.segment_id = ? ORDER BY h.id DESC LIMIT ?",
        (segment_id, limit),
    )
    return [dict(zip(("id", "customer_id", "entered", "at", "cause"), r, strict=True)) for r in cur]


def member_arrays(conn: sqlite3.Connection, keys: Sequence[int]) -> tuple[Any, Any]:
    """(segment ids, keys) of these customers' memberships as two numpy arrays, in one query per 500 keys: both
    columns joined into one text each by the database (no Python tuple per membership), in the order of its
    ``(key, segment_id)`` index."""
    import numpy as np

    if dialect(conn) == POSTGRESQL:
        joined = "string_agg(segment_id::text, ','), string_agg(key::text, ',')"
    else:
        joined = "group_concat(segment_id), group_concat(key)"
    segments, members = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for start in range(0, len(keys), 500):
        marks, params = in_list([int(k) for k in keys[start : start + 500]])
        found_segments, found_keys = conn.execute(
            f"SELECT {joined} FROM segment_members WHERE key IN ({marks})", params
        ).fetchone()
        if found_keys is not None:
            segments.append(np.fromstring(found_segments, dtype=np.int64, sep=","))
            members.append(np.fromstring(found_keys, dtype=np.int64, sep=","))
    return np.concatenate(segments), np.concatenate(members)


def member_matrix(conn: sqlite3.Connection, keys: Sequence[int]) -> tuple[list[int], Any]:
    """The memberships of these customers (``keys`` sorted ascending) as (segment ids, a boolean numpy matrix of
    segment x customer in ``keys``' order), from :func:`member_arrays` (the ingest's rounds,
    central/marketing/engine.py ``_Columns``)."""
    import numpy as np

    ordered = np.asarray(keys, np.int64)
    member_segments, member_keys = member_arrays(conn, keys)
    ids = np.unique(member_segments)
    inside = np.zeros((len(ids), len(ordered)), bool)
    inside[np.searchsorted(ids, member_segments), np.searchsorted(ordered, member_keys)] = True
    return ids.tolist(), inside


def member_pairs(conn: sqlite3.Connection, keys: Iterable[int]) -> set[tuple[int, int]]:
    """(segment, key) of these customers' memberships, in one query per 500."""
    keys = sorted(set(keys))
    found: set[tuple[int, int]] = set()
    for start in range(0, len(keys), 500):
        marks, params = in_list(keys[start : start + 500])
        found.update(conn.execute(f"SELECT segment_id, key FROM segment_members WHERE key IN ({marks})", params))
    return found


def set_flips(conn: sqlite3.Connection, flips: dict[int, int | None]) -> None:
    """Replace these customers' next flip day (None: none)."""
    conn.executemany("DELETE FROM segment_flips WHERE key = ?", [(k,) for k, d in flips.items() if d is None])
    conn.executemany(
        "INSERT INTO segment_flips (key, day) VALUES (?,?) ON CONFLICT (key) DO UPDATE SET day = excluded.day",
        [(k, d) for k, d in flips.items() if d is not None],
    )


def lower_flips(conn: sqlite3.Connection, flips: dict[int, int]) -> None:
    """Bring these customers' flip day forward where the new one is earlier (one upsert each: a row keeps its
    day when it is earlier already)."""
    conn.executemany(
        "INSERT INTO segment_flips (key, day) VALUES (?,?) ON CONFLICT (key) DO UPDATE SET day = excluded.day"
        " WHERE excluded.day < segment_flips.day",
        sorted(flips.items()),
    )
