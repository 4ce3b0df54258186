"""Migration 12: multi-step triggers (docs/triggers.md).

* ``triggers`` and ``trigger_versions``: editing a trigger that has run makes a new version; runs keep
  the version they entered with.
* ``trigger_runs``: one row per (trigger, customer): version, step, phase, pass, since, the pass's start,
  when the conditions held, the full-restart moment and the wake-up, with a partial index on the wake-up
  (only runs with something to wait for are in it) popped by the engine.
* ``trigger_events``: the events outbox, written in the ingest's transaction, read by the engine from
  its cursor (``counters``' ``trigger_events``); step conditions read a customer's events since a moment.
* ``trigger_actions``: the exactly-once register, keyed (trigger, version, customer, step, pass, action);
  written in the same transaction as the action's effect and the run's progress.
* ``trigger_stats``: per step, customers who entered it and actions done.
"""

from __future__ import annotations

from .portable import WITHOUT_ROWID

TRIGGER_MIGRATIONS = [
    (
        12,
        "triggers: versions, per-customer runs, the events outbox, the exactly-once register, statistics",
        [
            """CREATE TABLE triggers (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                owner_store TEXT NOT NULL,
                grp TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'draft',
                version INTEGER NOT NULL DEFAULT 1,
                ran INTEGER NOT NULL DEFAULT 0,
                started_at TEXT,
                slot TEXT,
                slot_count INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                updated_by TEXT NOT NULL)""",
            """CREATE TABLE trigger_versions (
                trigger_id INTEGER NOT NULL,
                version INTEGER NOT NULL,
                document TEXT NOT NULL,
                created_at TEXT NOT NULL,
                created_by TEXT NOT NULL,
                PRIMARY KEY (trigger_id, version))""",
            """CREATE TABLE trigger_runs (
                trigger_id INTEGER NOT NULL,
                customer_key INTEGER NOT NULL,
                version INTEGER NOT NULL,
                step INTEGER NOT NULL,
                phase TEXT NOT NULL,
                pass_no INTEGER NOT NULL,
                since TEXT NOT NULL,
                started TEXT NOT NULL,
                held_at TEXT,
                restart_at TEXT,
                wake_at TEXT,
                PRIMARY KEY (trigger_id, customer_key))"""
            + WITHOUT_ROWID,
            "CREATE INDEX trigger_runs_wake ON trigger_runs (trigger_id, wake_at) WHERE wake_at IS NOT NULL",
            "CREATE INDEX trigger_runs_customer ON trigger_runs (customer_key)",
            "CREATE INDEX trigger_runs_step ON trigger_runs (trigger_id, step, phase)",
            """CREATE TABLE trigger_events (
                id INTEGER PRIMARY KEY,
                customer_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                at TEXT NOT NULL,
                store TEXT,
                amount INTEGER NOT NULL DEFAULT 0,
                ref TEXT,
                detail TEXT,
                categories TEXT,
                products TEXT,
                points_in INTEGER NOT NULL DEFAULT 0,
                points_out INTEGER NOT NULL DEFAULT 0)""",
            "CREATE INDEX trigger_events_customer ON trigger_events (customer_id, at)",
            """CREATE TABLE trigger_actions (
                trigger_id INTEGER NOT NULL,
                version INTEGER NOT NULL,
                customer_key INTEGER NOT NULL,
                step INTEGER NOT NULL,
                pass_no INTEGER NOT NULL,
                action INTEGER NOT NULL,
                kind TEXT NOT NULL,
                done_at TEXT NOT NULL,
                PRIMARY KEY (trigger_id, customer_key, version, step, pass_no, action))"""
            + WITHOUT_ROWID,
            """CREATE TABLE trigger_stats (
                trigger_id INTEGER NOT NULL,
                step INTEGER NOT NULL,
                entered INTEGER NOT NULL DEFAULT 0,
                actions INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (trigger_id, step))""",
        ],
    ),
]
