"""The segments' engine: the set-based evaluators, live membership, the date-change refresh, RFM.

* :class:`~central.marketing.columns.ColumnEvaluator` (the column snapshot, numpy) evaluates a definition for
  every customer at once: counts, previews, :func:`recompute`, the date refresh and RFM use it. Criteria it
  has no column for are :class:`SetEvaluator`'s: each criterion one SQL query over the aggregates
  (central/storage/aggregates.py), the customers row, cards and tags, giving a set of customer keys;
  audiences are unions, the segment their intersection minus the excluded audience. A nested segment is
  read as its stored member set, never inlined. Identical criteria of one evaluation are computed once.
* :func:`on_event` re-evaluates the customers an ingest round touched against the dynamic segments whose
  criteria can change with what happened (``evaluate.event_kinds``), with the per-customer evaluator,
  inside the ingest's transaction; entering and leaving are written with their time and cause.
* :func:`refresh_date` visits, when the local date changes, only the customers whose next flip day has
  come (found on the snapshot: :func:`due_keys`).
* :func:`compute_rfm` scores every customer with a purchase in the window.

The evaluators read the same facts, and tests/marketing/test_segment_property.py checks they agree on
random definitions and customers.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..storage import aggregates, segment_columns
from ..storage import segment_engine as queries
from ..storage import segment_pending as pending_store
from ..storage import segments as store
from ..storage import triggers as trigger_store
from ..storage.clock import now_utc
from .columns import ColumnEvaluator, rfm_inputs
from .columns import current as columns_current
from .segments.compiled import ColumnFacts, Round
from .segments.definition import Criterion, Definition, parse_definition, time_relative
from .segments.evaluate import (
    Context,
    Facts,
    criterion_flip,
    definition_events,
    evaluate,
    next_flip,
    window_source,
)
from .segments.rfm import CLASS_NAMES, DEFAULT_WINDOW, class_codes, rfm_scores

Keys = set[int]


_LIVE: dict[str, tuple[float, int, ColumnEvaluator]] = {}
LIVE_SECONDS = 20.0


def live_evaluator(
    conn: sqlite3.Connection, today: int, *, clock: Callable[[], float] | None = None
) -> ColumnEvaluator:
    """An evaluator whose criterion answers are reused while the database does not change (and at most
    ``LIVE_SECONDS``, the same day): while a marketer edits a draft, each new count computes only the criterion
    that changed. ``conn`` reads (a read transaction): the column snapshot follows every committed change."""
    import time

    now = (clock or time.monotonic)()
    path = queries.database_path(conn) or str(id(conn))
    made = _LIVE.get(path)
    if made is None or made[1] != today or now - made[0] > LIVE_SECONDS:
        made = (now, today, ColumnEvaluator(conn, today, writing=False))
        _LIVE[path] = made
    else:
        made[2].refresh(conn)  # (a web request's own connection: the answers are kept, not the connection)
        # rewards, codes, trigger runs and messages are not in the snapshot's change log: asked again each time
        made[2].forget(OUTSIDE_KINDS)
    return made[2]


#: the criteria over other rooms' tables (rewards, codes, trigger runs, messages), not the aggregates
OUTSIDE_KINDS = frozenset({"promotion", "promo_code", "trigger", "message"})


# -- the per-customer side -------------------------------------------------------------------------------


class _ProductNames(Mapping[int, str]):
    """Product names, read on first use (only the "product name" criterion needs them)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.connection = conn
        self._names: dict[int, str] | None = None

    def _all(self) -> dict[int, str]:
        if self._names is None:
            self._names = dict(queries.product_names(self.connection))
        return self._names

    def __getitem__(self, key: int) -> str:
        return self._all()[key]

    def __iter__(self) -> Any:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def context(conn: sqlite3.Connection, today: int, member: Callable[[int, int], bool] | None = None) -> Context:
    return Context(
        today=today,
        product_names=_ProductNames(conn),
        member=member or (lambda segment, key: store.is_member(conn, segment, key)),
    )


def evaluate_keys(conn: sqlite3.Connection, definition: Definition, keys: Iterable[int], today: int) -> Keys:
    """The per-customer evaluator over some customers (as the event path runs it)."""
    facts = aggregates.load_facts(conn, sorted(set(keys)))
    ctx = context(conn, today)
    return {k for k, f in facts.items() if evaluate(definition, f, ctx)}


# -- segments kept current -----------------------------------------------------------------------------------


