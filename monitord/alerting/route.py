"""The routing tree: an alert's labels -> the routes it reaches -> their receivers.

Learned from Prometheus Alertmanager's routing tree, with the same semantics:

- A route matches when all its ``matchers`` hold (``=``, ``!=``, ``=~``, ``!~``;
  regexes anchored; a missing label is ""). The root route has no matchers
  and matches every alert.
- Matching is depth-first. Among a route's children the first that matches
  wins and the search stops there, unless that child has ``continue: true``,
  in which case the next children are tried too. When no child matches, the
  route itself is the match. So a route whose children all ``continue`` is
  not itself a match when any of them matched: end such a list with a
  catch-all child (no matchers) to reach its receiver as well.
- ``receiver``, ``group_by``, ``group_wait``, ``group_interval`` and
  ``repeat_interval`` are inherited from the parent when a route leaves them
  out; ``group_by: [...]`` groups by all labels.

An alert's name is its ``alertname`` label (``route_labels``).

Defaults (when the root route leaves them out) suit a NOC that works against
minute limits, not Alertmanager's 30 s / 5 m / 4 h:

- ``group_wait: 0s``. monitord's alerts fire at computed instants (a deadline,
  a debounced poll), not at periodic rule evaluations, and alerts of one
  instant (all circuits of one device in one poll) reach the router
  together, so waiting gathers little while every second counts against an
  AAA circuit's 60-minute restoration limit. A route for low-severity alerts
  may set a longer wait (the shipped example waits 30 s for warnings).
- ``group_interval: 1m``: alerts joining a group already notified (more
  circuits of a site going down across the next polls) follow within a
  minute, not five.
- ``repeat_interval: 1h``: a breach still firing is repeated once an hour
  for the shift; the escalation steps are alerts of their own and are not
  delayed by it.
- ``group_by: [alertname, customer]``: one notice per alert kind per
  customer. Grouping by ``customer`` is also what lets a receiver resolved
  per customer (the account manager) get one notice per customer; a route
  to such a receiver must group by ``customer`` (or ``...``).

The settings (and an example) are in ``monitord.config.alerting``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Protocol

from monitord.alerting.receivers import CustomerLookup, Delivery, resolve
from monitord.config.alerting import (
    DEFAULT_GROUP_BY,
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
    GROUP_BY_ALL,
    AlertingSettings,
    RouteSettings,
)
from monitord.domain import Labels


class Named(Protocol):
    """An alert's identity as far as routing goes: ``AlertKey``, or the dispatcher's ``AlertId``."""

    @property
    def name(self) -> str: ...

    @property
    def labels(self) -> Labels: ...


def route_labels(key: Named) -> dict[str, str]:
    """The labels an alert is routed, grouped and muted on: its own plus ``alertname``."""
    return {**dict(key.labels), "alertname": key.name}


# run time ---------------------------------------------------------------------


class Route:
    """A node of the routing tree at run time, every option resolved against its parents."""

    __slots__ = ("_tests", "continue_", "group_by", "group_by_all", "group_interval", "group_wait", "key", "line",
                 "matchers", "parent", "receiver", "repeat_interval", "routes")

    def __init__(self, settings: RouteSettings, parent: Route | None = None) -> None:
        self.parent = parent
        self.key, self.line = settings.key, settings.line
        self.matchers = settings.matchers
        self._tests = tuple((m.name, m.test) for m in settings.matchers)
        self.continue_ = settings.continue_
        receiver = settings.receiver or (parent.receiver if parent else None)
        if receiver is None:
            raise ValueError("the root route needs a receiver")
        self.receiver: str = receiver
        if settings.group_by is not None:
            self.group_by_all: bool = GROUP_BY_ALL in settings.group_by
            self.group_by: tuple[str, ...] = () if self.group_by_all else settings.group_by
        else:
            self.group_by_all = parent.group_by_all if parent else False
            self.group_by = parent.group_by if parent else DEFAULT_GROUP_BY
        s, p = settings, parent
        self.group_wait: timedelta = (s.group_wait if s.group_wait is not None
                                      else p.group_wait if p else DEFAULT_GROUP_WAIT)
        self.group_interval: timedelta = (s.group_interval if s.group_interval is not None
                                          else p.group_interval if p else DEFAULT_GROUP_INTERVAL)
        self.repeat_interval: timedelta = (s.repeat_interval if s.repeat_interval is not None
                                           else p.repeat_interval if p else DEFAULT_REPEAT_INTERVAL)
        self.routes = [Route(child, self) for child in settings.routes]

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert with ``labels`` reaches, depth-first, in order (empty if this one does not match)."""
        found: list[Route] = []
        self._collect(labels, found)
        return found

    def _collect(self, labels: Mapping[str, str], found: list[Route]) -> bool:
        """Append the routes reached below (or this one); whether this route matched at all."""
        for name, test in self._tests:
            if not test(labels.get(name, "")):
                return False
        before = len(found)
        for child in self.routes:
            if child._collect(labels, found) and not child.continue_:
                break
        if len(found) == before:
            found.append(self)
        return True

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels that pick an alert's group at this route (missing ones are left out)."""
        if self.group_by_all:
            return dict(labels)
        return {k: labels[k] for k in self.group_by if k in labels}

    def walk(self, depth: int = 0) -> Iterator[tuple[int, Route]]:
        """This route and all below it, depth-first, with their depth."""
        yield depth, self
        for child in self.routes:
            yield from child.walk(depth + 1)

    def describe(self) -> str:
        """One line: matchers, receiver, continue, and the options that differ from the parent's."""
        parts = ["{" + ", ".join(map(str, self.matchers)) + "}" if self.matchers else "{}", self.receiver]
        if self.continue_:
            parts.append("continue")
        p = self.parent
        if p is None or (self.group_by, self.group_by_all) != (p.group_by, p.group_by_all):
            parts.append("group_by=[" + (GROUP_BY_ALL if self.group_by_all else ", ".join(self.group_by)) + "]")
        for name in ("group_wait", "group_interval", "repeat_interval"):
            value = getattr(self, name)
            if p is None or value != getattr(p, name):
                parts.append(f"{name}={format_duration(value)}")
        return "  ".join(parts)

    def __repr__(self) -> str:
        return f"Route({self.key}: {self.describe()})"


def format_duration(d: timedelta) -> str:
    """``timedelta(minutes=90)`` -> ``1h30m``; zero -> ``0s``."""
    seconds = int(d.total_seconds())
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out or "0s"


class Router:
    """The routing tree plus the receivers: labels -> the deliveries an alert makes."""

    def __init__(self, settings: AlertingSettings, lookup: CustomerLookup | None = None) -> None:
        self.root = Route(settings.route)
        self.receivers = settings.receivers
        self.lookup = lookup

    def routes(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert with ``labels`` reaches."""
        return self.root.match(labels)

    def deliveries(self, labels: Mapping[str, str]) -> list[tuple[Route, Delivery]]:
        """Each route reached, with whom its receiver reaches for these labels."""
        return [(r, resolve(r.receiver, labels, self.receivers, self.root.receiver, self.lookup))
                for r in self.root.match(labels)]
