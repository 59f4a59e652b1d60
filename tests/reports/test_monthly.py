"""The monthly report's figures against the hand-worked month in conftest.py."""

from __future__ import annotations

import pytest

from monitord.domain import DeadlineKind, DeadlineState
from monitord.evaluate import fold_events
from monitord.reports.monthly import CircuitMonth, MonthlyReport, ReportError, monthly_report
from monitord.sla.alerts import SlaPlanner
from monitord.sla.availability import Month
from monitord.sla.policy import SlaPolicy
from tests.reports.conftest import AT, EVENTS, MONTH_SECONDS, t

D, A, R, C, F = (DeadlineKind.DISPATCH, DeadlineKind.ACCEPT, DeadlineKind.RESTORE, DeadlineKind.CONFIRM,
                 DeadlineKind.REPORT)


@pytest.fixture
def report(policy: SlaPolicy, planner: SlaPlanner) -> MonthlyReport:
    return monthly_report(policy, planner, Month(2026, 10), AT)


def circuit(report: MonthlyReport, cid: str) -> CircuitMonth:
    return next(c for cust in report.customers for c in cust.circuits if c.circuit.id == cid)


def counts(cm: CircuitMonth) -> dict[DeadlineKind, tuple[int, int, int]]:
    return {c.kind: (c.met, c.breached, c.pending) for c in cm.compliance}


def test_month_and_customers(report: MonthlyReport):
    assert report.complete
    assert (report.start, report.end) == (t(10, 1, 0), t(11, 1, 0))
    assert [c.customer.id for c in report.customers] == ["CUST-A", "CUST-B"]
    assert [c.circuit.id for c in report.customers[0].circuits] == ["X-A", "X-AA", "X-AAA", "X-I"]
    assert report.kinds == (D, A, R, C, F)
    assert report.compensation_example


def test_aaa_circuit_down_30_minutes(report: MonthlyReport):
    x = circuit(report, "X-AAA")
    a = x.availability
    # T1: reported 10:00, restored 10:30 -> 1800 s down in a 31-day month.
    assert a.month_seconds == MONTH_SECONDS
    assert a.downtime_seconds == 1800
    assert a.availability == pytest.approx(1 - 1800 / 2678400)  # 0.999327957
    # Budget: (1 - 0.9999) x 2,678,400 s = 267.84 s (4.464 min); 1800 s overspends it by 1532.16 s.
    assert a.budget_seconds == pytest.approx(267.84)
    assert a.budget_left_seconds == pytest.approx(267.84 - 1800)
    assert not a.met
    f = x.faults[0]
    assert (f.ticket, f.restoration_seconds, f.held_seconds, f.outage_seconds) == ("T1", 1800, 0, 1800)
    assert f.restore is not None and f.restore.due == t(10, 20, 11)  # 10:00 + 60 min
    # dispatch 10:10 <= 10:15 met; accept 10:20 <= 10:40 met; restore 10:30 <= 11:00 met;
    # confirm 10:50 > 10:45 late; report sent Wed 10-21 12:00 <= end of Wed 10-21 (1 working day) met.
    assert counts(x) == {D: (1, 0, 0), A: (1, 0, 0), R: (1, 0, 0), C: (0, 1, 0), F: (1, 0, 0)}
    assert f.limit(F) is not None and f.limit(F).due == t(10, 22, 0)
    # AAA credit: 99.9328 % is below 99.99 % (5 %) but not below 99.90 % (10 %); no missed restoration.
    assert x.credit is not None
    assert x.credit.tier is not None and x.credit.tier.below == pytest.approx(0.9999)
    assert (x.credit.availability_share, x.credit.restoration_share) == (pytest.approx(0.05), 0)
    assert x.credit.total_share == pytest.approx(0.05) and not x.credit.capped


def test_carried_over_fault_pause_and_repeat(report: MonthlyReport):
    x = circuit(report, "X-AA")
    # T0 (reported 09-30 23:00, restored 10-01 00:30) puts 30 min into October;
    # T2 runs 08:00 -> 10:00 less 30 min on hold = 90 min. 1800 + 5400 = 7200 s.
    assert x.availability.downtime_seconds == 7200
    assert x.availability.availability == pytest.approx(1 - 7200 / 2678400)  # 0.997311828
    assert x.availability.budget_seconds == pytest.approx(1339.2)  # 0.0005 x 2,678,400
    assert [f.ticket for f in x.faults] == ["T2", "T0"]
    assert x.carried_over == {"T0"}
    assert [f.ticket for f in x.counted_faults] == ["T2"]
    t0 = x.faults[1]
    assert t0.outage_seconds == 1800  # only October's part
    t2 = x.faults[0]
    assert (t2.restoration_seconds, t2.held_seconds, t2.outage_seconds) == (5400, 1800, 5400)
    # Restore due 08:00 + 90 min + 30 min on hold = 10:00; restored at 10:00 exactly: met.
    assert t2.restore is not None and t2.restore.due == t(10, 22, 10)
    assert t2.restore.state is DeadlineState.MET
    # Report: 2 working days after Thu 10-22 are Fri 10-23 and Mon 10-26 -> due 10-27 00:00; sent 09:00: late.
    assert t2.limit(F) is not None and t2.limit(F).due == t(10, 27, 0)
    # Only T2's limits count in October (T0's count in September):
    # dispatch 08:20 > 08:15 late; accept met; restore met; confirm 10:05 <= 10:15 met; report late.
    assert counts(x) == {D: (0, 1, 0), A: (1, 0, 0), R: (1, 0, 0), C: (1, 0, 0), F: (0, 1, 0)}
    # T2 is reported 22 days after T0, inside AA's 2-month window.
    assert x.repeats == (("T2", "T0"),) and x.repeat_months == 2
    assert t2.repeat_of == "T0"
    # AA credit: 99.7312 % is below 99.95 % (5 %), not below 99.50 % (10 %).
    assert x.credit is not None and x.credit.total_share == pytest.approx(0.05)


