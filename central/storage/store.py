"""The central database's facade: :class:`Store` gathers the query classes, one per job.

``Store(path)`` opens a connection (central/storage/connection.py: transactions,
snapshots, migrations) with the methods of every job: settings, shops,
enrollment and broker users, the ingest's transaction and dead letters, card
status, rule sets, cashier messages, publish cursors. The names the rest of
central/ imports from here are re-exported below.
"""

from __future__ import annotations

from .cards import Cards
from .cashier_messages import CashierMessages
from .connection import Database, NotFound
from .cursors import PublishCursors
from .enrollment import TOKEN_TTL, Enrollment, EnrollmentError, hash_token, mosquitto_hash
from .ingest import DeadLetter, IngestQueries, IngestUnit
from .messages import MessageQueries
from .rule_sets import RuleSets
from .settings import Settings

__all__ = ["CUSTOMER_SCOPES", "TOKEN_TTL", "Database", "DeadLetter", "EnrollmentError", "IngestUnit", "NotFound", "Store",
           "hash_token", "mosquitto_hash"]

CUSTOMER_SCOPES = ("all", "visited")


class Store(Settings, Enrollment, IngestQueries, Cards, RuleSets, CashierMessages, PublishCursors, MessageQueries):
    """One connection to the central database, with the queries of every job."""
