"""Segments' pure domain (no Flask, no SQLite): definitions (``definition.py``), the per-customer
evaluator (``evaluate.py``) and RFM scoring (``rfm.py``). docs/segments.md says how it fits."""

from .definition import CRITERIA, Criterion, Definition, DefinitionError, Period, Problem, parse_definition
from .evaluate import Context, Day, Facts, Item, Points, evaluate, next_flip

__all__ = [
    "CRITERIA",
    "Context",
    "Criterion",
    "Day",
    "Definition",
    "DefinitionError",
    "Facts",
    "Item",
    "Period",
    "Points",
    "Problem",
    "evaluate",
    "next_flip",
    "parse_definition",
]
