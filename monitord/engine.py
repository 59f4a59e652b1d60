"""The alert engine: alert states and the timer queue of the next instants anything changes.

A planner (e.g. ``sla.alerts.SlaPlanner``) says, for one subject, in which
stretches of time each of its alerts holds. The engine keeps each alert's
state consistent with that and puts each subject's next boundary into a
heap, so it wakes exactly at the instant a deadline passes (not at the next
poll), and an event costs work for the subjects it touches only.

An alert that has not fired yet is not materialised: its PENDING state is
read off its subject's plan when asked (``alerts()``). Only alerts that fire
get an ``Alert`` object, so arming a hundred thousand future deadlines at
start-up costs one heap entry per subject, not one object per alert.

Time only moves forward: ``update`` and ``advance`` take ``now`` from the
caller, never from the clock. A condition whose start already lies in the
past when it is first planned (a restart, a late report) fires with its true
instant.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime
from typing import Any, NamedTuple

from monitord.domain import Alert, AlertKey, AlertPlan, AlertState, Condition

Planner = Callable[[Any, datetime], AlertPlan]
"""Plans one subject's alerts as of an instant."""


class Transition(NamedTuple):
    """An alert moved from one state to another at an instant."""

    alert: Alert
    old: AlertState
    new: AlertState
    at: datetime | None


_ALLOWED: dict[AlertState, frozenset[AlertState]] = {
    AlertState.INACTIVE: frozenset({AlertState.PENDING, AlertState.FIRING}),
    AlertState.PENDING: frozenset({AlertState.PENDING, AlertState.INACTIVE, AlertState.FIRING}),
    AlertState.FIRING: frozenset({AlertState.RESOLVED}),
    AlertState.RESOLVED: frozenset(),  # an occurrence is over; a new one is a new Alert
}


def transition(alert: Alert, to: AlertState, at: datetime | None) -> Transition:
    """Move ``alert`` to state ``to`` at instant ``at``; every state change goes through here.

    PENDING takes ``at`` as the instant it will fire; FIRING and RESOLVED take
    it as the instant they happened.
    """
    old = alert.state
    if to not in _ALLOWED[old]:
        raise ValueError(f"alert {alert.key.name}: no transition {old} -> {to}")
    if to is AlertState.PENDING:
        alert.fires_at = at
    elif to is AlertState.FIRING:
        alert.fired_at, alert.fires_at = at, None
    elif to is AlertState.RESOLVED:
        alert.resolved_at = at
    else:
        alert.fires_at = None
    alert.state = to
    return Transition(alert, old, to, at)


class _Slot:
    """An alert key that has fired at least once: its current occurrence and what it has seen."""

    __slots__ = ("alert", "fired", "seen")

    def __init__(self) -> None:
        self.alert: Alert | None = None  # the firing occurrence, if any
        self.fired: datetime | None = None  # start of the last condition that fired
        self.seen: datetime | None = None  # the last instant this key was brought up to date


_NOTHING: list[Condition] = []