def _definition(row: Mapping[str, Any]) -> Definition | None:
    return parse_definition(json.loads(row["definition"])) if row.get("definition") else None


def _ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Segments with the ones they nest first (definitions are acyclic)."""
    by_id = {r["id"]: r for r in rows}
    done: list[dict[str, Any]] = []
    seen: set[int] = set()

    def visit(row: dict[str, Any]) -> None:
        if row["id"] in seen:
            return
        seen.add(row["id"])
        definition = row["_def"]
        for child in sorted(definition.nested if definition else ()):
            if child in by_id:
                visit(by_id[child])
        done.append(row)

    for row in rows:
        visit(row)
    return done


_PARSED: dict[tuple[int, str], Definition | None] = {}


_ORDERED: dict[tuple[tuple[int, str], ...], list[dict[str, Any]]] = {}


def dynamic_segments(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The dynamic segments, nested ones first, their definitions parsed (once per text: a small cache; the
    ordered list too, once per set of definitions: every ingest round asks)."""
    stored = tuple((i, d) for i, d in queries.dynamic_definitions(conn))
    found = _ORDERED.get(stored)
    if found is None:
        if len(_ORDERED) > 100:
            _ORDERED.clear()
        found = _ORDERED[stored] = _dynamic_segments(stored)
    return [dict(row) for row in found]


def _dynamic_segments(stored: Iterable[tuple[int, str]]) -> list[dict[str, Any]]:
    rows = [{"id": i, "definition": d} for i, d in stored]
    for row in rows:
        ident = (row["id"], row["definition"] or "")
        if ident not in _PARSED:
            if len(_PARSED) > 10000:
                _PARSED.clear()
            _PARSED[ident] = _definition(row)
        row["_def"] = _PARSED[ident]
    return _ordered([r for r in rows if r["_def"] is not None])


def flips_for(
    conn: sqlite3.Connection,
    definition: Definition,
    today: int,
    keys: Iterable[int] | None = None,
    facts: Mapping[int, Facts] | None = None,
) -> dict[int, int | None]:
    """Each customer's next flip day for a definition (exact, per customer)."""
    if not any(time_relative(c) for c in definition.criteria()):
        return {}
    if facts is None:
        facts = aggregates.load_facts(conn, sorted(set(keys or ())))
    return {k: next_flip(definition, f, today) for k, f in facts.items()}


def all_flips(conn: sqlite3.Connection, definition: Definition, today: int) -> dict[int, int]:
    """The next flip day of every customer (set-based, never later than the exact one: a visit too early is cheap).

    One scan per source: the birthday criteria (age, birthday windows) share one table of month-days and
    one pass over the customers; the relative periods of one aggregate table share one scan of it
    (:func:`~central.storage.segment_engine.window_leavings_many`)."""
    days: dict[int, int] = {}

    def keep(rows: Iterable[tuple[int, int | None]]) -> None:
        get = days.get
        for key, day in rows:
            if day is not None and day > today:
                old = get(key)
                if old is None or day < old:
                    days[key] = day

    birthdays: list[Criterion] = []
    windows: dict[str, set[int]] = {}
    for c in {c for c in definition.criteria() if time_relative(c)}:
        if c.type in ("age", "birthday"):
            birthdays.append(c)
        elif c.type in ("first_purchase", "last_purchase", "registration"):
            low, high = c.get("days_from"), c.get("days_to")
            if c.type == "registration":
                rows = queries.registration_days(conn)
                shifts: tuple[int, ...] = (-1, 0, 1)  # the UTC date is the local one give or take a day
            else:
                last = c.type == "last_purchase"
                rows = queries.purchase_days(conn, last, c.get("stores") if last else None)
                shifts = (0,)
            bounds = [b for b in (low, None if high is None else high + 1) if b is not None]
            offsets = sorted({s + b for s in shifts for b in bounds})
            # the first candidate after today (offsets ascending, so the first later one is the least)
            keep(
                (key, next((day + o for o in offsets if day + o > today), None)) for key, day in rows if day is not None
            )
        else:
            windows.setdefault(window_source(c.type), set()).add(c["period"].last_days)
    if birthdays:
        table: dict[str, int] = {}
        for ordinal in range(dt.date(2000, 1, 1).toordinal(), dt.date(2001, 1, 1).toordinal()):
            born = dt.date.fromordinal(ordinal)
            found = [d for d in (criterion_flip(c, Facts(0, birthday=born), today) for c in birthdays) if d is not None]
            if found:
                table[born.strftime("%m-%d")] = min(found)
        keep((key, table.get(mmdd)) for key, mmdd in queries.birthday_month_days(conn))
    for source, lengths in windows.items():
        keep(queries.window_leavings_many(conn, source, today, sorted(lengths)))
    return days


