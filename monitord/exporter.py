"""Prometheus metrics: a custom collector that reads the daemon's current state at scrape time.

No per-series Gauge objects: each scrape turns one ``Snapshot`` of the daemon
into metric families (``families``), so there is nothing to keep in step.
``StateCollector`` hands them to prometheus_client as its metric families;
``exposition`` writes the same families as text itself, because
prometheus_client's writer spends some 15 us per sample and a network of
100,000 circuits has some 300,000 per-circuit samples: 5 s against 0.8 s
(``bench/scrape.py``; the tests check that both give the same bytes).

The snapshot is cheap to take on the event loop and safe to render in a
worker thread: its rows are immutable, and the per-circuit and per-ticket
rows come from ``StateView``, which keeps them between scrapes and computes
again only the circuits and tickets whose facts changed (``touch``).

Metric families (all prefixed ``monitord_``):

- per circuit (labels circuit, customer, sla_class): ``circuit_up``,
  ``circuit_availability_ratio`` (month to date), ``circuit_downtime_budget_remaining_seconds``;
- per open ticket: ``ticket_next_deadline_timestamp_seconds{ticket,circuit,customer,sla_class,kind}``;
- ``tickets_open{stage,sla_class}``, ``sla_breaches_total{kind,sla_class}``,
  ``sla_availability_target_ratio{sla_class}``, ``sla_downtime_budget_seconds{sla_class}``;
- devices: ``device_up{device}``, ``snmp_polls_total{device}``, ``snmp_poll_errors_total{device}``,
  ``snmp_poll_duration_seconds`` (histogram);
- the daemon: ``engine_lag_seconds``, ``engine_next_wakeup_timestamp_seconds``, ``alerts_firing``,
  ``events_ingested_total``, ``config_last_reload_successful``,
  ``config_last_reload_success_timestamp_seconds``, ``build_info``;
- notices and ticket databases: ``notifications_total``, ``notifier_deliveries_total``,
  ``notification_outbox_backlog``, ``ticket_source_*``.
"""

from __future__ import annotations

import bisect
import platform
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from monitord import __version__
from monitord.domain import Alert, ObservationType, Ticket
from monitord.sla.alerts import SlaPlanner
from monitord.sla.availability import Month, budget_seconds
from monitord.sla.facts import AVAILABILITY, DOWN, TICKET, Facts
from monitord.sources.tickets_sql import PollStats

POLL_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the SNMP poll duration histogram: a loopback answer to a dead device's timeouts."""

CIRCUIT_LABELS = ("circuit", "customer", "sla_class")
TICKET_LABELS = ("ticket", "circuit", "customer", "sla_class", "kind")


def _escape(value: str) -> str:
    """A label value as the text format writes it between double quotes."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")
    return value


def label_text(names: Sequence[str], values: Sequence[str]) -> str:
    """Label pairs as they stand between the braces of a sample line: ``a="x",b="y"``, sorted by name.

    Sorted as prometheus_client writes them, so that both writers give the same lines.
    """
    return ",".join(f'{n}="{_escape(v)}"' for n, v in sorted(zip(names, values, strict=True)))


# -- rows: what a snapshot holds per circuit and per ticket ----------------------------------


@dataclass(frozen=True, slots=True)
class CircuitRow:
    """One circuit as the exporter shows it: its labels, whether it is down, and its outage spans.

    ``spans`` are its SLA-affecting outage spans (net of maintenance and
    customer-caused faults) from the start of the month of the ``StateView``
    that made the row, in seconds since the epoch (an open one ends at
    ``FOREVER``): enough to give its month-to-date downtime at any later
    instant of that month. Immutable, so a worker thread may read it.
    """

    values: tuple[str, str, str]  # circuit, customer, sla_class
    labels: str  # the same rendered once, for the text writer
    sla_class: str
    down: bool  # a fault open: monitoring last saw it down, or a ticket on it is not yet restored
    spans: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True)
class TicketRow:
    """One open ticket: its stage and class, and its next deadline (the earliest one not yet done)."""

    sla_class: str
    stage: str  # the latest step's TicketEventType value (``app.ticket_stage``)
    values: tuple[str, str, str, str, str] | None = None  # TICKET_LABELS; None: no limit is running
    labels: str = ""
    due: float | None = None  # seconds since the epoch


@dataclass(frozen=True, slots=True)
class PollFigures:
    """Device poll counts and the poll duration histogram, as of one instant."""

    polls: Mapping[str, int] = field(default_factory=dict)  # by device (host:port)
    errors: Mapping[str, int] = field(default_factory=dict)  # polls without a usable answer, or with an SNMP error
    buckets: tuple[int, ...] = (0,) * (len(POLL_BUCKETS) + 1)  # per bucket, the last one +Inf (not cumulative)
    total_seconds: float = 0.0


class DevicePolls:
    """Counts the daemon's device polls as they come in (on the event loop), for the exporter."""

    def __init__(self) -> None:
        self._polls: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._buckets = [0] * (len(POLL_BUCKETS) + 1)
        self._seconds = 0.0

    def observe(self, device: str, seconds: float, failed: bool) -> None:
        """Take one poll of ``device`` that took ``seconds`` and failed or not."""
        self._polls[device] += 1
        if failed:
            self._errors[device] += 1
        self._buckets[bisect.bisect_left(POLL_BUCKETS, seconds)] += 1
        self._seconds += seconds

    def figures(self) -> PollFigures:
        """A copy of the counts so far."""
        return PollFigures(dict(self._polls), dict(self._errors), tuple(self._buckets), self._seconds)


