"""Migration 34: custom questionnaire fields the customer may edit on the web card (docs/web-card.md).

* ``custom_fields.customer_edit``: 1 when head office offers the field on the customer's own questionnaire
  (``/card/profile``); 0 (the default, every field defined before) keeps it head office's only.
"""

from __future__ import annotations

PROMOREST_MIGRATIONS = [
    (
        34,
        "custom questionnaire fields the customer may edit on the web card",
        ["ALTER TABLE custom_fields ADD COLUMN customer_edit INTEGER NOT NULL DEFAULT 0"],
    ),
]
