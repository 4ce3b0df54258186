"""The sender: takes due outbox rows, checks them again, renders, sends through the channel's adapter.

One sender at a time in the whole installation, through a lease row (``message_lease``) renewed
while it works: ``loyalty-central serve`` starts one (a thread, like the publisher and the nightly
job), and a second process simply waits for the lease.

For each due row, oldest first:

1. A row still ``queued`` is checked again now: consent (withdrawn since queueing: ``skipped``),
   address, quiet hours and the frequency cap (both push ``not_before`` forward, no attempt spent).
2. The text is rendered once and stored with the row as it goes to ``sending`` (attempts + 1), in
   one transaction: **recorded before the send**.
3. The adapter sends it; then the row becomes ``sent`` with the gateway's id: **recorded after**.
   A temporary failure puts it back to ``queued`` with a growing delay (30 s, 1 min, ... 1 h);
   after :data:`MAX_ATTEMPTS` tries, or at a permanent failure, it is ``failed`` with why.
4. A crash between 2 and 3 leaves the row ``sending``: the next sender sends it again with the same
   idempotency key and the same text (at-least-once to the gateway; the key is the email's
   Message-ID and the gateway's ``{key}``, so a peer that deduplicates sees one message).
   Cashier messages are written in the database in the transaction of step 2: exactly once.

A per-channel rate limit (``rate_per_second`` of the channel) is kept strictly: never more than N
sends in any one-second window, as the gateway sees them (a log of when the last N sends ended:
the next starts a second after the end of the one N places before; not a counter per second).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..daemon import DaemonThread
from ..storage.clock import now_utc
from ..storage.store import Store
from . import adapters, channels, notices, push, rules, tokens, tracking
from .html import to_text as html_text
from .ratewindow import RateWindow
from .templates import MAX_BODY, TemplateError, Variables, render

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
#: rows checked, rendered and marked 'sending' in one transaction
CHUNK = 50
LEASE = "sender"


def link_key(db: Store) -> str:
    """The key that signs links in messages (made once, kept in the database)."""
    with db.transaction():
        db.add_setting_if_missing("messages_link_key", secrets.token_hex(32))
    return db.setting("messages_link_key") or ""


def unsubscribe_url(public_url: str, key: str, customer_id: str, channel: str) -> str:
    if not public_url:
        return ""
    return f"{public_url.rstrip('/')}/messages/unsubscribe/{tokens.sign(key, 'unsub', customer_id, channel)}"


def customer_row(db: Store, customer_id: str) -> dict[str, Any] | None:
    return db.message_customer(customer_id)


def variables(db: Store, customer: dict[str, Any], extra: dict[str, Any], unsubscribe: str = "") -> Variables:
    """What a template may read about this customer (and the message's own extras)."""
    return make_variables(customer, db.soonest_expiry(customer["id"]), extra, unsubscribe)


def make_variables(
    customer: dict[str, Any], expiry: tuple[str | None, int], extra: dict[str, Any], unsubscribe: str = ""
) -> Variables:
    name = customer.get("name") or ""
    return Variables(
        name=name,
        first_name=name.split()[0] if name.split() else "",
        balance_minor=int(customer.get("balance") or 0),
        level=customer.get("level") or "",
        expiring_minor=expiry[1],
        expiring_on=dt.date.fromisoformat(expiry[0]) if expiry[0] else None,
        store=customer.get("store_name") or "",
        promo_code=str(extra.get("promo_code") or ""),
        card=str(extra.get("card") or ""),
        code=str(extra.get("code") or ""),
        points_minor=int(extra.get("points_minor") or 0),
        unsubscribe_url=unsubscribe,
    )


def render_message(template: dict[str, Any], context: Variables, language: str) -> tuple[str, str, str | None]:
    """(subject, text, HTML or None) of a template for one customer. An email template's HTML body is rendered
    with its variables escaped; its text part is the template's text if written, else made from the HTML."""
    channel = template["channel"]
    values = context.context(language)  # once for the subject, the HTML and the text
    subject = render(template["subject"], values, language, field="subject", limit=998) if template["subject"] else ""
    page = None
    if channel == "email" and template.get("html"):
        page = render(template["html"], values, language, field="html", html=True)
    if page is None or (template["body"] or "").strip():
        body = render(template["body"], values, language, limit=MAX_BODY.get(channel, 100_000))
    else:
        body = html_text(page)
    return subject, body, page


def address_of(channel: str, customer: dict[str, Any], override: str | None) -> str:
    if override:
        return override
    if channel == "email":
        return customer.get("email") or ""
    if channel in ("sms", "voice"):
        return customer.get("phone") or ""
    if channel == "telegram":
        return customer.get("telegram_chat") or ""
    if channel == "push":
        return customer.get("push_subscription") or ""
    return ""


class Sender(DaemonThread):
    """The outbox's worker. ``run_once()`` does one pass (tests call it); ``start()`` runs passes on a thread."""

    thread_name = "message-sender"

    def __init__(
        self,
        db_path: str,
        *,
        policy: rules.Policy | None = None,
        public_url: str = "",
        interval: float = 1.0,
        batch: int = 200,
        concurrency: int = 1,
        lease_seconds: float = 30.0,
        holder: str | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        make_adapter: Callable[[str, dict[str, Any], dict[str, str]], adapters.Adapter] = channels.build,
    ) -> None:
        self.db_path = db_path
        self.policy = policy or rules.Policy()
        self.public_url = public_url
        self.interval = interval
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.holder = holder or f"sender-{uuid.uuid4().hex[:12]}"
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.make_adapter = make_adapter
        super().__init__()
        self._wake = threading.Event()
        self._adapters: dict[str, tuple[str, adapters.Adapter]] = {}
        self._windows: dict[str, RateWindow] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._worker_adapters: list[adapters.Adapter] = []
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.concurrency = concurrency
        self._configs: dict[str, Any] = {}  # per pass: the channels' rows and the templates
        self._templates: dict[tuple[int, str], Any] = {}
        self._stamps: dict[str, str] = {}  # per pass: each channel's settings as compared to the held adapters'
        self._rate = 0
        self._expiries: dict[str, tuple[str | None, int]] = {}
        self.sent = 0
        self._db: Store | None = None
        #: a hook for tests: called after the send and before it is recorded
        self.after_send: Callable[[int], None] | None = None

    # -- the thread ------------------------------------------------------------------------------

    def _stopping(self) -> None:
        self._wake.set()

    def notify(self) -> None:
        """Something was queued: look now."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # a bad row or a database hiccup must not kill the sender
                log.exception("message sender pass failed")
                busy = 0
            if not busy:
                self._wake.wait(self.interval)
                self._wake.clear()
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for _, adapter in self._adapters.values():
            adapter.close()
        self._adapters.clear()
        with self._lock:
            for adapter in self._worker_adapters:
                adapter.close()
            self._worker_adapters.clear()
        if self._db is not None:
            with self._db.transaction():
                self._db.release_message_lease(LEASE, self.holder)
            self._db.close()
            self._db = None

    @property
    def db(self) -> Store:
        if self._db is None:
            self._db = Store(self.db_path)
            # WAL + NORMAL: a commit survives the process's crash; a power cut may lose the last marks,
            # which only makes a message be sent again with its key (at-least-once, as a crash does)
            self._db.commit_without_fsync()
        return self._db

    # -- one pass --------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Send what is due now; returns the rows handled (0: nothing due, or another sender holds the lease)."""
        db = self.db
        with db.transaction():
            if not db.take_message_lease(LEASE, self.holder, self.lease_seconds):
                return 0
        now = self.clock()
        try:
            queued = notices.queue_due(db, now)  # service messages: phone codes, points received/spent/expiring
        except Exception:  # a bad switch must not stop the sending
            log.exception("service messages pass failed")
            queued = 0
        rows = db.due_messages(now.isoformat(timespec="seconds"), self.batch)
        self._configs, self._templates, self._stamps = {}, {}, {}
        renewed = time.monotonic()
        key = link_key(db) if rows else ""
        customers = db.message_customers(sorted({row["customer_id"] for row in rows})) if rows else {}
        # the expiring points of those still to render: one query a pass, not one a message
        fresh = sorted({row["customer_id"] for row in rows if row["body"] is None})
        self._expiries = db.soonest_expiries(fresh) if fresh else {}
        self._pending: dict[concurrent.futures.Future[Any], tuple[adapters.Outgoing, dict[str, Any]]] = {}
        for start in range(0, len(rows), CHUNK):
            if self._stop.is_set():
                break
            if time.monotonic() - renewed > self.lease_seconds / 3:
                with db.transaction():
                    if not db.take_message_lease(LEASE, self.holder, self.lease_seconds):
                        return 0
                renewed = time.monotonic()
            # checks, renders and the 'sending' marks of a chunk in one transaction (recorded before the
            # sends); then each send is marked on its own, so a crash resends at most the one in flight
            with db.transaction() as conn:
                ready = [
                    item
                    for row in rows[start : start + CHUNK]
                    if (item := self._prepare(db, conn, row, key, customers.get(row["customer_id"]), now))
                ]
            self._send_all(db, ready, now)
        self._settle(db, now, keep=0)
        return len(rows) + queued

    def _adapter(self, db: Store, channel: str) -> adapters.Adapter | str:
        """The channel's adapter, or why there is none."""
        if channel not in self._configs:
            self._configs[channel] = db.message_channel(channel)
        config = self._configs[channel]
        if config is None or not config["enabled"]:
            return f"the {channel} channel is not set up"
        if config.get("secrets_unreadable"):
            return f"the {channel} channel's secrets do not open with this instance folder's key: type them again"
        stamp = self._stamps.get(channel)
        if stamp is None:  # once a pass, not once a message (the workers' adapters compare it too)
            stamp = self._stamps[channel] = config["updated_at"] + json.dumps(config["settings"], sort_keys=True)
        held = self._adapters.get(channel)
        if held is None or held[0] != stamp:
            if held is not None:
                held[1].close()
            try:
                held = (stamp, self.make_adapter(channel, config["settings"], config["secrets"]))
            except Exception as exc:  # noqa: BLE001 - bad saved settings: the row waits, with why
                return f"the {channel} channel cannot be used: {exc}"
            self._adapters[channel] = held
        self._rate = config["rate_per_second"]
        return held[1]

    def _window(self, channel: str, rate: int) -> RateWindow:
        with self._lock:
            window = self._windows.get(channel)
            if window is None or window.rate != rate:
                window = self._windows[channel] = RateWindow(rate)
            return window

    def _prepare(
        self, db: Store, conn: Any, row: dict[str, Any], key: str, customer: dict[str, Any] | None, now: dt.datetime
    ) -> tuple[adapters.Adapter, adapters.Outgoing, dict[str, Any]] | None:
        """Check a due row again, render it and mark it 'sending', in the caller's transaction; what to send,
        or None (skipped, postponed, failed, waiting for its channel, or a cashier message already written)."""
        ident, channel = row["id"], row["channel"]
        if customer is None:
            db.mark_message_final(ident, "skipped", "no such customer")
            return None
        if row["state"] == "queued":
            if row["address"]:  # a test send to the sender's own address: only the address is checked
                why = rules.address_problem(channel, {"email": row["address"], "phone": row["address"]})
            else:
                why = rules.refusal(channel, row["kind"], customer)
            if why:
                db.mark_message_final(ident, "skipped", why)
                return None
            if row["kind"] == rules.MARKETING and not row["address"]:
                later = rules.quiet_until(now, customer["timezone"], self.policy)
                if later is None and self.policy.cap_per_day > 0:
                    since = (now - dt.timedelta(days=1)).isoformat(timespec="seconds")
                    sent = [dt.datetime.fromisoformat(t) for t in db.marketing_sent_since(customer["id"], since)]
                    later = rules.capped_until(sent, now, self.policy)
                    reason = "frequency cap"
                else:
                    reason = "quiet hours"
                if later is not None:
                    db.postpone_message(ident, later.isoformat(timespec="seconds"), reason)
                    return None
        adapter = self._adapter(db, channel)
        if isinstance(adapter, str):
            self._retry_in(db, {**row, "attempts": row["attempts"] + 1}, adapter, now)
            return None
        subject, body, page = row["subject"], row["body"], row.get("html")
        to = address_of(channel, customer, row["address"])
        unsubscribe = ""
        if row["kind"] == rules.MARKETING:
            # a test send to one's own address gets a link that unsubscribes nobody
            unsubscribe = unsubscribe_url(self.public_url, key, "test" if row["address"] else customer["id"], channel)
        if body is None:  # rendered once, at the first attempt; retries and crash resends reuse it
            template = self._template(db, row["template_id"], rules.language_of(customer))
            if template is None:
                db.mark_message_final(ident, "failed", "the template was deleted")
                return None
            try:
                expiry = self._expiries.get(customer["id"], (None, 0))
                context = make_variables(customer, expiry, json.loads(row["extra"] or "{}"), unsubscribe)
                subject, body, page = render_message(template, context, template["language"])
            except TemplateError as exc:
                db.mark_message_final(ident, "failed", str(exc))
                return None
        message = adapters.Outgoing(
            id=ident,
            key=f"{row['cause']}/{row['customer_id']}/{channel}",
            channel=channel,
            kind=row["kind"],
            to=to,
            subject=subject or "",
            body=body,
            customer_id=customer["id"],
            unsubscribe_url=unsubscribe,
            html=page or "",
        )
        db.mark_message_sending(ident, message.subject, body, to, page)  # recorded before the send
        if channel == "email" and row["mailing_id"] and row["kind"] == rules.MARKETING and self.public_url:
            text, made = tracking.track(body, self.public_url, key, ident, keep=unsubscribe)
            if page:  # the template's own HTML, its links tracked
                made = tracking.track_html(page, self.public_url, key, ident, keep=unsubscribe)
            message = dataclasses.replace(message, body=text, html=made)
        if isinstance(adapter, adapters.CashierAdapter):  # exactly once: the message and its record together
            db.mark_message_sent(ident, adapter.send_in(conn, message, now_utc()))
            self.sent += 1
            return None
        return adapter, message, {**row, "rate": self._rate}

    def _template(self, db: Store, template_id: int, language: str) -> dict[str, Any] | None:
        """The queued template, or its variant in the customer's language when there is one (read once a pass)."""
        if (template_id, language) not in self._templates:
            template = db.message_template(template_id)
            if template is not None and template["language"] != language:
                template = db.message_template_in(template["name"], template["channel"], language) or template
            self._templates[(template_id, language)] = template
        return self._templates[(template_id, language)]

    def _deliver(self, adapter: adapters.Adapter, message: adapters.Outgoing, rate: int) -> str | None | BaseException:
        """One send through the channel's rate window: the gateway's id, or the exception it raised."""
        window = self._window(message.channel, rate)
        ticket = window.start()
        try:
            return adapter.send(message)
        except Exception as exc:  # noqa: BLE001 - handed back to the marking thread
            return exc
        finally:
            window.end(ticket)  # a failed send may have reached the gateway all the same

    def _worker_adapter(self, channel: str) -> adapters.Adapter:
        """This worker thread's own adapter of the channel (connections are not shared between threads)."""
        config, stamp = self._configs[channel], self._stamps[channel]
        held: dict[str, tuple[str, adapters.Adapter]] = self._local.__dict__.setdefault("adapters", {})
        if channel not in held or held[channel][0] != stamp:
            if channel in held:
                held[channel][1].close()
            adapter = self.make_adapter(channel, config["settings"], config["secrets"])
            held[channel] = (stamp, adapter)
            with self._lock:
                self._worker_adapters.append(adapter)
        return held[channel][1]

    def _deliver_in_worker(self, message: adapters.Outgoing, rate: int) -> str | None | BaseException:
        try:
            adapter = self._worker_adapter(message.channel)
        except Exception as exc:  # noqa: BLE001
            return exc
        return self._deliver(adapter, message, rate)

    def _send_all(
        self, db: Store, ready: list[tuple[adapters.Adapter, adapters.Outgoing, dict[str, Any]]], now: dt.datetime
    ) -> None:
        """Send a chunk's messages, ``concurrency`` at a time (one at a time: on this thread), each marked
        as soon as it is over, here (one thread writes the database)."""
        if self.concurrency <= 1 or len(ready) <= 1:
            for adapter, message, row in ready:
                if self._stop.is_set():
                    return  # still 'sending': the next pass sends them (they never left)
                self._record(db, message, row, self._deliver(adapter, message, row["rate"]), now)
            return
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.concurrency, thread_name_prefix="message-send")
        for _, message, row in ready:
            self._pending[self._pool.submit(self._deliver_in_worker, message, row["rate"])] = (message, row)
        # the next chunk is prepared while these are in flight; what is done is marked now
        self._settle(db, now, keep=max(CHUNK, self.concurrency))

    def _settle(self, db: Store, now: dt.datetime, keep: int) -> None:
        """Mark the finished sends; wait until at most ``keep`` are still in flight."""
        pending = getattr(self, "_pending", {})
        while pending:
            done, _ = concurrent.futures.wait(
                list(pending), timeout=0 if len(pending) <= keep else None, return_when="FIRST_COMPLETED"
            )
            if not done:
                return
            # the sends that are over, marked together: none of them waits for another's commit
            finished = [(*pending.pop(future), future.result()) for future in done]
            sent = [(m, r, result) for m, r, result in finished if not isinstance(result, BaseException)]
            if sent:
                if self.after_send is not None:
                    for message, _, _ in sent:
                        self.after_send(message.id)
                with db.transaction():
                    for message, _, result in sent:
                        db.mark_message_sent(message.id, result)  # type: ignore[arg-type]
                self.sent += len(sent)
            for message, row, result in finished:
                if isinstance(result, BaseException):
                    self._record(db, message, row, result, now)

    def _record(
        self,
        db: Store,
        message: adapters.Outgoing,
        row: dict[str, Any],
        result: str | None | BaseException,
        now: dt.datetime,
    ) -> None:
        ident, channel = message.id, message.channel
        if isinstance(result, adapters.PermanentFailure):
            with db.transaction():
                db.mark_message_final(ident, "failed", str(result))
                if isinstance(result, push.SubscriptionGone):  # dead: never tried again (a new one replaces it)
                    db.forget_dead_address(message.customer_id, channel, message.to)
        elif isinstance(result, adapters.TemporaryFailure):
            self._retry(db, {**row, "attempts": row["attempts"] + 1}, str(result), now)
        elif isinstance(result, BaseException):  # an adapter's bug: the row waits (and fails after MAX_ATTEMPTS)
            log.error("channel %s failed on message %s", channel, ident, exc_info=result)
            self._retry(db, {**row, "attempts": row["attempts"] + 1}, f"{type(result).__name__}: {result}", now)
        else:
            if self.after_send is not None:
                self.after_send(ident)
            with db.transaction():
                db.mark_message_sent(ident, result)  # recorded after the send
            self.sent += 1

    def _retry(self, db: Store, row: dict[str, Any], why: str, now: dt.datetime) -> None:
        with db.transaction():
            self._retry_in(db, row, why, now)

    def _retry_in(self, db: Store, row: dict[str, Any], why: str, now: dt.datetime) -> None:
        """Back to 'queued' after a growing delay, or 'failed' after MAX_ATTEMPTS, in the caller's transaction."""
        attempts = max(row["attempts"], 1)
        if attempts >= MAX_ATTEMPTS:
            db.mark_message_final(row["id"], "failed", f"{why} (after {attempts} attempts)")
        else:
            later = now + dt.timedelta(seconds=rules.backoff(attempts))
            db.mark_message_retry(row["id"], why, later.isoformat(timespec="seconds"), attempts)
