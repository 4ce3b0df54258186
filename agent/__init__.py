"""The store agent: POS API, cashier page, local SQLite, outbox, devices."""
