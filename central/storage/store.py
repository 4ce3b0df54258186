"""The central database's facade: :class:`Store` gathers the query classes, one per job.

``Store(path)`` opens a connection (central/storage/connection.py: transactions,
snapshots, migrations) with the methods of every job: settings, shops,
enrollment and broker users, the ingest's transaction and dead letters, card
status, rule sets, cashier messages, publish cursors; and for the console's services:
card categories, store groups, bonus programs, the review of dead letters, debts and flags,
rule-set drafts, the product catalog, the level program, customer accounts, custom fields,
saved filters, personal percents, report figures, the audit log, jobs, API tokens, console
users and their sessions, the transaction list, the JSON API's totals, the customer list,
the customer import, the receipt import's look-ups and connection settings; segments and their
members; and for the sync: down-sync pages, a restored agent's repeats; and the nightly job's scans.
The names the rest of central/ imports from here are re-exported below.
"""

from __future__ import annotations

from .accounts import CustomerAccounts
from .api_tokens import ApiTokens
from .audit_log import AuditLog
from .card_categories import CardCategories
from .cards import Cards
from .cashier_messages import CashierMessages
from .catalog import Catalog
from .connection import Database, NotFound
from .console_users import ConsoleUsers
from .cursors import PublishCursors
from .custom_fields import CustomFields
from .customer_admin import CustomerAdmin
from .customer_deltas import CustomerDeltas
from .customer_import import CustomerImport
from .customer_list import CustomerList
from .enrollment import TOKEN_TTL, Enrollment, EnrollmentError, hash_token, mosquitto_hash
from .ingest import Consumed, DeadLetter, Flag, IngestQueries, IngestUnit
from .jobs import Jobs
from .levels import Levels
from .messages import MessageQueries, NoticeQueries
from .nightly import NightlyScans
from .partitions import PartitionQueries
from .percents import PersonalPercents
from .programs import BonusPrograms
from .promotions import PromotionQueries
from .receipt_import import ReceiptImportQueries
from .recovery import RecoveryLookups
from .redemption_codes import RedemptionCodes
from .report_queries import ReportRollups
from .reports import Reports
from .review import Review
from .rule_drafts import RuleDrafts
from .rule_sets import RuleSets
from .saved_filters import SavedFilters
from .segment_queries import SegmentQueries
from .settings import Settings
from .store_groups import StoreGroups
from .totals import Totals
from .transaction_list import TransactionList
from .triggers import TriggerQueries

__all__ = [
    "CUSTOMER_SCOPES",
    "TOKEN_TTL",
    "Consumed",
    "Database",
    "DeadLetter",
    "EnrollmentError",
    "Flag",
    "IngestUnit",
    "NotFound",
    "Store",
    "hash_token",
    "mosquitto_hash",
]

CUSTOMER_SCOPES = ("all", "visited")


class Store(
    Settings,
    Enrollment,
    IngestQueries,
    Cards,
    RuleSets,
    CashierMessages,
    PublishCursors,
    # the console's services (central/services/): one class per table or job
    CardCategories,
    StoreGroups,
    BonusPrograms,
    Review,
    RuleDrafts,
    Catalog,
    Levels,
    CustomerAccounts,
    CustomFields,
    SavedFilters,
    PersonalPercents,
    Reports,
    ReportRollups,
    AuditLog,
    Jobs,
    ApiTokens,
    ConsoleUsers,
    TransactionList,
    Totals,
    CustomerList,
    CustomerImport,
    ReceiptImportQueries,
    # the sync (central/sync/): down-sync pages, a restored agent's repeats
    CustomerDeltas,
    RecoveryLookups,
    # messages to customers (central/messages/), segments (central/services/segments.py)
    MessageQueries,
    NoticeQueries,
    RedemptionCodes,  # redemption confirmation codes (central/messages/confirmations.py)
    SegmentQueries,
    TriggerQueries,  # triggers (central/services/triggers.py)
    # the nightly job's scans (central/points/nightly.py)
    NightlyScans,
    CustomerAdmin,  # the web card and head office's customer writes (docs/web-card.md)
    PromotionQueries,  # promotions and promo codes (central/services/promotions.py)
    PartitionQueries,  # several ingest workers, once-only jobs (docs/scale.md)
):
    """One connection to the central database, with the queries of every job."""
