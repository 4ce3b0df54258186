"""The level program (``levels`` and its ``settings``): read through central/points/levels.py, replaced whole."""

from __future__ import annotations

from collections.abc import Sequence

from ..points import levels as points_levels
from .connection import Database


class Levels(Database):
    """The ``levels`` table and the ``level_*`` settings."""

    def level_program(self) -> points_levels.Program:
        """The chain's level program: levels lowest first, window, promotion, demotion."""
        return points_levels.program(self.conn)

    def level_rows(self) -> list[tuple[str, int, str]]:
        """The levels as (name, from_spend, percent), lowest first."""
        return [
            (r[0], r[1], r[2])
            for r in self.conn.execute("SELECT name, from_spend, percent FROM levels ORDER BY from_spend")
        ]

    def replace_levels(
        self, levels: Sequence[tuple[str, int, str]], window_days: str, auto: bool, demotion: bool
    ) -> None:
        """The program becomes these (name, from_spend, percent) levels and settings (in the caller's transaction)."""
        self.conn.execute("DELETE FROM levels")
        self.conn.executemany("INSERT INTO levels (name, from_spend, percent) VALUES (?, ?, ?)", levels)
        for key, value in (
            ("level_window_days", window_days),
            ("level_auto", "1" if auto else "0"),
            ("level_demotion", "1" if demotion else "0"),
        ):
            self.conn.execute(
                "INSERT INTO settings (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (key, value),
            )
