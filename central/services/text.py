"""gettext for the console's service layer: translated in a web request, English elsewhere (the CLI).

``_("... %(n)d ...", n=3)`` formats with the parameters after translating;
``N_`` marks a message for extraction and translates it when shown (lazy).
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as N_

__all__ = ["N_", "_"]
