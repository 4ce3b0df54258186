"""Bonus programs (``programs``): their rows, and the reads of central/points/programs.py on this connection."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..points import programs as points_programs
from .connection import Database


class BonusPrograms(Database):
    """The ``programs`` table."""

    def bonus_programs(self) -> list[dict[str, Any]]:
        """Every program, the default first (central/points/programs.py)."""
        return points_programs.programs(self.conn)

    def bonus_programs_with_points(self, home_stores: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Every program with the points outstanding, debts and customers holding points (a scan of the lots)."""
        return points_programs.with_outstanding(self.conn, home_stores)

    def programs_of_stores(self) -> tuple[dict[str, int], int]:
        """(store -> its program, the default program)."""
        return points_programs.store_programs(self.conn)

    def default_program(self) -> int:
        return points_programs.default_program(self.conn)

    def program_exists(self, program_id: int) -> bool:
        return self.conn.execute("SELECT 1 FROM programs WHERE id = ?", (program_id,)).fetchone() is not None

    def program_name_taken(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM programs WHERE name = ?", (name,)).fetchone() is not None

    def program_rate(self, program_id: int) -> str | None:
        """The program's points per unit of money (None: no such program)."""
        row = self.conn.execute("SELECT points_per_money FROM programs WHERE id = ?", (program_id,)).fetchone()
        return row[0] if row else None

    def program_settings(self, program_id: int) -> dict[str, Any] | None:
        """The program's ``name`` and ``points_per_money`` (None: no such program)."""
        row = self.conn.execute("SELECT name, points_per_money FROM programs WHERE id = ?", (program_id,)).fetchone()
        return None if row is None else {"name": row[0], "points_per_money": row[1]}

    def add_program(self, name: str, points_per_money: str, at: str) -> int:
        """A new program (in the caller's transaction); returns its id."""
        cur = self.conn.execute(
            "INSERT INTO programs (name, points_per_money, created_at) VALUES (?, ?, ?)", (name, points_per_money, at)
        )
        return int(cur.lastrowid or 0)

    def update_program(self, program_id: int, name: str, points_per_money: str) -> None:
        self.conn.execute(
            "UPDATE programs SET name = ?, points_per_money = ? WHERE id = ?", (name, points_per_money, program_id)
        )
