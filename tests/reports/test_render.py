"""JSON, CSV and HTML of the monthly report: shape, and the figures of the hand-worked month."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from monitord.reports.i18n import Text
from monitord.reports.monthly import MonthlyReport, monthly_report
from monitord.reports.render import availability_chart, monthly_csv, monthly_html, monthly_json
from monitord.sla.alerts import SlaPlanner
from monitord.sla.availability import Month
from monitord.sla.policy import SlaPolicy
from tests.reports.conftest import AT, TZ

# The documented CSV columns (monitord/reports/render.py and the README), in order.
COLUMNS = ["month", "customer", "customer_name", "circuit", "service", "vpn", "sla_class", "tier", "target",
           "availability", "downtime_seconds", "budget_seconds", "budget_left_seconds", "met",
           "maintenance_seconds", "faults", "carried_over_faults", "restore_limit",
           "dispatch_met", "dispatch_breached", "dispatch_pending", "accept_met", "accept_breached",
           "accept_pending", "restore_met", "restore_breached", "restore_pending", "confirm_met",
           "confirm_breached", "confirm_pending", "report_met", "report_breached", "report_pending",
           "repeat_faults", "credit_share", "credit_capped", "credit_basis"]


@pytest.fixture
def report(policy: SlaPolicy, planner: SlaPlanner) -> MonthlyReport:
    return monthly_report(policy, planner, Month(2026, 10), AT)


def test_csv_one_row_per_circuit(report: MonthlyReport):
    rows = list(csv.DictReader(io.StringIO(monthly_csv(report))))
    assert list(rows[0]) == COLUMNS
    assert [r["circuit"] for r in rows] == ["X-A", "X-AA", "X-AAA", "X-I", "Y-ORD"]
    aaa = next(r for r in rows if r["circuit"] == "X-AAA")
    # 1 - 1800 / 2,678,400 = 0.99932795698...
    assert aaa["availability"] == "0.999327957"
    assert (aaa["downtime_seconds"], aaa["budget_seconds"], aaa["met"]) == ("1800.000", "267.840", "false")
    assert (aaa["confirm_met"], aaa["confirm_breached"], aaa["restore_limit"]) == ("0", "1", "1h")
    assert (aaa["credit_share"], aaa["credit_basis"]) == ("0.05", "example table; per the contract")
    aa = next(r for r in rows if r["circuit"] == "X-AA")
    assert (aa["faults"], aa["carried_over_faults"], aa["repeat_faults"]) == ("1", "1", "1")
    assert aa["restore_limit"] == "1h30m"
    fibre = next(r for r in rows if r["circuit"] == "X-I")
    assert fibre["credit_share"] == "" and fibre["credit_basis"] == ""  # no credit table for class I
    assert next(r for r in rows if r["circuit"] == "X-A")["maintenance_seconds"] == "7200.000"


def test_json_document(report: MonthlyReport):
    doc = json.loads(json.dumps(monthly_json(report)))
    assert (doc["month"], doc["at"], doc["complete"]) == ("2026-10", "2026-11-01T00:00:00+08:00", True)
    assert doc["compensation"]["per_contract"] and doc["compensation"]["example_table"]
    a = doc["customers"][0]
    assert (a["id"], a["circuits_total"], a["circuits_met"], a["faults"]) == ("CUST-A", 4, 2, 3)
    aa = next(c for c in a["circuits"] if c["circuit"] == "X-AA")
    assert aa["downtime_seconds"] == 7200 and aa["repeats"] == [{"ticket": "T2", "previous_ticket": "T0"}]
    t2, t0 = aa["faults"]
    assert (t2["ticket"], t2["carried_over"], t0["ticket"], t0["carried_over"]) == ("T2", False, "T0", True)
    assert (t2["restoration_seconds"], t2["held_seconds"]) == (5400, 1800)
    restore = next(x for x in t2["limits"] if x["kind"] == "restore")
    assert restore == {"kind": "restore", "limit": "1h30m", "limit_seconds": 5400.0,
                       "start": "2026-10-22T08:00:00+08:00", "due": "2026-10-22T10:00:00+08:00",
                       "done_at": "2026-10-22T10:00:00+08:00", "state": "met", "elapsed_seconds": 5400}
    assert aa["credit"]["total"] == pytest.approx(0.05) and aa["credit"]["per_contract"]
    dispatch = next(c for c in a["compliance"] if c["kind"] == "dispatch")
    assert (dispatch["met"], dispatch["breached"], dispatch["share"]) == (2, 1, pytest.approx(2 / 3, abs=1e-6))


def test_html_has_every_circuit_and_an_svg_bar_each(report: MonthlyReport):
    page = monthly_html(report)
    assert page.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in page
    assert "SLA 电路月度运行报告" in page and "示例赔偿表" in page
    for cid in ("X-AAA", "X-AA", "X-A", "X-I", "Y-ORD", "T0", "T1", "T2", "T3", "T4"):
        assert f">{cid}<" in page
    svgs = re.findall(r'<svg class="chart".*?</svg>', page, re.S)
    assert len(svgs) == 2  # one chart per customer
    assert len(re.findall(r'<rect class="(?:met|missed)"', svgs[0])) == 4
    assert len(re.findall(r'<rect class="missed"', svgs[0])) == 2  # X-AAA and X-AA are over budget
    assert "99.9328 %" in page  # X-AAA's 0.999327957 to four places
    # Names are escaped: the customer is "Alpha <Metro> & Co".
    assert "Alpha &lt;Metro&gt; &amp; Co" in page and "<Metro>" not in page
    english = monthly_html(report, "en")
    assert '<html lang="en">' in english and "Monthly SLA circuit report" in english
    assert "Compensation (per the contract)" in english
    with pytest.raises(ValueError):
        monthly_html(report, "fr")


def test_chart_shows_the_least_margin_when_there_are_many(report: MonthlyReport):
    circuits = report.customers[0].circuits
    chart = availability_chart(circuits, Text("en", TZ), max_bars=2)
    assert chart.total == 4
    assert [b.label for b in chart.bars] == ["X-AA", "X-AAA"]  # the two furthest below their targets
    # The axis starts at the round figure below the lowest value: X-AA's 99.73 % -> 99.5 %.
    assert chart.ticks[0][1] == "99.5 %" and chart.ticks[-1][1] == "100 %"
    assert all(chart.left <= b.target_x <= chart.left + chart.plot_width for b in chart.bars)