class Engine:
    """Alert states of every planned subject, advanced through time by the caller."""

    def __init__(self, planner: Planner) -> None:
        self._planner = planner
        self._plans: dict[Hashable, dict[AlertKey, list[Condition]]] = {}
        self._seen: dict[Hashable, datetime] = {}  # per subject: the last instant it was synced
        self._slots: dict[AlertKey, _Slot] = {}
        self._version: dict[Hashable, int] = {}
        # (instant, seq, is_replan, subject, version); stale entries are skipped by version
        self._heap: list[tuple[datetime, int, bool, Hashable, int]] = []
        self._seq = itertools.count()
        self.history: list[Alert] = []  # every occurrence that fired, in firing order
        self.now: datetime | None = None

    # inputs -----------------------------------------------------------------
    def update(self, subjects: Iterable[Hashable], now: datetime) -> list[Transition]:
        """Plan ``subjects`` again as of ``now`` (after the facts about them changed)."""
        out: list[Transition] = []
        for subject in subjects:
            self._replan(subject, now, out)
        self.now = max(self.now, now) if self.now else now
        return out

    def advance(self, now: datetime, *, before: bool = False) -> list[Transition]:
        """Apply every change due at or before ``now`` (strictly before, with ``before``), in order.

        Callers about to take an event at ``now`` advance ``before`` it: a limit done at
        exactly its due instant is met, so the event must be seen before that instant's timers.
        """
        out: list[Transition] = []
        heap = self._heap
        while heap and (heap[0][0] < now if before else heap[0][0] <= now):
            at, _, is_replan, subject, version = heapq.heappop(heap)
            if self._version.get(subject) != version:
                continue
            if is_replan:
                self._replan(subject, at, out)
            else:
                self._sync(subject, at, out)
        self.now = max(self.now, now) if self.now else now
        return out

    # queries ----------------------------------------------------------------
    def next_instant(self) -> datetime | None:
        """The next instant at which anything will change, or None."""
        while self._heap:
            at, _, _, subject, version = self._heap[0]
            if self._version.get(subject) == version:
                return at
            heapq.heappop(self._heap)
        return None

    def alerts(self) -> list[Alert]:
        """Current firing alerts, and pending ones with the instant each will fire."""
        out: list[Alert] = []
        for subject, plan in self._plans.items():
            seen = self._seen[subject]
            for key, conds in plan.items():
                slot = self._slots.get(key)
                if slot is not None and slot.alert is not None:
                    out.append(slot.alert)
                    continue
                upcoming = next((s for s, _ in conds if s > seen), None)
                if upcoming is not None:
                    out.append(Alert(key, AlertState.PENDING, fires_at=upcoming))
        return out

    def firing(self) -> list[Alert]:
        """Alerts firing now."""
        return [s.alert for s in self._slots.values() if s.alert is not None]

    # internals --------------------------------------------------------------
    def _replan(self, subject: Hashable, now: datetime, out: list[Transition]) -> None:
        plan = self._planner(subject, now)
        old = self._plans.get(subject)
        conditions = {k: c if len(c) < 2 else sorted(c, key=lambda x: x[0]) for k, c in plan.conditions.items()}
        for key in old.keys() - conditions.keys() if old else ():
            slot = self._slots.get(key)
            if slot is not None:  # withdrawn: a firing alert resolves now
                self._sync_key(key, slot, _NOTHING, now, None, out)
        if conditions:
            self._plans[subject] = conditions
        else:
            self._plans.pop(subject, None)
        version = self._version.get(subject, 0) + 1
        self._version[subject] = version
        if plan.replan_at is not None and plan.replan_at > now:
            heapq.heappush(self._heap, (plan.replan_at, next(self._seq), True, subject, version))
        self._sync(subject, now, out)

    def _sync(self, subject: Hashable, now: datetime, out: list[Transition]) -> None:
        """Bring a subject's alerts in line with its plan at ``now`` and set its next timer."""
        plan = self._plans.get(subject)
        if plan is None:
            self._seen.pop(subject, None)
            return
        seen = self._seen.get(subject)
        following: datetime | None = None
        for key, conds in plan.items():
            slot = self._slots.get(key)
            if slot is None:
                # Never fired: nothing to do unless a stretch has begun by now (a plan may list no stretch).
                if not conds:
                    continue
                start = conds[0][0]
                if start > now:
                    following = start if following is None or start < following else following
                    continue
                slot = self._slots[key] = _Slot()
                slot.seen = seen
            nxt = self._sync_key(key, slot, conds, now, seen, out)
            if nxt is not None and (following is None or nxt < following):
                following = nxt
        self._seen[subject] = now
        if following is not None:
            heapq.heappush(self._heap, (following, next(self._seq), False, subject, self._version[subject]))

    def _sync_key(self, key: AlertKey, slot: _Slot, conds: list[Condition], now: datetime,
                  seen: datetime | None, out: list[Transition]) -> datetime | None:
        """Bring one alert in line with its conditions at ``now``; returns its next boundary."""
        alert = slot.alert
        holding: Condition | None = None
        upcoming: datetime | None = None
        for start, end in conds:
            if start > now:
                upcoming = start
                break
            if end is None or now < end:
                holding = (start, end)
        if alert is not None and holding is None:
            assert alert.fired_at is not None
            ended = [e for s, e in conds if e is not None and alert.fired_at < e <= now]
            out.append(transition(alert, AlertState.RESOLVED, max(ended) if ended else now))
            alert = None
        if alert is None:
            for start, end in conds:
                if start > now:
                    break
                if slot.fired is not None and start <= slot.fired:
                    continue  # this occurrence (or an earlier one) already fired
                if end is not None and slot.seen is not None and end <= slot.seen:
                    continue  # over before we last looked: that moment has passed
                alert = Alert(key, AlertState.INACTIVE)
                out.append(transition(alert, AlertState.FIRING, start))
                self.history.append(alert)
                slot.fired = start
                if end is not None and end <= now:
                    out.append(transition(alert, AlertState.RESOLVED, end))
                    alert = None
        slot.alert = alert
        slot.seen = now
        if alert is not None:
            return holding[1] if holding is not None else None
        return upcoming