@dataclass(frozen=True)
class Snapshot:
    """What a scrape reads from the daemon: plain values and immutable rows, taken on the event loop."""

    reload_ok: bool
    reload_timestamp: float  # seconds since the epoch of the last successful (re)load
    firing: Sequence[Alert]
    next_instant: float | None  # seconds since the epoch of the engine's next wake-up
    events_total: int
    ticket_sources: Mapping[str, PollStats] = field(default_factory=dict)  # by source name
    notifications: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (receiver, result) -> notices
    outbox_backlog: int | None = None  # notices written and not yet sent or given up; None: no outbox
    deliveries: Mapping[tuple[str, str, str], int] = field(default_factory=dict)  # (receiver, kind, result)
    now: float = 0.0  # the daemon's clock, seconds since the epoch: the instant availability is given for
    engine_lag: float = 0.0  # seconds the engine is behind: now minus its oldest unprocessed instant, or 0
    month: tuple[float, float] = (0.0, 1.0)  # bounds of the current month (epoch seconds) in the rules' zone
    targets: Mapping[str, float] = field(default_factory=dict)  # per SLA class: monthly availability target
    circuits: Sequence[CircuitRow] = ()
    tickets: Sequence[TicketRow] = ()
    breaches: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (deadline kind, sla_class) -> breaches
    devices: Mapping[str, bool] = field(default_factory=dict)  # device -> reachable at its last poll
    polls: PollFigures = field(default_factory=PollFigures)
    calendar_until: float | None = None  # epoch seconds: the end of the last day the holiday calendar knows
    calendar_guessed: tuple[int, ...] = ()  # years whose working days were taken as Monday to Friday


# -- the state view: rows kept between scrapes ------------------------------------------------


