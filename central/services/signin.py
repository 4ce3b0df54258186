"""Signing in and out: server-side sessions, throttling per address, lockout per (user, address).

* **Sessions.** A sign-in makes a random session id; the cookie carries it and
  the database keeps only its SHA-256 (``console_sessions``). Every request
  checks the row: signing out ends it, so a cookie saved before the sign-out
  stops working at once (not when the cookie would have expired).
* **Lockout.** ``LOGIN_MAX_FAILURES`` wrong passwords for one username from
  one address within ``LOGIN_LOCK_MINUTES`` lock that username *from that
  address* until the window passes (a sliding window: the lock always ends by
  itself). The same user from another address is not locked, so nobody can
  keep an administrator out by failing on purpose from elsewhere. A locked
  attempt answers exactly like a wrong password (same message, status and
  time: the password hash is checked either way), so a lock tells nothing
  about which usernames exist.
* **Throttling.** ``LOGIN_ADDRESS_LIMIT`` failed sign-ins from one address
  (any usernames) within the window refuse that address (429) until it passes.
* **Audit.** Sign-ins, failed sign-ins (the username as typed), the start of a
  lockout, throttled addresses and sign-outs are audit rows (``auth.*``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from ..storage.clock import now_utc
from ..storage.store import Store
from . import audit
from .access import Actor, FormError
from .text import _

#: compared against when the username is unknown, so a wrong name costs as long as a wrong password
DUMMY_HASH = generate_password_hash("not a password")


@dataclass(frozen=True)
class Limits:
    max_failures: int = 10
    lock_minutes: int = 15
    address_limit: int = 30

    @classmethod
    def from_config(cls, config: Any) -> Limits:
        return cls(
            int(config.get("LOGIN_MAX_FAILURES", 10)),
            int(config.get("LOGIN_LOCK_MINUTES", 15)),
            int(config.get("LOGIN_ADDRESS_LIMIT", 30)),
        )


class Throttled(FormError):
    """Too many failed sign-ins from this address: nothing is checked until the window passes."""

    code = "too_many_requests"
    status = 429


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _since(minutes: int) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)).isoformat(timespec="seconds")


def _who(user_id: int | None, username: str) -> Actor:
    return Actor(user_id, username[:64] or "?", "")


def sign_in(
    db: Store, username: str, password: str, address: str, *, hours: int, limits: Limits = Limits()
) -> tuple[dict[str, Any], str]:
    """(the user, a new session id) for a right username and password; :class:`FormError` otherwise.

    Every refusal but throttling says the same "wrong username or password".
    """
    username = username.strip()[:100]  # usernames have at most 64 characters: a longer one is simply wrong
    window = _since(limits.lock_minutes)
    wrong = FormError({"password": _("Wrong username or password.")})
    recent = db.failures_from_address(address, window)
    if recent >= limits.address_limit:
        if recent == limits.address_limit:  # recorded (and counted) once, not once per attempt
            _fail(db, None, username, address, "auth.throttled")
        raise Throttled(
            {
                "password": _(
                    "Too many failed sign-ins from your address: try again in %(n)d minutes.", n=limits.lock_minutes
                )
            }
        )
    login = db.console_login(username)
    row = None if login is None else (login["id"], login["password_hash"], login["active"])
    failures = db.failures_of(username, address, window)
    locked = failures >= limits.max_failures
    good = check_password_hash(row[1] if row else DUMMY_HASH, password)
    if row is None or locked or not good:
        action = "auth.failed"
        if row is not None and not locked and failures + 1 >= limits.max_failures:
            action = "auth.lockout"
        _fail(db, row[0] if row else None, username, address, action, {"locked": True} if locked else None)
        raise wrong
    user_id = int(row[0])
    if not row[2]:
        _fail(db, user_id, username, address, "auth.failed", {"inactive": True})
        raise FormError({"password": _("This account is deactivated; ask an administrator.")})
    token = secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as conn:
        db.clear_login_failures(username, address)
        db.set_last_login(user_id, now_utc())
        db.add_console_session(
            _hash(token),
            user_id,
            address,
            now.isoformat(timespec="seconds"),
            (now + dt.timedelta(hours=hours)).isoformat(timespec="seconds"),
            forget_expired_before=_since(7 * 24 * 60),
        )
        audit.record(conn, _who(user_id, username), "auth.login", "user", user_id, None, {"address": address})
    user = db.signed_in_user(user_id)
    return user, token


def _fail(
    db: Store, user_id: int | None, username: str, address: str, action: str, extra: dict[str, Any] | None = None
) -> None:
    with db.transaction() as conn:
        db.add_login_failure(address, username, now_utc(), forget_before=_since(24 * 60))
        audit.record(
            conn,
            _who(user_id, username),
            action,
            "user",
            user_id,
            None,
            {"username": username[:64], "address": address, **(extra or {})},
        )


def session_valid(db: Store, token: Any, user_id: int) -> bool:
    """Whether a session id is the signed-in user's, not ended and not expired."""
    if not isinstance(token, str) or not token:
        return False
    row = db.console_session(_hash(token))
    return row is not None and row["user_id"] == user_id and row["ended_at"] is None and row["expires_at"] > now_utc()


def sign_out(db: Store, token: Any, actor: Actor | None, address: str) -> None:
    """End the session on the server (its cookie no longer works anywhere)."""
    if not isinstance(token, str) or not token:
        return
    with db.transaction() as conn:
        if db.end_console_session(_hash(token), now_utc()) and actor is not None:
            audit.record(conn, actor, "auth.logout", "user", actor.id, None, {"address": address})


def end_user_sessions(db: Store, user_id: int) -> None:
    """End every session of a user (inside the caller's transaction)."""
    db.end_console_sessions_of(user_id, now_utc())


def clear_failures(db: Store, username: str) -> None:
    """Forget a user's failed sign-ins (a new password ends any lockout)."""
    db.clear_login_failures(username)
