"""Small readers that validate JSON-like data and collect every problem at its path.

Used by the rule-set and receipt parsers so that a bad document is reported
whole ("time_rules[2].to_hour: must be 0..23", one line per problem) rather
than one problem at a time or as a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .errors import Problem
from .numbers import parse_scaled

_MISSING: Any = object()


def key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def index_path(path: str, index: int) -> str:
    return f"{path}[{index}]"


class Collector:
    """Collects problems; each ``read_*`` returns the value, or ``None`` after recording a problem."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def object(
        self,
        value: Any,
        path: str,
        *,
        required: Iterable[str] = (),
        optional: Iterable[str] = (),
    ) -> Mapping[str, Any] | None:
        """A JSON object with exactly the given keys allowed (unknown keys are typos)."""
        if not isinstance(value, Mapping):
            self.add(path, f"must be an object, not {_json_type(value)}")
            return None
        required = tuple(required)
        allowed = set(required) | set(optional)
        for key in required:
            if key not in value:
                self.add(key_path(path, key), "is required")
        for key in value:
            if key not in allowed:
                self.add(
                    key_path(path, str(key)),
                    "unknown field (allowed: " + ", ".join(sorted(allowed)) + ")",
                )
        return value

    def list(self, value: Any, path: str, *, min_items: int = 0, max_items: int | None = None) -> list[Any] | None:
        if not isinstance(value, list):
            self.add(path, f"must be a list, not {_json_type(value)}")
            return None
        if len(value) < min_items:
            self.add(path, f"must have at least {min_items} item(s)")
            return None
        if max_items is not None and len(value) > max_items:
            self.add(path, f"must have at most {max_items} items, got {len(value)}")
            return None
        return value

    def integer(self, value: Any, path: str, lo: int, hi: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(path, f"must be an integer (minor units), not {_json_type(value)}")
            return None
        if not lo <= value <= hi:
            self.add(path, f"must be {lo}..{hi}, got {value}")
            return None
        return value

    def decimal(self, value: Any, path: str, decimals: int, lo: int, hi: int, unit: str = "") -> int | None:
        """A decimal string parsed to an integer scaled by 10**decimals, within [lo, hi] (scaled)."""
        try:
            scaled = parse_scaled(value, decimals)
        except ValueError as exc:
            self.add(path, str(exc))
            return None
        if not lo <= scaled <= hi:
            from .numbers import format_scaled

            self.add(
                path,
                f"must be {format_scaled(lo, decimals)}..{format_scaled(hi, decimals)}{unit}, got {value!r}",
            )
            return None
        return scaled

    def string(self, value: Any, path: str, *, max_length: int = 200) -> str | None:
        if not isinstance(value, str):
            self.add(path, f"must be a string, not {_json_type(value)}")
            return None
        if not value.strip():
            self.add(path, "must not be empty")
            return None
        if len(value) > max_length:
            self.add(path, f"must be at most {max_length} characters")
            return None
        return value

    def boolean(self, value: Any, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.add(path, f"must be true or false, not {_json_type(value)}")
            return None
        return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, float):
        return "a fractional number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