class StateView:
    """The exporter's circuit and ticket rows of one daemon state, recomputed only where facts changed.

    Built in full for a new state (start-up, each reload); after that ``touch``
    marks the circuits and tickets an event changed and ``rows`` computes only
    those again, so a scrape costs the event loop O(changes since the last one)
    plus copying two lists. When the month turns, circuits keep their spans
    (see ``_turn``). Called on the event loop only.
    """

    def __init__(self, facts: Facts, planner: SlaPlanner, stage: Callable[[Ticket], str], now: datetime) -> None:
        self.facts, self.planner, self._stage = facts, planner, stage
        self._tz = planner.policy.tz
        self._month = Month.of(now, self._tz)
        self._circuits: dict[str, CircuitRow] = {}
        self._tickets: dict[str, TicketRow] = {}
        self._dirty_circuits: set[str] = set()
        self._dirty_tickets: set[str] = set()
        self.computed = 0  # circuit and ticket rows computed so far (tests and benchmarks read it)
        for cid in facts.inventory.circuits:
            self._circuits[cid] = self._circuit(cid, busy=self._busy(cid))
        for tid, t in facts.tickets.items():
            if t.closed is None:
                self._put_ticket(tid)

    def touch(self, subjects: Iterable[tuple[str, str]]) -> None:
        """Mark what an event changed (``Facts.apply``'s subjects) for the next ``rows``."""
        for kind, ident in subjects:
            if kind == TICKET:
                self._dirty_tickets.add(ident)
                if (t := self.facts.tickets.get(ident)) is not None:
                    self._dirty_circuits.add(t.circuit)  # its state: a ticket opened or restored
            elif kind in (AVAILABILITY, DOWN):
                self._dirty_circuits.add(ident)

    def rows(self, now: datetime) -> tuple[Month, list[CircuitRow], list[TicketRow]]:
        """The month of ``now`` and every circuit's and open ticket's row, brought up to date."""
        month = Month.of(now, self._tz)
        if month != self._month:
            self._turn(month)
        for cid in self._dirty_circuits:
            if cid in self._circuits:
                self._circuits[cid] = self._circuit(cid, busy=True)
        for tid in self._dirty_tickets:
            self._put_ticket(tid)
        self._dirty_circuits.clear()
        self._dirty_tickets.clear()
        return month, list(self._circuits.values()), list(self._tickets.values())

    def _turn(self, month: Month) -> None:
        """Move to another month: spans that ended before it are dropped, the others kept.

        Spans computed from an earlier month's start are exact from then on, so an
        outage still open counts from the new month's start as it is; only a circuit
        with recurring maintenance windows is computed again, because the planner
        expands those only up to the end of the month it plans in.
        """
        start = month.bounds(self._tz)[0].timestamp()
        later = month > self._month
        self._month = month
        for cid, row in self._circuits.items():
            if not later:  # the clock went back: start over
                self._dirty_circuits.add(cid)
            elif not row.spans:
                continue
            elif row.spans[-1][1] <= start:
                self._circuits[cid] = CircuitRow(row.values, row.labels, row.sla_class, row.down)
            elif self.facts.recurring.get(cid):
                self._dirty_circuits.add(cid)

    def _busy(self, cid: str) -> bool:
        """Whether a circuit may have downtime this month (as ``app.startup_subjects`` decides)."""
        start = self._month.bounds(self._tz)[0]
        for t in self.facts.circuit_tickets.get(cid, ()):
            ended = t.closed or t.restored
            if ended is None or ended >= start:
                return True
        obs = self.facts.observations.get(cid)
        return obs is not None and bool(obs) and (obs[-1].at >= start or obs[-1].type is ObservationType.DOWN)

    def _circuit(self, cid: str, busy: bool) -> CircuitRow:
        """A circuit's row from the facts; its outage spans only when ``busy`` (else it has none this month)."""
        self.computed += 1
        c = self.facts.inventory.circuits[cid]
        values = (c.id, c.customer, c.sla_class.value)
        old = self._circuits.get(cid)
        labels = old.labels if old is not None else label_text(CIRCUIT_LABELS, values)
        obs = self.facts.observations.get(cid)
        down = obs is not None and bool(obs) and obs[-1].type is ObservationType.DOWN
        down = down or any(t.restored is None and t.closed is None for t in self.facts.circuit_tickets.get(cid, ()))
        if not busy:
            return CircuitRow(values, labels, values[2], down)
        spans = self.planner.outage_spans(cid, since=self._month.bounds(self._tz)[0])
        return CircuitRow(values, labels, values[2], down, tuple((s.timestamp(), e.timestamp()) for s, e in spans))

    def _put_ticket(self, tid: str) -> None:
        """Compute an open ticket's row again, or drop it once closed (or gone with its circuit)."""
        t = self.facts.tickets.get(tid)
        circuit = self.facts.inventory.circuits.get(t.circuit) if t is not None else None
        if t is None or t.closed is not None or circuit is None:
            self._tickets.pop(tid, None)
            return
        self.computed += 1
        pending = [c.deadline for c in self.planner.clocks(tid)
                   if c.deadline.done_at is None and c.deadline.due is not None]
        cls = circuit.sla_class.value
        if not pending:
            self._tickets[tid] = TicketRow(cls, self._stage(t))
            return
        nxt = min(pending, key=lambda d: d.due or d.start)
        assert nxt.due is not None
        values = (tid, circuit.id, circuit.customer, cls, nxt.kind.value)
        self._tickets[tid] = TicketRow(cls, self._stage(t), values, label_text(TICKET_LABELS, values),
                                       nxt.due.timestamp())


# -- families: the one description of every metric ---------------------------------------------

