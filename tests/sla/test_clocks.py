from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitord.domain import Observation, ObservationType, TicketEvent, TicketEventType, TicketSource
from monitord.sla.clocks import TicketError, clock_start, fold, running_instant

TZ = ZoneInfo("Asia/Shanghai")


def t(minute: int) -> datetime:
    return datetime(2026, 10, 12, 10, 0, tzinfo=TZ) + timedelta(minutes=minute)


def test_running_instant_skips_pauses_before_due_only():
    hour = timedelta(minutes=60)
    assert running_instant(t(0), hour, []) == t(60)
    assert running_instant(t(0), hour, [(t(10), t(25))]) == t(75)
    assert running_instant(t(0), hour, [(t(10), t(25)), (t(70), t(80))]) == t(85)  # 2nd pause starts before 75
    assert running_instant(t(0), hour, [(t(90), t(100))]) == t(60)  # after due: no effect
    assert running_instant(t(0), hour, [(t(10), None)]) is None  # open pause: unknown


def test_fold_first_milestone_counts_and_pauses_pair_up():
    ev = [TicketEvent(t(0), TicketEventType.REPORTED, "T", "C", TicketSource.CUSTOMER),
          TicketEvent(t(5), TicketEventType.DISPATCHED, "T"),
          TicketEvent(t(9), TicketEventType.DISPATCHED, "T"),
          TicketEvent(t(20), TicketEventType.PAUSED, "T", reason="no access"),
          TicketEvent(t(22), TicketEventType.PAUSED, "T"),
          TicketEvent(t(30), TicketEventType.RESUMED, "T"),
          TicketEvent(t(31), TicketEventType.RESUMED, "T")]
    ticket = None
    for e in ev:
        ticket = fold(ticket, e)
    assert ticket is not None
    assert ticket.dispatched == t(5)
    assert ticket.pauses == [(t(20), t(30))]


def test_fold_twice_is_idempotent():
    e1 = TicketEvent(t(0), TicketEventType.REPORTED, "T", "C", TicketSource.CUSTOMER)
    e2 = TicketEvent(t(5), TicketEventType.RESTORED, "T")
    once = fold(fold(None, e1), e2)
    twice = fold(fold(fold(fold(None, e1), e1), e2), e2)
    assert once == twice


def test_step_before_report_is_an_error():
    with pytest.raises(TicketError, match="no `reported` event"):
        fold(None, TicketEvent(t(0), TicketEventType.DISPATCHED, "T"))


def test_proactive_clock_starts_at_first_down_of_unbroken_run():
    report = TicketEvent(t(30), TicketEventType.REPORTED, "T", "C", TicketSource.MONITORING)
    ticket = fold(None, report)
    obs = [Observation(t(0), ObservationType.DOWN, "C"), Observation(t(5), ObservationType.UP, "C"),
           Observation(t(10), ObservationType.DOWN, "C"), Observation(t(12), ObservationType.DOWN, "C")]
    assert clock_start(ticket, obs) == t(10)
    assert clock_start(ticket, obs[:2]) == t(30)  # back up before the report: starts at the report
    customer = fold(None, TicketEvent(t(30), TicketEventType.REPORTED, "U", "C", TicketSource.CUSTOMER))
    assert clock_start(customer, obs) == t(30)
