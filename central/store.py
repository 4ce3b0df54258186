"""The central database: the one module (with schema.py and ledger.py) that speaks SQL.

SQLite in WAL mode by default. The SQL is portable (``?`` placeholders are the
one thing a PostgreSQL backend translates); see docs/central.md. A
:class:`Store` wraps one connection and is used by one thread; the web app,
the ingest and the publisher each open their own.

Writes that belong together run in :meth:`Store.transaction` (``BEGIN
IMMEDIATE``): the ingest's :meth:`Store.commit_ingest` writes the effects of a
batch of events, their idempotency register rows and the agents' sequence
pointers in one transaction, so a crash at any point leaves all or nothing.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import secrets
import sqlite3
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from shared.errors import LoyaltyError
from shared.rules import parse_rules

from .ledger import LedgerBatch, VersionCounter, now_utc, utc
from .schema import MIGRATIONS

#: how long a new enrollment token may be used
TOKEN_TTL = dt.timedelta(hours=72)
CUSTOMER_SCOPES = ("all", "visited")


class EnrollmentError(LoyaltyError):
    """An enrollment token that cannot be used (unknown, used, expired)."""

    status = 403

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        self.code = code
        self.status = status
        super().__init__(message)


class NotFound(LoyaltyError, KeyError):
    code = "not_found"
    status = 404

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class DeadLetter:
    """A message or event set aside, with the reason (a WireError reason or an ingest one)."""

    reason: str
    detail: str
    payload: bytes
    topic: str | None = None
    store: str | None = None
    agent: str | None = None
    event_id: str | None = None
    seq: int | None = None


class Consumed(NamedTuple):
    """A register row (applied_events) for an event consumed without effect (a dead letter)."""

    id: str
    store: str
    agent: str
    seq: int
    kind: str
    status: str  # "dead"
    at: str | None
    recovery: str | None  # "dead" when consumed under a reused seq (central/recovery.py)


class Flag(NamedTuple):
    """Something head office should look at (the flags table): a restored agent, a debt, ..."""

    kind: str
    store: str
    agent: str
    customer_id: str | None
    event_id: str | None
    detail: str


@dataclass
class IngestUnit:
    """Everything one ingest round commits in one transaction."""

    events: list[Mapping[str, Any]] = field(default_factory=list)  # to apply, in order
    #: ids of ``events`` applied by recovery (under a reused seq: central/recovery.py); no pointer moves for them
    recovered: set[str] = field(default_factory=set)
    #: register rows for events consumed without effect
    consumed: list[Consumed] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    #: (store, agent) -> (highest contiguous seq handled, its event id)
    pointers: dict[tuple[str, str], tuple[int, str | None]] = field(default_factory=dict)
    #: (store, agent) -> status payload
    statuses: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    #: (store, agent) -> the next seq the agent said it will write (its hello)
    hellos: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (store, agent) -> the pointer when its restore was found, None once its recovery is over
    recoveries: dict[tuple[str, str], int | None] = field(default_factory=dict)
    #: ids of ``events`` (and of recovered events consumed), kept by the ingest while it builds the unit
    ids: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.events or self.consumed or self.dead_letters or self.flags or self.pointers or self.statuses
                    or self.hellos or self.recoveries)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mosquitto_hash(password: str, *, salt: bytes | None = None, iterations: int = 101) -> str:
    """Mosquitto 2's ``$7$`` password hash (PBKDF2-HMAC-SHA512), as mosquitto_passwd writes it."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