def recompute(
    conn: sqlite3.Connection, segment_id: int, today: int, cause: str = "recompute", at: str | None = None
) -> tuple[int, int]:
    """Set a segment's members to what its definition gives now (set-based); rebuild its flips."""
    row = store.segment_row(conn, segment_id)
    if row is None or not row["definition"]:
        return 0, 0
    definition = parse_definition(json.loads(row["definition"]))
    wanted = ColumnEvaluator(conn, today, writing=True).members(definition)
    current = store.members(conn, segment_id)
    return store.change_members(conn, segment_id, wanted - current, current - wanted, at or now_utc(), cause)


def next_flips(conn: sqlite3.Connection, today: int, segments: list[dict[str, Any]] | None = None) -> np.ndarray:
    """Per key, the first day after ``today`` on which some time-relative dynamic segment's answer may change with
    no event (0: none), on the column snapshot (never later than the exact day: a visit too early is cheap)."""
    segments = dynamic_segments(conn) if segments is None else segments
    relative = tuple(dict.fromkeys(c for row in segments for c in row["_def"].criteria() if time_relative(c)))
    evaluator = ColumnEvaluator(conn, today, writing=conn.in_transaction)
    if not relative:
        return np.zeros(evaluator.snap.n, np.int64)
    return evaluator.flips(Definition(audiences=(relative,)))


def due_keys(conn: sqlite3.Connection, today: int, segments: list[dict[str, Any]] | None = None) -> set[int]:
    """The customers whose answer of some time-relative dynamic segment may change on ``today`` (their next flip
    seen from the day before is today)."""
    return set(np.flatnonzero(next_flips(conn, today - 1, segments) == today).tolist())


#: every change a criterion may depend on (a merge changes them all)
ALL_CHANGES = frozenset(
    {
        "purchase",
        "refund",
        "points",
        "level",
        "registration",
        "profile",
        "card",
        "tags",
        "segment",
        "rfm",
        "promotion",
        "promo_code",
        "trigger",
        "message",
    }
)
#: event kinds of the ingest -> the changes they may make (evaluate.event_kinds); a purchase brings its promotions'
#: rewards and code uses (central/storage/promotions.py ``apply_purchases``, before the segments' hook), a voided
#: receipt takes them back
EVENT_CHANGES = {
    "purchase": {"purchase", "points", "level", "promotion", "promo_code"},
    "refund": {"refund", "points", "level"},
    "cancel": {"refund", "points", "level", "promotion", "promo_code"},
    "registration": {"registration", "profile", "card"},
    "phone_confirmed": {"profile"},
    "manual": {"points"},
    "cashier_message_read": set(),
    "card_replacement": {"card"},
}


def on_event(
    conn: sqlite3.Connection,
    customer_ids: Iterable[str],
    changes: Iterable[str],
    today: int,
    at: str | None = None,
    cause: str = "event",
    versioned: bool = False,
    key_of: Mapping[str, int] | None = None,
    known: Mapping[str, tuple[Any, ...]] | None = None,
) -> dict[int, tuple[int, int]]:
    """Re-evaluate these customers against the dynamic segments ``changes`` can affect; segment -> (in, out).
    ``versioned``: every one of these customers got a new version in this transaction already (the ingest's
    ledger gives one to each customer it touched), so a membership change needs no other for its delta to go
    down (docs/sync.md, "Segments down"). ``key_of``: keys of (some of) these customers known already; ``known``:
    their rows read already in this transaction (``aggregates.load_facts``)."""
    ids = sorted(set(customer_ids))
    changes = set(changes)
    segments = dynamic_segments(conn)
    if not ids or not reads(segments, changes):
        return {}
    given = key_of or {}
    key_of = {cid: given[cid] for cid in ids if cid in given}
    if len(key_of) < len(ids):
        key_of.update(aggregates.keys_of(conn, [cid for cid in ids if cid not in key_of]))
    return _reevaluate(
        conn,
        segments,
        set(key_of.values()),
        lambda d: bool(_traits(d)[1] & changes),
        today,
        at or now_utc(),
        cause,
        {key: cid for cid, key in key_of.items()},
        versioned,
        known,
    )


