"""One transaction's view of the database: every query of the store as a method."""

from __future__ import annotations

import sqlite3

from .admin import AdminQueries
from .customers import CustomerQueries
from .ledger import LedgerQueries
from .outbox import OutboxQueries
from .print_jobs import PrintJobQueries


class Tx(CustomerQueries, LedgerQueries, OutboxQueries, AdminQueries, PrintJobQueries):
    """Queries bound to a connection inside ``Store.read()`` or ``Store.write()``."""

    def __init__(self, conn: sqlite3.Connection, agent_id: str) -> None:
        self.c = conn
        self.agent_id = agent_id
        self.events_added = 0
