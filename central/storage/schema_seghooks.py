"""Migration 43: the customers whose segment answers a big batch changed, kept until the engine follows them
(docs/segments.md, "Keeping dynamic segments current").

A write that changes many customers at once (the nightly expiry and levels, a file import) adds a row per
customer to ``segment_pending`` in its own transaction, with the cause to record (``expiry``, ``level``,
``import``) and the changes it made (``points``, ``level``..., comma-separated); the engine then follows them in
one set-based pass and deletes the rows in that pass's transaction
(central/marketing/engine.py ``follow_pending``). A crash between the two loses nothing: the rows wait for the
next pass (the segments' clock looks every minute).

It also logs a card's former holder in ``segment_dirty`` when the card moves to another customer (a reassignment,
a merge): migration 27's trigger logged only the new holder, so the column snapshot kept "has a card" for the
former one until something else about them changed.
"""

from __future__ import annotations

from .portable import PerBackend

_FORMER = "key FROM customer_keys WHERE customer_id = OLD.customer_id"

SEGHOOKS_MIGRATIONS = [
    (
        43,
        "segments: the customers a big batch changed, until the engine follows them",
        [
            """CREATE TABLE segment_pending (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                key INTEGER NOT NULL,
                cause TEXT NOT NULL,
                changes TEXT NOT NULL)""",
            PerBackend(
                "CREATE TRIGGER segment_dirty_cards_moved AFTER UPDATE OF customer_id ON cards"
                " WHEN OLD.customer_id IS NOT NEW.customer_id"
                f" BEGIN INSERT INTO segment_dirty (key) SELECT {_FORMER}; END",
                None,
            ),
            PerBackend(
                None,
                "CREATE FUNCTION segment_dirty_former_holder() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                f" INSERT INTO segment_dirty (key) SELECT {_FORMER}; RETURN NULL; END $$",
            ),
            PerBackend(
                None,
                "CREATE TRIGGER segment_dirty_cards_moved AFTER UPDATE OF customer_id ON cards FOR EACH ROW"
                " WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id)"
                " EXECUTE FUNCTION segment_dirty_former_holder()",
            ),
        ],
    ),
]
