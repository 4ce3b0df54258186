"""Python's cycle collector paused around bulk work whose objects hold no cycles (docs/import-receipts.md,
"Speed"; docs/triggers.md): its full passes over an ever bigger heap of rows cost more than the work itself."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def without_gc() -> Iterator[None]:
    """The collector off for the block (a receipt import, a batch of due trigger runs, an entering); it runs
    again afterwards if it was on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
