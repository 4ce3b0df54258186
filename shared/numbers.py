"""Exact decimal strings and their scaled-integer form.

The rule set writes percents, coefficients and quantities as decimal strings
("2.5", "1.125"). They are parsed once into integers scaled by a power of ten
and never touch binary floating point. The scales and the documented ranges
below are what the calculator (both engines) is proven not to overflow on;
see docs/accrual.md.
"""

from __future__ import annotations

import re

#: percent: 2 decimals -> x100 ("2.5" -> 250)
PERCENT_DECIMALS = 2
PERCENT_SCALE = 100
#: coefficient k: 3 decimals -> x1000 ("1.5" -> 1500)
K_DECIMALS = 3
K_SCALE = 1000
#: quantity: 3 decimals -> x1000 ("0.455" -> 455)
QUANTITY_DECIMALS = 3
QUANTITY_SCALE = 1000
#: points_per_money: 3 decimals -> x1000
PPM_DECIMALS = 3
PPM_SCALE = 1000

# Documented ranges (docs/accrual.md, "Ranges").
MAX_AMOUNT = 10**10  # a line amount, and a receipt total, in minor units
MAX_PERCENT = 100 * PERCENT_SCALE
MAX_K = 100 * K_SCALE
MAX_PPM = 9 * PPM_SCALE
MAX_QUANTITY = 10**6 * QUANTITY_SCALE
MAX_LINES = 10_000
MAX_CAMPAIGNS = 5
MAX_POINTS = 2**63 - 1  # int64: the kernel's and SQLite's integer

_DECIMAL = re.compile(r"\A([0-9]+)(?:\.([0-9]+))?\Z")


def parse_scaled(value: object, decimals: int) -> int:
    """Parse a non-negative decimal string (or int) into an integer scaled by 10**decimals.

    >>> parse_scaled("2.5", 3)
    2500

    :raises ValueError: with a message fit to show after the field's path.
    """
    if isinstance(value, bool):
        raise ValueError(f'must be a decimal string like "1.5", not {value!r}')
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"must not be negative, got {value}")
        return value * 10**decimals
    if isinstance(value, float):
        raise ValueError(f'must be a decimal string like "1.5", not the number {value!r} (binary floats are not exact)')
    if not isinstance(value, str):
        raise ValueError(f'must be a decimal string like "1.5", not {type(value).__name__}')
    match = _DECIMAL.match(value)
    if match is None:
        raise ValueError(f'must be a non-negative decimal string like "1.5", got {value!r}')
    whole, frac = match.group(1), match.group(2) or ""
    if len(frac) > decimals:
        raise ValueError(f"must have at most {decimals} decimals, got {value!r}")
    return int(whole) * 10**decimals + int(frac.ljust(decimals, "0") or "0")


def is_whole(text: object, max_digits: int = 18) -> bool:
    """Plain ASCII digits, 1 to ``max_digits`` of them: a typed whole number ``int()`` takes and int64 holds
    (18 digits). ``str.isdigit()`` is no such check: ``"²".isdigit()`` and ``"٣".isdigit()`` are true, and
    ``int("²")`` fails while ``int("٣")`` is 3; and 20 digits overflow the database's integer."""
    return isinstance(text, str) and 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def format_scaled(value: int, decimals: int) -> str:
    """The shortest decimal string of a scaled integer: format_scaled(2500, 3) == "2.5"."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**decimals)
    if decimals == 0:
        return f"{sign}{whole}"
    text = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{sign}{whole}.{text}" if text else f"{sign}{whole}"