class Store:
    """One connection to the central database."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0, autocheckpoint: bool = True) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: transactions are explicit (BEGIN IMMEDIATE) so that a write
        # never upgrades a read lock half way (SQLITE_BUSY in WAL)
        self.conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        if not autocheckpoint:
            # the ingest's commits must not pay for copying the WAL into the database:
            # another connection checkpoints in the background (Store.checkpoint)
            self.conn.execute("PRAGMA wal_autocheckpoint = 0")
            self.conn.execute("PRAGMA cache_size = -65536")
        self.migrate()

    def close(self) -> None:
        self.conn.close()

    def checkpoint(self) -> None:
        """Copy the WAL into the database without blocking writers (PASSIVE)."""
        self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    # -- transactions and migrations -------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: all or nothing."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same committed state."""
        self.conn.execute("BEGIN")
        try:
            yield self.conn
        finally:
            self.conn.execute("COMMIT")

    def migrate(self) -> int:
        """Run the migrations this database lacks; return the schema version."""
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in self.conn.execute("SELECT version FROM schema_migrations")}
        for version, name, statements in MIGRATIONS:
            if version in done:
                continue
            with self.transaction() as conn:
                if conn.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                    continue  # another process migrated first
                for step in statements:
                    if callable(step):
                        step(conn)  # a Python step (central/programs.py): same transaction
                    else:
                        conn.execute(step)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, now_utc()),
                )
        return max(v for v, _, _ in MIGRATIONS)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # -- settings ----------------------------------------------------------------------------------

    def setting(self, name: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return row[0] if row else default

    def set_setting(self, name: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def central_credentials(self) -> tuple[str, str]:
        """The central server's own broker username and password (made on first use)."""
        password = self.setting("mqtt_central_password")
        if password is None:
            password = secrets.token_urlsafe(24)
            self.set_setting("mqtt_central_password", password)
        return self.setting("mqtt_central_username", "central") or "central", password

    # -- stores and enrollment ---------------------------------------------------------------------

    def add_store(self, store_id: str, name: str | None = None, timezone: str = "UTC") -> None:
        """Create a store; :class:`LoyaltyError` if the id is taken or invalid."""
        from shared.wire import WireError, check_id

        try:
            check_id(store_id, "store id")
        except WireError as exc:
            raise LoyaltyError(str(exc).removeprefix("invalid: ")) from None
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise LoyaltyError(f"unknown time zone {timezone!r} (use an IANA name like Europe/Moscow)") from None
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM stores WHERE id = ?", (store_id,)).fetchone():
                raise LoyaltyError(f"store {store_id} already exists")
            conn.execute(
                "INSERT INTO stores (id, name, timezone, created_at) VALUES (?, ?, ?, ?)",
                (store_id, name or store_id, timezone, now_utc()),
            )

    def stores(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM stores ORDER BY id")

    def get_store(self, store_id: str) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM stores WHERE id = ?", (store_id,))
        if not rows:
            raise NotFound(f"no store {store_id}")
        return rows[0]

    def new_enrollment_token(self, store_id: str, ttl: dt.timedelta = TOKEN_TTL) -> str:
        """A one-time token an agent trades for its broker credentials; only its hash is kept."""
        self.get_store(store_id)
        token = secrets.token_urlsafe(24)
        now = dt.datetime.now(dt.UTC)
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO enrollment_tokens (token_hash, store, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (hash_token(token), store_id, now.isoformat(timespec="seconds"),
                 (now + ttl).isoformat(timespec="seconds")),
            )
        return token

    def enroll(self, token: str, agent_id: str | None = None) -> tuple[dict[str, Any], str]:
        """Use a token: create the agent with fresh broker credentials; return (agent, password).

        :raises EnrollmentError: enroll_token_invalid, enroll_token_used, enroll_token_expired,
            agent_exists.
        """
        now = now_utc()
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT store, expires_at, used_at FROM enrollment_tokens WHERE token_hash = ?", (hash_token(token),)
            ).fetchone()
            if row is None:
                raise EnrollmentError("enroll_token_invalid", "unknown enrollment token; ask head office for a new one")
            store, expires_at, used_at = row
            if used_at is not None:
                raise EnrollmentError(
                    "enroll_token_used", f"this enrollment token was already used on {used_at}; ask head office for a new one", 409
                )
            if expires_at <= now:
                raise EnrollmentError(
                    "enroll_token_expired", f"this enrollment token expired on {expires_at}; ask head office for a new one", 410
                )
            if agent_id is None:
                count = conn.execute("SELECT COUNT(*) FROM agents WHERE store = ?", (store,)).fetchone()[0]
                agent_id = f"a{count + 1}"
                while conn.execute("SELECT 1 FROM agents WHERE store = ? AND id = ?", (store, agent_id)).fetchone():
                    count += 1
                    agent_id = f"a{count + 1}"
            elif conn.execute(
                "SELECT 1 FROM agents WHERE store = ? AND id = ? AND enrolled = 1", (store, agent_id)
            ).fetchone():
                raise EnrollmentError("agent_exists", f"agent {agent_id} of store {store} is already enrolled", 409)
            password = secrets.token_urlsafe(24)
            username = f"agent-{store}-{agent_id}"
            conn.execute(
                "INSERT INTO agents (store, id, username, password_hash, created_at, enrolled) VALUES (?,?,?,?,?,1)"
                " ON CONFLICT (store, id) DO UPDATE SET username = excluded.username,"
                " password_hash = excluded.password_hash, enrolled = 1",
                (store, agent_id, username, mosquitto_hash(password), now),
            )
            conn.execute(
                "UPDATE enrollment_tokens SET used_at = ?, agent = ? WHERE token_hash = ?",
                (now, agent_id, hash_token(token)),
            )
        return self.get_agent(store, agent_id), password

    def get_agent(self, store: str, agent: str) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM agents WHERE store = ? AND id = ?", (store, agent))
        if not rows:
            raise NotFound(f"no agent {agent} in store {store}")
        return rows[0]

    def applied_seq(self, store: str, agent: str) -> int:
        """The highest contiguous seq of an agent handled so far (0 if none)."""
        row = self.conn.execute("SELECT applied_seq FROM agents WHERE store = ? AND id = ?", (store, agent)).fetchone()
        return int(row[0]) if row else 0

    def agents(self, store: str | None = None) -> list[dict[str, Any]]:
        if store is None:
            return self._rows("SELECT * FROM agents ORDER BY store, id")
        return self._rows("SELECT * FROM agents WHERE store = ? ORDER BY id", (store,))

    def broker_users(self) -> list[tuple[str, str, str, str]]:
        """(username, password hash, store, agent) of every enrolled agent."""
        return [
            tuple(row)  # type: ignore[misc]
            for row in self.conn.execute(
                "SELECT username, password_hash, store, id FROM agents WHERE enrolled = 1 ORDER BY store, id"
            )
        ]

    # -- ingest -------------------------------------------------------------------------------------

    def stream_state(self, store: str, agent: str) -> tuple[int, str | None, int | None] | None:
        """(applied_seq, applied_id, recovery_end) of an agent, None if the store is unknown (agent rows are made)."""
        row = self.conn.execute("SELECT applied_seq, applied_id, recovery_end FROM agents WHERE store = ? AND id = ?",
                                (store, agent)).fetchone()
        if row:
            return row[0], row[1], row[2]
        if not self.conn.execute("SELECT 1 FROM stores WHERE id = ?", (store,)).fetchone():
            return None
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO agents (store, id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (store, agent, now_utc()),
            )
        return 0, None, None

    def known_ids(self, ids: Sequence[str]) -> dict[str, tuple[str, str, int]]:
        """Which of these event ids are in the register: id -> (store, agent, seq)."""
        found: dict[str, tuple[str, str, int]] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for ident, store, agent, seq in self.conn.execute(
                f"SELECT id, store, agent, seq FROM applied_events WHERE id IN ({marks})", chunk
            ):
                found[ident] = (store, agent, seq)
        return found

    def commit_ingest(self, unit: IngestUnit) -> set[str]:
        """Apply a unit of ingest work in one transaction; return the customer ids changed."""
        now = now_utc()
        with self.transaction() as conn:
            ledger = LedgerBatch(conn, now)
            ledger.prefetch(unit.events)
            for env in unit.events:
                ledger.apply(env)
            recovered = unit.recovered
            conn.executemany(
                "INSERT INTO applied_events (id, store, agent, seq, kind, status, at, recovery, applied_at)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                [(e["id"], e["store"], e["agent"], e["seq"], e["kind"], "applied", e["at"],
                  "applied" if e["id"] in recovered else None, now) for e in unit.events],
            )
            # consumed without effect (a dead letter): a clash with a registered id must not block the unit
            conn.executemany(
                "INSERT INTO applied_events (id, store, agent, seq, kind, status, at, recovery, applied_at)"
                " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                [(*row, now) for row in unit.consumed],
            )
            counter = VersionCounter(conn)
            touched = ledger.flush(counter)
            counter.save()
            conn.executemany(
                "UPDATE agents SET applied_seq = ?, applied_id = ? WHERE store = ? AND id = ?",
                [(seq, ident, store, agent) for (store, agent), (seq, ident) in unit.pointers.items()],
            )
            self._dead_letters(conn, unit.dead_letters, now)
            conn.executemany(
                "INSERT INTO flags (kind, store, agent, customer_id, event_id, detail, created_at) VALUES (?,?,?,?,?,?,?)",
                [(*flag, now) for flag in unit.flags],
            )
            conn.executemany(
                "UPDATE agents SET restored_at = ? WHERE store = ? AND id = ?",
                [(now, flag.store, flag.agent) for flag in unit.flags if flag.kind == "restored_agent"],
            )
            conn.executemany(
                "UPDATE agents SET recovery_end = ? WHERE store = ? AND id = ?",
                [(end, store, agent) for (store, agent), end in unit.recoveries.items()],
            )
            conn.executemany(
                "UPDATE agents SET reported_next_seq = ?, last_seen = ? WHERE store = ? AND id = ?",
                [(next_seq, now, store, agent) for (store, agent), next_seq in unit.hellos.items()],
            )
            for (store, agent), status in unit.statuses.items():
                self._status(conn, store, agent, status, now)
        return touched

    def _dead_letters(self, conn: sqlite3.Connection, letters: Sequence[DeadLetter], now: str) -> None:
        for letter in letters:
            # the same bad message resent a hundred times is one row with a count
            digest = hashlib.sha256(letter.reason.encode() + b"\0" + letter.payload).hexdigest()
            conn.execute(
                "INSERT INTO dead_letters (digest, reason, detail, topic, store, agent, event_id, seq, payload,"
                " received_at, last_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (digest) DO UPDATE SET count = dead_letters.count + 1, last_at = excluded.last_at",
                (digest, letter.reason, letter.detail[:2000], letter.topic, letter.store, letter.agent,
                 letter.event_id, letter.seq, letter.payload, now, now),
            )

    def dead_letter(self, letter: DeadLetter) -> None:
        """File one dead letter in its own transaction."""
        with self.transaction() as conn:
            self._dead_letters(conn, [letter], now_utc())

    def _status(self, conn: sqlite3.Connection, store: str, agent: str, status: Mapping[str, Any], now: str) -> None:
        conn.execute(
            "INSERT INTO agents (store, id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", (store, agent, now)
        )
        conn.execute(
            "UPDATE agents SET state = ?, status_at = ?, last_seen = ?, outbox_depth = COALESCE(?, outbox_depth),"
            " rules_version = COALESCE(?, rules_version), customers_version = COALESCE(?, customers_version),"
            " last_sync = COALESCE(?, last_sync), software = COALESCE(?, software) WHERE store = ? AND id = ?",
            (status["state"], status.get("at"), now, status.get("outbox_depth"), status.get("rules_version"),
             status.get("customers_version"), status.get("last_sync"), status.get("software"), store, agent),
        )

    # -- reading for the console and the tests -------------------------------------------------

    def dead_letters(self, reason: str | None = None) -> list[dict[str, Any]]:
        if reason is None:
            return self._rows("SELECT * FROM dead_letters ORDER BY id")
        return self._rows("SELECT * FROM dead_letters WHERE reason = ? ORDER BY id", (reason,))

    def flags(self, kind: str | None = None) -> list[dict[str, Any]]:
        if kind is None:
            return self._rows("SELECT * FROM flags ORDER BY id")
        return self._rows("SELECT * FROM flags WHERE kind = ? ORDER BY id", (kind,))

    def debts(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM debts ORDER BY created_at, event_id")

    def set_card_status(self, number: str, status: str, reason: str | None = None) -> int:
        """Block (or reactivate) a card; its customer gets a new version, so every store hears of it.

        Returns the customer's new version. :raises NotFound: no such card.
        """
        if status not in ("active", "blocked", "reassigned"):
            raise LoyaltyError(f"a card's status is active, blocked or reassigned, not {status!r}")
        with self.transaction() as conn:
            row = conn.execute("SELECT customer_id FROM cards WHERE number = ?", (number,)).fetchone()
            if row is None:
                raise NotFound(f"no card {number}")
            conn.execute("UPDATE cards SET status = ?, reason = ? WHERE number = ?", (status, reason, number))
            # the next value of the chain-wide counter, as the ingest allocates it (one writer at a time)
            counter = conn.execute("SELECT value FROM counters WHERE name = 'customer_version'").fetchone()
            version = (counter[0] if counter else 0) + 1
            conn.execute(
                "INSERT INTO counters (name, value) VALUES ('customer_version', ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (version,),
            )
            conn.execute("UPDATE customers SET version = ? WHERE id = ?", (version, row[0]))
        return version

    def customer(self, customer_id: str) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM customers WHERE id = ?", (customer_id,))
        if not rows:
            raise NotFound(f"no customer {customer_id}")
        return rows[0]

    def ledger_sum(self, customer_id: str) -> int:
        row = self.conn.execute("SELECT COALESCE(SUM(points), 0) FROM ledger WHERE customer_id = ?", (customer_id,)).fetchone()
        return int(row[0])

    def count(self, table: str, where: str = "1 = 1", params: Sequence[Any] = ()) -> int:
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params).fetchone()[0])

    # -- down: rules and cashier messages ------------------------------------------------------

    def add_rules(self, store_id: str, doc: Mapping[str, Any]) -> int:
        """Store a validated rule set as the store's next version; return the version."""
        self.get_store(store_id)
        with self.transaction() as conn:
            current = conn.execute("SELECT MAX(version) FROM rule_sets WHERE store = ?", (store_id,)).fetchone()[0] or 0
            version = max(current + 1, int(doc.get("version") or 0))
            document = {**doc, "version": version, "store": store_id}
            parse_rules(document)  # raises RuleSetError listing every problem
            conn.execute(
                "INSERT INTO rule_sets (store, version, document, created_at) VALUES (?, ?, ?, ?)",
                (store_id, version, json.dumps(document, ensure_ascii=False, sort_keys=True), now_utc()),
            )
        return version

    def latest_rules(self) -> dict[str, tuple[int, dict[str, Any]]]:
        """store -> (version, document) of each store's newest rule set."""
        return {
            store: (version, json.loads(document))
            for store, version, document in self.conn.execute(
                "SELECT r.store, r.version, r.document FROM rule_sets r JOIN"
                " (SELECT store, MAX(version) AS version FROM rule_sets GROUP BY store) m"
                " ON m.store = r.store AND m.version = r.version"
            )
        }

    def add_store_message(self, store_id: str, text: str, until: str | None = None) -> str:
        """Add a cashier message for a store; ``until`` is an ISO 8601 time with offset."""
        self.get_store(store_id)
        if not text.strip() or len(text) > 4000:
            raise LoyaltyError("a cashier message must have 1..4000 characters")
        if until is not None:
            try:
                until = utc(until)
            except ValueError:
                raise LoyaltyError(f"until must be an ISO 8601 time like 2026-11-22T00:00:00+03:00, got {until!r}") from None
        ident = secrets.token_hex(8)
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO store_messages (id, store, text, until, created_at) VALUES (?, ?, ?, ?, ?)",
                (ident, store_id, text, until, now_utc()),
            )
        return ident

    def store_messages(self) -> dict[str, tuple[int, list[dict[str, Any]]]]:
        """store -> (version, active messages); the version is the count of message changes."""
        now = now_utc()
        result: dict[str, tuple[int, list[dict[str, Any]]]] = {}
        for store, ident, text, until, version in self.conn.execute(
            "SELECT m.store, m.id, m.text, m.until, (SELECT COUNT(*) + COUNT(c.deleted_at) FROM store_messages c WHERE c.store = m.store)"
            " FROM store_messages m WHERE m.deleted_at IS NULL ORDER BY m.created_at, m.id"
        ):
            if until is not None and until <= now:
                continue
            item: dict[str, Any] = {"id": ident, "text": text}
            if until:
                item["until"] = until
            result.setdefault(store, (version, []))[1].append(item)
        return result

    def published(self, store_id: str) -> dict[str, int]:
        row = self.conn.execute(
            "SELECT published_customers, published_rules, published_messages FROM stores WHERE id = ?", (store_id,)
        ).fetchone()
        return {"customers": row[0], "rules": row[1], "messages": row[2]} if row else {}

    def set_published(self, store_id: str, what: str, value: int) -> None:
        assert what in ("customers", "rules", "messages")
        with self.transaction() as conn:
            conn.execute(f"UPDATE stores SET published_{what} = ? WHERE id = ?", (value, store_id))

    def customer_page(
        self, store_id: str, after: int, limit: int = 500, cache: dict[Any, Any] | None = None
    ) -> tuple[list[dict[str, Any]], int, bool]:
        """Deltas of the store's customers changed after a version: (deltas, upto, more)."""
        from .deltas import customer_page

        return customer_page(self, store_id, after, limit, cache)
