"""Maintenance windows in time: recurring occurrences in any range, local times, DST, and who a window covers."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitord.domain import (
    Circuit,
    Customer,
    CustomerLevel,
    Inventory,
    MaintenanceWindow,
    Monitor,
    Person,
    Recurrence,
    RecurringWindow,
    SlaClass,
)
from monitord.maintenance import WindowIndex, circuit_windows, occurrences

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
SAT, SUN = 5, 6


def sh(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text + "+00:00")


def weekly(days: tuple[int, ...], at: time, duration: timedelta, **kw: object) -> RecurringWindow:
    return RecurringWindow("K1", "", Recurrence.WEEKLY, days, at, duration, **kw)  # type: ignore[arg-type]


def monthly(days: tuple[int, ...], at: time, duration: timedelta, **kw: object) -> RecurringWindow:
    return RecurringWindow("K1", "", Recurrence.MONTHLY, days, at, duration, **kw)  # type: ignore[arg-type]


def test_weekly_occurrences_across_a_month_boundary() -> None:
    # 2026-10-01 is a Thursday, so Sat 31 Oct and Sun 1 Nov are the weekend across the boundary, and the
    # next one is Sat 7 / Sun 8 Nov. 02:00-06:00 +08:00 is 18:00-22:00 UTC the day before.
    w = weekly((SAT, SUN), time(2, 0), timedelta(hours=4))
    got = occurrences(w, sh("2026-10-30T00:00:00"), sh("2026-11-08T00:00:00"), SH)
    assert got == [
        (sh("2026-10-31T02:00:00"), sh("2026-10-31T06:00:00")),
        (sh("2026-11-01T02:00:00"), sh("2026-11-01T06:00:00")),
        (sh("2026-11-07T02:00:00"), sh("2026-11-07T06:00:00")),
    ]  # Sun 8 Nov 02:00 is past the range's end (8 Nov 00:00)
    assert got[0] == (utc("2026-10-30T18:00:00"), utc("2026-10-30T22:00:00"))
    assert all(s.tzinfo is UTC for s, _ in got)


def test_an_occurrence_already_running_at_the_range_start_is_included_whole() -> None:
    w = weekly((SAT,), time(2, 0), timedelta(hours=4))
    # From 04:00 on Sat 31 Oct: the 02:00-06:00 occurrence still runs.
    assert occurrences(w, sh("2026-10-31T04:00:00"), sh("2026-10-31T05:00:00"), SH) == [
        (sh("2026-10-31T02:00:00"), sh("2026-10-31T06:00:00"))]
    # Ranges touching an occurrence only at its ends do not overlap it: [start, end) is half-open.
    assert occurrences(w, sh("2026-10-31T06:00:00"), sh("2026-11-06T00:00:00"), SH) == []
    assert occurrences(w, sh("2026-10-30T00:00:00"), sh("2026-10-31T02:00:00"), SH) == []


def test_monthly_day_past_a_shorter_month_is_its_last_day() -> None:
    # Day 31 at 23:30 for 1h: October has 31 days, November 30, so November's occurrence is on the 30th.
    # The October one (31 Oct 23:30 - 1 Nov 00:30) overlaps the start of November, and November's
    # runs into December.
    w = monthly((31,), time(23, 30), timedelta(hours=1))
    assert occurrences(w, sh("2026-11-01T00:00:00"), sh("2026-12-01T00:00:00"), SH) == [
        (sh("2026-10-31T23:30:00"), sh("2026-11-01T00:30:00")),
        (sh("2026-11-30T23:30:00"), sh("2026-12-01T00:30:00")),
    ]
    # February 2027 has 28 days; days 30 and 31 both fall on the 28th: one occurrence, not two.
    w2 = monthly((30, 31), time(1, 0), timedelta(hours=1))
    assert occurrences(w2, sh("2027-02-01T00:00:00"), sh("2027-03-01T00:00:00"), SH) == [
        (sh("2027-02-28T01:00:00"), sh("2027-02-28T02:00:00"))]


def test_since_and_until_bound_the_starts() -> None:
    w = weekly((SAT, SUN), time(2, 0), timedelta(hours=4),
               since=sh("2026-11-01T00:00:00"), until=sh("2026-11-07T02:00:00"))
    # Sat 31 Oct starts before `since`; Sat 7 Nov 02:00 starts exactly at `until` (excluded).
    assert occurrences(w, sh("2026-10-01T00:00:00"), sh("2026-12-01T00:00:00"), SH) == [
        (sh("2026-11-01T02:00:00"), sh("2026-11-01T06:00:00"))]


def test_local_start_stays_local_across_daylight_saving_changes() -> None:
    # Europe/Berlin: CET (+01:00) until Sun 29 Mar 2026 01:00 UTC, then CEST (+02:00) until
    # Sun 25 Oct 2026 01:00 UTC. A Sunday 02:30 window of 1 hour (elapsed):
    w = weekly((SUN,), time(2, 30), timedelta(hours=1))
    got = occurrences(w, utc("2026-03-21T00:00:00"), utc("2026-04-06T00:00:00"), BERLIN)
    assert got == [
        (utc("2026-03-22T01:30:00"), utc("2026-03-22T02:30:00")),  # 02:30 CET
        # 29 Mar: 02:30 does not exist (02:00 -> 03:00); read with the offset before the change
        # (+01:00), it is 01:30 UTC = 03:30 CEST.
        (utc("2026-03-29T01:30:00"), utc("2026-03-29T02:30:00")),
        (utc("2026-04-05T00:30:00"), utc("2026-04-05T01:30:00")),  # 02:30 CEST
    ]
    got = occurrences(w, utc("2026-10-24T00:00:00"), utc("2026-11-02T00:00:00"), BERLIN)
    assert got == [
        # 25 Oct: 02:30 happens twice; the first (CEST, +02:00) is 00:30 UTC. One hour of elapsed time
        # later is 01:30 UTC, which the wall clock shows as the second 02:30 (CET).
        (utc("2026-10-25T00:30:00"), utc("2026-10-25T01:30:00")),
        (utc("2026-11-01T01:30:00"), utc("2026-11-01T02:30:00")),  # 02:30 CET
    ]


def test_a_window_longer_than_a_day_covers_the_days_after() -> None:
    # Monthly on the 1st at 22:00 for 30h: from 1 Nov 22:00 to 3 Nov 04:00.
    w = monthly((1,), time(22, 0), timedelta(hours=30))
    assert occurrences(w, sh("2026-11-03T03:00:00"), sh("2026-11-03T03:30:00"), SH) == [
        (sh("2026-11-01T22:00:00"), sh("2026-11-03T04:00:00"))]


def _inventory(maintenance: tuple[MaintenanceWindow, ...] = (),
               recurring: tuple[RecurringWindow, ...] = ()) -> Inventory:
    am = Person("Li Ming", "li@example.com")
    cust = Customer("C1", "Bank", CustomerLevel.GROUP, am)
    circuits = {
        "K1": Circuit("K1", "C1", "sdh", SlaClass.AAA, monitor=Monitor("10.0.0.1", 161, 1)),
        "K2": Circuit("K2", "C1", "sdh", SlaClass.AA, monitor=Monitor("10.0.0.1", 161, 2)),
        "K3": Circuit("K3", "C1", "sdh", SlaClass.A, monitor=Monitor("10.0.0.2", 1161, 1)),
        "K4": Circuit("K4", "C1", "sdh", SlaClass.A),  # not monitored
    }
    return Inventory({"C1": cust}, circuits, maintenance, recurring)


def test_a_device_window_belongs_to_every_circuit_on_that_device() -> None:
    dev = MaintenanceWindow("", sh("2026-10-20T00:00:00"), sh("2026-10-20T02:00:00"), "10.0.0.1:161")
    own = MaintenanceWindow("K3", sh("2026-10-21T00:00:00"), sh("2026-10-21T01:00:00"))
    rec = RecurringWindow("", "10.0.0.2:1161", Recurrence.MONTHLY, (1,), time(1, 0), timedelta(hours=1))
    one_off, recurring = circuit_windows(_inventory((dev, own), (rec,)))
    assert one_off == {"K1": [dev], "K2": [dev], "K3": [own]}
    assert recurring == {"K3": [rec]}


def test_window_index_answers_for_circuits_and_devices() -> None:
    dev = MaintenanceWindow("", sh("2026-10-20T00:00:00"), sh("2026-10-20T02:00:00"), "10.0.0.1:161")
    k1a = MaintenanceWindow("K1", sh("2026-10-18T01:00:00"), sh("2026-10-18T05:00:00"))
    k1b = MaintenanceWindow("K1", sh("2026-10-18T02:00:00"), sh("2026-10-18T03:00:00"))  # inside k1a
    rec = weekly((SUN,), time(2, 0), timedelta(hours=4))  # K1's, Sundays 02:00-06:00
    index = WindowIndex(_inventory((dev, k1a, k1b), (rec,)), SH)
    # 18 Oct is a Sunday: at 03:30 the short window k1b is over, but k1a (01:00-05:00) still runs.
    cover = index.window("K1", "", sh("2026-10-18T03:30:00"))
    assert cover is not None and cover.window == k1a and cover.end == sh("2026-10-18T05:00:00")
    # At 05:30 only the Sunday window holds; it ends at 06:00.
    cover = index.window("K1", "", sh("2026-10-18T05:30:00"))
    assert cover is not None and cover.window == rec and cover.end == sh("2026-10-18T06:00:00")
    assert index.window("K1", "", sh("2026-10-18T06:00:00")) is None
    # The device window: K2 by its monitor, the device itself by name; K3 is on another device.
    assert index.window("K2", "", sh("2026-10-20T01:59:59")) is not None
    assert index.window("", "10.0.0.1:161", sh("2026-10-20T00:00:00")) is not None
    assert index.window("K2", "", sh("2026-10-20T02:00:00")) is None
    assert index.window("K3", "10.0.0.2:1161", sh("2026-10-20T01:00:00")) is None
    assert index.window("K4", "", sh("2026-10-20T01:00:00")) is None
    assert index.window("", "", sh("2026-10-20T01:00:00")) is None


def test_the_planner_gives_a_circuits_maintenance_in_a_range_merged_and_clipped(policy) -> None:
    from monitord.sla.alerts import SlaPlanner
    from monitord.sla.facts import Facts

    own = MaintenanceWindow("K1", sh("2026-10-31T01:00:00"), sh("2026-10-31T03:00:00"))
    dev = MaintenanceWindow("", sh("2026-11-01T00:00:00"), sh("2026-11-01T01:00:00"), "10.0.0.1:161")
    sat = weekly((SAT,), time(2, 0), timedelta(hours=4))  # K1's: Saturdays 02:00-06:00 local
    planner = SlaPlanner(policy, Facts(_inventory((own, dev), (sat,))))
    got = planner.maintenance("K1", sh("2026-10-24T04:00:00"), sh("2026-11-01T00:30:00"))
    assert got == [
        (sh("2026-10-24T04:00:00"), sh("2026-10-24T06:00:00")),  # Sat 24 Oct 02:00-06:00, clipped at 04:00
        (sh("2026-10-31T01:00:00"), sh("2026-10-31T06:00:00")),  # 01:00-03:00 and 02:00-06:00 merged
        (sh("2026-11-01T00:00:00"), sh("2026-11-01T00:30:00")),  # the device's, clipped at the range end
    ]
    assert planner.maintenance("K4", sh("2026-10-01T00:00:00"), sh("2026-12-01T00:00:00")) == []