def reads(segments: list[dict[str, Any]], changes: set[str]) -> bool:
    """Whether a dynamic segment's definition can change with one of ``changes`` (none: nothing to re-evaluate; a
    segment nesting another only moves when the nested one does)."""
    return any(_traits(row["_def"])[1] & changes for row in segments)


def any_dynamic(conn: sqlite3.Connection) -> bool:
    """Whether some segment is dynamic (the ingest's ledger then reads its customers' profiles for the hook)."""
    return queries.any_dynamic(conn)


def segments_read(conn: sqlite3.Connection, change: str) -> bool:
    """Whether some dynamic segment reads ``change`` (a writer asks before it gathers the customers to tell)."""
    return queries.any_dynamic(conn) and reads(dynamic_segments(conn), {change})


def trigger_progress(
    conn: sqlite3.Connection, trigger_id: int, keys: set[int], id_of: Mapping[int, str], now: dt.datetime
) -> dict[int, tuple[int, int]]:
    """Customers' runs of a trigger changed step (or left, or passed a step further than ever): the dynamic
    segments with a trigger criterion on that trigger follow, in the engine's transaction (cause ``trigger``).
    Nothing is read unless such a segment exists: the wake-up batches stay as they were."""
    if not keys or not queries.any_dynamic(conn):
        return {}
    segments = dynamic_segments(conn)

    def concerned(definition: Definition) -> bool:
        return any(c.type == "trigger" and c["trigger"] == trigger_id for c in definition.criteria())

    if not any(concerned(row["_def"]) for row in segments):
        return {}
    at = now.astimezone(dt.UTC).isoformat(timespec="seconds")
    return _reevaluate(conn, segments, keys, concerned, aggregates.today(conn, now), at, "trigger", id_of)


_TRAITS: dict[int, tuple[Definition, bool, frozenset[str]]] = {}


def _traits(definition: Definition) -> tuple[bool, frozenset[str]]:
    """(time-relative at all, the changes that concern it) of a definition, found once per parsed definition."""
    found = _TRAITS.get(id(definition))
    if found is None or found[0] is not definition:
        if len(_TRAITS) > 10000:
            _TRAITS.clear()
        found = _TRAITS[id(definition)] = (
            definition,
            any(time_relative(c) for c in definition.criteria()),
            definition_events(definition),
        )
    return found[1], found[2]


_ROUNDS = threading.local()


def _round(ctx: Context) -> Round:
    """The compiled criteria and plans of the dynamic segments, kept across the event rounds of one day (per
    thread: a round reads its own transaction), bound to this round's context; dropped with the day, or when
    edited definitions have piled up criteria."""
    found: Round | None = getattr(_ROUNDS, "round", None)
    if found is None or found.ctx.today != ctx.today or len(found._index) > 5000:
        found = _ROUNDS.round = Round(ctx)
    else:
        found.rebind(ctx)
    return found


def _reevaluate(
    conn: sqlite3.Connection,
    segments: list[dict[str, Any]],
    keys: set[int],
    concerned: Callable[[Definition], bool],
    today: int,
    at: str,
    cause: str,
    id_of: Mapping[int, str] | None = None,
    versioned: bool = False,
    known: Mapping[str, tuple[Any, ...]] | None = None,
) -> dict[int, tuple[int, int]]:
    """The per-customer evaluator over ``keys`` for the segments ``concerned`` (and those nesting a change);
    ``id_of``: the keys' customer ids, when known (the version bumps need them); ``known``: customers' rows
    read already in this transaction (``aggregates.load_facts``).

    Criteria are compiled once per call (segments/compiled.py): each distinct criterion is answered once per
    customer. Membership changes are written together, before a segment that nests others is evaluated
    (it reads their membership) and at the end. (No flip day is kept: the date refresh finds the customers
    due on the column snapshot, :func:`due_keys`.)"""
    facts: Mapping[int, Facts] | None = None
    compiled: Round | None = None
    current: dict[int, set[int]] = {}
    moved: dict[int, set[int]] = {}  # segment -> keys whose membership changed (for the segments nesting it)
    pending: list[tuple[int, Iterable[int], Iterable[int]]] = []
    result = {}
    columns: _Columns | None = None  # the vector path's memberships and masks (a round of the ingest)
    for row in segments:
        definition: Definition = row["_def"]
        affected = keys if concerned(definition) else set()  # (the same set object: the batch's mask of it is kept)
        for nested in definition.nested:
            if nested in moved:
                affected = affected | moved[nested]
        if not affected:
            continue
        if facts is None:
            # only the tables some dynamic segment's criteria read
            # and of agg_items only the categories and products they name
            criteria = [c for r in segments for c in r["_def"].criteria()]
            facts = round_facts(conn, criteria, keys, today, id_of, known)
            compiled = _round(context(conn, today))
            if isinstance(facts, ColumnFacts) and len(facts) == len(keys) and len(facts) >= compiled.vector_from:
                columns = _Columns(conn, facts)
            else:
                for segment, key in store.member_pairs(conn, keys):
                    current.setdefault(segment, set()).add(key)
        assert compiled is not None
        plan = compiled.plan(definition)
        if definition.nested and pending:
            store.change_members_many(conn, pending, at, cause, id_of, bump=not versioned)
            pending = []
        if columns is not None:
            change = columns.change(row["id"], compiled, plan, affected)
            if change is None:
                continue
            entered, left = change
        else:
            answer = compiled.members(plan, facts, affected)
            inside = affected & current.get(row["id"], set())
            entered, left = answer - inside, inside - answer
        if entered or left:
            pending.append((row["id"], entered, left))
            moved[row["id"]] = set(entered) | set(left)
            result[row["id"]] = (len(entered), len(left))
    if pending:
        store.change_members_many(conn, pending, at, cause, id_of, bump=not versioned)
    return result


