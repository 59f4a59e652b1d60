"""The alerts the SLA rules ask for: facts -> for each alert, the stretches in which it fires.

One planner per subject kind:

- a ticket: each deadline's breach (from its due instant until done), its
  warnings (from the instant each share of the limit has run) and escalation
  steps (due + step), all ending when the deadline is done or the ticket closes;
- a circuit's repeats: each repeat fault, from its report until it closes;
- a circuit's availability: each budget-burn share of each month, from the
  exact instant downtime reaches it until the month ends;
- a circuit's monitoring: down from the first `down` of a run to the next `up`.

Protection periods (``monitord.sla.protection``) reach every planner through
two functions: ``clocks`` picks a ticket's limits by whether its clock starts
inside one, and ``keyed`` cuts every alert's stretches at their boundaries so
that the part inside one carries the protection severity and label.
"""

from __future__ import annotations

from datetime import datetime

from monitord.domain import AlertKey, AlertPlan, Circuit, Condition, Labels, Ticket
from monitord.maintenance import device_of, occurrences_of
from monitord.sla.availability import (
    FOREVER,
    Month,
    MonthAvailability,
    Span,
    budget_seconds,
    crossings,
    monitoring_spans,
    month_availability,
    outage_spans,
    ticket_spans,
    union,
)
from monitord.sla.clocks import Clock, clock_start, ticket_clocks
from monitord.sla.facts import AVAILABILITY, DOWN, REPEAT, TICKET, Facts, Subject
from monitord.sla.policy import PROTECTION_LABEL, AlertRole, DeadlineRule, OutageBasis, SlaPolicy
from monitord.sla.protection import Guard, ProtectionIndex, split
from monitord.sla.repeats import repeat_faults
from monitord.yamldoc import Limit


def _share_label(share: float) -> str:
    return f"{share * 100:g}"


def _open(end: datetime | None) -> datetime | None:
    return None if end is None or end >= FOREVER else end


