"""The monthly SLA report: per customer, every circuit's month as data, before any format.

For each circuit: its class and target, the month's availability and downtime
against the budget (``SlaPlanner.availability``, the function behind
``monitord evaluate`` and the budget-burn alerts), each fault with its limits
(``reports.fault.fault_line`` on the ticket clocks), the repeat faults
(``SlaPlanner.repeats``, as the RepeatFault alert), process-limit compliance,
and the credit due under the rules' credit table (``sla.compensation``).

Which faults belong to a month: those reported in it. A fault reported in an
earlier month whose outage runs into this one is listed too, marked
``carried_over``, for its downtime; its limits and credit count in the month it
was reported, so no breach is counted twice.

``monthly_report`` takes the instant the report is as of: a month in progress
gives its figures so far (availability over the whole month's length, as the
daemon reports it), and a limit not yet due is ``pending``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from monitord.config import OutageBasis
from monitord.domain import Circuit, Customer, DeadlineKind, DeadlineState, Interval, clip
from monitord.reports.fault import FaultLine, circuit_limits, fault_line
from monitord.sla.alerts import SlaPlanner
from monitord.sla.availability import Month, MonthAvailability, ticket_spans, union
from monitord.sla.clocks import clock_start
from monitord.sla.compensation import Credit, credit_due
from monitord.sla.policy import SlaPolicy, Tier
from monitord.yamldoc import Limit


class ReportError(ValueError):
    """A report that cannot be made: a month not begun at the instant, an unknown customer.

    ``about`` names what is wrong (``month`` or ``customer``), as a caller's parameter would.
    """

    def __init__(self, about: str, message: str) -> None:
        super().__init__(message)
        self.about = about


@dataclass(frozen=True, slots=True)
class Compliance:
    """How many limits of one kind were met, breached, or are still pending."""

    kind: DeadlineKind
    met: int = 0
    breached: int = 0
    pending: int = 0

    @property
    def decided(self) -> int:
        """Limits met or breached (pending ones are not decided yet)."""
        return self.met + self.breached

    @property
    def share(self) -> float | None:
        """Share of decided limits that were met; None when none is decided."""
        return self.met / self.decided if self.decided else None


def compliance(faults: Iterable[FaultLine], kinds: Iterable[DeadlineKind]) -> tuple[Compliance, ...]:
    """Per kind, the states of the limits of ``faults`` (carried-over faults are not counted)."""
    counts: dict[DeadlineKind, list[int]] = {k: [0, 0, 0] for k in kinds}
    slot = {DeadlineState.MET: 0, DeadlineState.BREACHED: 1, DeadlineState.PENDING: 2}
    for f in faults:
        for line in f.limits:
            if line.kind in counts:
                counts[line.kind][slot[line.state]] += 1
    return tuple(Compliance(k, *c) for k, c in counts.items())


def add_compliance(parts: Iterable[tuple[Compliance, ...]], kinds: Iterable[DeadlineKind]) -> tuple[Compliance, ...]:
    """The sum of several compliance tuples, kind by kind."""
    total: dict[DeadlineKind, list[int]] = {k: [0, 0, 0] for k in kinds}
    for part in parts:
        for c in part:
            t = total[c.kind]
            t[0], t[1], t[2] = t[0] + c.met, t[1] + c.breached, t[2] + c.pending
    return tuple(Compliance(k, *c) for k, c in total.items())


@dataclass(frozen=True, slots=True)
class CircuitMonth:
    """One circuit's month in the report."""

    circuit: Circuit
    tier: Tier
    restore_limit: Limit | None  # the class (or service) restoration limit
    availability: MonthAvailability
    maintenance: tuple[Interval, ...]  # announced maintenance inside the month: excluded from downtime
    faults: tuple[FaultLine, ...]  # reported in the month, then carried-over ones (see ``carried_over``)
    carried_over: frozenset[str]  # tickets reported before the month, listed for their downtime in it
    repeats: tuple[tuple[str, str], ...]  # (ticket, previous ticket) for each repeat fault reported in the month
    repeat_months: int | None  # the class window; None: the class has no repeat limit
    compliance: tuple[Compliance, ...]  # per deadline kind, in the rules' order
    credit: Credit | None  # None: the class has no credit table (maintenance: negotiable; quality: none)

    @property
    def counted_faults(self) -> list[FaultLine]:
        """The faults reported in the month (those whose limits count in it)."""
        return [f for f in self.faults if f.ticket not in self.carried_over]

    @property
    def missed_restorations(self) -> int:
        """Faults reported in the month whose restoration limit is breached."""
        return sum(1 for f in self.counted_faults if f.restore and f.restore.state is DeadlineState.BREACHED)


@dataclass(frozen=True, slots=True)
class CustomerMonth:
    """One customer's month: its circuits and the totals over them."""

    customer: Customer
    circuits: tuple[CircuitMonth, ...]
    compliance: tuple[Compliance, ...]

    @property
    def faults(self) -> int:
        """Faults reported in the month over all circuits."""
        return sum(len(c.counted_faults) for c in self.circuits)

    @property
    def circuits_met(self) -> int:
        """Circuits whose downtime stayed within the month's budget."""
        return sum(1 for c in self.circuits if c.availability.met)


