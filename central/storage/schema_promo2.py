"""Migration 26: personal promo codes and online code reservations (docs/promotions.md).

* ``promo_codes.issued_at``: when a personal list's code was issued to its customer (``customer_id``, in
  migration 13 already); the index finds a customer's codes for their delta;
* ``promo_code_reservations``: a code reserved by a till online before its commit (docs/sync.md, "Code
  reservations"). A held reservation counts in the code's ``uses`` (the same conditional update as a use);
  the purchase event that carries the code confirms it once (``held`` -> ``confirmed``); one not confirmed
  by ``expires_at`` is released (``expired``, ``uses - 1``) when the code is next reserved or used.
"""

from __future__ import annotations

PROMO2_MIGRATIONS = [
    (
        26,
        "personal promo codes (issued_at, by customer) and online code reservations",
        [
            "ALTER TABLE promo_codes ADD COLUMN issued_at TEXT",
            "CREATE INDEX promo_codes_customer ON promo_codes (customer_id)",
            """CREATE TABLE promo_code_reservations (
                id INTEGER PRIMARY KEY,
                code TEXT NOT NULL,
                store TEXT NOT NULL,
                agent TEXT NOT NULL,
                receipt_id TEXT NOT NULL,
                customer_id TEXT,
                state TEXT NOT NULL,
                created_at TEXT NOT NULL,
                expires_at TEXT NOT NULL)""",
            "CREATE INDEX promo_code_reservations_code ON promo_code_reservations (code, state)",
            "CREATE INDEX promo_code_reservations_receipt ON promo_code_reservations (store, receipt_id)",
        ],
    ),
]
