"""The segments' column snapshot: every customer's traits and aggregates as numpy columns (docs/segments.md).

The set-based evaluator (central/marketing/columns.py) counts criteria over these arrays instead of one SQL
query each. One snapshot per database file and process (:func:`snapshot`), built once, then kept current by
reloading only the customers logged in ``segment_dirty`` since (migration 27's triggers), so a count or a
recompute sees every committed change.

* per key (the stable integer ``customer_keys.key``, the index into every per-key array): valid (has a
  customer not merged away), birth date ordinal and month-day, gender, home store, level, balance, any card,
  one boolean array per consent channel and per tag;
* ``days``: the rows of ``agg_days`` (key, day, store, purchases, spend, items) in any order, with an
  ``alive`` mask; the rows of a customer reloaded later are in ``days_new`` (the same columns);
* ``items``: the rows of ``agg_items`` sorted by (kind, item, day), so an item in a period is one slice
  (``item_slices``); reloaded customers' rows in ``items_new``, unsorted.

A customer reloaded has all its rows in one place (the base arrays' rows are killed), so per-key sums
add the two parts. When the reloaded part outgrows a share of the base, both are merged (:meth:`compact`).
Money stays integer: sums are int64 (``np.bincount``'s float64 weights are exact below 2**53 and are
turned back into int64).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .portable import POSTGRESQL, dialect

_DATED = "c.birthday GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"
GENDERS = {"male": 0, "female": 1}  # anything else is 2, "unknown"
#: the reloaded rows may reach this share of the base before both are merged
COMPACT_SHARE = 0.05
_CHUNK = 500
#: the log is cut back to this many rows by the daily refresh (a snapshot further behind is rebuilt)
KEEP_LOG = 2_000_000

DAY_COLUMNS = ("key", "day", "store", "purchases", "spend", "items")
DAY_TYPES = (np.int64, np.int32, np.int32, np.int64, np.int64, np.int64)
ITEM_COLUMNS = ("key", "code", "day", "store", "quantity")
ITEM_TYPES = (np.int64, np.int64, np.int32, np.int32, np.int64)
#: an item's code: kind * ITEM_SPAN + item (catalog ids are below it)
ITEM_SPAN = 1 << 40


def _empty(columns: Sequence[str], types: Sequence[Any]) -> dict[str, np.ndarray]:
    return {c: np.zeros(0, t) for c, t in zip(columns, types, strict=True)}


def _columns(cursor: Iterable[Sequence[Any]], columns: Sequence[str], types: Sequence[Any]) -> dict[str, np.ndarray]:
    data = np.fromiter(cursor, dtype=[(c, t) for c, t in zip(columns, types, strict=True)])
    return {c: np.ascontiguousarray(data[c]) for c in columns}


class Snapshot:
    """The columns of one database (see the module's text). Not shared between threads without ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.seq = 0  # the log's highest row read
        self.xmin: int | None = None  # PostgreSQL: the log's rows of transactions from this id on are read again
        self.seen: set[int] = set()  # PostgreSQL: those of them already read (their seq)
        self.n = 0
        self.stores: dict[str, int] = {}
        self.levels: dict[Any, int] = {}
        self.homes: dict[Any, int] = {}
        self.valid = np.zeros(0, bool)
        self.birth = np.zeros(0, np.int32)
        self.mmdd = np.zeros(0, np.int16)
        self.gender = np.zeros(0, np.int8)
        self.home = np.zeros(0, np.int32)
        self.level = np.zeros(0, np.int32)
        self.balance = np.zeros(0, np.int64)
        self.carded = np.zeros(0, bool)
        self.consents: dict[str, np.ndarray] = {}
        self.tags: dict[str, np.ndarray] = {}
        self.days = _empty(DAY_COLUMNS, DAY_TYPES)
        self.days_alive = np.zeros(0, bool)
        self.days_new = _empty(DAY_COLUMNS, DAY_TYPES)
        self.items = _empty(ITEM_COLUMNS, ITEM_TYPES)
        self.items_alive = np.zeros(0, bool)
        self.items_new = _empty(ITEM_COLUMNS, ITEM_TYPES)
        self.item_starts: dict[int, tuple[int, int]] = {}
        self.stale = np.zeros(0, bool)  # keys whose base rows are dead
        self.pending: set[int] = set()  # keys read inside a writing transaction (see catch_up)
        self.version = 0  # bumped by every change (the evaluators' caches key on it)

    # -- building ----------------------------------------------------------------------------------------

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> Snapshot:
        """Every customer's columns, read now (changes logged after the log's last row read here are seen by the
        next :meth:`catch_up`)."""
        snap = cls()
        snap.xmin = _horizon(conn)  # before anything is read (see catch_up)
        if snap.xmin is not None:  # the rows from xmin on committed before the reads below: read by them
            snap.seen = {r[0] for r in conn.execute(_FROM_XMIN.format("seq"), (str(snap.xmin),))}
        snap.seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM segment_dirty").fetchone()[0]
        top = conn.execute("SELECT COALESCE(MAX(key), 0) FROM customer_keys").fetchone()[0]
        snap._grow(top + 1)
        snap._store_codes(conn)
        snap._load_customers(conn, None)
        snap.days = _by_day(snap._read_days(conn, None))
        snap.days_alive = np.ones(len(snap.days["key"]), bool)
        items = snap._read_items(conn, None)
        order = np.lexsort((items["day"], items["code"]))
        snap.items = {c: a[order] for c, a in items.items()}
        snap.items_alive = np.ones(len(order), bool)
        snap._index_items()
        return snap

    def _store_codes(self, conn: sqlite3.Connection) -> None:
        for (store,) in conn.execute("SELECT id FROM stores UNION SELECT ''"):
            self.stores.setdefault(store, len(self.stores))

    def _store_sql(self) -> str:
        # stores as small integers, in SQL (a text column through Python per row is the slow part of a load)
        cases = " ".join(f"WHEN '{s.replace(chr(39), chr(39) * 2)}' THEN {c}" for s, c in self.stores.items())
        return f"CASE store {cases} ELSE -1 END"

    def _with_stores(self, conn: sqlite3.Connection, table: str, where: str, params: Sequence[Any], read: Any) -> Any:
        """``read()`` gives the rows with store codes; an unknown store (-1) gets a code and the rows are read again."""
        data = read()
        if len(data["store"]) and data["store"].min() < 0:
            for (store,) in conn.execute(f"SELECT DISTINCT store FROM {table} WHERE {where}", params):
                self.stores.setdefault(store, len(self.stores))
            data = read()
        return data

    def _key_filter(self, keys: Sequence[int] | None) -> tuple[str, list[Any]]:
        if keys is None:
            return "1 = 1", []
        return f"key IN ({','.join('?' * len(keys))})", list(keys)

    def _read_days(self, conn: sqlite3.Connection, keys: Sequence[int] | None) -> dict[str, np.ndarray]:
        parts = []
        for chunk in _chunks(keys):
            where, params = self._key_filter(chunk)

            def read(where: str = where, params: list[Any] = params) -> dict[str, np.ndarray]:
                return _columns(
                    conn.execute(
                        f"SELECT key, day, {self._store_sql()}, purchases, spend, items FROM agg_days WHERE {where}",
                        params,
                    ),
                    DAY_COLUMNS,
                    DAY_TYPES,
                )

            parts.append(self._with_stores(conn, "agg_days", where, params, read))
        return _concat(parts, DAY_COLUMNS, DAY_TYPES)

    def _read_items(self, conn: sqlite3.Connection, keys: Sequence[int] | None) -> dict[str, np.ndarray]:
        parts = []
        for chunk in _chunks(keys):
            where, params = self._key_filter(chunk)

            def read(where: str = where, params: list[Any] = params) -> dict[str, np.ndarray]:
                return _columns(
                    conn.execute(
                        f"SELECT key, kind * {ITEM_SPAN} + item, day, {self._store_sql()}, quantity FROM agg_items"
                        f" WHERE {where}",
                        params,
                    ),
                    ITEM_COLUMNS,
                    ITEM_TYPES,
                )

            parts.append(self._with_stores(conn, "agg_items", where, params, read))
        return _concat(parts, ITEM_COLUMNS, ITEM_TYPES)

    def _index_items(self) -> None:
        codes = self.items["code"]
        if not len(codes):
            self.item_starts = {}
            return
        edges = np.flatnonzero(np.diff(codes)) + 1
        starts = np.concatenate(([0], edges))
        ends = np.concatenate((edges, [len(codes)]))
        self.item_starts = dict(
            zip(codes[starts].tolist(), zip(starts.tolist(), ends.tolist(), strict=True), strict=True)
        )

    def _grow(self, n: int) -> None:
        if n <= self.n:
            return
        size = max(n, int(self.n * 1.25) + 1024)
        for name in ("valid", "birth", "mmdd", "gender", "home", "level", "balance", "carded", "stale"):
            old = getattr(self, name)
            new = np.zeros(size, old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)
        for group in (self.consents, self.tags):
            for name, old in list(group.items()):
                new = np.zeros(size, bool)
                new[: len(old)] = old
                group[name] = new
        self.n = size

    def _flag(self, group: dict[str, np.ndarray], name: str) -> np.ndarray:
        if name not in group:
            group[name] = np.zeros(self.n, bool)
        return group[name]

    def _load_customers(self, conn: sqlite3.Connection, keys: Sequence[int] | None) -> None:
        """The per-key columns of these customers (all with None), from their customers row, cards and tags."""
        births: dict[Any, tuple[int, int]] = {}
        consents: dict[Any, tuple[str, ...]] = {}
        for chunk in _chunks(keys):
            where, params = ("1 = 1", []) if chunk is None else (f"k.key IN ({','.join('?' * len(chunk))})", chunk)
            if chunk is not None:
                arr = np.asarray(chunk, np.int64)
                self.valid[arr] = self.carded[arr] = False
                self.birth[arr] = self.mmdd[arr] = 0
                for group in (self.consents, self.tags):
                    for flags in group.values():
                        flags[arr] = False
            rows = conn.execute(
                "SELECT k.key, c.merged_into IS NULL, CASE WHEN " + _DATED + " THEN substr(c.birthday, 1, 10) END,"
                " c.gender, c.consents, c.home_store, c.level, COALESCE(c.balance, 0)"
                f" FROM customer_keys k JOIN customers c ON c.id = k.customer_id WHERE {where}",
                params,
            ).fetchall()
            if not rows:
                continue
            key, alive, birthday, gender, given, home, level, balance = zip(*rows, strict=True)
            k = np.fromiter(key, np.int64, len(key))
            self.valid[k] = np.fromiter(alive, bool, len(k))
            self.balance[k] = np.fromiter(balance, np.int64, len(k))
            self.gender[k] = np.fromiter((GENDERS.get(g, 2) for g in gender), np.int8, len(k))
            homes, levels = self.homes, self.levels
            self.home[k] = np.fromiter((homes.setdefault(h, len(homes)) for h in home), np.int32, len(k))
            self.level[k] = np.fromiter((levels.setdefault(v, len(levels)) for v in level), np.int32, len(k))
            born = [births.get(b) or births.setdefault(b, _birth(b)) for b in birthday]
            self.birth[k] = np.fromiter((b[0] for b in born), np.int32, len(k))
            self.mmdd[k] = np.fromiter((b[1] for b in born), np.int16, len(k))
            channels = [consents.get(g) if g in consents else consents.setdefault(g, _channels(g)) for g in given]
            for channel in {ch for chs in consents.values() for ch in chs}:
                self._flag(self.consents, channel)
            for name, flags in self.consents.items():
                hit = np.fromiter((name in chs for chs in channels), bool, len(k))  # type: ignore[operator]
                flags[k[hit]] = True
            for (key_,) in conn.execute(
                f"SELECT k.key FROM customer_keys k WHERE {where}"
                " AND EXISTS (SELECT 1 FROM cards d WHERE d.customer_id = k.customer_id)",
                params,
            ):
                self.carded[key_] = True
            for key_, tag in conn.execute(
                f"SELECT k.key, t.tag FROM customer_keys k JOIN customer_tags t ON t.customer_id = k.customer_id"
                f" WHERE {where}",
                params,
            ):
                self._flag(self.tags, tag)[key_] = True

    # -- following the database --------------------------------------------------------------------------

    def catch_up(self, conn: sqlite3.Connection, writing: bool = False) -> Snapshot:
        """Reload the customers logged since the last look; a snapshot too far behind the log is rebuilt (the
        returned one: use it).

        ``writing``: ``conn`` is in a transaction that may have written (its log rows may yet be rolled back):
        the keys are reloaded but the position in the log is kept, and those keys are reloaded again at the
        next look, whatever became of the transaction."""
        if self.xmin is not None:
            return self._catch_up_by_transaction(conn, writing)
        with self.lock:
            high = conn.execute("SELECT MAX(seq) FROM segment_dirty WHERE seq > ?", (self.seq,)).fetchone()[0]
            if high is None and not self.pending:
                if conn.execute("SELECT COALESCE(MAX(seq), 0) FROM segment_dirty").fetchone()[0] < self.seq:
                    return Snapshot.load(conn)  # the log restarted (a restored database)
                return self
            if _cut(conn) > self.seq:
                return Snapshot.load(conn)  # rows were cut from the log before this snapshot read them
            keys = set(self.pending)
            if high is not None:
                keys.update(
                    r[0]
                    for r in conn.execute("SELECT key FROM segment_dirty WHERE seq > ? AND seq <= ?", (self.seq, high))
                )
            self.reload(conn, sorted(keys))
            if writing:
                self.pending = keys
            else:
                self.pending = set()
                self.seq = high if high is not None else self.seq
            return self

    def _catch_up_by_transaction(self, conn: sqlite3.Connection, writing: bool) -> Snapshot:
        """PostgreSQL's :meth:`catch_up`. Writers there need not commit in the order of the log's ``seq`` (a
        sequence), so a position in ``seq`` could pass a row committed later under a lower number. Each row
        also holds its transaction's id (migration 39); the snapshot keeps the oldest transaction still running
        when it last looked (``xmin``, read before anything else: every transaction not seen then has an id
        from it on) and reads again the rows of transactions from that id on, skipping those it read already
        (a writer running for long anywhere in the cluster holds ``xmin`` back)."""
        with self.lock:
            horizon = _horizon(conn)
            top = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM segment_dirty").fetchone()[0]
            if top < self.seq or _cut(conn) > self.seq:
                return Snapshot.load(conn)  # the log restarted (a restored database) or was cut past this one
            rows = conn.execute(
                _FROM_XMIN.format("seq, key, CAST(CAST(xid AS text) AS bigint)"), (str(self.xmin),)
            ).fetchall()
            keys = set(self.pending) | {r[1] for r in rows if r[0] not in self.seen}
            self.reload(conn, sorted(keys))
            if writing:
                self.pending = keys
            else:
                self.pending = set()
                self.xmin = horizon
                self.seq = max([self.seq, *(r[0] for r in rows)])
                # rows read now that the next look reads again: not reloaded twice while an old writer runs
                self.seen = {r[0] for r in rows if r[2] >= horizon}
            return self

    def reload(self, conn: sqlite3.Connection, keys: Sequence[int]) -> None:
        """Read these customers again (their columns and rows)."""
        if not keys:
            return
        self.version += 1
        self._grow(max(keys) + 1)
        touched = np.asarray(keys, np.int64)
        self._load_customers(conn, list(keys))
        self.stale[touched] = True
        self.days_alive = ~self.stale[self.days["key"]]
        self.items_alive = ~self.stale[self.items["key"]]
        days, items = self._read_days(conn, keys), self._read_items(conn, keys)
        keep = ~np.isin(self.days_new["key"], touched)
        self.days_new = _concat([{c: a[keep] for c, a in self.days_new.items()}, days], DAY_COLUMNS, DAY_TYPES)
        keep = ~np.isin(self.items_new["key"], touched)
        self.items_new = _concat([{c: a[keep] for c, a in self.items_new.items()}, items], ITEM_COLUMNS, ITEM_TYPES)
        if len(self.days_new["key"]) + len(self.items_new["key"]) > COMPACT_SHARE * (
            len(self.days["key"]) + len(self.items["key"])
        ):
            self.compact()

    def compact(self) -> None:
        """Merge the reloaded rows into the base arrays (items sorted again)."""
        alive = self.days_alive
        self.days = _by_day(
            _concat([{c: a[alive] for c, a in self.days.items()}, self.days_new], DAY_COLUMNS, DAY_TYPES)
        )
        self.days_alive = np.ones(len(self.days["key"]), bool)
        self.days_new = _empty(DAY_COLUMNS, DAY_TYPES)
        alive = self.items_alive
        items = _concat([{c: a[alive] for c, a in self.items.items()}, self.items_new], ITEM_COLUMNS, ITEM_TYPES)
        order = np.lexsort((items["day"], items["code"]))
        self.items = {c: a[order] for c, a in items.items()}
        self.items_alive = np.ones(len(order), bool)
        self.items_new = _empty(ITEM_COLUMNS, ITEM_TYPES)
        self._index_items()
        self.stale[:] = False

    # -- reading -----------------------------------------------------------------------------------------

    def store_codes(self, stores: Iterable[str]) -> np.ndarray:
        return np.asarray([self.stores[s] for s in stores if s in self.stores], np.int32)

    def day_rows(
        self,
        first: int | None,
        last: int | None,
        stores: Iterable[str] | None = None,
        columns: Sequence[str] = DAY_COLUMNS,
    ) -> list[dict[str, Any]]:
        """The live day rows in [first, last] (at ``stores``), only ``columns``: a list of column dicts (the base
        part, sorted by day, is one slice; the reloaded part is filtered)."""
        out = []
        codes = None if stores is None else self.store_codes(stores)
        days = self.days["day"]
        start = 0 if first is None else int(np.searchsorted(days, first, "left"))
        end = len(days) if last is None else int(np.searchsorted(days, last, "right"))
        mask = self.days_alive[start:end]
        if codes is not None:
            mask = mask & np.isin(self.days["store"][start:end], codes)
        if mask.all():
            out.append({c: self.days[c][start:end] for c in columns})
        else:
            out.append({c: self.days[c][start:end][mask] for c in columns})
        new = self.days_new
        if len(new["key"]):
            mask = np.ones(len(new["key"]), bool)
            if first is not None:
                mask &= new["day"] >= first
            if last is not None:
                mask &= new["day"] <= last
            if codes is not None:
                mask &= np.isin(new["store"], codes)
            out.append({c: new[c][mask] for c in columns})
        return out

    def per_key_sum(self, parts: Sequence[dict[str, Any]], column: str | None) -> np.ndarray:
        """Per key, the sum of ``column`` over the rows (None: how many rows), int64 of length n."""
        parts = [p for p in parts if len(p["key"])]
        if not parts:
            return np.zeros(self.n, np.int64)
        keys = parts[0]["key"] if len(parts) == 1 else np.concatenate([p["key"] for p in parts])
        weights = None
        if column is not None:
            weights = parts[0][column] if len(parts) == 1 else np.concatenate([p[column] for p in parts])
        found = np.bincount(keys, weights, minlength=self.n)
        return found.astype(np.int64) if weights is None else np.rint(found).astype(np.int64)

    def item_rows(
        self, kind: int, item: int, first: int | None, last: int | None, stores: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        """The live rows of one item in [first, last] (at ``stores``): one slice of the sorted base, and the
        reloaded rows."""
        code = kind * ITEM_SPAN + item
        codes = None if stores is None else self.store_codes(stores)
        out = []
        start, end = self.item_starts.get(code, (0, 0))
        days = self.items["day"][start:end]
        if first is not None:
            start += int(np.searchsorted(days, first, "left"))
        if last is not None:
            end = start + int(np.searchsorted(self.items["day"][start:end], last, "right"))
        mask = self.items_alive[start:end].copy()
        if codes is not None:
            mask &= np.isin(self.items["store"][start:end], codes)
        out.append({c: a[start:end][mask] for c, a in self.items.items()})
        new = self.items_new
        if len(new["key"]):
            mask = new["code"] == code
            if first is not None:
                mask &= new["day"] >= first
            if last is not None:
                mask &= new["day"] <= last
            if codes is not None:
                mask &= np.isin(new["store"], codes)
            out.append({c: a[mask] for c, a in new.items()})
        return out


def _by_day(rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    order = np.argsort(rows["day"], kind="stable")
    return {c: a[order] for c, a in rows.items()}


def _chunks(keys: Sequence[int] | None) -> Iterable[Sequence[int] | None]:
    if keys is None:
        yield None
        return
    for start in range(0, len(keys), _CHUNK):
        yield list(keys[start : start + _CHUNK])


def _concat(
    parts: Sequence[dict[str, np.ndarray]], columns: Sequence[str], types: Sequence[Any]
) -> dict[str, np.ndarray]:
    if not parts:
        return _empty(columns, types)
    if len(parts) == 1:
        return parts[0]
    return {c: np.concatenate([p[c] for p in parts]).astype(t, copy=False) for c, t in zip(columns, types, strict=True)}


def _birth(text: str | None) -> tuple[int, int]:
    """(date ordinal, month * 100 + day) of a birthday text; (0, 0) when there is none or it is no date."""
    if text is None:
        return 0, 0
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return 0, 0
    return day.toordinal(), day.month * 100 + day.day


def _channels(text: str | None) -> tuple[str, ...]:
    """The channels a consents document says exactly ``true`` for."""
    try:
        given = json.loads(text or "{}")
    except ValueError:
        return ()
    return tuple(k for k, v in given.items() if v is True) if isinstance(given, dict) else ()


_SNAPSHOTS: dict[str, Snapshot] = {}
_GUARD = threading.Lock()


def snapshot(conn: sqlite3.Connection, path: str, writing: bool = False) -> Snapshot:
    """This process's snapshot of the database at ``path``, current with everything ``conn`` sees."""
    with _GUARD:
        snap = _SNAPSHOTS.get(path) if path else None
        if snap is None:
            snap = Snapshot.load(conn)
        else:
            snap = snap.catch_up(conn, writing)
        if path:
            _SNAPSHOTS[path] = snap
        return snap


def follow(snap: Snapshot, conn: sqlite3.Connection, path: str, writing: bool = False) -> Snapshot:
    """``snap`` caught up with ``conn`` (the one this process keeps for ``path`` if another replaced it)."""
    with _GUARD:
        kept = _SNAPSHOTS.get(path) if path else None
        snap = (kept or snap).catch_up(conn, writing)
        if path:
            _SNAPSHOTS[path] = snap
        return snap


def forget(path: str) -> None:
    with _GUARD:
        _SNAPSHOTS.pop(path, None)


#: PostgreSQL: the log's rows of the transactions from an id on
_FROM_XMIN = "SELECT {} FROM segment_dirty WHERE xid >= CAST(CAST(? AS text) AS xid8)"


def _horizon(conn: sqlite3.Connection) -> int | None:
    """PostgreSQL: the id of the oldest transaction still running (None on SQLite, whose writers commit in the
    log's order)."""
    if dialect(conn) != POSTGRESQL:
        return None
    return int(conn.execute("SELECT CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text)").fetchone()[0])


def _cut(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM settings WHERE name = 'segment_dirty_cut'").fetchone()
    return int(row[0]) if row else 0


def cut_log(conn: sqlite3.Connection, keep: int = KEEP_LOG) -> None:
    """Drop all but the last ``keep`` rows of the log (the daily refresh); a snapshot that had not read them
    is rebuilt (the setting ``segment_dirty_cut`` says up to where rows are gone)."""
    top = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM segment_dirty").fetchone()[0]
    if top - keep <= _cut(conn):
        return
    conn.execute("DELETE FROM segment_dirty WHERE seq <= ?", (top - keep,))
    conn.execute(
        "INSERT INTO settings (name, value) VALUES ('segment_dirty_cut', ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (str(top - keep),),
    )
