"""Migration 13: promotions and promo codes (docs/promotions.md).

* ``promotions``: one row per promotion, its document (shared/promotions.py's JSON form) and state
  (draft, active, stopped); only active ones go to the agents;
* ``promo_code_lists`` and ``promo_codes``: a list's settings (its HMAC key derived from the chain's secret,
  shared/promo_codes.py) and its codes with their use count (``uses < max_uses`` is the atomic condition);
* ``promo_code_uses``: every use the agents reported, ``accepted`` 0 for a use past ``max_uses`` (two stores
  offline with the same single-use code: both receipts stand, the second is the list's conflict);
* ``promotion_results``: one row per (promotion, receipt): points, discount and the receipt's sales;
* ``promotion_publish``: the promotions version each store's agents were last sent.
"""

from __future__ import annotations

PROMOTIONS_MIGRATIONS = [
    (
        13,
        "promotions and promo codes: promotions, code lists, codes, uses and conflicts, results, publish cursor",
        [
            """CREATE TABLE promotions (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                document TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'draft',
                created_by TEXT NOT NULL,
                created_at TEXT NOT NULL,
                changed_by TEXT NOT NULL,
                changed_at TEXT NOT NULL)""",
            """CREATE TABLE promo_code_lists (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                kind TEXT NOT NULL,
                max_uses INTEGER NOT NULL,
                starts TEXT,
                ends TEXT,
                offline TEXT NOT NULL,
                offline_limit INTEGER NOT NULL,
                prefix TEXT NOT NULL,
                body_length INTEGER NOT NULL,
                tag_length INTEGER NOT NULL,
                check_char INTEGER NOT NULL,
                uploaded INTEGER NOT NULL,
                stores TEXT,
                created_by TEXT NOT NULL,
                created_at TEXT NOT NULL)""",
            """CREATE TABLE promo_codes (
                code TEXT PRIMARY KEY,
                list_id TEXT NOT NULL,
                max_uses INTEGER NOT NULL,
                uses INTEGER NOT NULL DEFAULT 0,
                customer_id TEXT)""",
            "CREATE INDEX promo_codes_list ON promo_codes (list_id)",
            """CREATE TABLE promo_code_uses (
                id INTEGER PRIMARY KEY,
                code TEXT NOT NULL,
                list_id TEXT,
                store TEXT NOT NULL,
                agent TEXT NOT NULL,
                receipt_id TEXT NOT NULL,
                customer_id TEXT,
                at TEXT NOT NULL,
                day TEXT NOT NULL,
                accepted INTEGER NOT NULL)""",
            "CREATE INDEX promo_code_uses_list ON promo_code_uses (list_id, day)",
            "CREATE INDEX promo_code_uses_code ON promo_code_uses (code)",
            """CREATE TABLE promotion_results (
                id INTEGER PRIMARY KEY,
                promotion_id TEXT NOT NULL,
                store TEXT NOT NULL,
                receipt_id TEXT NOT NULL,
                customer_id TEXT,
                day TEXT NOT NULL,
                points INTEGER NOT NULL,
                discount INTEGER NOT NULL,
                sales INTEGER NOT NULL)""",
            "CREATE INDEX promotion_results_promotion ON promotion_results (promotion_id, day)",
            """CREATE TABLE promotion_publish (
                store TEXT PRIMARY KEY,
                version INTEGER NOT NULL)""",
        ],
    ),
]
