"""The local time zone and the mainland working-day calendar.

Public holidays and the weekend days made into working days come from the
``chinesecalendar`` library, which follows the State Council's yearly notice
and refuses (rather than guesses) years it has no notice for. A local
override (``rules/calendar.yaml``) adds extra holidays or working days and can
cover a whole year the library does not know yet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)


class CalendarCoverageError(ValueError):
    """A working-day question about a date that neither the library nor the override covers."""


def _library_years() -> tuple[int, int]:
    """The first and last year the installed calendar library has a notice for."""
    years = {d.year for d in chinese_calendar.holidays}
    return min(years), max(years)


@dataclass(frozen=True)
class WorkCalendar:
    """Working days in a time zone: the library's calendar plus local overrides.

    Past its coverage a question raises ``CalendarCoverageError`` (what the offline
    evaluator and the reports want: no figure from a guess), unless
    ``guess_uncovered``: then Monday to Friday are taken as the working days of an
    uncovered year, loudly. The running daemon does so, since a deadline a few days
    off must not stop it from taking events; ``guessed`` lists the years it guessed.
    """

    tz: ZoneInfo
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    covered_years: frozenset[int] = frozenset()  # whole years defined by the override alone
    library_years: tuple[int, int] = field(default_factory=_library_years)
    guess_uncovered: bool = False
    guessed: set[int] = field(default_factory=set, compare=False, repr=False)

    @property
    def covered_until(self) -> date:
        """The last day whose working-day status is known (library years, then whole override years)."""
        year = self.library_years[1]
        while year + 1 in self.covered_years:
            year += 1
        return date(year, 12, 31)

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
            if self.guess_uncovered:
                if day.year not in self.guessed:
                    self.guessed.add(day.year)
                    log.error("working days of %d are not known: Monday to Friday are taken as working days "
                              "until year %d is added to rules/calendar.yaml (its holidays and make-up working "
                              "days from the State Council's notice)", day.year, day.year)
                return day.weekday() < 5
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
