"""API tokens for monitoring and integrations (``Authorization: Bearer <token>``).

An administrator makes one in the console (Users -> API tokens) or with
``loyalty-central tokens add NAME``; the token is shown once and only its
SHA-256 is kept (a token is 256 random bits, so a plain hash is enough: no
salt or slow hash is needed against guessing). A token reads the JSON API
(``/api/v1/stores/status``, totals, flags, dead letters) for the whole chain
and writes nothing. Making and revoking one are audited; the last use is
kept (at most once a minute).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from ..storage.clock import now_utc
from ..storage.store import NotFound, Store
from . import audit
from .access import Actor, FormError
from .text import _

PREFIX = "lct_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_token(db: Store, actor: Actor, name: str) -> tuple[int, str]:
    """A new token named ``name``: (its id, the token itself -- shown once, never stored)."""
    actor.require("tokens.manage")
    name = (name or "").strip()
    if not name or len(name) > 80 or not name.isprintable():
        raise FormError({"name": _("Name the token (1 to 80 characters), e.g. what uses it.")})
    token = PREFIX + secrets.token_urlsafe(32)
    with db.transaction() as conn:
        ident = db.add_api_token(name, _hash(token), now_utc(), actor.username)
        audit.record(conn, actor, "token.add", "api_token", ident, None, {"name": name})
    return ident, token


def list_tokens(db: Store, actor: Actor) -> list[dict[str, Any]]:
    actor.require("tokens.manage")
    return db.api_tokens()


def revoke_token(db: Store, actor: Actor, ident: int) -> None:
    """The token stops working at once."""
    actor.require("tokens.manage")
    with db.transaction() as conn:
        row = db.api_token(ident)
        if row is None:
            raise NotFound(f"no API token {ident}")
        if row["revoked_at"] is not None:
            return
        db.revoke_api_token(ident, now_utc())
        audit.record(conn, actor, "token.revoke", "api_token", ident, {"name": row["name"]}, {"revoked": True})


def check_token(db: Store, token: str) -> dict[str, Any] | None:
    """The token's row when it is a live token, else None."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = db.live_api_token(_hash(token))
    if row is None:
        return None
    now = dt.datetime.now(dt.UTC)
    if not row["last_used_at"] or dt.datetime.fromisoformat(row["last_used_at"]) < now - dt.timedelta(minutes=1):
        with db.transaction():
            db.touch_api_token(row["id"], now_utc())
    return row
