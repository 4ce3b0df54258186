"""The pure scenario logic with a fake clock: each setting of marketing.md's trigger section at its edges."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from central.marketing.segments.evaluate import Context, Day, Facts
from central.marketing.triggers.conditions import Event, check_step
from central.marketing.triggers.definition import Known, TriggerError, parse_trigger
from central.marketing.triggers.hours import firing_slot, is_firing, next_firing
from central.marketing.triggers.scenario import Gate, decide, fresh, on_step

UTC = dt.UTC
MSK = zoneinfo.ZoneInfo("Europe/Moscow")
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
DAY = dt.timedelta(days=1)
ALL_HOURS = list(range(24))


def trig(*steps, hours=ALL_HOURS, limits=None):
    doc = {"name": "t", "owner_store": "s1", "group": "g", "hours": hours, "steps": list(steps)}
    if limits:
        doc["limits"] = limits
    return parse_trigger(doc)


def cond(name="c"):
    return {"type": "tag", "tags": [name]}


class World:
    """Conditions held or not per step, set by the test."""

    def __init__(self):
        self.holds: dict[int, bool] = {}

    def check(self, k, run):
        return self.holds.get(k, False), None


def run_at(t, run, now, world, gate=None, zone=UTC):
    gate = gate or Gate(t)
    return decide(t, run, now, world.check, gate, zone)


# -- validation ----------------------------------------------------------------------------------------


def problems(doc, known=None):
    with pytest.raises(TriggerError) as err:
        parse_trigger(doc, known)
    return err.value.messages()


def test_bad_triggers_say_why():
    base = {"name": "t", "owner_store": "s1", "group": "g", "hours": [10]}
    assert "steps.1.conditions" in problems({**base, "steps": [{"actions": [{"type": "tag", "tag": "x"}]}]})
    assert "hours" in problems({**base, "hours": [], "steps": [{"conditions": [cond()]}]})
    assert "never fires" in problems({**base, "hours": [], "steps": [{"conditions": [cond()]}]})["hours"]
    assert "steps.1.step_back_days" in problems({**base, "steps": [{"conditions": [cond()], "step_back_days": 3}]})
    known = Known(stores={"s1"}, segments={1}, static_segments={1})
    found = problems(
        {**base, "steps": [{"conditions": [cond()], "actions": [{"type": "segment_add", "segment": 7}]}]}, known
    )
    assert "does not exist" in found["steps.1.actions.1.segment"]
    assert "hours" in problems({**base, "hours": [24], "steps": [{"conditions": [cond()]}]})
    assert "owner_store" in problems({**base, "owner_store": "zz", "steps": [{"conditions": [cond()]}]}, known)
    # a pause may be a step's only condition; a step back on the second step is fine
    parse_trigger({**base, "steps": [{"conditions": [cond()]}, {"pause_days": 2, "step_back_days": 1}]}, known)


# -- transitions ----------------------------------------------------------------------------------------


def test_steps_in_order_never_skipped_never_back():
    t = trig({"conditions": [cond()], "actions": [{"type": "tag", "tag": "a"}]}, {"conditions": [cond("b")]})
    w = World()
    w.holds = {1: True}  # step 2's conditions alone do nothing: step 1 first
    d = run_at(t, fresh(T0), T0, w)
    assert d.run.step == 0 and d.run.phase == "wait" and not d.actions
    w.holds = {0: True}
    d = run_at(t, d.run, T0 + DAY, w)
    assert [(k, p, a.type) for k, p, _, a in d.actions] == [(0, 1, "tag")]
    assert d.run.step == 1 and d.run.phase == "wait"
    d2 = run_at(t, d.run, T0 + 2 * DAY, w)  # step 1 holding again does nothing
    assert not d2.actions and d2.run.step == 1
    w.holds = {0: True, 1: True}
    d3 = run_at(t, d2.run, T0 + 3 * DAY, w)
    assert d3.run.phase == "done" and d3.notes == ["passed:1"]


def test_pause_edges_and_pause_only_step():
    t = trig({"conditions": [cond()]}, {"pause_days": 7, "actions": [{"type": "tag", "tag": "x"}]})
    w = World()
    w.holds = {0: True, 1: True}
    d = run_at(t, fresh(T0), T0, w)
    assert d.run.step == 1 and d.run.phase == "pause" and d.wake_at == T0 + 7 * DAY
    assert not run_at(t, d.run, T0 + 7 * DAY - dt.timedelta(seconds=1), w).actions
    done = run_at(t, d.run, T0 + 7 * DAY, w)
    assert done.run.phase == "done" and len(done.actions) == 1


def test_within_step_edges():
    t = trig({"conditions": [cond()]}, {"conditions": [cond("b")], "within_days": 3})
    w = World()
    w.holds = {0: True}
    d = run_at(t, fresh(T0), T0, w)
    assert d.wake_at == T0 + 3 * DAY
    w.holds = {0: True, 1: True}
    assert run_at(t, d.run, T0 + 3 * DAY - dt.timedelta(seconds=1), w).run.phase == "done"  # just in time
    w.holds = {0: True, 1: False}
    late = run_at(t, d.run, T0 + 3 * DAY, w)
    assert late.run.phase == "out" and late.notes == ["expired:1"]
    w.holds = {0: True, 1: True}
    assert run_at(t, late.run, T0 + 4 * DAY, w).run.phase == "out"  # gone for good (no restart)


def test_since_start_counts_from_the_pass_start():
    t = trig({"conditions": [cond()]}, {"conditions": [cond("b")], "since_start_days": 5})
    w = World()
    d = run_at(t, fresh(T0), T0 + 4 * DAY, World())  # step 1 not yet
    w.holds = {0: True}
    d = run_at(t, d.run, T0 + 4 * DAY, w)  # step 1 held on day 4: one day left for step 2
    assert d.wake_at == T0 + 5 * DAY
    assert run_at(t, d.run, T0 + 5 * DAY, w).run.phase == "out"


def test_step_back_is_a_new_pass_and_repeats_the_previous_steps_actions():
    t = trig(
        {"conditions": [cond()], "actions": [{"type": "tag", "tag": "a"}]},
        {"conditions": [cond("b")], "step_back_days": 2},
    )
    w = World()
    w.holds = {0: True}
    d = run_at(t, fresh(T0), T0, w)
    assert d.run.step == 1 and d.wake_at == T0 + 2 * DAY
    w.holds = {}
    assert run_at(t, d.run, T0 + 2 * DAY - dt.timedelta(seconds=1), w).run.step == 1
    back = run_at(t, d.run, T0 + 2 * DAY, w)
    assert back.run.step == 0 and back.run.pass_no == 2 and back.notes == ["back:1"]
    w.holds = {0: True}
    again = run_at(t, back.run, T0 + 3 * DAY, w)
    assert [(k, p) for k, p, _, _ in again.actions] == [(0, 2)]  # a new key: (step 1, pass 2)


def test_full_restart_clears_progress():
    t = trig({"conditions": [cond()], "actions": [{"type": "tag", "tag": "a"}], "restart_days": 30})
    w = World()
    w.holds = {0: True}
    d = run_at(t, fresh(T0), T0, w)
    assert d.run.phase == "done" and d.wake_at == T0 + 30 * DAY
    assert not run_at(t, d.run, T0 + 30 * DAY - dt.timedelta(seconds=1), w).actions
    again = run_at(t, d.run, T0 + 30 * DAY, w)
    assert again.notes == ["restart", "passed:0"] and [(k, p) for k, p, _, _ in again.actions] == [(0, 2)]


# -- limits ---------------------------------------------------------------------------------------------


def test_ever_through_the_trigger_and_the_step():
    t = trig({"conditions": [cond()]}, limits={"ever": 2})
    w = World()
    w.holds = {0: True}
    gate = Gate(t)
    phases = [run_at(t, fresh(T0), T0, w, gate).run.phase for _ in range(3)]
    assert phases == ["done", "done", "out"]
    t2 = trig({"conditions": [cond()]}, {"conditions": [cond("b")], "limits": {"ever": 1}})
    w.holds = {0: True, 1: True}
    gate = Gate(t2)
    assert [run_at(t2, fresh(T0), T0, w, gate).run.phase for _ in range(2)] == ["done", "out"]


def test_at_once_queue_first_come_and_queue_days():
    t = trig(
        {"conditions": [cond()]},
        {"conditions": [cond("b")], "limits": {"at_once": 1, "queue_days": 3}, "restart_days": 1},
    )
    w = World()
    w.holds = {0: True, 1: True}
    gate = Gate(t)
    a = run_at(t, fresh(T0), T0, w, gate)
    b = run_at(t, fresh(T0), T0 + dt.timedelta(hours=1), w, gate)
    c = run_at(t, fresh(T0), T0 + dt.timedelta(hours=2), w, gate)
    assert a.run.phase == "done" and gate.on == {0: 2, 1: 1}
    assert b.run.phase == "queue" and b.queued_for == "at_once" and c.run.phase == "queue"
    assert b.run.held_at < c.run.held_at  # the engine wakes the queue in this order
    # a restarts after a day: a place frees, b (first come) takes it
    a2 = run_at(t, a.run, T0 + DAY, World(), gate)
    assert a2.notes == ["restart"] and gate.on[1] == 0
    b2 = run_at(t, b.run, T0 + DAY + dt.timedelta(hours=1), w, gate)
    assert b2.run.phase == "done"
    # c waited past its queue's 3 days: it leaves
    c2 = run_at(t, c.run, c.run.held_at + 3 * DAY, w, gate)
    assert c2.run.phase == "out" and c2.notes == ["queue_expired:1"]


def test_per_firing_limit_waits_for_the_next_firing():
    t = trig({"conditions": [cond()]}, hours=[10, 11], limits={"per_firing": 2})
    w = World()
    w.holds = {0: True}
    gate = Gate(t)
    now = dt.datetime(2026, 3, 2, 7, 30, tzinfo=UTC)  # 10:30 Moscow
    runs = [run_at(t, fresh(T0), now, w, gate, MSK) for _ in range(3)]
    assert [r.run.phase for r in runs] == ["done", "done", "queue"]
    assert runs[2].wake_at == dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # 11:00 Moscow
    later = run_at(t, runs[2].run, runs[2].wake_at, w, gate, MSK)
    assert later.run.phase == "done"


# -- firing hours -----------------------------------------------------------------------------------------


def test_firing_hours_across_midnight_and_zones():
    hours = [23, 0]
    tz = zoneinfo.ZoneInfo("Asia/Vladivostok")  # UTC+10
    at = dt.datetime(2026, 3, 2, 12, 30, tzinfo=UTC)  # 22:30 local
    assert not is_firing(hours, tz, at)
    assert next_firing(hours, tz, at) == dt.datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # 23:00 local
    assert is_firing(hours, tz, dt.datetime(2026, 3, 2, 14, 59, tzinfo=UTC))  # 00:59 next local day
    assert next_firing(hours, tz, dt.datetime(2026, 3, 2, 15, 0, tzinfo=UTC)) == dt.datetime(
        2026, 3, 3, 13, 0, tzinfo=UTC
    )
    assert firing_slot(tz, dt.datetime(2026, 3, 2, 14, 0, tzinfo=UTC)) == "2026-03-03T00"
    assert next_firing([], tz, at) is None
    # the same instant in Moscow is 15:30: not a firing hour there
    assert not is_firing(hours, MSK, dt.datetime(2026, 3, 2, 12, 30, tzinfo=UTC))
    assert is_firing(hours, MSK, dt.datetime(2026, 3, 2, 20, 0, tzinfo=UTC))  # 23:00 Moscow


def test_work_due_outside_firing_hours_waits():
    t = trig({"conditions": [cond()], "actions": [{"type": "tag", "tag": "a"}]}, hours=[9])
    w = World()
    w.holds = {0: True}
    night = dt.datetime(2026, 3, 2, 20, 0, tzinfo=UTC)  # 23:00 Moscow
    d = run_at(t, fresh(T0), night, w, zone=MSK)
    assert not d.actions and d.wake_at == dt.datetime(2026, 3, 3, 6, 0, tzinfo=UTC)  # 09:00 Moscow
    assert run_at(t, d.run, d.wake_at, w, zone=MSK).actions
    never = trig({"conditions": [cond()]}, hours=[5])
    object.__setattr__(never, "hours", frozenset())
    assert run_at(never, fresh(T0), night, w).notes == ["no firing hours"]


# -- conditions -------------------------------------------------------------------------------------------


def test_transaction_and_inactivity_conditions():
    t = trig(
        {"conditions": [{"type": "transaction", "count_from": 2, "check_min": 1000, "stores": ["s1"]}]},
        {"conditions": [{"type": "inactivity", "days": 30}]},
    )
    today = dt.date(2026, 3, 2).toordinal()
    facts = Facts(1, days=(Day(today - 10, "s1", 1, 500, 1000),), registered_day=today - 100)
    ctx = Context(today=today)
    ev = [Event("purchase", T0, "s1", 1500), Event("purchase", T0, "s2", 5000), Event("purchase", T0, "s1", 900)]
    v = check_step(t.steps[0], facts, ctx, ev)
    assert not v.holds and "1 matching" in v.reasons[0].text()
    assert check_step(t.steps[0], facts, ctx, [*ev, Event("purchase", T0, "s1", 1000)]).holds
    v = check_step(t.steps[1], facts, ctx, [])
    assert not v.holds and v.change_day == today + 20  # the inactivity timer
    assert check_step(t.steps[1], facts, Context(today=today + 20), []).holds
    assert on_step(None, 2) is None


def test_a_customer_ready_again_queues_behind_those_waiting():
    t = trig({"conditions": [cond()], "limits": {"at_once": 1}, "restart_days": 1})
    w = World()
    w.holds = {0: True}
    gate = Gate(t)
    a = run_at(t, fresh(T0), T0, w, gate)
    b = run_at(t, fresh(T0), T0 + dt.timedelta(hours=1), w, gate)
    assert a.run.phase == "done" and b.run.phase == "queue" and gate.queued == {0: 1}
    a2 = run_at(t, a.run, T0 + DAY, w, gate)  # a restarts and is ready at once: the place is b's
    assert a2.notes == ["restart", "queued:0:at_once"] and gate.on.get(0) == 0 and gate.queued == {0: 2}
    b2 = run_at(t, b.run, T0 + DAY, w, gate)
    assert b2.run.phase == "done" and gate.queued == {0: 1}
