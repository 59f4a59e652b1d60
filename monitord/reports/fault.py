"""The per-fault report: one ticket's timeline, its restoration time against the limit, each
process limit met or not, and the fault report's due instant and whether it was sent.

``FaultLine`` is also the row of a fault in the monthly report, so both reports
show the same figures. Every figure comes from ``monitord.sla`` (the ticket's
clocks as ``SlaPlanner.clocks`` makes them for alerts and ``monitord evaluate``,
its outage as availability counts it); nothing here reads the clock: the
report is as of the instant it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from monitord.domain import (
    Circuit,
    Customer,
    DeadlineKind,
    DeadlineState,
    Ticket,
    TicketSource,
)
from monitord.sla.alerts import SlaPlanner
from monitord.sla.availability import FOREVER, measure, ticket_spans
from monitord.sla.clocks import clock_start, running_time
from monitord.sla.policy import SlaPolicy, Tier
from monitord.yamldoc import Limit

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""The start of a window that takes a ticket's whole outage."""


class TicketNotFound(LookupError):
    """A fault report was asked for a ticket the facts do not know."""


@dataclass(frozen=True, slots=True)
class LimitLine:
    """One limit of one fault and where it stood at the report's instant."""

    kind: DeadlineKind
    limit: Limit | None  # as the rules write it (60m, 2wd); None only if the rules no longer give one
    start: datetime
    due: datetime | None  # None while the restoration clock is on hold
    done_at: datetime | None  # None: not done by the report's instant
    state: DeadlineState
    elapsed_seconds: float  # running time from start to done (or to the report's instant), time on hold excluded


@dataclass(frozen=True, slots=True)
class FaultLine:
    """A fault (ticket) with its limits and outage, as of an instant."""

    ticket: str
    circuit: str
    source: TicketSource
    reported: datetime
    clock_start: datetime  # the report, or for a proactive ticket the first `down` seen
    restored: datetime | None
    closed: datetime | None
    customer_caused: bool
    held_seconds: float  # time on hold (paused for a customer-side reason) up to restoration
    restoration_seconds: float  # clock start -> restored (or the report's instant), time on hold excluded
    outage_seconds: float  # the ticket's SLA outage inside the report's window; 0 when excluded as customer-caused
    limits: tuple[LimitLine, ...]  # in the rules' order of kinds; a waived or not yet started limit is absent
    repeat_of: str | None  # the previous ticket when this fault is a repeat within the class window

    def limit(self, kind: DeadlineKind) -> LimitLine | None:
        """The line of one limit kind, if the fault has it."""
        return next((x for x in self.limits if x.kind is kind), None)

    @property
    def restore(self) -> LimitLine | None:
        """The restoration limit (None: waived, e.g. a customer-caused fault)."""
        return self.limit(DeadlineKind.RESTORE)


def fault_line(
    planner: SlaPlanner,
    ticket: Ticket,
    window: tuple[datetime, datetime],
    at: datetime,
    repeat_of: str | None = None,
) -> FaultLine:
    """A ticket's line as of ``at``; its outage is measured inside ``window`` (and before ``at``).

    Each limit is the ticket clock's own (``SlaPlanner.clocks``): a protected fault's are tighter.
    """
    policy = planner.policy
    start = clock_start(ticket, planner.facts.observations.get(ticket.circuit, ()))
    lines = []
    for clock in planner.clocks(ticket.id):
        d = clock.deadline
        if d.start > at:
            continue  # started by a later event: not yet at the report's instant
        done = d.done_at if d.done_at is not None and d.done_at <= at else None
        # The clock's own limit: a fault whose clock started in a protection period has tighter ones.
        lines.append(LimitLine(d.kind, clock.limit, d.start, d.due, done, d.state(at),
                               clock.elapsed(at).total_seconds()))
    restored = ticket.restored if ticket.restored is not None and ticket.restored <= at else None
    end = restored or at
    restoration = running_time(start, end, ticket.pauses).total_seconds()
    held = (end - start).total_seconds() - restoration if end > start else 0.0
    excluded = ticket.customer_caused and policy.customer_caused.exclude_from_availability
    outage = 0.0 if excluded else measure(ticket_spans(ticket, start), window[0], min(window[1], at))
    return FaultLine(ticket.id, ticket.circuit, ticket.source, ticket.reported, start, restored,
                     ticket.closed if ticket.closed is not None and ticket.closed <= at else None,
                     ticket.customer_caused, held, restoration, outage, tuple(lines), repeat_of)


