"""Grouping and timing: fired and resolved alerts -> the notices due at an instant.

Learned from Alertmanager's dispatcher and notification log, as a pure
function of its inputs: the caller hands in alerts with ``take(alerts, now)``
and asks ``due(now)`` for the notices to send; nothing here reads the clock,
so the same inputs always give the same notices (and the same keys).

- **Groups.** Each alert is routed (``Router.deliveries``); at each route it
  reaches it joins the group of that route and its ``group_by`` labels. One
  route has one receiver, so a group makes one notice per flush, to whom the
  receiver resolves for the group (its person, or a fallback).
- **Timing.** A new group is flushed ``group_wait`` after its first alert. A
  group already flushed is flushed again when its content changed (an alert
  joined or resolved), but not sooner than ``group_interval`` after its last
  flush; while unchanged and still firing, it is repeated ``repeat_interval``
  after the last notice. A group with muted alerts is looked at every
  ``group_interval``, as the mute may end.
- **Dedup (the notification log).** A flush notifies only when Alertmanager's
  rule says so: a firing alert the receiver has not been told of, every alert
  of the last notice resolved, a new resolution, or the repeat interval
  passed. The log (``LogEntry`` per group) is what the receiver was last told
  and when; the daemon rebuilds it from the stored notices at start-up
  (``remember``), so no notice is repeated early across a restart.
- **Resolved alerts** go out once, in the next notice of their group, and are
  then dropped; a group whose alerts all resolved before it ever notified
  sends nothing (the receiver never heard of them).
- **Muting** happens at flush time (``Muter.mutes``): a muted alert is left
  out of the notice as if it were not in the group, and is told of once the
  mute ends, if it still fires.
- **Idempotency key.** A notice's key hashes the receiver, whom it delivers
  to, the group key and the alerts it carries with their states, plus the
  instant for a repeat: the same content made again after a crash has the
  same key, so the outbox (and a receiver that honours the key) takes it once.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from monitord.alerting.mute import Muter, Muters
from monitord.alerting.notice import Notice, NoticeAlert, NoticeState
from monitord.alerting.receivers import Delivery
from monitord.alerting.route import Route, Router, route_labels
from monitord.domain import Alert, Labels

Details = Callable[[str, Mapping[str, str], datetime, datetime], Mapping[str, str]]
"""``(alertname, labels, fired_at, now)`` -> the facts a message shows beyond the labels (``NoticeAlert.details``)."""


class AlertId(NamedTuple):
    """What makes one occurrence of an alert: its name, labels and firing instant."""

    name: str
    labels: Labels
    fired_at: datetime


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An alert as the dispatcher last heard of it (``Alert`` objects change in place; this does not)."""

    id: AlertId
    resolved_at: datetime | None

    @staticmethod
    def of(alert: Alert) -> Snapshot:
        """The snapshot of a fired (possibly resolved) alert."""
        if alert.fired_at is None:
            raise ValueError(f"alert {alert.name} has not fired")
        return Snapshot(AlertId(alert.name, alert.key.labels, alert.fired_at), alert.resolved_at)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """What a group's receiver was last told: the alerts firing and resolved in it, and when."""

    firing: frozenset[AlertId]
    resolved: frozenset[AlertId]
    at: datetime


@dataclass(slots=True)
class Group:
    """The alerts of one route with the same group labels, and when the group is next looked at."""

    key: str
    route: Route
    labels: dict[str, str]
    delivery: Delivery
    alerts: dict[AlertId, Snapshot] = field(default_factory=dict)
    next_at: datetime | None = None  # None: nothing to do until an alert joins or resolves
    flushed_at: datetime | None = None  # the last flush (None: never flushed yet)


@dataclass(frozen=True)
class Due:
    """A notice the dispatcher made, with the key of the group it belongs to (the outbox stores both)."""

    group_key: str
    notice: Notice


_quote = json.JSONEncoder(ensure_ascii=False).encode  # built once: json.dumps with options builds one per call