def round_facts(
    conn: sqlite3.Connection,
    criteria: list[Criterion],
    keys: Iterable[int],
    today: int,
    id_of: Mapping[int, str] | None = None,
    known: Mapping[str, tuple[Any, ...]] | None = None,
) -> Mapping[int, Facts]:
    """The facts an event round reads for these criteria: only the tables they read, of ``agg_items`` only the
    categories and products they name and the days their periods can see, as columns where the tables allow
    (``aggregates.load_facts``)."""
    return aggregates.load_facts(
        conn,
        sorted(keys),
        tables={t for c in criteria for t in aggregates.TABLES_OF.get(c.type, ())},
        items=aggregates.items_read(criteria),
        id_of=id_of,
        columns=True,
        items_since=aggregates.items_since(criteria, today),
        known=known,
    )


class _Columns:
    """A round's memberships as boolean arrays over its :class:`ColumnFacts` (every key of the round has facts):
    each segment's answer (``Round.member_mask``) is compared with them without a set per segment."""

    def __init__(self, conn: sqlite3.Connection, facts: ColumnFacts) -> None:
        self.facts = facts
        self.keys = np.asarray(facts.order, np.int64)  # (sorted: load_facts' columns are in key order)
        ids, self.inside = store.member_matrix(conn, facts.order)
        self.row = dict(zip(ids, range(len(ids)), strict=True))
        self.all = np.ones(len(self.keys), bool)
        self._masks: dict[int, tuple[set[int], int, np.ndarray]] = {}

    def _mask(self, affected: set[int]) -> np.ndarray:
        """``affected`` (a subset of the round's keys) as a mask; the round's own set is all of them."""
        found = self._masks.get(id(affected))
        if found is None or found[0] is not affected or found[1] != len(affected):
            mask = self.all if len(affected) == len(self.keys) else np.isin(self.keys, list(affected))
            found = self._masks[id(affected)] = (affected, len(affected), mask)
        return found[2]

    def change(
        self, segment: int, compiled: Round, plan: Any, affected: set[int]
    ) -> tuple[list[int], list[int]] | None:
        """(entered, left) of ``affected`` for one segment; None: no change."""
        among = self._mask(affected)
        answer = compiled.member_mask(plan, self.facts, among)
        row = self.row.get(segment)
        inside = among & self.inside[row] if row is not None else None
        entered = answer if inside is None else answer & ~inside
        left = None if inside is None else inside & ~answer
        if not entered.any() and (left is None or not left.any()):
            return None
        return self.keys[entered].tolist(), [] if left is None else self.keys[left].tolist()


