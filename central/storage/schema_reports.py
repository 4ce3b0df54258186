"""Migration 11: the report rollups (central/storage/rollups.py), built from the transactions already stored."""

from __future__ import annotations

from typing import Any

from . import rollups

REPORTS_MIGRATIONS: list[tuple[int, str, list[Any]]] = [
    (
        11,
        "report rollups per local day, store, category, level and hour (kept with the ledger), built from history",
        [*rollups.MIGRATION, rollups.backfill],
    ),
]