def circuit_limits(policy: SlaPolicy, circuit: Circuit, customer: Customer) -> dict[DeadlineKind, Limit]:
    """A circuit's limit of every deadline kind it has, as the rules write it."""
    return {rule.kind: limit for rule, limit in policy.limits_of(circuit, customer)}


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """A milestone of a ticket: what happened and when."""

    at: datetime
    step: str  # reported, clock_start, dispatched, accepted, paused, resumed, restored, confirmed, report_sent, closed


@dataclass(frozen=True)
class FaultReport:
    """The report of one fault, as handed to the customer."""

    at: datetime  # the instant the report is as of
    tz: ZoneInfo
    customer: Customer
    circuit: Circuit
    tier: Tier
    fault: FaultLine
    timeline: tuple[TimelineEntry, ...]
    report_limit: Limit | None  # None: the class promises no fault report

    @property
    def report(self) -> LimitLine | None:
        """The fault report's own limit (None until restoration starts it, or if the class has none)."""
        return self.fault.limit(DeadlineKind.REPORT)

    @property
    def report_sent(self) -> datetime | None:
        """When the fault report was marked sent (None: not yet)."""
        line = self.report
        return line.done_at if line is not None else None


def timeline(ticket: Ticket, start: datetime, at: datetime) -> tuple[TimelineEntry, ...]:
    """The ticket's milestones up to ``at`` in time order; the clock start only when it differs from the report."""
    steps: list[tuple[datetime, str]] = [(ticket.reported, "reported")]
    if start != ticket.reported:
        steps.append((start, "clock_start"))
    for name in ("dispatched", "accepted", "restored", "confirmed", "report_sent", "closed"):
        when = getattr(ticket, name)
        if when is not None:
            steps.append((when, name))
    for p_start, p_end in ticket.pauses:
        steps.append((p_start, "paused"))
        if p_end is not None:
            steps.append((p_end, "resumed"))
    order = {s: i for i, s in enumerate(("clock_start", "reported", "dispatched", "accepted", "paused", "resumed",
                                         "restored", "confirmed", "report_sent", "closed"))}
    return tuple(TimelineEntry(t, s) for t, s in sorted(steps, key=lambda x: (x[0], order[x[1]])) if t <= at)


def fault_report(policy: SlaPolicy, planner: SlaPlanner, ticket_id: str, at: datetime) -> FaultReport:
    """The report of one ticket as of ``at``; raises ``TicketNotFound``.

    ``planner`` is built on the facts to report from (``SlaPlanner(policy, facts)``,
    or the daemon's own), which should hold the events up to ``at``
    (``evaluate.fold_events``): milestones after it are left out, but a later
    ``paused`` would still move a due instant.
    """
    facts = planner.facts
    ticket = facts.tickets.get(ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    circuit = facts.inventory.circuits[ticket.circuit]
    customer = facts.inventory.customers[circuit.customer]
    repeat_of = next((prev.id for cur, prev in planner.repeats(circuit.id) if cur.id == ticket.id), None)
    line = fault_line(planner, ticket, (EPOCH, FOREVER), at, repeat_of)
    return FaultReport(at, policy.tz, customer, circuit, policy.classes[circuit.sla_class].tier, line,
                       timeline(ticket, line.clock_start, at),
                       policy.limit_for(DeadlineKind.REPORT, circuit, customer,
                                        protected=planner.protected(ticket.id) is not None))
