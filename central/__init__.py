"""The central server: the chain's ledger, sync ingest and head-office console."""