@dataclass(frozen=True, slots=True)
class Family:
    """One metric family in columns, one entry per sample; ``name`` as exposed (a counter's ends in ``_total``).

    Columns rather than a tuple per sample: the per-circuit families share one
    column of labels, and a scrape of a large network makes 300,000 samples.
    """

    name: str
    documentation: str
    type: str  # gauge, counter or histogram
    labelnames: tuple[str, ...]
    labels: Sequence[Sequence[str]]  # per sample: its label values, in labelnames' order
    values: Sequence[float]  # per sample: its value (floats, as the text shows them)
    texts: Sequence[str] | None = None  # per sample: the labels rendered (``label_text``); None: render them
    # histogram only: cumulative counts per POLL_BUCKETS bound then +Inf, and the sum
    buckets: tuple[int, ...] = ()
    total: float = 0.0


def _gauge(name: str, doc: str, labelnames: tuple[str, ...] = (), rows: Iterable[tuple[Sequence[str], float]] = (),
           type_: str = "gauge") -> Family:
    """A small family from (label values, value) pairs."""
    pairs = list(rows)
    return Family(name, doc, type_, labelnames, [v for v, _ in pairs], [float(x) for _, x in pairs])


def _counter(name: str, doc: str, labelnames: tuple[str, ...] = (),
             rows: Iterable[tuple[Sequence[str], float]] = ()) -> Family:
    """A small counter family (``name`` ends in ``_total``) from (label values, value) pairs."""
    return _gauge(name, doc, labelnames, rows, "counter")


def families(s: Snapshot) -> list[Family]:
    """Every metric family of a snapshot, sorted label values within the small ones."""
    out = [
        _gauge("monitord_build_info", "monitord's version and the Python it runs on (always 1).",
               ("version", "python_version"), [((__version__, platform.python_version()), 1)]),
        _gauge("monitord_config_last_reload_successful",
               "Whether the last configuration reload succeeded (1) or kept the old set (0).",
               rows=[((), 1.0 if s.reload_ok else 0.0)]),
        _gauge("monitord_config_last_reload_success_timestamp_seconds",
               "When the configuration in force was loaded (start-up or the last successful reload).",
               rows=[((), s.reload_timestamp)]),
        _gauge("monitord_alerts_firing", "Alerts firing now, by name and severity.", ("alertname", "severity"),
               sorted(Counter((a.key.name, dict(a.key.labels).get("severity", "")) for a in s.firing).items())),
        _gauge("monitord_engine_next_wakeup_timestamp_seconds",
               "The next instant at which an alert or a notice group is due (absent when none is).",
               rows=[((), s.next_instant)] if s.next_instant is not None else []),
        _gauge("monitord_engine_lag_seconds",
               "How far behind the alert engine is: now minus the oldest instant it has yet to process "
               "(0 when nothing due is waiting).", rows=[((), s.engine_lag)]),
        _counter("monitord_events_ingested_total", "Events stored through the HTTP API since the daemon started.",
                 rows=[((), s.events_total)]),
        _gauge("monitord_calendar_coverage_end_timestamp_seconds",
               "The end of the last day whose working days the holiday calendar knows (add the next year "
               "to rules/calendar.yaml before it).",
               rows=[((), s.calendar_until)] if s.calendar_until is not None else []),
        _gauge("monitord_calendar_guessed_year", "Years whose working days the daemon took as Monday to Friday "
               "(past the calendar's coverage; always 1).", ("year",), [((str(y),), 1) for y in s.calendar_guessed]),
    ]
    out += _ticket_families(s)
    out += _circuit_families(s)
    out += _device_families(s.devices, s.polls)
    out += _ticket_source_families(s.ticket_sources)
    out += _notification_families(s.notifications, s.outbox_backlog, s.deliveries)
    return out


