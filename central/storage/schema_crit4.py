"""Migration 41: the facts of the promotion, promo code, trigger and message criteria (docs/segments.md).

* ``trigger_runs.furthest``: the furthest step (1..) the customer ever passed in the trigger, over all passes:
  a step back or a full restart clears the run's progress (``step``), not this. The trigger criterion's
  "passed step N" is ``furthest >= N`` and "never entered step N" its complement; ``save_runs`` keeps it
  (central/storage/triggers.py) in the same row write as the run's progress, so a wake-up batch writes nothing
  more (no index on it: "passed" reads the trigger's runs through the primary key). Filled from the runs'
  current step (what is known of the past).
* indexes by customer on ``promotion_results`` and ``promo_code_uses``: the per-customer evaluator reads a
  customer's rewards and accepted code uses on the ingest's event path (only when a dynamic segment uses the
  criterion); without them each read was a scan of the table.
"""

from __future__ import annotations

from typing import Any

CRIT4_MIGRATIONS: list[tuple[int, str, list[Any]]] = [
    (
        41,
        "segment criteria facts: the furthest step passed per trigger run; rewards and code uses by customer",
        [
            "ALTER TABLE trigger_runs ADD COLUMN furthest INTEGER NOT NULL DEFAULT 0",
            "UPDATE trigger_runs SET furthest = step",
            "CREATE INDEX promotion_results_customer ON promotion_results (customer_id, promotion_id)"
            " WHERE customer_id IS NOT NULL",
            "CREATE INDEX promo_code_uses_customer ON promo_code_uses (customer_id, list_id)"
            " WHERE customer_id IS NOT NULL AND accepted = 1",
        ],
    ),
]