def after_ingest(
    conn: sqlite3.Connection,
    customer_ids: set[str],
    events: Iterable[Mapping[str, Any]],
    key_of: Mapping[str, int] | None = None,
    known: Mapping[str, tuple[Any, ...]] | None = None,
) -> None:
    """The ingest's hook (central/storage/ingest.py), inside its transaction: each touched customer against
    the segments their own events can change, with their event's kind as the cause. ``customer_ids`` are the
    customers the ledger gave a new version in this transaction (``LedgerBatch.flush``): a membership change of
    theirs needs no version of its own. ``key_of``: the keys of the customers whose aggregates the transaction
    folded (``ReceiptLog.keys``), known already; ``known``: the customers' rows the ledger read and did not change
    (``LedgerBatch.profile_rows``)."""
    if not customer_ids or not queries.any_dynamic(conn):
        return
    events = list(events)
    every = {env["kind"] for env in events}
    groups: dict[frozenset[str], list[str]] = {}
    if len(every) <= 1:  # (the usual round: purchases only; every customer's kinds are all the round's)
        groups[frozenset(every)] = list(customer_ids)
    else:
        kinds: dict[str, set[str]] = {}
        for env in events:
            body = env.get("body") or {}
            cid = body.get("customer_id") if isinstance(body, Mapping) else None
            kinds.setdefault(cid or "", set()).add(env["kind"])
        for cid in customer_ids:  # (a card holder joined to its owner has no event of its own: every kind)
            groups.setdefault(frozenset(kinds.get(cid) or every), []).append(cid)
    today = aggregates.today(conn)
    for group_kinds, ids in groups.items():
        changes = set().union(*(EVENT_CHANGES.get(k, {k}) for k in group_kinds)) if group_kinds else set()
        cause = "purchase" if "purchase" in group_kinds else min(group_kinds) if group_kinds else "event"
        on_event(conn, ids, changes, today, cause=cause, versioned=True, key_of=key_of, known=known)


def customer_changed(conn: sqlite3.Connection, customer_ids: Iterable[str], change: str) -> None:
    """A write outside the ingest changed customers (``profile``, ``tags``, ``points``, ``promo_code``,
    ``message``...): the dynamic segments that read it follow, in the write's transaction
    (central/services/accounts.py). Tags and profile changes are triggers' events too (their runs wake:
    docs/triggers.md); points carry their amount, written by the caller."""
    customer_ids = list(customer_ids)
    if change in ("tags", "profile"):
        trigger_store.record_changes(conn, customer_ids, change, now_utc(), detail="console")
    follow(conn, customer_ids, {change}, change)  # (tags in bulk: from COLUMNS_FROM customers on the column snapshot)


#: a change of at least this many customers, and at least this share of all the customers, is followed on the
#: column snapshot (each concerned segment evaluated for every customer at once, its answer taken for the changed
#: ones: :func:`_refresh_columns`); a smaller one customer by customer (:func:`_reevaluate`, as the ingest does).
#: The column pass costs about the same whatever the batch (~75 ms of processor time at 100,000 customers), the
#: other ~0.03 ms per customer: they meet near 3,000 there (docs/segments.md, "Changes outside the ingest").
COLUMNS_FROM = 1000
COLUMNS_SHARE = 0.03


def follow(
    conn: sqlite3.Connection,
    customer_ids: Iterable[str],
    changes: Iterable[str],
    cause: str,
    *,
    today: int | None = None,
    at: str | None = None,
) -> dict[int, tuple[int, int]]:
    """Customers changed outside the ingest (a card issued, blocked or moved, a level set, a consent, a file
    import): the dynamic segments whose criteria read one of ``changes`` (``evaluate.event_kinds``: ``card``,
    ``profile``, ``points``, ``level``...) follow them now, in the caller's transaction, with ``cause`` in the
    history (``card``, ``import``, ``level``...); segment -> (entered, left). Unlike :func:`customer_changed` it
    records no trigger event."""
    ids, changes = sorted(set(customer_ids)), set(changes)
    if not ids or not changes or not queries.any_dynamic(conn):
        return {}
    segments = dynamic_segments(conn)
    if not reads(segments, changes):
        return {}
    key_of = aggregates.keys_of(conn, ids)
    id_of = {key: cid for cid, key in key_of.items()}
    return _follow_keys(conn, segments, set(id_of), changes, cause, today, at, id_of)


def _follow_keys(
    conn: sqlite3.Connection,
    segments: list[dict[str, Any]],
    keys: set[int],
    changes: set[str],
    cause: str,
    today: int | None,
    at: str | None,
    id_of: Mapping[int, str] | None = None,
) -> dict[int, tuple[int, int]]:
    def concerned(definition: Definition) -> bool:
        return bool(_traits(definition)[1] & changes)

    today = aggregates.today(conn) if today is None else today
    at = at or now_utc()
    if len(keys) < COLUMNS_FROM or len(keys) < COLUMNS_SHARE * queries.top_key(conn):
        return _reevaluate(conn, segments, keys, concerned, today, at, cause, id_of)
    return _refresh_columns(conn, segments, keys, today, at, concerned=concerned, cause=cause)


