"""The points: the ledger (lots, debts, versions), the receipt log, bonus programs, levels and the nightly jobs."""
