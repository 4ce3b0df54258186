"""Settings kept in the central database (the console's secret key, the central server's broker password)."""

from __future__ import annotations

import secrets

from .connection import Database


class Settings(Database):
    """The ``settings`` table."""

    def setting(self, name: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return row[0] if row else default

    def set_setting(self, name: str, value: str) -> None:
        with self.transaction():
            self.replace_setting(name, value)

    def replace_setting(self, name: str, value: str) -> None:
        """Set ``name`` to ``value``, in the caller's transaction."""
        self.conn.execute(
            "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def add_setting_if_missing(self, name: str, value: str) -> None:
        """Keep ``value`` unless the setting has one already (in the caller's transaction: two processes starting
        at once agree on the first)."""
        self.conn.execute("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING", (name, value))

    def central_credentials(self) -> tuple[str, str]:
        """The central server's own broker username and password (made on first use)."""
        password = self.setting("mqtt_central_password")
        if password is None:
            password = secrets.token_urlsafe(24)
            self.set_setting("mqtt_central_password", password)
        return self.setting("mqtt_central_username", "central") or "central", password

    def dynsec_admin_credentials(self, central_user: str) -> tuple[str, str]:
        """The login that manages the broker's dynamic security (central/sync/dynsec.py), made on first use."""
        password = self.setting("mqtt_admin_password")
        if password is None:
            password = secrets.token_urlsafe(24)
            self.set_setting("mqtt_admin_password", password)
        return f"{central_user}-admin", password
