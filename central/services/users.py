"""Console users: accounts with scrypt-hashed passwords, roles, assigned stores, sign-in.

Passwords are hashed with werkzeug's ``generate_password_hash`` (scrypt).
A user's ``session_version`` is part of their session cookie: changing the
password, the role or the stores, or deactivating the user, bumps it and so
signs out every open session of that user. Sign-in, sign-out, lockout and
throttling are :mod:`.signin`'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from ..storage.clock import now_utc
from ..storage.store import NotFound, Store
from . import audit
from .access import ROLES, STORE_MANAGER, Actor, FormError
from .text import _

MIN_PASSWORD = 8
_USERNAME = re.compile(r"\A[A-Za-z0-9_.@-]{2,64}\Z")

_PUBLIC = ("id", "username", "role", "display_name", "language", "active", "created_at", "last_login_at")


def _check_password(password: str, errors: dict[str, str], field: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        errors[field] = _("The password must have at least %(n)d characters.", n=MIN_PASSWORD)


def _check_stores(db: Store, role: str, stores: Iterable[str], errors: dict[str, str]) -> list[str]:
    chosen = sorted(set(stores))
    known = {row["id"] for row in db.stores()}
    unknown = [s for s in chosen if s not in known]
    if unknown:
        errors["stores"] = _("Unknown stores: %(stores)s.", stores=", ".join(unknown))
    elif role == STORE_MANAGER and not chosen:
        errors["stores"] = _("A store manager needs at least one store.")
    return chosen


def add_user(
    db: Store,
    actor: Actor,
    username: str,
    password: str,
    role: str,
    *,
    display_name: str | None = None,
    stores: Iterable[str] = (),
) -> int:
    """Create a console user; :class:`FormError` names each wrong field. Returns the id."""
    actor.require("users.manage")
    errors: dict[str, str] = {}
    username = username.strip()
    if not _USERNAME.match(username):
        errors["username"] = _("Use 2 to 64 letters, digits and . _ @ - for the username.")
    elif db.console_user_id(username) is not None:
        errors["username"] = _("The username %(name)s is taken.", name=username)
    if role not in ROLES:
        errors["role"] = _("Choose a role.")
    _check_password(password, errors)
    chosen = _check_stores(db, role, stores, errors)
    if errors:
        raise FormError(errors)
    now = now_utc()
    with db.transaction() as conn:
        user_id = db.add_console_user(username, generate_password_hash(password), role, display_name or None, now)
        db.set_console_user_stores(user_id, chosen)
        audit.record(
            conn,
            actor,
            "user.add",
            "user",
            user_id,
            None,
            {"username": username, "role": role, "display_name": display_name, "stores": chosen},
        )
    return user_id


def get_user(db: Store, user_id: int) -> dict[str, Any]:
    user = db.console_user(user_id)
    if user is None:
        raise NotFound(f"no console user {user_id}")
    user["stores"] = db.console_user_stores(user_id)
    return user


def _public(user: dict[str, Any]) -> dict[str, Any]:
    return {k: user[k] for k in _PUBLIC} | {"stores": user.get("stores", [])}


def list_users(db: Store, actor: Actor) -> list[dict[str, Any]]:
    actor.require("users.manage")
    return [_public(get_user(db, ident)) for ident in db.console_user_ids()]


def user_id_by_name(db: Store, username: str) -> int:
    ident = db.console_user_id(username)
    if ident is None:
        raise NotFound(f"no console user {username}")
    return ident


def update_user(
    db: Store, actor: Actor, user_id: int, *, role: str, stores: Iterable[str], active: bool, display_name: str | None
) -> None:
    """Change a user's role, stores, name or activity; their open sessions end."""
    actor.require("users.manage")
    before = _public(get_user(db, user_id))
    errors: dict[str, str] = {}
    if role not in ROLES:
        errors["role"] = _("Choose a role.")
    chosen = _check_stores(db, role, stores, errors)
    if actor.id == user_id and (not active or role != before["role"]):
        errors["role"] = _("You cannot demote or deactivate yourself; ask another administrator.")
    if errors:
        raise FormError(errors)
    with db.transaction() as conn:
        db.update_console_user(user_id, role, active, display_name or None)
        db.set_console_user_stores(user_id, chosen)
        if not active:
            from .signin import end_user_sessions

            end_user_sessions(db, user_id)
        after = {**before, "role": role, "active": int(active), "display_name": display_name or None, "stores": chosen}
        audit.record(conn, actor, "user.update", "user", user_id, before, after)


def set_password(db: Store, actor: Actor, user_id: int, password: str, *, current: str | None = None) -> None:
    """Set a password: administrators for anyone, every user for themselves (with the current one)."""
    if actor.id != user_id:
        actor.require("users.manage")
    user = get_user(db, user_id)
    errors: dict[str, str] = {}
    if actor.id == user_id and current is not None and not check_password_hash(user["password_hash"], current):
        errors["current"] = _("The current password is wrong.")
    _check_password(password, errors)
    if errors:
        raise FormError(errors)
    with db.transaction() as conn:
        db.set_console_password(user_id, generate_password_hash(password), now_utc())
        from .signin import clear_failures

        clear_failures(db, user["username"])  # a new password ends a lockout
        # the hash itself never goes into the log
        audit.record(conn, actor, "user.password", "user", user_id, None, {"username": user["username"]})


def user_language(db: Store, user_id: int) -> str | None:
    """The console language a user chose (None: the browser's)."""
    return db.console_language(user_id)


def set_language(db: Store, user_id: int, language: str) -> None:
    with db.transaction():
        db.set_console_language(user_id, language)


def authenticate(db: Store, username: str, password: str, address: str = "local") -> dict[str, Any]:
    """The user for a right username and password; :class:`FormError` otherwise (see :mod:`.signin`).

    The console signs in with :func:`.signin.sign_in`, which also makes the server-side session.
    """
    from .signin import sign_in

    user, _token = sign_in(db, username, password, address, hours=1)
    return get_user(db, user["id"])


def actor_for(db: Store, user_id: int, session_version: int, *, scope: str = "shopped") -> Actor | None:
    """The actor of a session, or None when the session is no longer valid (password changed, deactivated)."""
    row = db.console_session_user(user_id)
    if row is None or not row["active"] or row["session_version"] != session_version:
        return None
    return Actor(user_id, row["username"], row["role"], frozenset(db.console_user_stores(user_id)), scope)
