"""Maintenance windows in time: the occurrences of a recurring window in any range, and who a window covers.

A recurring window's start is a local wall-clock time in the rules' time zone:
"every Sunday at 02:00" is 02:00 on the clock on every Sunday, whatever the
UTC offset that day. Its ``duration`` is elapsed time, so a 4-hour window
lasts 4 hours also across a daylight-saving change. On a day whose local
start does not exist (a spring-forward gap) or exists twice (a fall-back
hour), Python's PEP 495 rule applies (``fold=0``): 02:30 in a gap is read
with the offset before the change (so it is 03:30 summer time), and an
ambiguous 01:30 is the first of the two.

This sits beside ``calendar`` below the middle packages: both the SLA
planner (availability excludes maintenance) and the alert muter use it.
"""

from __future__ import annotations

import bisect
import calendar
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from monitord.domain import Circuit, Inventory, MaintenanceWindow, Recurrence, RecurringWindow

Span = tuple[datetime, datetime]

_DAY = timedelta(days=1)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names as written in the inventory, index = ``date.weekday()``."""


def occurrences(window: RecurringWindow, lo: datetime, hi: datetime, tz: ZoneInfo) -> list[Span]:
    """The occurrences of ``window`` that overlap [lo, hi), in time order, as UTC instants.

    An occurrence that began before ``lo`` and still runs at ``lo`` is
    included whole (callers clip or subtract as they need).
    """
    if hi <= lo:
        return []
    # An occurrence overlapping [lo, hi) starts after lo - duration; one more day each
    # side covers a local date that is not the UTC date.
    first = (lo - window.duration).astimezone(tz).date() - _DAY
    last = hi.astimezone(tz).date() + _DAY
    out: list[Span] = []
    for day in _days(window, first, last):
        # datetime(..., tzinfo=tz) is the wall-clock time (fold=0); to UTC before adding the
        # duration, because aware arithmetic in one zone adds wall-clock time, not elapsed time.
        start = datetime.combine(day, window.at, tzinfo=tz).astimezone(UTC)
        if window.since is not None and start < window.since:
            continue
        if window.until is not None and start >= window.until:
            continue
        end = start + window.duration
        if start < hi and end > lo:
            out.append((start, end))
    return out


def _days(window: RecurringWindow, first: date, last: date) -> list[date]:
    """The local dates in [first, last] on which ``window`` starts."""
    if window.every is Recurrence.WEEKLY:
        days, d = [], first
        while d <= last:
            if d.weekday() in window.days:
                days.append(d)
            d += _DAY
        return days
    out: set[date] = set()
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        length = calendar.monthrange(y, m)[1]
        # A day past a shorter month's end is its last day ("the 31st" is month-end maintenance).
        out.update(d for d in (date(y, m, min(day, length)) for day in window.days) if first <= d <= last)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return sorted(out)


def device_of(circuit: Circuit) -> str:
    """The ``host:port`` of the device a circuit is monitored on, or "" when it is not monitored."""
    m = circuit.monitor
    return f"{m.host}:{m.port}" if m is not None else ""


def circuit_windows(
    inventory: Inventory,
) -> tuple[dict[str, list[MaintenanceWindow]], dict[str, list[RecurringWindow]]]:
    """Per circuit: its one-off and its recurring windows, its device's included."""
    on_device: dict[str, list[str]] = defaultdict(list)
    for c in inventory.circuits.values():
        if c.monitor is not None:
            on_device[device_of(c)].append(c.id)
    one_off: dict[str, list[MaintenanceWindow]] = defaultdict(list)
    recurring: dict[str, list[RecurringWindow]] = defaultdict(list)
    for w in inventory.maintenance:
        for cid in [w.circuit] if w.circuit else on_device.get(w.device, ()):
            one_off[cid].append(w)
    for r in inventory.recurring:
        for cid in [r.circuit] if r.circuit else on_device.get(r.device, ()):
            recurring[cid].append(r)
    return dict(one_off), dict(recurring)


def occurrences_of(windows: Iterable[RecurringWindow], lo: datetime, hi: datetime, tz: ZoneInfo) -> list[Span]:
    """The occurrences of every window in ``windows`` that overlap [lo, hi) (not merged)."""
    return [span for w in windows for span in occurrences(w, lo, hi, tz)]


class WindowIndex:
    """Which maintenance window, if any, covers a circuit or a device at an instant.

    Built once per inventory; a lookup is a dictionary access, a binary search
    over the subject's one-off windows and, per recurring window, the one or
    two occurrences that could hold the instant.
    """

    def __init__(self, inventory: Inventory, tz: ZoneInfo) -> None:
        self.tz = tz
        self.device: Mapping[str, str] = {cid: device_of(c) for cid, c in inventory.circuits.items()}
        one_off: dict[tuple[str, str], list[MaintenanceWindow]] = defaultdict(list)
        self._recurring: dict[tuple[str, str], list[RecurringWindow]] = defaultdict(list)
        for w in inventory.maintenance:
            one_off[_subject(w.circuit, w.device)].append(w)
        for r in inventory.recurring:
            self._recurring[_subject(r.circuit, r.device)].append(r)
        # Sorted by start, with the running maximum of ends: the last window starting at or before
        # an instant tells, through that maximum, whether any earlier window still runs.
        self._starts: dict[tuple[str, str], list[datetime]] = {}
        self._latest: dict[tuple[str, str], list[MaintenanceWindow]] = {}
        for key, ws in one_off.items():
            ws.sort(key=lambda w: w.start)
            latest, running = ws[0], []
            for w in ws:
                latest = w if w.end > latest.end else latest
                running.append(latest)  # of the windows up to this one, the one that ends last
            self._starts[key] = [w.start for w in ws]
            self._latest[key] = running

    def window(self, circuit: str, device: str, at: datetime) -> Cover | None:
        """A window covering ``at`` of the circuit, of its device, or of ``device``; None when there is none."""
        subjects = []
        if circuit:
            subjects.append(("circuit", circuit))
            if dev := self.device.get(circuit, ""):
                subjects.append(("device", dev))
        if device and ("device", device) not in subjects:
            subjects.append(("device", device))
        for key in subjects:
            if (found := self._one_off(key, at)) is not None:
                return Cover(found, found.end)
            for r in self._recurring.get(key, ()):
                if spans := occurrences(r, at, at + timedelta(microseconds=1), self.tz):
                    return Cover(r, max(e for _, e in spans))
        return None

    def _one_off(self, key: tuple[str, str], at: datetime) -> MaintenanceWindow | None:
        starts = self._starts.get(key)
        if not starts:
            return None
        i = bisect.bisect_right(starts, at) - 1
        if i < 0:
            return None
        latest = self._latest[key][i]
        return latest if latest.end > at else None


class Cover(NamedTuple):
    """The window that covers an instant, and when (this occurrence of) it ends."""

    window: MaintenanceWindow | RecurringWindow
    end: datetime


def _subject(circuit: str, device: str) -> tuple[str, str]:
    return ("circuit", circuit) if circuit else ("device", device)
