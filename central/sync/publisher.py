"""Down-sync: rule sets, cashier messages and customer deltas, published to the stores.

Runs on its own thread with its own database connection (WAL lets it read
while the ingest writes). Woken by the ingest after a commit that changed
customers, and every ``interval`` seconds anyway (rules and messages are
noticed by polling, so the CLI can write them without a broker).

* Rules and cashier messages are **retained** on the store's topic: an agent
  that connects (or reconnects after days) gets the latest at once. They are
  published again after every (re)connect of the link, in case the broker
  lost its retained store.
* Customer deltas go on the store's ``customers`` topic as pages
  ``{after, upto, deltas}``; the store's published cursor is kept in the
  database. Agents that miss a page notice the gap (``after`` beyond their
  cursor) and pull from their cursor (snapshot_request), so nothing depends on
  the broker holding these messages.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from shared import promo_codes, wire
from transport.mqtt import MqttLink

from ..messages import notices
from ..storage.store import Store
from .deltas import customer_page

log = logging.getLogger(__name__)

CUSTOMERS_EXPIRY = 24 * 3600
PAGE = 500


class Publisher:
    def __init__(self, db_path: str, link: MqttLink, *, interval: float = 0.5, holder: str | None = None) -> None:
        #: with several ingest workers (a holder name), one publisher at a time publishes (a job lock; docs/scale.md)
        self.holder = holder
        self.db_path = db_path
        self.link = link
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._republish = threading.Event()
        self._thread: threading.Thread | None = None
        self.published_deltas = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def notify(self) -> None:
        """Something changed: publish soon."""
        self._wake.set()

    def republish_retained(self) -> None:
        """Publish rules and messages again (after a reconnect)."""
        self._republish.set()
        self._wake.set()

    def _run(self) -> None:
        db = Store(self.db_path)
        try:
            last_checkpoint = 0.0
            while not self._stop.is_set():
                self._wake.wait(self.interval)
                self._wake.clear()
                if time.monotonic() - last_checkpoint > 1.0:
                    # the ingest leaves WAL checkpoints to this thread (central/storage/store.py)
                    db.checkpoint()
                    last_checkpoint = time.monotonic()
                if self._stop.is_set() or not self.link.connected.is_set():
                    continue
                try:
                    if self.holder is not None and not db.job_lock("publisher", self.holder, ttl=10.0):
                        continue  # another worker's publisher publishes
                    self.publish_once(db, force=self._republish.is_set())
                    self._republish.clear()
                except Exception:
                    log.exception("publishing down failed; retrying")
                    self._stop.wait(1)
        finally:
            db.close()

    def publish_once(self, db: Store, *, force: bool = False) -> None:
        """One pass over every store: rules, messages, customer deltas (first the new versions a big membership
        change owes its customers, central/storage/segments.py, so this pass's pages carry them)."""
        db.give_owed_versions()
        rules = db.latest_rules()
        messages = db.store_messages()
        pages: dict[Any, Any] = {}  # every store's page after the same cursor is read once (central/sync/deltas.py)
        promotions_version = db.promotions_version()
        sent_promotions = db.published_promotions() if promotions_version else {}
        rows = None
        switches: list[dict[str, Any]] | None = None
        for store in db.stores():
            sid = store["id"]
            newer_promotions = promotions_version > sent_promotions.get(sid, 0)
            if sid in rules and (force or rules[sid][0] > store["published_rules"] or newer_promotions):
                version, document = rules[sid]
                message: dict[str, Any] = {"store": sid, "version": version, "rules": document}
                if promotions_version:  # beside the rule set, in the same retained message (docs/sync.md)
                    if rows is None:
                        rows = db.store_promotion_rows()
                    message["promotions"] = store_promotions(
                        sid, promotions_version, *rows, db.setting("promo_code_secret", "") or ""
                    )
                    if switches is None:
                        switches = db.message_switches()
                    if notices.redeem_required(switches, sid):  # changing it bumps the promotions version
                        message["confirm_redemption"] = True
                payload = wire.encode("rules", message)
                self.link.publish(wire.store_topic(sid, "rules"), payload, retain=True, kind="rules")
                db.set_published(sid, "rules", version)
                if promotions_version:
                    db.set_published_promotions(sid, promotions_version)
            version, items = messages.get(sid, (0, []))
            if version and (force or version > store["published_messages"]):
                payload = wire.encode("messages", {"store": sid, "version": version, "messages": items})
                self.link.publish(wire.store_topic(sid, "messages"), payload, retain=True, kind="messages")
                db.set_published(sid, "messages", version)
            self._customers(db, sid, store["published_customers"], pages)

    def _customers(self, db: Store, store: str, cursor: int, pages: dict[Any, Any]) -> None:
        while not self._stop.is_set():
            deltas, upto, more = customer_page(db, store, cursor, PAGE, pages)
            if not deltas:
                return
            payload = wire.encode(
                "customers",
                {"store": store, "after": cursor, "upto": upto, "more": more, "deltas": deltas},
                validate=False,
            )
            self.link.publish(wire.store_topic(store, "customers"), payload, expiry=CUSTOMERS_EXPIRY, kind="customers")
            self.published_deltas += len(deltas)
            cursor = upto
            db.set_published(store, "customers", cursor)
            if not more:
                return


def store_promotions(
    store: str, version: int, promotions: list[dict[str, Any]], lists: list[dict[str, Any]], secret: str
) -> dict[str, Any]:
    """A store's promotions document (shared/promotions.py): the active promotions for it, and the code lists
    they use with each list's HMAC key (derived from the chain's secret: shared/promo_codes.py)."""
    docs = []
    for row in promotions:
        doc = json.loads(row["document"])
        if doc.get("stores") is None or store in doc["stores"]:
            docs.append(doc)
    used = {(d.get("conditions") or {}).get("code_list") for d in docs}
    code_lists = []
    for row in lists:
        if row["id"] not in used:
            continue
        entry: dict[str, Any] = {
            "id": row["id"],
            "kind": row["kind"],
            "max_uses": row["max_uses"],
            "offline": row["offline"],
            "offline_limit": row["offline_limit"],
            "prefix": row["prefix"],
            "tag_length": row["tag_length"],
            "check": bool(row["check_char"]),
            "key": "" if row["uploaded"] else promo_codes.list_key(secret.encode(), row["id"]).hex(),
        }
        for name, key in (("starts", "from"), ("ends", "to")):
            if row[name]:
                entry[key] = row[name]
        if row["stores"]:
            entry["stores"] = json.loads(row["stores"])
        code_lists.append(entry)
    return {"version": version, "promotions": docs, "code_lists": code_lists}