def follow_later(conn: sqlite3.Connection, customer_ids: Iterable[str], changes: Iterable[str], cause: str) -> int:
    """A big batch's changed customers (the nightly expiry and levels, a file import), written in the batch's
    transaction (``segment_pending``, migration 43) for :func:`follow_pending` to follow all at once; returns how
    many rows (none while no dynamic segment reads what changed)."""
    ids, changes = sorted(set(customer_ids)), set(changes)
    if not ids or not changes or not queries.any_dynamic(conn) or not reads(dynamic_segments(conn), changes):
        return 0
    return pending_store.add(conn, aggregates.keys_of(conn, ids).values(), cause, changes)


def follow_pending(
    conn: sqlite3.Connection, *, now: dt.datetime | None = None, at: str | None = None
) -> dict[int, tuple[int, int]]:
    """Follow every customer :func:`follow_later` wrote, a set-based pass per (cause, changes), and delete the rows,
    in the caller's transaction (a crash before its commit leaves them for the next pass); segment -> (in, out)
    summed over the passes. ``now``: the moment whose local date is "today" (a fake clock's)."""
    groups = pending_store.take(conn)
    if not groups:
        return {}
    segments = dynamic_segments(conn)
    today = aggregates.today(conn, now)
    result: dict[int, tuple[int, int]] = {}
    for (cause, changes), keys in groups.items():
        for segment, (entered, left) in _follow_keys(conn, segments, keys, set(changes), cause, today, at).items():
            before = result.get(segment, (0, 0))
            result[segment] = (before[0] + entered, before[1] + left)
    return result


def refresh_date(conn: sqlite3.Connection, today: int, at: str | None = None) -> dict[int, tuple[int, int]]:
    """The local date became ``today``: re-evaluate only the customers whose flip day has come."""
    result: dict[int, tuple[int, int]] = {}
    segments = dynamic_segments(conn)
    due = due_keys(conn, today, segments) if segments else set()
    if due:
        result = _refresh_columns(conn, segments, due, today, at or now_utc())
    queries.set_refreshed_day(conn, today)
    segment_columns.cut_log(conn)
    return result


def _refresh_columns(
    conn: sqlite3.Connection,
    segments: list[dict[str, Any]],
    due: set[int],
    today: int,
    at: str,
    *,
    concerned: Callable[[Definition], bool] | None = None,
    cause: str = "date",
) -> dict[int, tuple[int, int]]:
    """The date refresh on the column snapshot: each time-relative segment (and each nesting one that changed)
    evaluated for all customers at once, its answer taken for the due customers only (and the ones a nested
    segment moved), compared with their stored membership. With ``concerned``, the segments it names instead of
    the time-relative ones (a big batch's change: :func:`follow`), ``cause`` in the history."""
    evaluator = ColumnEvaluator(conn, today, writing=True)
    n = evaluator.snap.n
    due_mask = np.zeros(n, bool)
    due_mask[np.array(sorted(k for k in due if k < n), np.int64)] = True
    inside: dict[int, np.ndarray] = {}
    read = np.zeros(n, bool)  # the keys whose membership was read into ``inside``

    def read_members(mask: np.ndarray) -> None:
        wanted = np.flatnonzero(mask & ~read)
        if not len(wanted):
            return
        segment_ids, keys = store.member_arrays(conn, wanted.tolist())
        order = np.argsort(segment_ids, kind="stable")  # (one sort, then each segment's run of keys)
        segment_ids, keys = segment_ids[order], keys[order]
        ids, starts = np.unique(segment_ids, return_index=True)
        ends = [*starts[1:].tolist(), len(keys)] if len(ids) else []
        for segment, start, end in zip(ids.tolist(), starts.tolist(), ends, strict=True):
            if segment not in inside:
                inside[segment] = np.zeros(n, bool)
            inside[segment][keys[start:end]] = True
        read[wanted] = True

    read_members(due_mask)
    moved: dict[int, np.ndarray] = {}
    pending: list[tuple[int, list[int], list[int]]] = []
    result: dict[int, tuple[int, int]] = {}
    for row in segments:
        definition: Definition = row["_def"]
        wanted = _traits(definition)[0] if concerned is None else concerned(definition)
        affected = due_mask.copy() if wanted else np.zeros(n, bool)
        for nested in definition.nested:
            if nested in moved:
                affected |= moved[nested]
        if not affected.any():
            continue
        if definition.nested and pending:
            store.change_members_many(conn, pending, at, cause)
            pending = []
            for c in [c for c in evaluator._cache if c.type == "in_segment"]:
                del evaluator._cache[c]
        read_members(affected)
        answer = evaluator.mask(definition) & affected
        was = inside.get(row["id"], np.zeros(n, bool)) & affected
        entered, left = np.flatnonzero(answer & ~was), np.flatnonzero(was & ~answer)
        if len(entered) or len(left):
            pending.append((row["id"], entered.tolist(), left.tolist()))
            moved[row["id"]] = answer ^ was
            result[row["id"]] = (len(entered), len(left))
    if pending:
        store.change_members_many(conn, pending, at, cause)
    return result