def _ticket_families(s: Snapshot) -> list[Family]:
    """Open tickets by stage and class, their next deadlines, breaches, and the classes' targets."""
    by_stage = Counter((t.stage, t.sla_class) for t in s.tickets)
    due = [t for t in s.tickets if t.values is not None and t.due is not None]
    lo, hi = s.month
    return [
        _gauge("monitord_tickets_open", "Open tickets (not closed) by the stage of their latest step and SLA class.",
               ("stage", "sla_class"), sorted(by_stage.items())),
        Family("monitord_ticket_next_deadline_timestamp_seconds",
               "Each open ticket's next deadline (the earliest not yet met, overdue ones included) and its kind; "
               "absent while no limit is running (on hold, or every one met).", "gauge", TICKET_LABELS,
               [t.values or () for t in due], [t.due or 0.0 for t in due], [t.labels for t in due]),
        _counter("monitord_sla_breaches_total", "Deadline breaches (breach alerts fired, as stored) by deadline "
                 "kind and SLA class.", ("kind", "sla_class"), sorted(s.breaches.items())),
        _gauge("monitord_sla_availability_target_ratio", "Monthly availability target of each SLA class.",
               ("sla_class",), sorted(((c,), t) for c, t in s.targets.items())),
        _gauge("monitord_sla_downtime_budget_seconds", "Downtime budget of the current month for each SLA class: "
               "(1 - target) x length of the month.", ("sla_class",),
               sorted(((c,), budget_seconds(t, hi - lo)) for c, t in s.targets.items())),
    ]


def _circuit_families(s: Snapshot) -> list[Family]:
    """The three per-circuit families: state, month-to-date availability, downtime budget left."""
    lo, hi = s.month
    length = hi - lo
    budgets = {c: budget_seconds(t, length) for c, t in s.targets.items()}
    now = min(hi, max(s.now, lo))
    rows = s.circuits
    labels = [r.values for r in rows]
    texts = [r.labels for r in rows]
    # As sla.availability.measure, on epoch seconds: a datetime per span would cost more than the rest.
    down = [sum(max(0.0, min(e, now) - max(b, lo)) for b, e in r.spans) if r.spans else 0.0 for r in rows]
    return [
        Family("monitord_circuit_up", "1 unless the circuit has a fault open: monitoring last saw it down, or a "
               "ticket on it is not yet restored.", "gauge", CIRCUIT_LABELS, labels,
               [0.0 if r.down else 1.0 for r in rows], texts),
        Family("monitord_circuit_availability_ratio", "Month-to-date availability: 1 - SLA downtime so far "
               "/ length of the month (the rules' zone).", "gauge", CIRCUIT_LABELS, labels,
               [1.0 - d / length for d in down], texts),
        Family("monitord_circuit_downtime_budget_remaining_seconds", "The month's downtime budget less the SLA "
               "downtime so far (negative once overspent).", "gauge", CIRCUIT_LABELS, labels,
               [budgets.get(r.sla_class, 0.0) - d for r, d in zip(rows, down, strict=True)], texts),
    ]


def _device_families(devices: Mapping[str, bool], polls: PollFigures) -> list[Family]:
    """Reachability and poll counts per device, and the poll duration histogram."""
    cumulative, n = [], 0
    for count in polls.buckets:
        n += count
        cumulative.append(n)
    return [
        _gauge("monitord_device_up", "Whether the device answered its last SNMP poll.", ("device",),
               sorted(((d,), 1.0 if up else 0.0) for d, up in devices.items())),
        _counter("monitord_snmp_polls_total", "SNMP polls of each device.", ("device",),
                 sorted(((d,), n) for d, n in polls.polls.items())),
        _counter("monitord_snmp_poll_errors_total", "SNMP polls of each device that failed: no usable answer "
                 "(timeout, authentication) or an SNMP error.", ("device",),
                 sorted(((d,), polls.errors.get(d, 0)) for d in polls.polls)),
        Family("monitord_snmp_poll_duration_seconds", "Duration of one device's SNMP poll.", "histogram", (), (), (),
               None, tuple(cumulative), polls.total_seconds),
    ]


def _notification_families(counts: Mapping[tuple[str, str], int], backlog: int | None,
                           deliveries: Mapping[tuple[str, str, str], int]) -> list[Family]:
    """Notices by receiver and result, each notifier's attempts by result, and the outbox backlog."""
    out = [
        _counter("monitord_notifications_total", "Notices by receiver and result: sent, failed (given up: not "
                 "retryable, or too old), retry (a failed round that will be tried again).", ("receiver", "result"),
                 sorted(counts.items())),
        _counter("monitord_notifier_deliveries_total", "Notifier outcomes (notify.base.Result) by receiver and "
                 "kind: each attempt sent, retried or failed; skipped; Alertmanager re-sends.",
                 ("receiver", "kind", "result"), sorted(deliveries.items())),
    ]
    if backlog is not None:
        out.append(_gauge("monitord_notification_outbox_backlog",
                          "Notices written to the outbox and not yet sent or given up.", rows=[((), backlog)]))
    return out


