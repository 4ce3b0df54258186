"""The nightly job: temporary points burn at their expiry, and every customer's level is recomputed.

Expiry: each lot whose ``expires_at`` has passed and that still holds
points is burnt -- its points go to 0 with a ledger entry ``expire`` (and a
transaction row, for the liability and the transactions page), the
customer's balance drops by as much, and the customer gets a new version so
the agents see the lot gone. Points already spent from a lot are not burnt
(spending takes temporary points first, earliest expiry first). Running it
twice burns nothing twice: a burnt lot holds 0.

Personal percents: a network or store percent whose end has come (``ends_at``, set by a trigger's
``percent`` action "until a date" or "for N days": docs/triggers.md) is removed, with an audit row
``customer.percents_ended`` and a new customer version, all in one transaction: the next delta takes it
off the tills (which already ignore a percent past its end, docs/sync.md). A second run finds nothing.

Triggers: the events outbox's rows the engine has read and older than ``trigger_events_retention_days``
(a setting; default 400 days) are deleted (docs/triggers.md).

Levels: :func:`central.points.levels.recompute` for every customer, in chunks --
thresholds may have changed, a rolling window lets old receipts fall out,
and demotion (if the program allows it) happens here.

``loyalty-central nightly`` runs it once; ``serve`` runs it every day at
NIGHTLY_HOUR (CONSOLE_TIMEZONE) on a thread, remembering the last run in
``settings`` so a restart does not run it twice in a day.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import zoneinfo
from dataclasses import dataclass

from ..daemon import DaemonThread
from ..marketing import engine as segments
from ..marketing import trigger_engine as triggers
from ..storage.audit_log import add_audit_row
from ..storage.clock import now_utc, utc
from ..storage.store import Store
from .ledger import LedgerBatch
from .levels import recompute
from .versions import VersionCounter, bump_versions

log = logging.getLogger(__name__)
CHUNK = 2000


@dataclass
class NightlyReport:
    lots_expired: int = 0
    points_burnt: int = 0
    customers_checked: int = 0
    level_changes: int = 0
    promotions: int = 0
    demotions: int = 0
    trigger_events_pruned: int = 0
    percents_ended: int = 0


def expire_lots(db: Store, now: str | None = None) -> tuple[int, int]:
    """Burn every expired lot that still holds points; returns (lots, points)."""
    now = now or now_utc()
    lots = points = 0
    while True:
        due = db.expired_lots(now, CHUNK)
        if not due:
            return lots, points
        with db.transaction() as conn:
            batch = LedgerBatch(conn, now)
            burnt_customers = set()
            for lot_id, customer_id, home_store in due:
                op = {"id": f"expire-{lot_id}", "at": now, "store": None}
                burnt = batch.expire(customer_id, lot_id, op)
                if burnt:
                    batch.receipts.operation(
                        "expire",
                        customer_id,
                        -burnt,
                        now,
                        store=home_store,
                        event_id=op["id"],
                        channel="nightly",
                        detail={"lot": lot_id},
                    )
                    lots += 1
                    points += burnt
                    burnt_customers.add(customer_id)
            segments.follow_later(conn, burnt_customers, {"points"}, "expiry")  # followed at the job's end
            counter = VersionCounter(conn)
            batch.flush(counter)
            counter.save()


def expire_percents(db: Store, now: str | None = None) -> int:
    """Remove every personal percent whose end has come; returns how many customers lost one.

    Each chunk's removals, audit rows and new versions are one transaction (a crash repeats or loses none).
    """
    now = now or now_utc()
    customers = 0
    while True:
        with db.transaction() as conn:
            due = db.ended_percent_customers(now, CHUNK)
            changed = []
            for customer_id, home_store in due:
                before, after = db.clear_ended_percents(customer_id, now)
                if before == after:
                    continue
                changed.append(customer_id)
                add_audit_row(
                    conn,
                    now,
                    None,
                    "nightly",
                    "customer.percents_ended",
                    "customer",
                    customer_id,
                    home_store,
                    json.dumps(before, sort_keys=True),
                    json.dumps(after, sort_keys=True),
                )
            if changed:
                bump_versions(conn, changed)
        customers += len(changed)
        if len(due) < CHUNK:
            return customers


def recompute_levels(db: Store, now: str | None = None) -> tuple[int, int, int, int]:
    """Every customer's level from spend; returns (checked, changes, promotions, demotions)."""
    now = now or now_utc()
    prog = db.level_program()
    checked = changes = up = down = 0
    if not prog.levels or not prog.auto:
        return 0, 0, 0, 0
    after = ""
    while True:
        ids = db.customer_ids_after(after, CHUNK)
        if not ids:
            return checked, changes, up, down
        after = ids[-1]
        with db.transaction() as conn:
            moved = recompute(conn, ids, now)
            if moved:
                bump_versions(conn, [cid for cid, _, _ in moved])
                segments.follow_later(conn, [cid for cid, _, _ in moved], {"level"}, "level")
        checked += len(ids)
        changes += len(moved)
        for _, old, new in moved:
            if prog.rank(new) > prog.rank(old):
                up += 1
            else:
                down += 1


def run(db: Store, now: str | None = None) -> NightlyReport:
    """The whole nightly job once."""
    report = NightlyReport()
    report.lots_expired, report.points_burnt = expire_lots(db, now)
    report.percents_ended = expire_percents(db, now)
    report.customers_checked, report.level_changes, report.promotions, report.demotions = recompute_levels(db, now)
    with db.transaction() as conn:  # dynamic segments: the customers expiry and levels changed, in one pass each;
        local = dt.datetime.fromisoformat(utc(now)) if now else None  # then those whose answer flips with the date
        segments.follow_pending(conn, now=local, at=utc(now) if now else None)
        segments.refresh_if_new_day(conn, local)
    moment = dt.datetime.fromisoformat(utc(now)) if now else dt.datetime.now(dt.UTC)
    days = int(db.setting("trigger_events_retention_days") or triggers.RETENTION_DAYS)
    report.trigger_events_pruned = triggers.prune_events(db, moment, days)
    db.set_setting("nightly_last_run", now or now_utc())
    log.info("nightly: %s", report)
    return report


class NightlyScheduler(DaemonThread):
    """Runs the nightly job once a day at ``hour`` in ``zone`` (a daemon thread inside ``serve``)."""

    thread_name = "nightly"
    join_seconds = 5.0

    def __init__(self, db_path: str, hour: int, zone: str) -> None:
        super().__init__()
        self.db_path, self.hour, self.zone = db_path, hour, zoneinfo.ZoneInfo(zone)

    def due(self, last_run: str | None, now: dt.datetime) -> bool:
        """Whether today's run (at ``hour`` local) has come and not happened yet."""
        local = now.astimezone(self.zone)
        if local.hour < self.hour:
            return False
        if last_run is None:
            return True
        return dt.datetime.fromisoformat(last_run).astimezone(self.zone).date() < local.date()

    def _loop(self) -> None:
        while not self._stop.wait(60):
            db = Store(self.db_path)
            try:
                # several 'serve' processes: one runs it (a job lock; the next sees it done and skips)
                if db.job_lock("nightly", f"nightly-{id(self)}", ttl=3600) and self.due(
                    db.setting("nightly_last_run"), dt.datetime.now(dt.UTC)
                ):
                    run(db)
            except Exception:
                log.exception("the nightly job failed; it runs again in a minute")
            finally:
                db.close()
