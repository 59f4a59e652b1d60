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

Example (a section of monitord.yaml; ``demo/alerting.yaml`` is a fuller one)::

    alerting:
      route:
        receiver: noc-oncall
        routes:
          - matchers: ['step=~"shift_supervisor|department_head"']
            receiver: shift-supervisors
            continue: true
          - receiver: noc-oncall
      receivers:
        - name: noc-oncall
          notifiers: [{kind: webhook, url: "https://chat.example.com/hooks/noc"}]
        - name: shift-supervisors
          notifiers: [{kind: email, to: [supervisors@example.com]}]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from monitord.alerting.matchers import LABEL_NAME, Matcher, MatchOp, parse_matcher
from monitord.alerting.receivers import (
    CustomerLookup,
    Delivery,
    ReceiverSettings,
    check_fallbacks,
    parse_receivers,
    resolve,
)
from monitord.domain import AlertKey
from monitord.yamldoc import Section

__all__ = [
    "AlertingSettings",
    "Delivery",
    "MatchOp",
    "Matcher",
    "ReceiverSettings",
    "Route",
    "RouteSettings",
    "Router",
    "alerting_settings",
    "route_labels",
]

GROUP_BY_ALL = "..."
"""``group_by: [...]``: group by every label (each distinct label set is its own group)."""

DEFAULT_GROUP_BY = ("alertname", "customer")
DEFAULT_GROUP_WAIT = timedelta(0)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=1)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=1)

ROUTE_KEYS = ("receiver", "matchers", "continue", "group_by", "group_wait", "group_interval", "repeat_interval",
              "routes")


@dataclass(frozen=True)
class RouteSettings:
    """One node of the routing tree as written; None means "inherited from the parent"."""

    receiver: str | None = None
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    group_by: tuple[str, ...] | None = None  # (GROUP_BY_ALL,): every label
    group_wait: timedelta | None = None
    group_interval: timedelta | None = None
    repeat_interval: timedelta | None = None
    routes: tuple[RouteSettings, ...] = ()
    key: str = "route"  # where it is written, e.g. alerting.route.routes[1]
    line: int = 0


@dataclass(frozen=True)
class AlertingSettings:
    """The ``alerting:`` section of monitord.yaml, validated: the routing tree and the receivers."""

    route: RouteSettings
    receivers: Mapping[str, ReceiverSettings] = field(default_factory=dict)


def route_labels(key: AlertKey) -> dict[str, str]:
    """The labels an alert is routed on: its own plus ``alertname``."""
    return {**dict(key.labels), "alertname": key.name}


# parsing ----------------------------------------------------------------------


def alerting_settings(sec: Section) -> AlertingSettings | None:
    """Settings from the ``alerting:`` section; None when it has problems (each recorded with its place)."""
    before = len(sec.problems.items)
    if not sec.is_mapping():
        sec.error("expected a mapping with route: and receivers:")
        return None
    sec.only("route", "receivers")
    rec_sec = sec.get("receivers", required=True)
    receivers = parse_receivers(rec_sec) if rec_sec else {}
    route_sec = sec.get("route", required=True)
    route = _route(route_sec, receivers, None) if route_sec else None
    if rec_sec is not None:
        check_fallbacks(rec_sec, receivers, route.receiver if route else None)
    if route is None or len(sec.problems.items) > before:
        return None
    return AlertingSettings(route, receivers)


@dataclass(frozen=True)
class _Inherited:
    """What a child route takes from its parent, for the checks that need it."""

    receiver: str | None
    group_by: tuple[str, ...]