def _ticket_source_families(sources: Mapping[str, PollStats]) -> list[Family]:
    """The ticket databases' row, error and freshness metrics, one series per source (and reason)."""
    ordered = sorted(sources.items())
    return [
        _counter("monitord_ticket_source_rows_total", "Ticket database rows ingested as events.", ("source",),
                 [((n,), st.ingested) for n, st in ordered]),
        _counter("monitord_ticket_source_rows_skipped_total", "Ticket database rows skipped: malformed (not a "
                 "ticket event) or rejected (unknown circuit, ticket never reported).", ("source", "reason"),
                 [r for n, st in ordered for r in (((n, "malformed"), st.malformed), ((n, "rejected"), st.rejected))]),
        _counter("monitord_ticket_source_poll_errors_total",
                 "Ticket database polls that failed (unreachable, bad query, storage error).", ("source",),
                 [((n,), st.errors) for n, st in ordered]),
        _gauge("monitord_ticket_source_last_success_timestamp_seconds",
               "When a poll of the ticket database last completed (absent until one has).", ("source",),
               [((n,), st.last_success) for n, st in ordered if st.last_success is not None]),
    ]


# -- rendering ---------------------------------------------------------------------------------


class StateCollector(Collector):
    """The prometheus_client view: every family of a fresh ``Snapshot`` at each collection."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """The metric families of the current state."""
        for f in families(self._snapshot()):
            yield _client_family(f)


def _client_family(f: Family) -> Metric:
    """A ``Family`` as prometheus_client's metric family."""
    if f.type == "histogram":
        bounds = [*(str(b) for b in POLL_BUCKETS), "+Inf"]
        return HistogramMetricFamily(f.name, f.documentation, buckets=list(zip(bounds, f.buckets, strict=True)),
                                     sum_value=f.total)
    labels = list(f.labelnames)
    if f.type == "counter":
        m: CounterMetricFamily | GaugeMetricFamily = CounterMetricFamily(
            f.name.removesuffix("_total"), f.documentation, labels=labels)
    else:
        m = GaugeMetricFamily(f.name, f.documentation, labels=labels)
    for values, value in zip(f.labels, f.values, strict=True):
        m.add_metric(list(values), value)
    return m


def _number(x: float) -> str:
    """A sample value as prometheus_client writes it (Go's float format: large values with an exponent)."""
    x = float(x)
    return repr(x) if x < 1e6 else floatToGoString(x)


def _text(f: Family) -> str:
    """One family in the text exposition format 0.0.4."""
    doc = f.documentation.replace("\\", r"\\").replace("\n", r"\n")
    head = f"# HELP {f.name} {doc}\n# TYPE {f.name} {f.type}\n"
    if f.type == "histogram":
        bounds = [*(_number(b) for b in POLL_BUCKETS), "+Inf"]
        lines = [f'{f.name}_bucket{{le="{b}"}} {_number(n)}\n' for b, n in zip(bounds, f.buckets, strict=True)]
        count = f.buckets[-1] if f.buckets else 0
        return head + "".join(lines) + f"{f.name}_count {_number(count)}\n{f.name}_sum {_number(f.total)}\n"
    name, names = f.name, f.labelnames
    if not names:
        return head + "".join(f"{name} {_number(v)}\n" for v in f.values)
    texts = f.texts if f.texts is not None else [label_text(names, v) for v in f.labels]
    # This runs for some 300,000 samples per scrape of a large network: repr through map() when no value
    # needs Go's exponent form (the common case), and one f-string per line.
    values = f.values
    shown = list(map(repr, values)) if not values or max(values) < 1e6 else [_number(v) for v in values]
    start = name + "{"
    return head + "".join([f"{start}{t}}} {v}\n" for t, v in zip(texts, shown, strict=True)])


def exposition(snapshot: Snapshot) -> bytes:
    """The Prometheus text exposition (format 0.0.4) of a snapshot; pure, so it may run in a worker thread."""
    return "".join(_text(f) for f in families(snapshot)).encode("utf-8")


def client_exposition(snapshot: Snapshot) -> bytes:
    """The same exposition written by prometheus_client through ``StateCollector`` (slower; for checks)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(lambda: snapshot))
    return generate_latest(registry)
