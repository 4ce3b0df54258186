"""Enrollment tokens and the agents' broker users (``enrollment_tokens``, ``agents``)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from typing import Any

from shared.errors import LoyaltyError

from .clock import now_utc
from .connection import NotFound
from .shops import Shops

#: how long a new enrollment token may be used
TOKEN_TTL = dt.timedelta(hours=72)


class EnrollmentError(LoyaltyError):
    """An enrollment token that cannot be used (unknown, used, expired)."""

    status = 403

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        self.code = code
        self.status = status
        super().__init__(message)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mosquitto_hash(password: str, *, salt: bytes | None = None, iterations: int = 101) -> str:
    """Mosquitto 2's ``$7$`` password hash (PBKDF2-HMAC-SHA512), as mosquitto_passwd writes it."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


#: bcrypt's cost for the agents' NATS hashes: an agent's password is 24 random bytes (192 bits), so the cost
#: protects nothing a guesser could use; 10 keeps an enrollment and each NATS login quick
NATS_BCRYPT_COST = 10


def nats_hash(password: str, *, cost: int = NATS_BCRYPT_COST) -> str:
    """The ``$2b$`` bcrypt hash NATS's ``authorization`` block accepts as a user's password."""
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()


class Enrollment(Shops):
    """Tokens traded for broker credentials, and the agents they made."""

    def new_enrollment_token(self, store_id: str, ttl: dt.timedelta = TOKEN_TTL) -> str:
        """A one-time token an agent trades for its broker credentials; only its hash is kept."""
        self.get_store(store_id)
        token = secrets.token_urlsafe(24)
        now = dt.datetime.now(dt.UTC)
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO enrollment_tokens (token_hash, store, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (
                    hash_token(token),
                    store_id,
                    now.isoformat(timespec="seconds"),
                    (now + ttl).isoformat(timespec="seconds"),
                ),
            )
        return token

    def enroll(
        self, token: str, agent_id: str | None = None, grant: Callable[[str, str, str, str], None] | None = None
    ) -> tuple[dict[str, Any], str]:
        """Use a token: create the agent with fresh broker credentials; return (agent, password).

        ``grant(username, password, store, agent)`` (the broker's dynamic security, central/sync/dynsec.py)
        runs before the commit: if it raises, nothing is enrolled and the token stays usable.

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
                    "enroll_token_used",
                    f"this enrollment token was already used on {used_at}; ask head office for a new one",
                    409,
                )
            if expires_at <= now:
                raise EnrollmentError(
                    "enroll_token_expired",
                    f"this enrollment token expired on {expires_at}; ask head office for a new one",
                    410,
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
                "INSERT INTO agents (store, id, username, password_hash, nats_hash, created_at, enrolled)"
                " VALUES (?,?,?,?,?,?,1) ON CONFLICT (store, id) DO UPDATE SET username = excluded.username,"
                " password_hash = excluded.password_hash, nats_hash = excluded.nats_hash, enrolled = 1",
                (store, agent_id, username, mosquitto_hash(password), nats_hash(password), now),
            )
            conn.execute(
                "UPDATE enrollment_tokens SET used_at = ?, agent = ? WHERE token_hash = ?",
                (now, agent_id, hash_token(token)),
            )
            if grant is not None:
                grant(username, password, store, agent_id)
        return self.get_agent(store, agent_id), password

    def get_agent(self, store: str, agent: str) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM agents WHERE store = ? AND id = ?", (store, agent))
        if not rows:
            raise NotFound(f"no agent {agent} in store {store}")
        return rows[0]

    def applied_seq(self, store: str, agent: str) -> int:
        """The highest contiguous seq of an agent handled so far (0 if none)."""
        row = self.conn.execute("SELECT applied_seq FROM agents WHERE store = ? AND id = ?", (store, agent)).fetchone()
        return int(row[0]) if row else 0

    def agents(self, store: str | None = None) -> list[dict[str, Any]]:
        if store is None:
            return self.rows("SELECT * FROM agents ORDER BY store, id")
        return self.rows("SELECT * FROM agents WHERE store = ? ORDER BY id", (store,))

    def nats_users(self) -> list[tuple[str, str | None, str, str]]:
        """(username, bcrypt hash or None if enrolled before migration 28, store, agent) of every enrolled agent."""
        return [
            tuple(row)  # type: ignore[misc]
            for row in self.conn.execute(
                "SELECT username, nats_hash, store, id FROM agents WHERE enrolled = 1 ORDER BY store, id"
            )
        ]

    def broker_users(self) -> list[tuple[str, str, str, str]]:
        """(username, password hash, store, agent) of every enrolled agent."""
        return [
            tuple(row)  # type: ignore[misc]
            for row in self.conn.execute(
                "SELECT username, password_hash, store, id FROM agents WHERE enrolled = 1 ORDER BY store, id"
            )
        ]
