"""Availability: outage intervals -> per-month downtime, availability, budget and burn instants.

Availability of a circuit in a calendar month (local time) is
1 - downtime / length of the month, where downtime is the measure of the union
of its SLA-affecting outage intervals inside the month, less maintenance
windows and customer-caused faults. An open outage is an interval that runs
on; while it does, the instant at which the month's downtime will reach each
budget share is exact and known in advance.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from monitord.domain import Observation, ObservationType, Ticket

Span = tuple[datetime, datetime]

FOREVER = datetime(9999, 1, 1, tzinfo=UTC)
"""Where an open interval is taken to end."""


def union(spans: Iterable[Span]) -> list[Span]:
    """Sorted, disjoint spans covering the same time as ``spans``."""
    out: list[Span] = []
    for s, e in sorted(x for x in spans if x[0] < x[1]):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def subtract(spans: Sequence[Span], cuts: Sequence[Span]) -> list[Span]:
    """``spans`` (disjoint, sorted) less ``cuts`` (disjoint, sorted)."""
    if not cuts:
        return list(spans)
    out: list[Span] = []
    for s, e in spans:
        for cs, ce in cuts:
            if ce <= s or cs >= e:
                continue
            if cs > s:
                out.append((s, cs))
            s = max(s, ce)
            if s >= e:
                break
        if s < e:
            out.append((s, e))
    return out


def measure(spans: Sequence[Span], lo: datetime, hi: datetime) -> float:
    """Seconds of ``spans`` (disjoint) inside [lo, hi)."""
    total = 0.0
    for s, e in spans:
        s, e = max(s, lo), min(e, hi)
        if s < e:
            total += (e - s).total_seconds()
    return total


def crossings(spans: Sequence[Span], lo: datetime, hi: datetime, marks: Sequence[float]) -> list[datetime | None]:
    """For each of ``marks`` (ascending seconds), the instant the measure since ``lo`` reaches it, in one pass."""
    out: list[datetime | None] = []
    acc, i = 0.0, 0
    for s, e in spans:
        s, e = max(s, lo), min(e, hi)
        if s >= e:
            continue
        length = (e - s).total_seconds()
        while i < len(marks) and acc + length >= marks[i]:
            out.append(s + timedelta(seconds=marks[i] - acc))
            i += 1
        if i == len(marks):
            break
        acc += length
    return out + [None] * (len(marks) - len(out))


def ticket_spans(ticket: Ticket, start: datetime) -> list[Span]:
    """A ticket's outage: clock start -> restored (open: on), less the time on hold.

    A ticket closed without a `restored` event ends its outage when it closes.
    """
    end = ticket.restored or ticket.closed or FOREVER
    cuts = union((ps, pe or FOREVER) for ps, pe in ticket.pauses)
    return subtract([(start, end)], cuts) if start < end else []


def monitoring_spans(observations: Sequence[Observation]) -> list[Span]:
    """Observed outages: the first `down` of a run -> the next `up` (open: on)."""
    spans: list[Span] = []
    start: datetime | None = None
    for obs in observations:
        if obs.type is ObservationType.DOWN:
            start = start or obs.at
        elif start is not None:
            spans.append((start, obs.at))
            start = None
    if start is not None:
        spans.append((start, FOREVER))
    return spans


class Month(NamedTuple):
    """A calendar month in the local zone (a NamedTuple: ordered, hashable, cheap to make)."""

    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        """The month after."""
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """Its first instant and the first instant of the next month."""
        return _bounds(self, tz)

    @classmethod
    def of(cls, instant: datetime, tz: ZoneInfo) -> Month:
        """The local month an instant falls in."""
        local = instant.astimezone(tz)
        return cls(local.year, local.month)

    @classmethod
    def parse(cls, text: str) -> Month:
        """``2026-10`` -> Month."""
        y, m = text.split("-")
        if not 1 <= int(m) <= 12:
            raise ValueError(f"not a month: {text}")
        return cls(int(y), int(m))


@functools.lru_cache(maxsize=1024)
def _bounds(month: Month, tz: ZoneInfo) -> tuple[datetime, datetime]:
    nxt = month.next()
    return datetime(month.year, month.month, 1, tzinfo=tz), datetime(nxt.year, nxt.month, 1, tzinfo=tz)


def months_between(first: Month, last: Month) -> list[Month]:
    """Every month from ``first`` to ``last`` inclusive."""
    out, m = [], first
    while m <= last:
        out.append(m)
        m = m.next()
    return out


@dataclass(frozen=True, slots=True)
class MonthAvailability:
    """A circuit's availability in one month, as of an instant."""

    circuit: str
    month: Month
    target: float
    downtime_seconds: float
    budget_seconds: float
    month_seconds: float

    @property
    def availability(self) -> float:
        """1 - downtime / length of the month."""
        return 1.0 - self.downtime_seconds / self.month_seconds

    @property
    def met(self) -> bool:
        """Whether downtime so far is within the month's budget."""
        return self.downtime_seconds <= self.budget_seconds + 1e-9

    @property
    def budget_left_seconds(self) -> float:
        """Downtime budget still unspent (negative once overspent)."""
        return self.budget_seconds - self.downtime_seconds


def month_availability(
    circuit: str, spans: Sequence[Span], month: Month, target: float, tz: ZoneInfo, now: datetime
) -> MonthAvailability:
    """Availability of ``month`` counting downtime up to ``now``; spans disjoint and net of exclusions."""
    lo, hi = month.bounds(tz)
    length = (hi - lo).total_seconds()
    down = measure(spans, lo, min(hi, max(now, lo)))
    return MonthAvailability(circuit, month, target, down, budget_seconds(target, length), length)


def budget_seconds(target: float, month_seconds: float) -> float:
    """The month's downtime budget: (1 - target) x time in month."""
    return round((1.0 - target) * month_seconds, 6)


def outage_spans(
    ticket_outages: Iterable[Span],
    observed: Iterable[Span],
    exclusions: Iterable[Span],
    use_tickets: bool,
    use_monitoring: bool,
) -> list[Span]:
    """SLA-affecting outage spans by the configured basis, less exclusions: disjoint and sorted."""
    chosen: list[Span] = []
    if use_tickets:
        chosen.extend(ticket_outages)
    if use_monitoring:
        chosen.extend(observed)
    return subtract(union(chosen), union(exclusions))