class SlaPlanner:
    """Plans the alerts of any subject from the facts and the policy (a pure function of both and ``now``)."""

    def __init__(self, policy: SlaPolicy, facts: Facts) -> None:
        self.policy = policy
        self.facts = facts
        # Per circuit (and whether a fault is protected): its deadline limits, and its base labels.
        # A planner lives as long as its inventory (a reload builds a new one), so these never go stale.
        self._limits: dict[tuple[str, bool], list[tuple[DeadlineRule, Limit]]] = {}
        self._base: dict[str, dict[str, str]] = {}
        self.protection = ProtectionIndex(facts.inventory, policy.tz)

    def __call__(self, subject: Subject, now: datetime) -> AlertPlan:
        """The alert plan of one subject as of ``now``."""
        kind, ident = subject
        if kind == TICKET:
            return AlertPlan(self._ticket(ident))
        if kind == REPEAT:
            return AlertPlan(self._repeats(ident))
        if kind == AVAILABILITY:
            return self._availability(ident, now)
        if kind == DOWN:
            return AlertPlan(self._down(ident))
        raise ValueError(f"unknown subject kind {kind!r}")

    # shared -----------------------------------------------------------------
    def labels(self, circuit: Circuit, severity: str, **extra: str) -> Labels:
        """The labels every alert carries, plus ``extra``."""
        base = self._base.get(circuit.id)
        if base is None:
            base = self._base[circuit.id] = {"circuit": circuit.id, "customer": circuit.customer,
                                             "sla_class": circuit.sla_class.value}
            if device := device_of(circuit):
                base["device"] = device  # so that the device's DeviceUnreachable can inhibit them (equal: [device])
        return tuple(sorted({**base, "severity": severity, **extra}.items()))

    def keyed(self, name: str, circuit: Circuit, severity: str, stretches: list[Condition],
              **extra: str) -> dict[AlertKey, list[Condition]]:
        """An alert of a circuit holding in ``stretches``, keyed by its labels.

        Inside a protection period of the circuit the alert carries the protection
        severity and ``protection="<period>"``, outside it ``severity``: the parts are
        alerts of their own, so one that holds across a period's start resolves there
        and fires again with the protection labels (and back again at the end).
        """
        guards = self.protection.guards(circuit.id)
        if not guards:
            return {AlertKey(name, self.labels(circuit, severity, **extra)): stretches}
        out: dict[AlertKey, list[Condition]] = {}
        for start, end in stretches:
            for piece, guard in split(start, end, guards):
                labels = self.labels(circuit, severity, **extra) if guard is None else self.labels(
                    circuit, self.policy.protection.severity, **{PROTECTION_LABEL: guard.name}, **extra)
                out.setdefault(AlertKey(name, labels), []).append(piece)
        return out

    def protected(self, ticket_id: str) -> Guard | None:
        """The protection period a ticket's clock starts in (its limits are then the protection limits), or None."""
        t = self.facts.tickets[ticket_id]
        if not self.protection.guards(t.circuit):
            return None
        return self.protection.at(t.circuit, clock_start(t, self.facts.observations.get(t.circuit, ())))

    def clocks(self, ticket_id: str) -> list[Clock]:
        """The clocks (deadlines) of one ticket; a ticket whose clock starts in a protection period gets its limits."""
        t = self.facts.tickets[ticket_id]
        start = clock_start(t, self.facts.observations.get(t.circuit, ()))
        # Limits are fixed by where the clock starts: a fault reported before a period keeps its own.
        key = (t.circuit, self.protection.at(t.circuit, start) is not None)
        limits = self._limits.get(key)
        if limits is None:
            circuit = self.facts.inventory.circuits[t.circuit]
            customer = self.facts.inventory.customers[circuit.customer]
            limits = self._limits[key] = self.policy.limits_of(circuit, customer, protected=key[1])
        return ticket_clocks(t, limits, self.policy, start)

    def outage_spans(self, circuit_id: str, since: datetime | None = None) -> list[Span]:
        """A circuit's SLA-affecting outage spans by the policy's basis, net of exclusions.

        With ``since``, tickets that ended before it are skipped: the spans are then
        exact from ``since`` on, which is all a month's figures need.
        """
        basis = self.policy.outage_basis
        obs = self.facts.observations.get(circuit_id, ())
        ticket_out: list[Span] = []
        excluded: list[Span] = list(self.facts.maintenance.get(circuit_id, ()))
        for t in self.facts.circuit_tickets.get(circuit_id, ()):
            ended = t.restored or t.closed
            if since is not None and ended is not None and ended < since:
                continue
            spans = ticket_spans(t, clock_start(t, obs))
            if t.customer_caused and self.policy.customer_caused.exclude_from_availability:
                excluded.extend(spans)
            else:
                ticket_out.extend(spans)
        observed = monitoring_spans(obs)
        if recurring := self.facts.recurring.get(circuit_id):
            chosen = (ticket_out if basis is not OutageBasis.MONITORING else []) + (
                observed if basis is not OutageBasis.TICKETS else [])
            if chosen:
                lo, hi = self._window_range(chosen, since)
                excluded.extend(occurrences_of(recurring, lo, hi, self.policy.tz))
        return outage_spans(ticket_out, observed, excluded,
                            basis is not OutageBasis.MONITORING, basis is not OutageBasis.TICKETS)

    def _window_range(self, spans: list[Span], since: datetime | None) -> tuple[datetime, datetime]:
        """The range over which recurring windows are expanded for these outage spans.

        From the first outage on, to the end of the local month of the latest finite
        instant (a start, an end, or ``since``): every month anyone measures these
        spans in, an open outage's current month included; a later month is planned
        again when it starts (``replan_at``), with ``since`` moved into it.
        """
        tz = self.policy.tz
        lo = min(s for s, _ in spans)
        if since is not None:
            lo = max(lo, since)
        latest = max([since or lo, *(s for s, _ in spans), *(e for _, e in spans if e < FOREVER)])
        return lo, Month.of(latest, tz).bounds(tz)[1]

    def maintenance(self, circuit_id: str, lo: datetime, hi: datetime) -> list[Span]:
        """A circuit's maintenance (its own and its device's windows, recurring ones expanded) inside [lo, hi).

        Disjoint and sorted; what availability leaves out of downtime.
        """
        one_off = [(s, e) for s, e in self.facts.maintenance.get(circuit_id, ()) if s < hi and e > lo]
        spans = one_off + occurrences_of(self.facts.recurring.get(circuit_id, ()), lo, hi, self.policy.tz)
        return [(max(s, lo), min(e, hi)) for s, e in union(spans)]

    def availability(self, circuit_id: str, month: Month, now: datetime) -> MonthAvailability:
        """A circuit's availability in ``month`` as of ``now``."""
        circuit = self.facts.inventory.circuits[circuit_id]
        target = self.policy.classes[circuit.sla_class].availability
        spans = self.outage_spans(circuit_id, since=month.bounds(self.policy.tz)[0])
        return month_availability(circuit_id, spans, month, target, self.policy.tz, now)

    # planners ---------------------------------------------------------------
    def _ticket(self, ticket_id: str) -> dict[AlertKey, list[Condition]]:
        t = self.facts.tickets[ticket_id]
        circuit = self.facts.inventory.circuits[t.circuit]
        cls = self.policy.classes[circuit.sla_class]
        out: dict[AlertKey, list[Condition]] = {}

        def add(role: AlertRole, name: str, start: datetime | None, end: datetime | None, **extra: str) -> None:
            if start is None or (end is not None and end <= start):
                return
            out.update(self.keyed(name, circuit, cls.severity[role], [(start, end)], ticket=t.id, **extra))

        for clock in self.clocks(ticket_id):
            d, names = clock.deadline, clock.rule.alerts
            ends = [x for x in (d.done_at, t.closed) if x is not None]
            end = min(ends) if ends else None
            if AlertRole.WARNING in names:
                for share in cls.warnings:
                    add(AlertRole.WARNING, names[AlertRole.WARNING], clock.at_share(share), end,
                        percent=_share_label(share))
            if d.due is None:
                continue
            add(AlertRole.BREACH, names[AlertRole.BREACH], d.due, end)
            if AlertRole.ESCALATION in names:
                for step in cls.escalation:
                    add(AlertRole.ESCALATION, names[AlertRole.ESCALATION], d.due + step.after, end, step=step.step)
        return out

    def repeats(self, circuit_id: str) -> list[tuple[Ticket, Ticket]]:
        """A circuit's repeat faults as ``(repeat, previous)`` pairs under its class window (none without one)."""
        circuit = self.facts.inventory.circuits[circuit_id]
        cls = self.policy.classes[circuit.sla_class]
        if cls.repeat_months is None:
            return []
        return repeat_faults(self.facts.circuit_tickets.get(circuit_id, ()), cls.repeat_months, self.policy.tz,
                             self.policy.customer_caused.counts_as_repeat)

    def _repeats(self, circuit_id: str) -> dict[AlertKey, list[Condition]]:
        circuit = self.facts.inventory.circuits[circuit_id]
        cls = self.policy.classes[circuit.sla_class]
        out: dict[AlertKey, list[Condition]] = {}
        for cur, prev in self.repeats(circuit_id):
            out.update(self.keyed(self.policy.alert_names.repeat, circuit, cls.severity["repeat"],
                                  [(cur.reported, cur.closed)], ticket=cur.id, previous_ticket=prev.id))
        return out

    def _availability(self, circuit_id: str, now: datetime) -> AlertPlan:
        circuit = self.facts.inventory.circuits[circuit_id]
        cls = self.policy.classes[circuit.sla_class]
        tz = self.policy.tz
        current = Month.of(now, tz)
        spans = self.outage_spans(circuit_id, since=current.bounds(tz)[0])
        if not spans or not cls.budget_burn:
            return AlertPlan({})
        # Only months not yet over: a finished month's burn alerts were planned while it ran.
        months = {current} if spans[-1][1] > current.bounds(tz)[0] else set()
        if spans[-1][0] >= current.bounds(tz)[1]:  # only then can a span start in a later month
            months.update(m for m in (Month.of(s, tz) for s, _ in spans) if m > current)
        out: dict[AlertKey, list[Condition]] = {}
        name, severity = self.policy.alert_names.budget_burn, cls.severity["budget_burn"]
        for month in months:
            lo, hi = month.bounds(tz)
            budget = budget_seconds(cls.availability, (hi - lo).total_seconds())
            instants = crossings(spans, lo, hi, [share * budget for share in cls.budget_burn])
            for share, at in zip(cls.budget_burn, instants, strict=True):
                if at is not None:
                    out.update(self.keyed(name, circuit, severity, [(at, hi)], month=str(month),
                                          percent=_share_label(share)))
        # An outage still open runs into the next month's budget: plan again when it starts.
        replan = current.next().bounds(tz)[0] if spans[-1][1] >= FOREVER else None
        return AlertPlan(out, replan)

    def _down(self, circuit_id: str) -> dict[AlertKey, list[Condition]]:
        circuit = self.facts.inventory.circuits[circuit_id]
        cls = self.policy.classes[circuit.sla_class]
        spans = monitoring_spans(self.facts.observations.get(circuit_id, ()))
        if not spans:
            return {}
        return self.keyed(self.policy.alert_names.circuit_down, circuit, cls.severity["circuit_down"],
                          [(s, _open(e)) for s, e in spans])
