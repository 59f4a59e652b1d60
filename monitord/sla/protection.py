"""Protection periods in time: which stretches of time a circuit is under protection, and by which period.

A period of the inventory (``ProtectionPeriod``) covers every circuit of its
customer, or one circuit. Its naive times are local wall-clock times in the
rules' time zone, read with PEP 495's ``fold=0`` like a maintenance window's
``at``. Where periods of one circuit overlap, the one that started first names
the overlap (the first written, on a tie), so at any instant a circuit is
under at most one name.

The planner uses these stretches twice: a ticket whose clock starts inside one
gets the protection limits (``SlaPolicy.limit_for(..., protected=True)``), and
each alert of the circuit is split at their boundaries so that its part inside
one carries the protection severity and label (``split``).
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from monitord.domain import Condition, Inventory, ProtectionPeriod


class Guard(NamedTuple):
    """A stretch [start, end) in which a circuit is under the protection period ``name``."""

    start: datetime
    end: datetime
    name: str


def instant(t: datetime, tz: ZoneInfo) -> datetime:
    """An inventory time as a UTC instant: aware as written, naive as local time in ``tz``."""
    return (t if t.tzinfo is not None else t.replace(tzinfo=tz)).astimezone(UTC)


_NONE: list[Guard] = []  # shared by every unprotected circuit (most of them); never mutated


class ProtectionIndex:
    """The guards of every circuit of an inventory, worked out per circuit on first use.

    A planner holds one for as long as its inventory lives (a reload builds a
    new planner), so the cache never goes stale.
    """

    def __init__(self, inventory: Inventory, tz: ZoneInfo) -> None:
        self.tz = tz
        self._circuits = inventory.circuits
        self._by_customer: dict[str, list[tuple[int, ProtectionPeriod]]] = defaultdict(list)
        self._by_circuit: dict[str, list[tuple[int, ProtectionPeriod]]] = defaultdict(list)
        for i, p in enumerate(inventory.protection):
            (self._by_circuit[p.circuit] if p.circuit else self._by_customer[p.customer]).append((i, p))
        self._guards: dict[str, list[Guard]] = {}

    def guards(self, circuit_id: str) -> list[Guard]:
        """The circuit's protected stretches: disjoint, in time order ([] for most circuits)."""
        found = self._guards.get(circuit_id)
        if found is None:
            circuit = self._circuits.get(circuit_id)
            periods = [*self._by_customer.get(circuit.customer, ()), *self._by_circuit.get(circuit_id, ())] \
                if circuit is not None else []
            found = self._guards[circuit_id] = guards_of(periods, self.tz) if periods else _NONE
        return found

    def at(self, circuit_id: str, when: datetime) -> Guard | None:
        """The guard of the circuit that holds ``when``, or None."""
        return covering(self.guards(circuit_id), when)


def guards_of(periods: Iterable[tuple[int, ProtectionPeriod]], tz: ZoneInfo) -> list[Guard]:
    """Disjoint guards of ``(order, period)`` pairs: an overlap belongs to the earliest start, then the lowest order."""
    spans = sorted((instant(p.start, tz), instant(p.end, tz), i, p.name) for i, p in periods)
    cuts = sorted({t for s, e, _, _ in spans for t in (s, e)})
    out: list[Guard] = []
    for lo, hi in itertools.pairwise(cuts):
        # spans are sorted by (start, order): the first that holds [lo, hi) is the one that names it
        name = next((n for s, e, _, n in spans if s <= lo and hi <= e), None)
        if name is None:
            continue
        if out and out[-1].name == name and out[-1].end == lo:
            out[-1] = Guard(out[-1].start, hi, name)
        else:
            out.append(Guard(lo, hi, name))
    return out


def covering(guards: list[Guard], when: datetime) -> Guard | None:
    """The guard holding ``when`` (start included, end not), or None."""
    if not guards:
        return None
    i = bisect.bisect_right(guards, when, key=lambda g: g.start) - 1
    return guards[i] if i >= 0 and when < guards[i].end else None


def split(start: datetime, end: datetime | None, guards: list[Guard]) -> list[tuple[Condition, Guard | None]]:
    """The stretch [start, end) cut at the guards' boundaries, each piece with the guard it lies in (or None).

    ``end`` None is a stretch still open; its last piece stays open.
    """
    pieces: list[tuple[Condition, Guard | None]] = []
    t: datetime | None = start
    for g in guards:
        if t is None or (end is not None and g.start >= end):
            break
        if g.end <= t:
            continue
        if g.start > t:
            pieces.append(((t, g.start), None))
            t = g.start
        stop = g.end if end is None or g.end < end else end
        pieces.append(((t, stop), g))
        t = stop if end is None or stop < end else None
    if t is not None and (end is None or t < end):
        pieces.append(((t, end), None))
    return pieces
