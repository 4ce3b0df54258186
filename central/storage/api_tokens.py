"""API tokens (``api_tokens``): only a token's hash is kept, with who made it, its last use and revocation."""

from __future__ import annotations

from typing import Any

from .connection import Database


class ApiTokens(Database):
    """The ``api_tokens`` table; writes run in the caller's transaction."""

    def add_api_token(self, name: str, token_hash: str, at: str, by: str) -> int:
        """A new token; its id."""
        cur = self.conn.execute(
            "INSERT INTO api_tokens (name, token_hash, created_at, created_by) VALUES (?,?,?,?)",
            (name, token_hash, at, by),
        )
        return int(cur.lastrowid or 0)

    def api_tokens(self) -> list[dict[str, Any]]:
        """Every token (live ones first, newest first), without hashes."""
        return self.rows(
            "SELECT id, name, created_at, created_by, last_used_at, revoked_at FROM api_tokens"
            " ORDER BY revoked_at IS NOT NULL, id DESC"
        )

    def api_token(self, token_id: int) -> dict[str, Any] | None:
        """A token's ``name`` and ``revoked_at``; None when there is none."""
        rows = self.rows("SELECT name, revoked_at FROM api_tokens WHERE id = ?", (token_id,))
        return rows[0] if rows else None

    def revoke_api_token(self, token_id: int, at: str) -> None:
        self.conn.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (at, token_id))

    def live_api_token(self, token_hash: str) -> dict[str, Any] | None:
        """The live (not revoked) token with this hash: ``id``, ``name``, ``last_used_at``."""
        rows = self.rows(
            "SELECT id, name, last_used_at FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL", (token_hash,)
        )
        return rows[0] if rows else None

    def touch_api_token(self, token_id: int, at: str) -> None:
        """The token was used now."""
        self.conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (at, token_id))
