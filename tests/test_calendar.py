from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitord.calendar import CalendarCoverageError, WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")


def test_national_day_2026_holidays_and_makeup_days():
    cal = WorkCalendar(TZ)
    assert not cal.is_workday(date(2026, 10, 1))
    assert not cal.is_workday(date(2026, 10, 7))
    assert cal.is_workday(date(2026, 10, 8))
    # weekend days made into working days around the holiday
    assert cal.is_workday(date(2026, 9, 20))  # a Sunday
    assert cal.is_workday(date(2026, 10, 10))  # a Saturday
    assert not cal.is_workday(date(2026, 10, 11))  # an ordinary Sunday


def test_report_due_counts_working_days_across_the_holiday():
    cal = WorkCalendar(TZ)
    restored = datetime(2026, 9, 30, 21, 0, tzinfo=TZ)
    # Oct 1-7 rest; the 1st working day after Sep 30 is Oct 8, the 2nd Oct 9
    assert cal.end_of_working_day(restored, 1) == datetime(2026, 10, 9, 0, 0, tzinfo=TZ)
    assert cal.end_of_working_day(restored, 2) == datetime(2026, 10, 10, 0, 0, tzinfo=TZ)
    # Oct 9 (Fri) -> Oct 10 is a make-up Saturday: due at its end
    assert cal.end_of_working_day(datetime(2026, 10, 9, 10, tzinfo=TZ), 1) == datetime(2026, 10, 11, tzinfo=TZ)


def test_the_local_day_decides_not_utc():
    cal = WorkCalendar(TZ)
    # 2026-09-30T17:00Z is already Oct 1 01:00 in Shanghai (a holiday)
    utc = datetime.fromisoformat("2026-09-30T17:00:00+00:00")
    assert cal.end_of_working_day(utc, 1) == datetime(2026, 10, 9, tzinfo=TZ)


def test_a_year_past_the_library_is_an_error_not_a_guess():
    cal = WorkCalendar(TZ)
    with pytest.raises(CalendarCoverageError, match=r"2027-01-04 is outside .* add year 2027 to rules/calendar.yaml"):
        cal.is_workday(date(2027, 1, 4))


def test_override_covers_a_year_and_single_days():
    cal = WorkCalendar(TZ, extra_holidays=frozenset({date(2027, 1, 1), date(2026, 10, 9)}),
                       extra_workdays=frozenset({date(2027, 2, 20)}), covered_years=frozenset({2027}))
    assert not cal.is_workday(date(2027, 1, 1))
    assert cal.is_workday(date(2027, 1, 4))  # a Monday of a covered year
    assert not cal.is_workday(date(2027, 1, 9))  # a Saturday
    assert cal.is_workday(date(2027, 2, 20))  # a listed make-up Saturday
    assert not cal.is_workday(date(2026, 10, 9))  # a local extra holiday beats the library


def test_single_override_day_in_uncovered_year():
    cal = WorkCalendar(TZ, extra_workdays=frozenset({date(2028, 1, 3)}))
    assert cal.is_workday(date(2028, 1, 3))
    with pytest.raises(CalendarCoverageError):
        cal.is_workday(date(2028, 1, 4))


def test_past_its_coverage_the_calendar_refuses_unless_told_to_guess_weekdays():
    last = WorkCalendar(TZ).library_years[1]
    assert WorkCalendar(TZ).covered_until == date(last, 12, 31)
    assert WorkCalendar(TZ, covered_years=frozenset({last + 1})).covered_until == date(last + 1, 12, 31)
    restored = datetime(last, 12, 31, 20, 0, tzinfo=TZ)
    with pytest.raises(CalendarCoverageError):
        WorkCalendar(TZ).end_of_working_day(restored, 1)
    guessing = WorkCalendar(TZ, guess_uncovered=True)
    first_weekday = next(date(last + 1, 1, d) for d in range(1, 8) if date(last + 1, 1, d).weekday() < 5)
    # The 1st working day after Dec 31 is taken as the first Monday-to-Friday day of January: due at its end.
    assert guessing.end_of_working_day(restored, 1) == datetime.combine(first_weekday + timedelta(days=1), time(0),
                                                                        TZ)
    assert guessing.guessed == {last + 1}
