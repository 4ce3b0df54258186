"""Console users and their sign-in (``console_users``, ``console_user_stores``, ``console_sessions``,
``login_failures``). Passwords arrive hashed; every write runs in the caller's transaction."""

from __future__ import annotations

from typing import Any

from .connection import Database


class ConsoleUsers(Database):
    """The console's accounts, their stores, server-side sessions and failed sign-ins."""

    # -- accounts ----------------------------------------------------------------------------

    def console_user(self, user_id: int) -> dict[str, Any] | None:
        """Every column of the user's row; None when there is none."""
        rows = self.rows("SELECT * FROM console_users WHERE id = ?", (user_id,))
        return rows[0] if rows else None

    def console_user_id(self, username: str) -> int | None:
        row = self.conn.execute("SELECT id FROM console_users WHERE username = ?", (username,)).fetchone()
        return None if row is None else int(row[0])

    def console_user_ids(self) -> list[int]:
        """Every user's id, by username."""
        return [r[0] for r in self.conn.execute("SELECT id FROM console_users ORDER BY username")]

    def console_user_stores(self, user_id: int) -> list[str]:
        """The stores assigned to the user, sorted."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT store FROM console_user_stores WHERE user_id = ? ORDER BY store", (user_id,)
            )
        ]

    def add_console_user(self, username: str, password_hash: str, role: str, display_name: str | None, at: str) -> int:
        """A new user; its id."""
        cur = self.conn.execute(
            "INSERT INTO console_users (username, password_hash, role, display_name, created_at, password_changed_at)"
            " VALUES (?,?,?,?,?,?)",
            (username, password_hash, role, display_name, at, at),
        )
        return int(cur.lastrowid or 0)

    def set_console_user_stores(self, user_id: int, stores: list[str]) -> None:
        """The user's stores become these."""
        self.conn.execute("DELETE FROM console_user_stores WHERE user_id = ?", (user_id,))
        self.conn.executemany(
            "INSERT INTO console_user_stores (user_id, store) VALUES (?, ?)", [(user_id, s) for s in stores]
        )

    def update_console_user(self, user_id: int, role: str, active: bool, display_name: str | None) -> None:
        """A new role, activity and name; the user's ``session_version`` moves on (their cookies stop working)."""
        self.conn.execute(
            "UPDATE console_users SET role = ?, active = ?, display_name = ?, session_version = session_version + 1"
            " WHERE id = ?",
            (role, int(active), display_name, user_id),
        )

    def set_console_password(self, user_id: int, password_hash: str, at: str) -> None:
        """A new password: any lockout ends, and the ``session_version`` moves on."""
        self.conn.execute(
            "UPDATE console_users SET password_hash = ?, password_changed_at = ?, failed_logins = 0, locked_until ="
            " NULL,"
            " session_version = session_version + 1 WHERE id = ?",
            (password_hash, at, user_id),
        )

    def console_language(self, user_id: int) -> str | None:
        row = self.conn.execute("SELECT language FROM console_users WHERE id = ?", (user_id,)).fetchone()
        return row[0] if row else None

    def set_console_language(self, user_id: int, language: str) -> None:
        self.conn.execute("UPDATE console_users SET language = ? WHERE id = ?", (language, user_id))

    def console_session_user(self, user_id: int) -> dict[str, Any] | None:
        """What a session checks: ``username``, ``role``, ``active``, ``session_version``."""
        rows = self.rows("SELECT username, role, active, session_version FROM console_users WHERE id = ?", (user_id,))
        return rows[0] if rows else None

    def console_login(self, username: str) -> dict[str, Any] | None:
        """A sign-in's look at a user: ``id``, ``password_hash``, ``active``."""
        rows = self.rows("SELECT id, password_hash, active FROM console_users WHERE username = ?", (username,))
        return rows[0] if rows else None

    def signed_in_user(self, user_id: int) -> dict[str, Any]:
        """``id``, ``username``, ``role``, ``language``, ``session_version`` of a user who exists."""
        return self.rows(
            "SELECT id, username, role, language, session_version FROM console_users WHERE id = ?", (user_id,)
        )[0]

    def set_last_login(self, user_id: int, at: str) -> None:
        self.conn.execute("UPDATE console_users SET last_login_at = ? WHERE id = ?", (at, user_id))

    # -- failed sign-ins -------------------------------------------------------------------------

    def failures_from_address(self, address: str, since: str) -> int:
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM login_failures WHERE address = ? AND at > ?", (address, since)
            ).fetchone()[0]
        )

    def failures_of(self, username: str, address: str, since: str) -> int:
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM login_failures WHERE username = ? AND address = ? AND at > ?",
                (username, address, since),
            ).fetchone()[0]
        )

    def add_login_failure(self, address: str, username: str, at: str, forget_before: str) -> None:
        """One failed sign-in; those before ``forget_before`` are forgotten."""
        self.conn.execute("INSERT INTO login_failures (address, username, at) VALUES (?,?,?)", (address, username, at))
        self.conn.execute("DELETE FROM login_failures WHERE at < ?", (forget_before,))

    def clear_login_failures(self, username: str, address: str | None = None) -> None:
        """Forget the user's failed sign-ins (from one address, or from all)."""
        if address is None:
            self.conn.execute("DELETE FROM login_failures WHERE username = ?", (username,))
        else:
            self.conn.execute("DELETE FROM login_failures WHERE username = ? AND address = ?", (username, address))

    # -- sessions --------------------------------------------------------------------------------

    def add_console_session(
        self, id_hash: str, user_id: int, address: str, created_at: str, expires_at: str, forget_expired_before: str
    ) -> None:
        """A new session; sessions that expired before ``forget_expired_before`` are forgotten."""
        self.conn.execute("DELETE FROM console_sessions WHERE expires_at < ?", (forget_expired_before,))
        self.conn.execute(
            "INSERT INTO console_sessions (id_hash, user_id, address, created_at, expires_at) VALUES (?,?,?,?,?)",
            (id_hash, user_id, address, created_at, expires_at),
        )

    def console_session(self, id_hash: str) -> dict[str, Any] | None:
        """``user_id``, ``expires_at``, ``ended_at`` of a session."""
        rows = self.rows("SELECT user_id, expires_at, ended_at FROM console_sessions WHERE id_hash = ?", (id_hash,))
        return rows[0] if rows else None

    def end_console_session(self, id_hash: str, at: str) -> bool:
        """End a session; whether it was open."""
        cur = self.conn.execute(
            "UPDATE console_sessions SET ended_at = ? WHERE id_hash = ? AND ended_at IS NULL", (at, id_hash)
        )
        return bool(cur.rowcount)

    def end_console_sessions_of(self, user_id: int, at: str) -> None:
        """End every open session of a user."""
        self.conn.execute(
            "UPDATE console_sessions SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL", (at, user_id)
        )