@dataclass(frozen=True)
class MonthlyReport:
    """The monthly SLA report of one or more customers, as of an instant."""

    month: Month
    at: datetime  # the instant the report is as of
    tz: ZoneInfo
    start: datetime  # the month's first instant
    end: datetime  # the next month's first instant
    outage_basis: OutageBasis  # where downtime comes from: tickets, monitoring or both
    kinds: tuple[DeadlineKind, ...]  # the deadline kinds of the rules, in their order
    compensation_example: bool  # the credit table is an example, not the contract's
    compensation_note: str
    customers: tuple[CustomerMonth, ...]

    @property
    def complete(self) -> bool:
        """Whether the month was over at the report's instant."""
        return self.at >= self.end


def monthly_report(
    policy: SlaPolicy,
    planner: SlaPlanner,
    month: Month,
    at: datetime,
    customers: Collection[str] | None = None,
) -> MonthlyReport:
    """The report of ``month`` as of ``at`` for ``customers`` (None: every customer with a circuit).

    ``planner`` is built on the facts to report from (``SlaPlanner(policy, facts)``,
    or the daemon's own, which shares its caches); they should hold the events
    up to ``at`` (``evaluate.fold_events``). Raises ``ReportError``.
    """
    inv = planner.facts.inventory
    start, end = month.bounds(policy.tz)
    if at <= start:
        raise ReportError("month", f"month {month} has not begun at {at.isoformat()}")
    if customers is not None:
        unknown = sorted(set(customers) - inv.customers.keys())
        if unknown:
            raise ReportError("customer", f"unknown customer(s): {', '.join(unknown)}")
    wanted = None if customers is None else set(customers)
    by_customer: dict[str, list[Circuit]] = defaultdict(list)
    for c in inv.circuits.values():
        if wanted is None or c.customer in wanted:
            by_customer[c.customer].append(c)
    kinds = tuple(policy.deadlines)
    order = list(customers) if customers is not None else sorted(by_customer)
    out = []
    for cid in order:
        circuits = tuple(_circuit_month(policy, planner, c, month, at, kinds)
                         for c in sorted(by_customer.get(cid, ()), key=lambda c: c.id))
        out.append(CustomerMonth(inv.customers[cid], circuits, add_compliance((c.compliance for c in circuits), kinds)))
    comp = policy.compensation
    return MonthlyReport(month, at, policy.tz, start, end, policy.outage_basis, kinds,
                         comp.example if comp else True, comp.note if comp else "", tuple(out))


def _circuit_month(
    policy: SlaPolicy, planner: SlaPlanner, circuit: Circuit, month: Month, at: datetime,
    kinds: tuple[DeadlineKind, ...],
) -> CircuitMonth:
    facts = planner.facts
    customer = facts.inventory.customers[circuit.customer]
    cls = policy.classes[circuit.sla_class]
    start, end = month.bounds(policy.tz)
    upto = min(end, at)
    limits = circuit_limits(policy, circuit, customer)
    repeat_of = {cur.id: prev.id for cur, prev in planner.repeats(circuit.id)}
    observations = facts.observations.get(circuit.id, ())
    faults: list[FaultLine] = []
    carried: list[FaultLine] = []
    for t in sorted(facts.circuit_tickets.get(circuit.id, ()), key=lambda t: (t.reported, t.id)):
        if t.reported > at:
            continue  # facts that run past the report's instant
        if start <= t.reported < end:
            faults.append(fault_line(planner, t, (start, end), at, repeat_of.get(t.id)))
        elif t.reported < start:
            ended = t.restored or t.closed
            if ended is not None and ended <= start:
                continue  # over before the month began: the common case, skipped without building spans
            spans = ticket_spans(t, clock_start(t, observations))
            if any(s < upto and e > start for s, e in spans):
                carried.append(fault_line(planner, t, (start, end), at, repeat_of.get(t.id)))
    availability = planner.availability(circuit.id, month, at)
    windows = union(facts.maintenance.get(circuit.id, ()))
    maintenance = tuple(i for s, e in windows if (i := clip(s, e, start, end)) is not None)
    comp = policy.compensation
    credits = comp.classes.get(circuit.sla_class) if comp else None
    missed = sum(1 for f in faults if f.restore and f.restore.state is DeadlineState.BREACHED)
    return CircuitMonth(
        circuit, cls.tier, limits.get(DeadlineKind.RESTORE), availability, maintenance,
        tuple(faults + carried), frozenset(f.ticket for f in carried),
        tuple((f.ticket, f.repeat_of) for f in faults if f.repeat_of is not None), cls.repeat_months,
        compliance(faults, kinds), credit_due(credits, availability, missed) if credits else None,
    )
