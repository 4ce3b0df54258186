"""The level program in the console: levels (name, spend threshold, percent), window, promotion, demotion.

Saving it publishes every store's current rule set again with the new
levels (so agents compute with them), audited. Customers move to their new
levels as their next purchase or refund syncs, and all of them at the next
nightly run (``loyalty-central nightly``).
"""

from __future__ import annotations

from typing import Any

from shared.numbers import PERCENT_DECIMALS, is_whole, parse_scaled

from ..storage.store import Store
from . import audit
from .access import Actor, FormError
from .formats import format_minor, parse_minor
from .rules import republish_all
from .rules_form import rows
from .text import _


def levels(db: Store) -> Any:
    """The level program's levels, lowest first (central/points/levels.py)."""
    return db.level_program().levels


def current(db: Store) -> dict[str, Any]:
    prog = db.level_program()
    return {
        "levels": [
            {"name": n, "from_spend": format_minor(s, "en").replace(",", ""), "percent": p} for n, s, p in prog.levels
        ],
        "window_days": prog.window_days,
        "auto": prog.auto,
        "demotion": prog.demotion,
    }


def save(db: Store, actor: Actor, form: Any) -> list[tuple[str, int]]:
    """Validate and store the program; returns the (store, version) of every rule set published again."""
    actor.require("levels.write")
    errors: dict[str, str] = {}
    levels: list[tuple[str, int, str]] = []
    names: set[str] = set()
    starts: set[int] = set()
    for row in rows(form, "levels"):
        i = row["_index"]
        name = (row.get("name") or "").strip()
        if not name or len(name) > 100:
            errors[f"levels-{i}-name"] = _("Write a name of 1 to 100 characters.")
        elif name in names:
            errors[f"levels-{i}-name"] = _("This name is already in the list above.")
        try:
            start = parse_minor(row.get("from_spend") or "")
            if start < 0:
                raise ValueError
        except ValueError:
            errors[f"levels-{i}-from_spend"] = _("Write an amount like 0 or 50000.")
            start = -1
        if start in starts:
            errors[f"levels-{i}-from_spend"] = _("Another level starts at the same spend.")
        percent = (row.get("percent") or "").strip().replace(",", ".")
        try:
            if parse_scaled(percent, PERCENT_DECIMALS) > 100 * 100:
                raise ValueError
        except ValueError:
            errors[f"levels-{i}-percent"] = _("Write a percent 0..100 with at most 2 decimals, like 5 or 2.5.")
        names.add(name)
        starts.add(start)
        levels.append((name, start, percent))
    window = (form.get("window_days") or "0").strip()
    if not is_whole(window, 4) or int(window) > 3660:
        errors["window_days"] = _("Write a number of days 0..3660 (0: all time).")
    if levels and min(s for _, s, _ in levels) != 0 and "levels" not in errors:
        errors["levels"] = _("The lowest level must start at 0, so every customer has a level.")
    if errors:
        raise FormError(errors)
    before = current(db)
    with db.transaction() as conn:
        db.replace_levels(levels, window, bool(form.get("auto")), bool(form.get("demotion")))
        audit.record(conn, actor, "levels.save", "levels", None, before, current(db))
    return republish_all(db, actor)
