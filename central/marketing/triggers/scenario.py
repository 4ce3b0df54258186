"""A customer's walk through a trigger (pure; the clock is a parameter).

A :class:`Run` is where one customer is: working on step ``step`` (0-based) in ``phase``

* ``wait``  -- the step's conditions do not hold yet (``since``: arrival on the step);
* ``pause`` -- they held at ``held_at``; the actions wait ``pause_days``;
* ``queue`` -- ready, but a limit (customers on the step at once, per firing) has no place;
              first come first served by ``held_at``;
* ``done``  -- the last step passed; ``out`` -- left (a period ran out, the queue's days, an
              "ever" limit). Only a full restart brings a done/out customer back.

Passing step k runs its actions (each keyed by (version, customer, k, pass)), puts the customer
"on step k" and makes them work on step k+1 at once (its conditions may already hold).
A customer is on the last step they passed; ``on_step`` says which (None: none).

Periods (days from): within the step (arrival on it), since the start (the pass's start),
step back (arrival on it, only while its conditions do not hold: back to the previous step,
a new pass), full restart (a step setting: that many days after passing the step the progress
is cleared, a new pass begins at step 1). Everything happens only in firing hours: outside them
the run's wake-up is the next firing hour.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .definition import Action, Trigger
from .hours import firing_slot, next_firing, next_slot

DAY = dt.timedelta(days=1)
ACTIVE = ("wait", "pause", "queue")


@dataclass(frozen=True)
class Run:
    step: int
    phase: str
    pass_no: int
    since: dt.datetime
    started: dt.datetime
    held_at: dt.datetime | None = None
    restart_at: dt.datetime | None = None


def fresh(at: dt.datetime, pass_no: int = 1) -> Run:
    return Run(0, "wait", pass_no, at, at)


def on_step(run: Run | None, steps: int) -> int | None:
    """The step the customer is on (the last one passed), None if none."""
    if run is None:
        return None
    if run.phase in ACTIVE:
        return run.step - 1 if run.step > 0 else None
    if run.phase == "done":
        return steps - 1
    return None


class Gate:
    """The limits' counters as one decision sees them (the engine loads and saves them).

    ``entered[k]``: customers ever passed step k (all passes); ``on[k]``: customers on step k now;
    ``slot_count``: customers passing a step in the current firing.
    """

    def __init__(
        self,
        trigger: Trigger,
        entered: dict[int, int] | None = None,
        on: dict[int, int] | None = None,
        slot: str | None = None,
        slot_count: int = 0,
        queued: dict[int, int] | None = None,
    ) -> None:
        self.trigger = trigger
        self.entered = dict(entered or {})
        self.on = dict(on or {})
        self.queued = dict(queued or {})
        self.slot = slot
        self.slot_count = slot_count

    def refusal(self, k: int, slot: str, newly: bool = True) -> str | None:
        """Why step k cannot be passed now (None: it can). A customer newly ready queues behind those already
        queued for the step (first come, first served)."""
        t, limits = self.trigger, self.trigger.steps[k].limits
        if k == 0 and t.limits.ever is not None and self.entered.get(0, 0) >= t.limits.ever:
            return "ever"
        if limits.ever is not None and self.entered.get(k, 0) >= limits.ever:
            return "ever"
        if limits.at_once is not None and (
            self.on.get(k, 0) >= limits.at_once or (newly and self.queued.get(k, 0) > 0)
        ):
            return "at_once"
        if t.limits.per_firing is not None:
            if self.slot != slot:
                self.slot, self.slot_count = slot, 0
            if self.slot_count >= t.limits.per_firing:
                return "per_firing"
        return None

    def move(self, before: int | None, after: int | None) -> None:
        if before == after:
            return
        if before is not None:
            self.on[before] = self.on.get(before, 0) - 1
        if after is not None:
            self.on[after] = self.on.get(after, 0) + 1

    def passed(self, k: int, slot: str) -> None:
        self.entered[k] = self.entered.get(k, 0) + 1
        if self.slot != slot:
            self.slot, self.slot_count = slot, 0
        self.slot_count += 1


@dataclass
class Decision:
    run: Run
    actions: list[tuple[int, int, int, Action]] = field(default_factory=list)  # (step, pass, index, action)
    wake_at: dt.datetime | None = None
    notes: list[str] = field(default_factory=list)  # what happened, for statistics and tests
    queued_for: str | None = None  # the limit a queued customer waits for


#: (step index, run) -> (the step's conditions hold, the moment they may change by themselves)
Check = Callable[[int, Run], tuple[bool, dt.datetime | None]]


def _earliest(*moments: dt.datetime | None) -> dt.datetime | None:
    found = [m for m in moments if m is not None]
    return min(found) if found else None


def decide(trigger: Trigger, run: Run, now: dt.datetime, check: Check, gate: Gate, zone: dt.tzinfo) -> Decision:
    """Move one customer's run as far as it goes at ``now``; the actions to do and the next wake-up."""
    firing = next_firing(trigger.hours, zone, now)
    if firing is None:
        return Decision(run, notes=["no firing hours"])
    if firing > now:
        return Decision(run, wake_at=firing, notes=["outside firing hours"])
    steps = trigger.steps
    slot = firing_slot(zone, now)
    d = Decision(run)
    for _ in range(4 * len(steps) + 4):  # every loop turn moves the run forward or returns
        run = d.run
        newly = run.phase != "queue"  # ready now, not waiting in the queue already
        if run.restart_at is not None and now >= run.restart_at:
            gate.move(on_step(run, len(steps)), None)
            d.run = fresh(now, run.pass_no + 1)
            d.notes.append("restart")
            continue
        if run.phase in ("done", "out"):
            d.wake_at = run.restart_at
            return d
        k = run.step
        step = steps[k]
        within = run.since + step.within_days * DAY if step.within_days else None
        since_start = run.started + step.since_start_days * DAY if step.since_start_days else None
        if run.phase == "wait":
            back = run.since + step.step_back_days * DAY if step.step_back_days and k > 0 else None
            holds, change = check(k, run)
            deadline = _earliest(within, since_start)
            if not holds and back is not None and now >= back and (deadline is None or back <= deadline):
                before = on_step(run, len(steps))
                d.run = Run(k - 1, "wait", run.pass_no + 1, now, run.started, None, run.restart_at)
                gate.move(before, on_step(d.run, len(steps)))
                d.notes.append(f"back:{k}")
                continue
            if not holds and deadline is not None and now >= deadline:
                gate.move(on_step(run, len(steps)), None)
                d.run = replace(run, phase="out", since=now)
                d.notes.append(f"expired:{k}")
                continue
            if not holds:
                d.wake_at = _earliest(change, back, deadline, run.restart_at)
                return d
            run = d.run = Run(
                run.step,
                "pause" if step.pause_days else "queue",
                run.pass_no,
                run.since,
                run.started,
                now,
                run.restart_at,
            )
            if step.pause_days:
                d.notes.append(f"pause:{k}")
        if run.phase == "pause":
            assert run.held_at is not None
            end = run.held_at + step.pause_days * DAY
            if now < end:
                d.wake_at = _earliest(end, run.restart_at)
                return d
            run = d.run = Run(run.step, "queue", run.pass_no, run.since, run.started, run.held_at, run.restart_at)
        # ready: the conditions held (and the pause is over); a place on the step?
        assert run.held_at is not None
        queue_end = run.held_at + step.limits.queue_days * DAY if step.limits.queue_days else None
        refusal = gate.refusal(k, slot, newly)
        if refusal is not None:
            if refusal == "ever" or (queue_end is not None and now >= queue_end):
                if not newly:
                    gate.queued[k] = gate.queued.get(k, 0) - 1
                gate.move(on_step(run, len(steps)), None)
                d.run = replace(run, phase="out", since=now)
                d.notes.append(f"{'limit' if refusal == 'ever' else 'queue_expired'}:{k}")
                continue
            if newly:
                gate.queued[k] = gate.queued.get(k, 0) + 1
            d.notes.append(f"queued:{k}:{refusal}")
            d.queued_for = refusal
            wake = next_slot(trigger.hours, zone, now) if refusal == "per_firing" else None
            d.wake_at = _earliest(wake, queue_end, run.restart_at)
            return d
        before = on_step(run, len(steps))
        if not newly:
            gate.queued[k] = gate.queued.get(k, 0) - 1
        gate.passed(k, slot)
        d.actions.extend((k, run.pass_no, i, a) for i, a in enumerate(step.actions))
        d.notes.append(f"passed:{k}")
        restart_at = now + step.restart_days * DAY if step.restart_days else run.restart_at
        if k == len(steps) - 1:
            d.run = Run(len(steps), "done", run.pass_no, now, run.started, None, restart_at)
        else:
            d.run = Run(k + 1, "wait", run.pass_no, now, run.started, None, restart_at)
        gate.move(before, on_step(d.run, len(steps)))
    return d
