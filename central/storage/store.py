"""The central database's facade: :class:`Store` gathers the query classes, one per job.

``Store(path)`` opens a connection (central/storage/connection.py: transactions,
snapshots, migrations) with the methods of every job: settings, shops,
enrollment and broker users, the ingest's transaction and dead letters, card
status, rule sets, cashier messages, publish cursors; and for the console's services:
card categories, store groups, bonus programs, the review of dead letters, debts and flags,
rule-set drafts, the product catalog, the level program, customer accounts, custom fields,
saved filters, personal percents, report figures. The names the rest of
central/ imports from here are re-exported below.
"""

from __future__ import annotations

from .accounts import CustomerAccounts
from .card_categories import CardCategories
from .cards import Cards
from .cashier_messages import CashierMessages
from .catalog import Catalog
from .connection import Database, NotFound
from .cursors import PublishCursors
from .custom_fields import CustomFields
from .enrollment import TOKEN_TTL, Enrollment, EnrollmentError, hash_token, mosquitto_hash
from .ingest import Consumed, DeadLetter, Flag, IngestQueries, IngestUnit
from .levels import Levels
from .percents import PersonalPercents
from .programs import BonusPrograms
from .reports import Reports
from .review import Review
from .rule_drafts import RuleDrafts
from .rule_sets import RuleSets
from .saved_filters import SavedFilters
from .settings import Settings
from .store_groups import StoreGroups

__all__ = ["CUSTOMER_SCOPES", "TOKEN_TTL", "Consumed", "Database", "DeadLetter", "EnrollmentError", "Flag",
           "IngestUnit", "NotFound", "Store", "hash_token", "mosquitto_hash"]

CUSTOMER_SCOPES = ("all", "visited")


class Store(Settings, Enrollment, IngestQueries, Cards, RuleSets, CashierMessages, PublishCursors,
            # the console's services (central/services/): one class per table or job
            CardCategories, StoreGroups, BonusPrograms, Review, RuleDrafts, Catalog, Levels, CustomerAccounts,
            CustomFields, SavedFilters, PersonalPercents, Reports):
    """One connection to the central database, with the queries of every job."""
