"""The local time zone and the mainland working-day calendar.

Public holidays and the weekend days made into working days come from the
``chinesecalendar`` library, which follows the State Council's yearly notice
and refuses (rather than guesses) years it has no notice for. A local
override (``rules/calendar.yaml``) adds extra holidays or working days and can
cover a whole year the library does not know yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar


class CalendarCoverageError(ValueError):
    """A working-day question about a date that neither the library nor the override covers."""


def _library_years() -> tuple[int, int]:
    """The first and last year the installed calendar library has a notice for."""
    years = {d.year for d in chinese_calendar.holidays}
    return min(years), max(years)


@dataclass(frozen=True)
class WorkCalendar:
    """Working days in a time zone: the library's calendar plus local overrides."""

    tz: ZoneInfo
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    covered_years: frozenset[int] = frozenset()  # whole years defined by the override alone
    library_years: tuple[int, int] = field(default_factory=_library_years)

    def is_workday(self, day: date) -> bool:
        """Whether ``day`` is a working day; raises ``CalendarCoverageError`` past coverage."""
        if day in self.extra_holidays:
            return False
        if day in self.extra_workdays:
            return True
        if day.year in self.covered_years:
            return day.weekday() < 5
        first, last = self.library_years
        if not first <= day.year <= last:
            raise CalendarCoverageError(
                f"{day.isoformat()} is outside the holiday calendar's coverage ({first}-{last}); "
                f"add year {day.year} to rules/calendar.yaml (its holidays and make-up working days)"
            )
        return bool(chinese_calendar.is_workday(day))

    _ends: dict[tuple[date, int], datetime] = field(default_factory=dict, compare=False, repr=False)

    def end_of_working_day(self, start: datetime, n: int) -> datetime:
        """The end (24:00 local) of the ``n``-th working day after the local day of ``start``."""
        first = start.astimezone(self.tz).date()
        found = self._ends.get((first, n))  # memoised: every ticket of a day asks the same
        if found is None:
            day, counted = first, 0
            while counted < n:
                day += timedelta(days=1)
                if self.is_workday(day):
                    counted += 1
            found = self._ends[(first, n)] = datetime.combine(day + timedelta(days=1), time(0), self.tz)
        return found

    def local(self, instant: datetime) -> datetime:
        """``instant`` in the local zone."""
        return instant.astimezone(self.tz)