def test_circuit_without_faults_and_its_maintenance(report: MonthlyReport):
    x = circuit(report, "X-A")
    assert x.availability.downtime_seconds == 0 and x.availability.availability == 1.0
    assert x.availability.budget_seconds == pytest.approx(2678.4)  # 0.001 x 2,678,400
    assert sum(i.seconds for i in x.maintenance) == 7200  # 02:00-04:00
    assert x.faults == () and x.repeats == ()
    assert all(c.decided == 0 and c.share is None for c in x.compliance)
    assert x.credit is not None and x.credit.tier is None and x.credit.total_share == 0


def test_customer_caused_fault_is_excluded_and_waives_restore(report: MonthlyReport):
    x = circuit(report, "X-I")
    assert x.availability.downtime_seconds == 0
    f = x.faults[0]
    assert f.customer_caused and f.outage_seconds == 0
    assert f.restore is None  # waived
    # Class I promises no fault report. Accept runs from the dispatch (14:05 + 30 min = 14:35) and the
    # repair team never accepted: late. Process limits still apply to a customer-caused fault.
    assert [(line.kind, line.state) for line in f.limits] == [
        (D, DeadlineState.MET), (A, DeadlineState.BREACHED), (C, DeadlineState.MET)]
    assert x.credit is None  # maintenance tier: no credit table


def test_open_fault_at_month_end(report: MonthlyReport):
    y = circuit(report, "Y-ORD")
    # T4: reported 10-31 23:00, still down at 11-01 00:00 -> 3600 s.
    assert y.availability.downtime_seconds == 3600
    f = y.faults[0]
    assert f.restored is None and f.restoration_seconds == 3600
    # dispatch due 23:15, never done: late; restore (360 min) due 11-01 05:00: pending.
    assert counts(y)[D] == (0, 1, 0) and counts(y)[R] == (0, 0, 1)
    assert y.missed_restorations == 0


def test_customer_totals(report: MonthlyReport):
    a = report.customers[0]
    assert a.faults == 3  # T1, T2, T3; T0 is September's
    assert a.circuits_met == 2  # X-A and X-I
    total = {c.kind: (c.met, c.breached, c.pending) for c in a.compliance}
    # dispatch: T1 met, T2 late, T3 met; accept: T1 met, T2 met, T3 late; confirm: T1 late, T2 met, T3 met;
    # restore: T1 met, T2 met (T3 waived); report: T1 met, T2 late (class I has none).
    assert total == {D: (2, 1, 0), A: (2, 1, 0), R: (2, 0, 0), C: (2, 1, 0), F: (1, 1, 0)}
    share = next(c for c in a.compliance if c.kind is D).share
    assert share == pytest.approx(2 / 3)


def test_customer_filter_and_errors(policy: SlaPolicy, planner: SlaPlanner):
    only_b = monthly_report(policy, planner, Month(2026, 10), AT, ["CUST-B"])
    assert [c.customer.id for c in only_b.customers] == ["CUST-B"]
    with pytest.raises(ReportError, match="unknown customer"):
        monthly_report(policy, planner, Month(2026, 10), AT, ["NOPE"])
    with pytest.raises(ReportError, match="has not begun"):
        monthly_report(policy, planner, Month(2026, 11), AT)


def test_month_in_progress(policy: SlaPolicy, planner: SlaPlanner):
    # As of 10-20 10:15, T1 has run 15 min; availability is over the whole month's length.
    at = t(10, 20, 10, 15)
    facts, _ = fold_events(planner.facts.inventory, list(enumerate(EVENTS, 1)), at)
    r = monthly_report(policy, SlaPlanner(policy, facts), Month(2026, 10), at)
    assert not r.complete
    assert circuit(r, "X-AAA").availability.downtime_seconds == 900
    assert circuit(r, "X-AAA").availability.availability == pytest.approx(1 - 900 / 2678400)
    assert [f.ticket for c in r.customers for cm in c.circuits for f in cm.faults] == ["T0", "T1"]  # T0: carried over
    assert circuit(r, "X-AAA").faults[0].restore.state is DeadlineState.PENDING  # due 11:00


def test_figures_match_evaluate(policy: SlaPolicy, planner: SlaPlanner, report: MonthlyReport):
    """The report's availability is what `monitord evaluate` reports for the same events and instant."""
    from monitord.evaluate import evaluate
    ev = evaluate(policy, planner.facts.inventory, list(enumerate(EVENTS, 1)), AT)
    evaluated = {(m.circuit, str(m.month)): m for m in ev.availability}
    for cust in report.customers:
        for cm in cust.circuits:
            assert cm.availability == evaluated[(cm.circuit.id, "2026-10")]
    deadlines = {(d.ticket, d.kind): d for d in ev.deadlines}
    for cm in circuit(report, "X-AA"), circuit(report, "X-AAA"):
        for f in cm.faults:
            for line in f.limits:
                d = deadlines[(f.ticket, line.kind)]
                assert (line.due, line.state) == (d.due, d.state(AT))
