"""The calculator facade: the Cython kernel when it is built, else the reference.

Chosen once, at import, in one place (the msgpack pattern)::

    LOYALTY_PUREPYTHON=1   -> always the pure-Python reference
    otherwise              -> native._accrual if it imports, else the reference
                              with one warning saying how to build the kernel

Use :func:`calculator` to bind an engine to a rule set; its ``quote`` and
``refund`` have the same signature and results in both engines.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from . import _accrual_py
from .rules import RuleSet

log = logging.getLogger("loyalty.accrual")

PythonCalculator = _accrual_py.Calculator
#: what a refund of a committed line counts against (a line sold with quantity 0 is one unit)
refund_units = _accrual_py.refund_units

#: "native" or "python": which engine :func:`calculator` uses
ENGINE: str
#: why that engine is active, for ``loyalty-agent doctor``
ENGINE_REASON: str

#: the Cython kernel's calculator class, or None when it is not built (or not wanted)
NativeCalculator: Any = None
if os.environ.get("LOYALTY_PUREPYTHON"):
    ENGINE, ENGINE_REASON = "python", "LOYALTY_PUREPYTHON is set"
else:
    try:
        from native._accrual import Calculator as _Native
    except ImportError as exc:
        ENGINE = "python"
        ENGINE_REASON = f"the Cython kernel is not built ({exc})"
        log.warning(
            "accrual: using the pure-Python reference calculator because %s; "
            "it gives the same results, slower. Build the kernel with a C compiler: "
            "pip install -e '.[dev]' (Debian: apt-get install build-essential python3-dev)",
            ENGINE_REASON,
        )
    else:
        NativeCalculator = _Native
        ENGINE, ENGINE_REASON = "native", "Cython kernel native._accrual"


def calculator(rules: RuleSet) -> PythonCalculator:
    """The active engine bound to ``rules`` (compile once per rule set, quote many times)."""
    if NativeCalculator is not None:
        native: PythonCalculator = NativeCalculator(rules)  # the same interface
        return native
    return PythonCalculator(rules)
