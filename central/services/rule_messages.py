"""The rule-set validator's messages (shared/rules.py, shared/_validate.py, shared/numbers.py) in the user's language.

``shared/`` writes plain English (it has no I/O, so no gettext); the
console recognises each of its message shapes here and shows a translated
one with the same facts. A message with no known shape is shown as it is.
"""

from __future__ import annotations

import re

from .text import _


def N_(text: str) -> str:
    """Marks a template for extraction; it is translated (with its facts) when shown."""
    return text


#: (pattern of the English message, gettext template using the pattern's named groups)
PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), t)
    for p, t in (
        (r"\Amust be 0\.\.23, got (?P<got>.*)\Z", N_("An hour is 0..23 (not %(got)s).")),
        (
            r"\Amust be (?P<lo>[\d.]+)\.\.(?P<hi>[\d.]+) percent, got (?P<got>.*)\Z",
            N_("A percent from %(lo)s to %(hi)s (not %(got)s)."),
        ),
        (r"\Amust be (?P<lo>[\d.]+)\.\.(?P<hi>[\d.]+), got (?P<got>.*)\Z", N_("From %(lo)s to %(hi)s (not %(got)s).")),
        (
            r"\Amust be a non-negative decimal string like \"1\.5\", got (?P<got>.*)\Z",
            N_("Write a number like 1.5 (not %(got)s)."),
        ),
        (r"\Amust be a decimal string like \"1\.5\".*\Z", N_("Write a number like 1.5.")),
        (r"\Amust have at most (?P<n>\d+) decimals, got (?P<got>.*)\Z", N_("At most %(n)s decimals (not %(got)s).")),
        (r"\Amust not be negative, got (?P<got>.*)\Z", N_("Must not be negative (not %(got)s).")),
        (r"\Amust be an ISO weekday 1\.\.7.*\Z", N_("Choose weekdays from Monday to Sunday.")),
        (r"\Amust be a date \"YYYY-MM-DD\", got (?P<got>.*)\Z", N_("Write the date as YYYY-MM-DD (not %(got)s).")),
        (r"\Aanother tier already starts at (?P<n>\d+)\Z", N_("Another tier starts at the same amount.")),
        (
            r"\Anames must be non-empty strings of at most 100 characters\Z",
            N_("A name of 1 to 100 characters is needed."),
        ),
        (r"\Amust have at least 1 item\(s\)\Z", N_("Choose or write at least one.")),
        (r"\Ais required\Z", N_("This is required.")),
        (r"\Amust be an integer \(minor units\).*\Z", N_("Write a whole number.")),
        (r"\Amust be one of .*\Z", N_("Choose from the list.")),
        (r"\Amust be true or false.*\Z", N_("Write yes or no.")),
        (r"\Alevel (?P<name>.*) is defined twice\Z", N_("Level %(name)s is defined twice.")),
        (r"\Aanother level already starts at (?P<n>\d+)\Z", N_("Another level starts at the same spend.")),
        (r"\Aunknown time zone.*\Z", N_("Write an IANA time zone like Europe/Moscow.")),
    )
]


def translate(message: str) -> str:
    """The message in the request's language (the English original when its shape is unknown)."""
    for pattern, template in PATTERNS:
        match = pattern.match(message)
        if match:
            return _(template, **match.groupdict())
    return message
