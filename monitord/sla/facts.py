"""Facts: the inventory, tickets folded from their events, and monitoring observations.

``Facts.apply`` takes one event and says which subjects it touched, so that
only those are planned again: the work of an event is proportional to what
it changes, not to the number of circuits.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

from monitord.domain import Event, Inventory, Observation, Ticket, TicketEvent, TicketEventType, TicketSource
from monitord.maintenance import circuit_windows
from monitord.sla.availability import Span
from monitord.sla.clocks import TicketError, fold

Subject = tuple[str, str]
"""What an alert plan is made for: ("ticket", id), or ("repeat" | "availability" | "down", circuit)."""

TICKET, REPEAT, AVAILABILITY, DOWN = "ticket", "repeat", "availability", "down"

_REPEAT_CHANGERS = {TicketEventType.REPORTED, TicketEventType.CUSTOMER_CAUSED, TicketEventType.CLOSED}
# Events that move a ticket's outage span (the others are process steps only).
_OUTAGE_CHANGERS = {TicketEventType.REPORTED, TicketEventType.PAUSED, TicketEventType.RESUMED,
                    TicketEventType.RESTORED, TicketEventType.CLOSED, TicketEventType.CUSTOMER_CAUSED}


class FactError(ValueError):
    """An event that cannot be taken: unknown circuit, or a ticket step without a report."""


class Facts:
    """What is known so far, indexed for the planners."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.tickets: dict[str, Ticket] = {}
        self.circuit_tickets: dict[str, list[Ticket]] = defaultdict(list)
        self.observations: dict[str, list[Observation]] = defaultdict(list)
        # Per circuit, its own windows and its device's: one-off as spans, recurring as rules the
        # planner expands in the policy's time zone over the range it looks at.
        one_off, self.recurring = circuit_windows(inventory)
        self.maintenance: dict[str, list[Span]] = defaultdict(list)
        for cid, windows in one_off.items():
            self.maintenance[cid] = [(w.start, w.end) for w in windows]

    def rebased(self, inventory: Inventory) -> Facts:
        """The same tickets and observations indexed for a new inventory that keeps every circuit.

        A reload uses it instead of folding every stored event again. The tickets are
        shared, not copied: the old facts are dropped when the new ones take over.
        """
        if not self.inventory.circuits.keys() <= inventory.circuits.keys():
            raise ValueError("the new inventory drops circuits: fold the stored events again instead")
        new = Facts(inventory)
        new.tickets = dict(self.tickets)
        new.circuit_tickets.update((c, list(ts)) for c, ts in self.circuit_tickets.items())
        new.observations.update((c, list(obs)) for c, obs in self.observations.items())
        return new

    def apply(self, event: Event) -> set[Subject]:
        """Take one event; returns the subjects whose alerts may have changed."""
        if isinstance(event, TicketEvent):
            ticket = self._ticket_event(event)
            subjects: set[Subject] = {(TICKET, ticket.id)}
            if event.type in _OUTAGE_CHANGERS:
                subjects.add((AVAILABILITY, ticket.circuit))
            if event.type in _REPEAT_CHANGERS:
                subjects.add((REPEAT, ticket.circuit))
            return subjects
        self._observation(event)
        subjects = {(DOWN, event.circuit), (AVAILABILITY, event.circuit)}
        # A proactive ticket's restoration clock starts at the first `down` seen.
        subjects.update(
            (TICKET, t.id)
            for t in self.circuit_tickets.get(event.circuit, ())
            if t.source is TicketSource.MONITORING and t.restored is None
        )
        return subjects

    def load(self, event: Event) -> None:
        """Take one event at start-up, when every subject is planned afterwards anyway."""
        if isinstance(event, TicketEvent):
            self._ticket_event(event)
        else:
            self._observation(event)

    def _ticket_event(self, event: TicketEvent) -> Ticket:
        known = self.tickets.get(event.ticket)
        if event.type is TicketEventType.REPORTED:
            if event.circuit not in self.inventory.circuits:
                raise FactError(f"unknown circuit {event.circuit!r}")
            if known is not None and known.circuit != event.circuit:
                raise FactError(f"ticket {event.ticket} was reported on circuit {known.circuit}, not {event.circuit}")
        try:
            ticket = fold(known, event)
        except TicketError as exc:
            raise FactError(str(exc)) from exc
        if known is None:
            self.tickets[ticket.id] = ticket
            self.circuit_tickets[ticket.circuit].append(ticket)
        return ticket

    def _observation(self, obs: Observation) -> None:
        if obs.circuit not in self.inventory.circuits:
            raise FactError(f"unknown circuit {obs.circuit!r}")
        seq = self.observations[obs.circuit]
        if seq and seq[-1].at <= obs.at:
            seq.append(obs)
        else:
            bisect.insort(seq, obs, key=lambda o: o.at)
