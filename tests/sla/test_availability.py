from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from monitord.sla.availability import (
    FOREVER,
    Month,
    budget_seconds,
    crossings,
    measure,
    month_availability,
    subtract,
    union,
)

TZ = ZoneInfo("Asia/Shanghai")


def t(day: int, hour: int = 0, minute: int = 0, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


def test_union_merges_overlapping_and_touching_spans():
    spans = [(t(1, 10), t(1, 11)), (t(1, 10, 30), t(1, 12)), (t(1, 12), t(1, 13)), (t(2), t(2, 1))]
    assert union(spans) == [(t(1, 10), t(1, 13)), (t(2), t(2, 1))]


def test_subtract_cuts_holes_and_edges():
    spans = [(t(1, 10), t(1, 14))]
    cuts = [(t(1, 9), t(1, 11)), (t(1, 12), t(1, 12, 30))]
    assert subtract(spans, cuts) == [(t(1, 11), t(1, 12)), (t(1, 12, 30), t(1, 14))]
    assert subtract(spans, [(t(1, 9), t(1, 15))]) == []


def test_month_boundary_is_local_midnight():
    lo, hi = Month(2026, 10).bounds(TZ)
    assert lo == datetime(2026, 9, 30, 16, tzinfo=UTC)
    spans = [(t(31, 23), t(1, 1, month=11))]  # 23:00 Oct 31 -> 01:00 Nov 1 local
    assert measure(spans, lo, hi) == 3600
    assert measure(spans, *Month(2026, 11).bounds(TZ)) == 3600


def test_budget_of_the_domain_doc():
    # 99.99 %: 4.32 min in a 30-day month, 4.464 min in a 31-day month
    assert budget_seconds(0.9999, 30 * 86400) == 259.2
    assert budget_seconds(0.9999, 31 * 86400) == 267.84


def test_crossing_walks_across_gaps():
    spans = [(t(1, 10), t(1, 10, 2)), (t(1, 11), FOREVER)]
    lo, hi = Month(2026, 10).bounds(TZ)
    # 120 s in the first span, then the rest of 267.84 * 0.5 = 133.92 s in the open one
    assert crossings(spans, lo, hi, [60, 133.92]) == [t(1, 10, 1), t(1, 11) + timedelta(seconds=13.92)]
    assert crossings([(t(1, 10), t(1, 10, 1))], lo, hi, [30, 61]) == [t(1, 10, 0) + timedelta(seconds=30), None]


def test_month_in_progress_counts_downtime_so_far():
    spans = [(t(20, 10), FOREVER)]
    m = month_availability("C", spans, Month(2026, 10), 0.999, TZ, now=t(20, 11))
    assert m.downtime_seconds == 3600
    assert m.month_seconds == 31 * 86400
    assert abs(m.availability - (1 - 3600 / (31 * 86400))) < 1e-12
    assert m.met is False  # 3600 s > 2678.4 s
