"""Ticket clocks: a ticket's events -> its deadlines (dispatch, accept, restore, confirm, report).

A limit starts at the milestone its rule names, runs while the ticket is not
on hold (for a pausable limit), and is done at the milestone that completes
its kind. A limit counted in working days is due at the end of the N-th
working day after its start day. A limit whose start milestone has not
happened yet has no deadline; a ticket closed before a limit came due drops
that limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from monitord.domain import (
    Deadline,
    Observation,
    ObservationType,
    Ticket,
    TicketEvent,
    TicketEventType,
    TicketSource,
)
from monitord.sla.policy import DONE_BY, DeadlineRule, Milestone, SlaPolicy
from monitord.yamldoc import Limit, WorkingDays

Pause = tuple[datetime, datetime | None]


class TicketError(ValueError):
    """An event that does not fit the ticket it names (e.g. a step before `reported`)."""


_FIRST_ONLY = {
    TicketEventType.DISPATCHED: "dispatched",
    TicketEventType.ACCEPTED: "accepted",
    TicketEventType.RESTORED: "restored",
    TicketEventType.CONFIRMED: "confirmed",
    TicketEventType.REPORT_SENT: "report_sent",
    TicketEventType.CLOSED: "closed",
}


def fold(ticket: Ticket | None, event: TicketEvent) -> Ticket:
    """Apply one event to a ticket (None before `reported`) and return it.

    The first event of each milestone counts (a second `dispatched` is a
    re-dispatch, not a later dispatch); a pause opens only when none is open
    and a `resumed` closes the open one.
    """
    if event.type is TicketEventType.REPORTED:
        if ticket is None:
            return Ticket(event.ticket, event.circuit, event.source or TicketSource.CUSTOMER, event.at)
        if event.at < ticket.reported:
            ticket.reported = event.at
        return ticket
    if ticket is None:
        raise TicketError(f"ticket {event.ticket} has no `reported` event before this `{event.type}`")
    attr = _FIRST_ONLY.get(event.type)
    if attr is not None:
        if getattr(ticket, attr) is None:
            setattr(ticket, attr, event.at)
    elif event.type is TicketEventType.PAUSED:
        if not ticket.pauses or ticket.pauses[-1][1] is not None:
            ticket.pauses.append((event.at, None))
    elif event.type is TicketEventType.RESUMED:
        if ticket.pauses and ticket.pauses[-1][1] is None:
            ticket.pauses[-1] = (ticket.pauses[-1][0], event.at)
    elif event.type is TicketEventType.CUSTOMER_CAUSED:
        ticket.customer_caused = True
    return ticket


def clock_start(ticket: Ticket, observations: Sequence[Observation]) -> datetime:
    """When the restoration clock starts: the report, or for a proactive ticket the first `down`.

    The first `down` is the start of the run of `down` observations that was
    still unbroken by an `up` at the report; a proactive ticket with no such
    run starts at its report.
    """
    if ticket.source is not TicketSource.MONITORING:
        return ticket.reported
    start: datetime | None = None
    for obs in observations:
        if obs.at > ticket.reported:
            break
        start = start or obs.at if obs.type is ObservationType.DOWN else None
    return start or ticket.reported


def running_instant(start: datetime, amount: timedelta, pauses: Sequence[Pause]) -> datetime | None:
    """The instant at which a clock started at ``start`` has run ``amount``, skipping pauses.

    None while an open pause stops the clock before it gets there.
    """
    t, remaining = start, amount
    for p_start, p_end in pauses:
        if p_end is not None and p_end <= t:
            continue
        p_start = max(p_start, t)
        if p_start >= t + remaining:
            break
        remaining -= p_start - t
        if p_end is None:
            return None
        t = p_end
    return t + remaining


def running_time(start: datetime, end: datetime, pauses: Sequence[Pause]) -> timedelta:
    """How long a clock started at ``start`` has run by ``end``, time on hold not counted.

    The inverse of ``running_instant``: ``running_time(s, running_instant(s, d, p), p) == d``.
    """
    if end <= start:
        return timedelta(0)
    held = timedelta(0)
    for p_start, p_end in pauses:
        s, e = max(p_start, start), min(p_end or end, end)
        if s < e:
            held += e - s
    return end - start - held


class Clock(NamedTuple):
    """A deadline with what it takes to place shares of it (warnings at 50 %, 80 %)."""

    deadline: Deadline
    rule: DeadlineRule
    length: timedelta  # the limit as running time
    pauses: tuple[Pause, ...]
    limit: Limit  # as the rules write it (the protection limit for a protected fault)

    def at_share(self, share: float) -> datetime | None:
        """The instant at which ``share`` of the limit has run (None while on hold before it)."""
        return running_instant(self.deadline.start, self.length * share, self.pauses)

    def elapsed(self, now: datetime) -> timedelta:
        """Running time of the limit from its start until it was done, or until ``now`` if not done by then."""
        done = self.deadline.done_at
        end = done if done is not None and done <= now else now
        return running_time(self.deadline.start, end, self.pauses)


def ticket_clocks(
    ticket: Ticket,
    limits: list[tuple[DeadlineRule, Limit]],
    policy: SlaPolicy,
    start_of_clock: datetime,
) -> list[Clock]:
    """Every deadline of a ticket, in the policy's order of kinds.

    ``limits`` are the circuit's (``SlaPolicy.limits_of``), passed in so a caller can
    work them out once per circuit rather than once per ticket.
    """
    milestones = {
        Milestone.REPORTED: ticket.reported,
        Milestone.CLOCK_START: start_of_clock,
        Milestone.DISPATCHED: ticket.dispatched,
        Milestone.ACCEPTED: ticket.accepted,
        Milestone.RESTORED: ticket.restored,
    }
    clocks: list[Clock] = []
    waived = policy.customer_caused.waives if ticket.customer_caused else ()
    for rule, limit in limits:
        start = milestones[rule.start]
        if start is None or rule.kind in waived:
            continue
        if isinstance(limit, WorkingDays):
            length = policy.calendar.end_of_working_day(start, limit.days) - start
        else:
            length = limit
        pauses = tuple(ticket.pauses) if rule.pausable and ticket.pauses else ()
        due = running_instant(start, length, pauses) if pauses else start + length
        done_at: datetime | None = getattr(ticket, DONE_BY[rule.kind])
        if ticket.closed is not None and done_at is None and (due is None or due > ticket.closed):
            continue  # closed before the limit came due: it no longer applies
        clocks.append(Clock(Deadline(ticket.id, ticket.circuit, rule.kind, start, due, done_at), rule, length, pauses,
                            limit))
    return clocks
