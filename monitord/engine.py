"""The alert engine: alert states and the timer queue of the next instants anything changes.

A planner (e.g. ``sla.alerts.SlaPlanner``) says, for one subject, in which
stretches of time each of its alerts holds. The engine keeps each alert's
state consistent with that and puts the next boundary of every alert into a
heap, so it wakes exactly at the instant a deadline passes (not at the next
poll), and an event costs work for the subjects it touches only.

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
    """One alert key: its planned conditions and its current occurrence."""

    __slots__ = ("alert", "conditions", "fired", "key", "seen", "version")

    def __init__(self, key: AlertKey) -> None:
        self.key = key
        self.conditions: list[Condition] = []
        self.version = 0
        self.alert: Alert | None = None  # the current pending or firing occurrence
        self.seen: datetime | None = None  # the last instant this slot was brought up to date
        self.fired: datetime | None = None  # start of the last condition that fired


class Engine:
    """Alert states of every planned subject, advanced through time by the caller."""

    def __init__(self, planner: Planner) -> None:
        self._planner = planner
        self._slots: dict[AlertKey, _Slot] = {}
        self._subject_keys: dict[Hashable, set[AlertKey]] = {}
        self._subject_version: dict[Hashable, int] = {}
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
            at, _, is_replan, target, version = heapq.heappop(heap)
            if is_replan:
                if self._subject_version.get(target) == version:
                    self._replan(target, at, out)
            else:
                slot = self._slots[target]  # type: ignore[index]
                if slot.version == version:
                    self._sync(slot, at, out)
        self.now = max(self.now, now) if self.now else now
        return out

    # queries ----------------------------------------------------------------
    def next_instant(self) -> datetime | None:
        """The next instant at which anything will change, or None."""
        while self._heap:
            at, _, is_replan, target, version = self._heap[0]
            live = (self._subject_version.get(target) == version) if is_replan else (
                self._slots[target].version == version)  # type: ignore[index]
            if live:
                return at
            heapq.heappop(self._heap)
        return None

    def alerts(self) -> list[Alert]:
        """Current pending and firing alerts."""
        return [s.alert for s in self._slots.values() if s.alert is not None]

    def firing(self) -> list[Alert]:
        """Alerts firing now."""
        return [a for a in self.alerts() if a.state is AlertState.FIRING]

    # internals --------------------------------------------------------------
    def _replan(self, subject: Hashable, now: datetime, out: list[Transition]) -> None:
        plan = self._planner(subject, now)
        old = self._subject_keys.get(subject, set())
        new = set(plan.conditions)
        for key in old - new:
            self._set(self._slots[key], [], now, out)
        for key, conds in plan.conditions.items():
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = _Slot(key)
            self._set(slot, conds if len(conds) < 2 else sorted(conds, key=lambda c: c[0]), now, out)
        if new:
            self._subject_keys[subject] = new
        else:
            self._subject_keys.pop(subject, None)
        version = self._subject_version.get(subject, 0) + 1
        self._subject_version[subject] = version
        if plan.replan_at is not None and plan.replan_at > now:
            heapq.heappush(self._heap, (plan.replan_at, next(self._seq), True, subject, version))

    def _set(self, slot: _Slot, conditions: list[Condition], now: datetime, out: list[Transition]) -> None:
        if conditions == slot.conditions and slot.seen is not None:
            return  # nothing changed: its timer (if any) still stands
        slot.conditions = conditions
        slot.version += 1
        self._sync(slot, now, out)

    def _sync(self, slot: _Slot, now: datetime, out: list[Transition]) -> None:
        """Bring one alert's state in line with its conditions at ``now`` and set its next timer."""
        alert = slot.alert
        holding: Condition | None = None
        upcoming: Condition | None = None
        for cond in slot.conditions:
            start, end = cond
            if start > now:
                upcoming = cond
                break
            if end is None or now < end:
                holding = cond
        if alert is not None and alert.state is AlertState.FIRING and holding is None:
            assert alert.fired_at is not None
            ended = [e for s, e in slot.conditions if e is not None and alert.fired_at < e <= now]
            out.append(transition(alert, AlertState.RESOLVED, max(ended) if ended else now))
            alert = None
        if alert is None or alert.state is not AlertState.FIRING:
            for start, end in slot.conditions:
                if start > now:
                    break
                if slot.fired is not None and start <= slot.fired:
                    continue  # this occurrence (or an earlier one) already fired
                if end is not None and slot.seen is not None and end <= slot.seen:
                    continue  # over before we last looked: that moment has passed
                alert = alert or Alert(slot.key, AlertState.INACTIVE)
                out.append(transition(alert, AlertState.FIRING, start))
                self.history.append(alert)
                slot.fired = start
                if end is not None and end <= now:
                    out.append(transition(alert, AlertState.RESOLVED, end))
                    alert = None
        if alert is None or alert.state is not AlertState.FIRING:
            if upcoming is not None:
                alert = alert or Alert(slot.key, AlertState.INACTIVE)
                if alert.fires_at != upcoming[0]:
                    out.append(transition(alert, AlertState.PENDING, upcoming[0]))
                heapq.heappush(self._heap, (upcoming[0], next(self._seq), False, slot.key, slot.version))
            elif alert is not None:
                out.append(transition(alert, AlertState.INACTIVE, now))
                alert = None
        elif holding is not None and holding[1] is not None:
            heapq.heappush(self._heap, (holding[1], next(self._seq), False, slot.key, slot.version))
        slot.alert = alert
        slot.seen = now
