"""Terminal API keys: made here, shown once, stored only as a sha256 hash.

A key is ``lk_`` + 43 characters of URL-safe base64 (32 random bytes). The
POS software sends it as ``Authorization: Bearer KEY``. The cashier page
served by the agent uses the same scheme: the page asks for its terminal's
key once and keeps it in the browser's localStorage (docs/agent.md).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from .store import Store

KEY_PREFIX = "lk_"
_TERMINAL_ID = re.compile(r"\A[A-Za-z0-9_.-]{1,64}\Z")


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """How keys are stored and looked up."""
    return hashlib.sha256(key.encode()).hexdigest()


def add_terminal(store: Store, terminal: str, name: str | None = None) -> str:
    """Give ``terminal`` a new key (replacing any old one) and return the key: shown once, never stored."""
    if not _TERMINAL_ID.match(terminal):
        raise ValueError(f"terminal id {terminal!r} should be 1..64 letters, digits, '_', '-' or '.'")
    key = new_key()
    with store.write() as tx:
        tx.add_terminal(terminal, name, hash_key(key), store.clock())
    return key


def revoke_terminal(store: Store, terminal: str) -> bool:
    """Revoke a terminal's key at once; False if it had no active key."""
    with store.write() as tx:
        return tx.revoke_terminal(terminal, store.clock())