def group_key(route: Route, labels: Mapping[str, str]) -> str:
    """A group's identity: the route's place in the tree and its group labels (``...routes[0]{customer="C1"}``)."""
    inner = ",".join([f"{k}={_quote(v)}" for k, v in sorted(labels.items())])
    return f"{route.key}{{{inner}}}"


class Dispatcher:
    """Groups routed alerts and says which notices are due when; time is always the caller's ``now``."""

    def __init__(self, router: Router | None, muter: Muter | None = None, details: Details | None = None,
                 log: Mapping[str, LogEntry] | None = None) -> None:
        """``router`` None (no ``alerting:`` section): nothing is routed, so nothing is ever due."""
        self.router = router
        self.muter: Muter = muter or Muters()
        self.details = details
        self.groups: dict[str, Group] = {}
        # (next_at, seq, group key) of every group with something to do: entries whose group is gone or
        # has moved its next_at are stale and skipped, so finding what is due costs O(log groups), not a scan.
        self._heap: list[tuple[datetime, int, str]] = []
        self._seq = itertools.count()
        self.log: dict[str, LogEntry] = dict(log or {})  # by group key: the notification log

    # inputs -----------------------------------------------------------------
    def take(self, alerts: Iterable[Alert | Snapshot], now: datetime) -> None:
        """Add fired alerts to their groups, or update them when they resolved (alerts not fired are ignored)."""
        if self.router is None:
            return
        for alert in alerts:
            if isinstance(alert, Alert):
                if alert.fired_at is None:
                    continue
                alert = Snapshot.of(alert)
            snap = alert
            routed = route_labels(snap.id)
            for route, delivery in self.router.deliveries(routed):
                labels = route.group_labels(routed)
                key = group_key(route, labels)
                group = self.groups.get(key)
                if group is None:
                    group = self.groups[key] = Group(key, route, labels, delivery, next_at=now + route.group_wait)
                    self._schedule(group)
                before = group.alerts.get(snap.id)
                if before == snap:
                    continue
                group.alerts[snap.id] = snap
                if group.flushed_at is not None:
                    # A change to a group already notified follows one group_interval after its last flush.
                    at = max(now, group.flushed_at + route.group_interval)
                    if group.next_at is None or at < group.next_at:
                        group.next_at = at
                        self._schedule(group)

    def remember(self, key: str, notice: Notice) -> None:
        """Take a notice sent (or written to be sent) before, as the group's last notice if it is the latest.

        Start-up calls this with the stored notification log, before ``take``.
        """
        entry = LogEntry(frozenset(_id(a) for a in notice.firing), frozenset(_id(a) for a in notice.resolved),
                         notice.at)
        old = self.log.get(key)
        if old is None or old.at <= entry.at:
            if entry.firing:
                self.log[key] = entry
            else:
                self.log.pop(key, None)  # all resolved: as if never told (see _needs_notice)

    # queries ----------------------------------------------------------------
    def next_instant(self) -> datetime | None:
        """When the next group is due, or None."""
        heap = self._heap
        while heap and not self._current(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def alerts(self) -> list[Snapshot]:
        """Every alert the groups hold (firing, and resolved not yet told)."""
        seen: dict[AlertId, Snapshot] = {}
        for g in self.groups.values():
            seen.update(g.alerts)
        return list(seen.values())

    def due(self, now: datetime) -> list[Due]:
        """Flush every group due by ``now``: the notices to send, in group-key order."""
        out: list[Due] = []
        heap, keys = self._heap, set()
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if self._current(entry):
                keys.add(entry[2])
        for key in sorted(keys):
            notice = self._flush(self.groups[key], now)
            if notice is not None:
                out.append(Due(key, notice))
        return out

    # internals --------------------------------------------------------------
    def _flush(self, group: Group, now: datetime) -> Notice | None:
        route = group.route
        firing: dict[AlertId, Snapshot] = {}
        resolved: dict[AlertId, Snapshot] = {}
        muted = False
        for ident, snap in group.alerts.items():
            if self.muter.mutes(route_labels(ident), now) is not None:
                muted = True
            elif snap.resolved_at is not None:
                resolved[ident] = snap
            else:
                firing[ident] = snap
        entry = self.log.get(group.key)
        repeat_at = entry.at + route.repeat_interval if entry is not None else None
        notice = None
        if _needs_notice(entry, firing.keys(), resolved.keys(), repeat_at, now):
            repeat = entry is not None and entry.firing == firing.keys() and entry.resolved >= resolved.keys()
            # A repeat is stamped with its scheduled instant, so one made late after a restart keeps its key.
            at = repeat_at if repeat and repeat_at is not None else now
            notice = self._notice(group, firing, resolved, at, repeat, now)
            if firing:
                self.log[group.key] = LogEntry(frozenset(firing), frozenset(resolved), at)
            else:
                self.log.pop(group.key, None)
        group.flushed_at = now
        # Resolved alerts are done once flushed: told now, or muted, or never told (fired and resolved unseen).
        group.alerts = {i: s for i, s in group.alerts.items() if s.resolved_at is None}
        if not group.alerts:
            del self.groups[group.key]
            return notice
        entry = self.log.get(group.key)
        if muted:
            group.next_at = now + route.group_interval  # the mute may end: look again
        elif entry is not None and entry.firing:
            group.next_at = entry.at + route.repeat_interval
        else:
            group.next_at = None
        self._schedule(group)
        return notice

    def _schedule(self, group: Group) -> None:
        if group.next_at is not None:
            heapq.heappush(self._heap, (group.next_at, next(self._seq), group.key))

    def _current(self, entry: tuple[datetime, int, str]) -> bool:
        """Whether a heap entry still says when its group is next due."""
        group = self.groups.get(entry[2])
        return group is not None and group.next_at == entry[0]

    def _notice(self, group: Group, firing: Mapping[AlertId, Snapshot], resolved: Mapping[AlertId, Snapshot],
                at: datetime, repeat: bool, now: datetime) -> Notice:
        d = group.delivery
        alerts = [self._alert(s, NoticeState.FIRING, now) for _, s in sorted(firing.items())]
        alerts += [self._alert(s, NoticeState.RESOLVED, now) for _, s in sorted(resolved.items())]
        target = d.person.email if d.person is not None else ""
        content = [[a.name, sorted(a.labels.items()), a.fired_at.isoformat(), a.state.value,
                    a.resolved_at.isoformat() if a.resolved_at else None] for a in alerts]
        ident = [d.receiver, d.delivers.name, target, group.key, content, at.isoformat() if repeat else None]
        key = hashlib.sha256(json.dumps(ident, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()
        return Notice(key, d.receiver, d.delivers.name, dict(group.labels), tuple(alerts), at, d.person)

    def _alert(self, snap: Snapshot, state: NoticeState, now: datetime) -> NoticeAlert:
        ident = snap.id
        labels = dict(ident.labels)
        details = self.details(ident.name, labels, ident.fired_at, now) if self.details else {}
        resolved_at = snap.resolved_at if state is NoticeState.RESOLVED else None
        return NoticeAlert(ident.name, labels, state, ident.fired_at, resolved_at, dict(details))


def _id(a: NoticeAlert) -> AlertId:
    return AlertId(a.name, tuple(sorted(a.labels.items())), a.fired_at)


def _needs_notice(entry: LogEntry | None, firing: Iterable[AlertId], resolved: Iterable[AlertId],
                  repeat_at: datetime | None, now: datetime) -> bool:
    """Alertmanager's ``DedupStage.needsUpdate``: whether the receiver must be told of this content now."""
    firing, resolved = set(firing), set(resolved)
    if entry is None:
        return bool(firing)  # nothing told yet: only firing alerts are news
    if not firing <= entry.firing:
        return True  # an alert the receiver has not heard fire
    if not firing:
        return bool(entry.firing)  # everything it was told of has resolved
    if not resolved <= entry.resolved:
        return True  # a resolution it has not heard of
    return repeat_at is not None and now >= repeat_at