def _route(sec: Section, receivers: Mapping[str, ReceiverSettings], parent: _Inherited | None) -> RouteSettings | None:
    if not sec.is_mapping():
        sec.error("expected a route mapping (receiver, matchers, routes, ...)")
        return None
    for old in ("match", "match_re"):
        if (s := sec.get(old)) is not None:
            s.error("not supported: write matchers: ['label=\"value\"'] (or =~ for a regex)")
    sec.only(*ROUTE_KEYS, "match", "match_re")
    receiver = _receiver(sec, receivers, parent is None)
    matchers = _matchers(sec.get("matchers"))
    cont_sec = sec.get("continue")
    cont = bool(cont_sec.flag()) if cont_sec else False
    group_by = _group_by(sec.get("group_by"))
    group_wait = _duration(sec.get("group_wait"), zero_ok=True)
    group_interval = _duration(sec.get("group_interval"), zero_ok=False)
    repeat_interval = _duration(sec.get("repeat_interval"), zero_ok=False)
    if parent is None:
        if sec.get("matchers") is not None:
            sec.child("matchers", None).error("the root route matches every alert: it takes no matchers")
        if cont and cont_sec is not None:
            cont_sec.error("the root route has no siblings to continue to")
    here = _Inherited(receiver or (parent.receiver if parent else None),
                      group_by if group_by is not None else (parent.group_by if parent else DEFAULT_GROUP_BY))
    _check_grouping(sec, receivers, here, receiver is not None or group_by is not None)
    routes = sec.get("routes")
    children = [_route(child, receivers, here) for child in (routes.entries() if routes else [])]
    return RouteSettings(receiver, matchers, cont, group_by, group_wait, group_interval, repeat_interval,
                         tuple(child for child in children if child is not None), sec.key, sec.line)


def _receiver(sec: Section, receivers: Mapping[str, ReceiverSettings], root: bool) -> str | None:
    r = sec.get("receiver", required=root)
    name = r.text() if r else None
    if r is None or name is None:
        return None
    if name not in receivers:
        known = ", ".join(receivers) or "none are defined"
        r.error(f'no receiver named "{name}" under receivers: ({known})')
        return None
    if root and receivers[name].dynamic:
        r.error(f'the root receiver gets every alert no other route takes and is the fallback of the others; '
                f'"{name}" depends on the inventory (person: {receivers[name].person})')
    return name


def _matchers(sec: Section | None) -> tuple[Matcher, ...]:
    out = []
    for m in sec.entries() if sec else []:
        text = m.text()
        if text is None:
            continue
        parsed = parse_matcher(text)
        if isinstance(parsed, str):
            m.error(parsed)
        else:
            out.append(parsed)
    return tuple(out)


def _group_by(sec: Section | None) -> tuple[str, ...] | None:
    if sec is None:
        return None
    if not isinstance(sec.value, list):
        sec.error(f'expected a list of label names (or ["{GROUP_BY_ALL}"])')
        return None
    names: list[str] = []
    for e in sec.entries():
        name = e.text()
        if name is None:
            continue
        if name != GROUP_BY_ALL and not LABEL_NAME.match(name):
            e.error(f'"{name}" is not a label name')
        elif name in names:
            e.error(f'"{name}" is listed twice')
        else:
            names.append(name)
    if GROUP_BY_ALL in names and len(names) > 1:
        sec.error(f'"{GROUP_BY_ALL}" already groups by every label: list nothing else with it')
    return tuple(names)


def _duration(sec: Section | None, zero_ok: bool) -> timedelta | None:
    if sec is None:
        return None
    d = sec.duration()
    if d is not None and not zero_ok and d <= timedelta(0):
        sec.error("expected a duration above 0")
        return None
    return d


def _check_grouping(sec: Section, receivers: Mapping[str, ReceiverSettings], here: _Inherited,
                    changed: bool) -> None:
    """A receiver resolved per customer needs groups of one customer; checked where either is set."""
    r = receivers.get(here.receiver or "")
    if not changed or r is None or not r.dynamic:
        return
    if "customer" in here.group_by or GROUP_BY_ALL in here.group_by:
        return
    where = sec.child("receiver", None) if sec.get("receiver") is not None else sec.child("group_by", None)
    where.error(f'receiver "{r.name}" is resolved per customer, so its groups must be too: group_by must include '
                f'customer (or be [{GROUP_BY_ALL}]); it is [{", ".join(here.group_by)}]')


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
