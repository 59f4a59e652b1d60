"""The per-fault report, the SLA helpers it adds, and how `report_sent` ends FaultReportOverdue."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitord.domain import DeadlineKind, DeadlineState, SlaClass, TicketEventType
from monitord.evaluate import evaluate, fold_events
from monitord.reports.fault import TicketNotFound, fault_report
from monitord.reports.render import fault_json, fault_text
from monitord.sla.alerts import SlaPlanner
from monitord.sla.availability import Month, MonthAvailability
from monitord.sla.clocks import running_instant, running_time
from monitord.sla.compensation import credit_due
from monitord.sla.policy import SlaPolicy
from tests.reports.conftest import AT, EVENTS, MONTH_SECONDS, ev, inventory, t


def test_running_time_skips_pauses_and_inverts_running_instant():
    start = t(10, 22, 8)
    pauses = [(t(10, 22, 9), t(10, 22, 9, 30))]
    # 08:00 -> 10:00 is 120 min, less 30 min on hold = 90 min.
    assert running_time(start, t(10, 22, 10), pauses) == timedelta(minutes=90)
    assert running_time(start, t(10, 22, 9, 10), [(t(10, 22, 9), None)]) == timedelta(minutes=60)  # open pause
    assert running_time(start, start - timedelta(minutes=1), pauses) == timedelta(0)
    assert running_instant(start, timedelta(minutes=90), pauses) == t(10, 22, 10)


def _month(downtime: float) -> MonthAvailability:
    return MonthAvailability("X", Month(2026, 10), 0.9999, downtime, 267.84, MONTH_SECONDS)


def test_credit_tiers_restorations_and_cap(policy: SlaPolicy):
    assert policy.compensation is not None
    aaa = policy.compensation.classes[SlaClass.AAA]  # <99.99 % 5 %, <99.90 % 10 %, <99.00 % 25 %; 5 %/miss; max 50 %
    assert credit_due(aaa, _month(267.84), 0).total_share == 0  # exactly the budget: 99.99 %, no credit
    assert credit_due(aaa, _month(268.84), 0).total_share == pytest.approx(0.05)  # a second over it
    # 99.90 % of 2,678,400 s leaves 2678.4 s: one second more reaches the 10 % tier.
    assert credit_due(aaa, _month(2679.4), 1).total_share == pytest.approx(0.10 + 0.05)
    # 1.5 % down (40,176 s) is below 99 %: 25 % + 6 missed x 5 % = 55 %, capped at 50 %.
    big = credit_due(aaa, _month(40176), 6)
    assert (big.availability_share, big.restoration_share) == (pytest.approx(0.25), pytest.approx(0.30))
    assert big.total_share == pytest.approx(0.50) and big.capped


def test_fault_report_of_a_paused_late_repeat(policy: SlaPolicy, planner: SlaPlanner):
    r = fault_report(policy, planner, "T2", AT)
    assert (r.customer.id, r.circuit.id, r.fault.repeat_of) == ("CUST-A", "X-AA", "T0")
    assert [(e.step, e.at) for e in r.timeline] == [
        ("reported", t(10, 22, 8)), ("dispatched", t(10, 22, 8, 20)), ("accepted", t(10, 22, 8, 30)),
        ("paused", t(10, 22, 9)), ("resumed", t(10, 22, 9, 30)), ("restored", t(10, 22, 10)),
        ("confirmed", t(10, 22, 10, 5)), ("report_sent", t(10, 27, 9))]
    states = {x.kind: x.state for x in r.fault.limits}
    assert states == {DeadlineKind.DISPATCH: DeadlineState.BREACHED, DeadlineKind.ACCEPT: DeadlineState.MET,
                      DeadlineKind.RESTORE: DeadlineState.MET, DeadlineKind.CONFIRM: DeadlineState.MET,
                      DeadlineKind.REPORT: DeadlineState.BREACHED}
    assert r.fault.restoration_seconds == 5400  # 90 min running, 30 min on hold not counted
    assert r.report is not None and r.report.due == t(10, 27, 0)
    assert r.report_sent == t(10, 27, 9)
    doc = fault_json(r)
    assert doc["report"] == {"limit": "2wd", "due": "2026-10-27T00:00:00+08:00",
                             "sent": "2026-10-27T09:00:00+08:00", "state": "breached"}
    assert "2026-10-27 00:00" in fault_text(r, "en")


def test_fault_report_before_restoration_and_unknown_ticket(policy: SlaPolicy, planner: SlaPlanner):
    r = fault_report(policy, planner, "T4", AT)
    assert r.report is None and r.report_limit is None  # ordinary: no fault report promised
    assert "promises no fault report" in fault_text(r, "en")
    early = t(10, 20, 10, 20)  # as of before T1's restoration
    facts, _ = fold_events(inventory(), list(enumerate(EVENTS, 1)), early)
    r1 = fault_report(policy, SlaPlanner(policy, facts), "T1", early)
    assert r1.report is None and str(r1.report_limit) == "1wd"
    assert "after restoration" in fault_text(r1, "en")
    with pytest.raises(TicketNotFound):
        fault_report(policy, planner, "NOPE", AT)


def test_report_sent_ends_fault_report_overdue(policy: SlaPolicy):
    """Marking the report sent is a `report_sent` event: it completes the limit and resolves the alert."""
    without = [e for e in EVENTS if not (e.ticket == "T1" and e.type is TicketEventType.REPORT_SENT)]
    due = t(10, 22, 0)  # end of Wed 10-21, one working day after the restoration on Tue 10-20
    sent = t(10, 22, 9)
    before = evaluate(policy, inventory(), list(enumerate(without, 1)), sent)
    overdue = [a for a in before.alerts if a.name == "FaultReportOverdue" and a.labels["ticket"] == "T1"]
    assert [(a.fired_at, a.resolved_at) for a in overdue] == [(due, None)]
    marked = [*without, ev(sent, "report_sent", "T1")]
    after = evaluate(policy, inventory(), list(enumerate(marked, 1)), AT)
    overdue = [a for a in after.alerts if a.name == "FaultReportOverdue" and a.labels["ticket"] == "T1"]
    assert [(a.fired_at, a.resolved_at) for a in overdue] == [(due, sent)]

    facts, _ = fold_events(inventory(), list(enumerate(marked, 1)), AT)
    r = fault_report(policy, SlaPlanner(policy, facts), "T1", AT)
    assert r.report is not None and (r.report_sent, r.report.state) == (sent, DeadlineState.BREACHED)