def refresh_if_new_day(conn: sqlite3.Connection, now: dt.datetime | None = None) -> dict[int, tuple[int, int]] | None:
    """Run :func:`refresh_date` for each local day since the last refresh (the clock may be a fake one)."""
    today = aggregates.today(conn, now)
    last = queries.refreshed_day(conn)
    last = today - 1 if last is None else last
    if last >= today:
        return None
    result: dict[int, tuple[int, int]] = {}
    for day in range(max(last + 1, today - 366), today + 1):
        result.update(refresh_date(conn, day))
    return result


# -- RFM ------------------------------------------------------------------------------------------------------


def compute_rfm(conn: sqlite3.Connection, today: int, window: int = DEFAULT_WINDOW) -> int:
    """Score every customer with a purchase in the last ``window`` days; returns how many."""
    scored = rfm_columns(conn, today, window)
    queries.clear_rfm(conn)
    queries.insert_rfm(conn, scored.records())
    return len(scored)


@dataclass(frozen=True)
class RfmColumns:
    """Every scored customer's RFM result as numpy columns (one entry per customer, by key)."""

    keys: np.ndarray
    r: np.ndarray
    f: np.ndarray
    m: np.ndarray
    codes: np.ndarray  #: index into ``CLASS_NAMES``
    days_since: np.ndarray
    purchases: np.ndarray
    spend: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    def records(self) -> Iterator[tuple[Any, ...]]:
        """(key, r, f, m, class, days_since, purchases, spend) per customer, made as they are read (a table's
        writer binds them one by one: no list of a million tuples first)."""
        names = np.array(CLASS_NAMES, dtype=object)[self.codes]
        columns = (self.keys, self.r, self.f, self.m, names, self.days_since, self.purchases, self.spend)
        return zip(*(column.tolist() for column in columns), strict=True)


def rfm_columns(conn: sqlite3.Connection, today: int, window: int = DEFAULT_WINDOW) -> RfmColumns:
    """The RFM result of every customer with a purchase in the window, from the column snapshot (the aggregates'
    sums as numpy columns)."""
    keys, last, purchases, spend = rfm_inputs(columns_current(conn, conn.in_transaction), today, window)
    days_since = today - last
    if not len(keys):
        return RfmColumns(keys, *(np.zeros(0, np.int8),) * 4, days_since, purchases, spend)
    r, f, m = rfm_scores(days_since, purchases, spend)
    return RfmColumns(keys, r, f, m, class_codes(r, f), days_since, purchases, spend)


def rfm_rows(conn: sqlite3.Connection, today: int, window: int = DEFAULT_WINDOW) -> list[tuple[Any, ...]]:
    """:func:`rfm_columns` as a list of rows (key, r, f, m, class, days_since, purchases, spend)."""
    return list(rfm_columns(conn, today, window).records())


def rfm_grid(conn: sqlite3.Connection, keys: set[int] | None = None) -> dict[str, Any]:
    """The 5x5 grid: per (R, F) the count, spend and share of the scored customers (with ``keys``: of those
    customers only); per class the same."""
    rows = queries.rfm_cells(conn, keys)
    total = sum(r[3] for r in rows)
    cells = {
        (r, f): {"class": klass, "count": n, "spend": spend, "share": (n / total if total else 0.0)}
        for r, f, klass, n, spend in rows
    }
    classes: dict[str, dict[str, Any]] = {}
    for (_, _), cell in cells.items():
        entry = classes.setdefault(cell["class"], {"count": 0, "spend": 0})
        entry["count"] += cell["count"]
        entry["spend"] += cell["spend"]
    for entry in classes.values():
        entry["share"] = entry["count"] / total if total else 0.0
    return {"total": total, "cells": cells, "classes": classes}
