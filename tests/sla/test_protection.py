"""Protection periods: their stretches in time, the limits a protected fault gets, and what the reports show.

Expected figures are the rules' own (rules/sla.yaml, rules/services.yaml) worked by hand; the end to end
alert behaviour is in rules/tests/protection.yaml.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitord.domain import Circuit, Customer, CustomerLevel, DeadlineKind, Person, ProtectionPeriod, SlaClass
from monitord.evaluate import fold_events
from monitord.reports.fault import fault_report
from monitord.sla.alerts import SlaPlanner
from monitord.sla.policy import SlaPolicy, load_policy
from monitord.sla.protection import Guard, covering, guards_of, instant, split
from monitord.sources.events import parse_event
from monitord.sources.inventory import load_inventory
from monitord.yamldoc import WorkingDays
from tests.conftest import ROOT

TZ = ZoneInfo("Asia/Shanghai")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=TZ)


@pytest.fixture(scope="module")
def policy() -> SlaPolicy:
    return load_policy(ROOT / "rules")


def customer(level: CustomerLevel = CustomerLevel.GROUP, segment: str = "") -> Customer:
    return Customer("C1", "X", level, Person("A"), segment=segment)


def circuit(cls: SlaClass, service: str = "sdh", vpn: bool = False) -> Circuit:
    return Circuit("K1", "C1", service, cls, vpn)


# stretches in time -------------------------------------------------------------------


def test_naive_times_are_local_in_the_rules_zone_and_aware_ones_keep_their_offset() -> None:
    assert instant(datetime(2026, 10, 15, 9, 0), TZ) == datetime(2026, 10, 15, 1, 0, tzinfo=UTC)
    assert instant(datetime(2026, 10, 15, 9, 0, tzinfo=UTC), TZ) == datetime(2026, 10, 15, 9, 0, tzinfo=UTC)


def test_overlapping_periods_the_earlier_start_names_the_overlap() -> None:
    # customer's A 09:00-18:00, circuit's B 12:00-20:00, C 22:00-23:00 written before D 22:00-23:30
    periods = [
        (0, ProtectionPeriod("C1", datetime(2026, 10, 15, 9), datetime(2026, 10, 15, 18), "A")),
        (1, ProtectionPeriod("C1", datetime(2026, 10, 15, 12), datetime(2026, 10, 15, 20), "B", "K1")),
        (2, ProtectionPeriod("C1", datetime(2026, 10, 15, 22), datetime(2026, 10, 15, 23), "C")),
        (3, ProtectionPeriod("C1", datetime(2026, 10, 15, 22), datetime(2026, 10, 15, 23, 30), "D")),
    ]
    assert guards_of(periods, TZ) == [
        Guard(local(15, 9), local(15, 18), "A"),
        Guard(local(15, 18), local(15, 20), "B"),
        Guard(local(15, 22), local(15, 23), "C"),
        Guard(local(15, 23), local(15, 23, 30), "D"),
    ]


def test_covering_includes_the_start_and_not_the_end() -> None:
    guards = [Guard(local(15, 9), local(15, 18), "A")]
    assert covering(guards, local(15, 9)) == guards[0]
    assert covering(guards, local(15, 8, 59)) is None
    assert covering(guards, local(15, 17, 59)) == guards[0]
    assert covering(guards, local(15, 18)) is None
    assert covering([], local(15, 9)) is None


def test_split_cuts_a_stretch_at_every_boundary() -> None:
    a, b = Guard(local(15, 9), local(15, 18), "A"), Guard(local(15, 20), local(15, 21), "B")
    # an open stretch from 08:00 runs through both periods and stays open after them
    assert split(local(15, 8), None, [a, b]) == [
        ((local(15, 8), local(15, 9)), None), ((local(15, 9), local(15, 18)), a),
        ((local(15, 18), local(15, 20)), None), ((local(15, 20), local(15, 21)), b), ((local(15, 21), None), None)]
    # inside one period; ending exactly at its start; starting exactly at its end
    assert split(local(15, 10), local(15, 11), [a]) == [((local(15, 10), local(15, 11)), a)]
    assert split(local(15, 7), local(15, 9), [a]) == [((local(15, 7), local(15, 9)), None)]
    assert split(local(15, 18), local(15, 19), [a]) == [((local(15, 18), local(15, 19)), None)]
    assert split(local(15, 17), local(15, 19), [a]) == [((local(15, 17), local(15, 18)), a),
                                                        ((local(15, 18), local(15, 19)), None)]


# limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "vpn", "own", "protected"), [
    (SlaClass.AAA, False, 60, 60),
    (SlaClass.AA, True, 120, 60),     # the VPN variant is tightened too
    (SlaClass.A, False, 180, 60),
    (SlaClass.A, True, 240, 60),
    (SlaClass.III, False, 240, 60),
    (SlaClass.ORDINARY, False, 360, 60),
])
def test_restore_is_the_tightest_of_any_class(policy: SlaPolicy, cls: SlaClass, vpn: bool, own: int,
                                              protected: int) -> None:
    c = circuit(cls, "mpls_vpn" if vpn else "sdh", vpn)
    assert policy.limit_for(DeadlineKind.RESTORE, c, customer()) == own * M
    assert policy.limit_for(DeadlineKind.RESTORE, c, customer(), protected=True) == protected * M


def test_report_is_one_working_day_and_stays_waived_where_the_class_waives_it(policy: SlaPolicy) -> None:
    assert policy.limit_for(DeadlineKind.REPORT, circuit(SlaClass.A), customer()) == WorkingDays(2)
    assert policy.limit_for(DeadlineKind.REPORT, circuit(SlaClass.A), customer(), protected=True) == WorkingDays(1)
    # class I promises no fault report: protection shortens promises, it does not make new ones
    assert policy.limit_for(DeadlineKind.REPORT, circuit(SlaClass.I), customer(), protected=True) is None
    kinds = [rule.kind for rule, _ in policy.limits_of(circuit(SlaClass.I), customer(), protected=True)]
    assert kinds == [DeadlineKind.DISPATCH, DeadlineKind.ACCEPT, DeadlineKind.RESTORE, DeadlineKind.CONFIRM]


def test_process_limits_are_already_the_tightest(policy: SlaPolicy) -> None:
    limits = dict((r.kind, lim) for r, lim in policy.limits_of(circuit(SlaClass.A), customer(), protected=True))
    assert limits[DeadlineKind.DISPATCH] == 15 * M
    assert limits[DeadlineKind.ACCEPT] == 30 * M
    assert limits[DeadlineKind.CONFIRM] == 15 * M


def test_a_service_limit_is_tightened_among_the_services_own(policy: SlaPolicy) -> None:
    # fixed voice by level: group 20h, local_b 48h -> 20h; 4008 brand 24h -> 12h (industry's)
    voice = circuit(SlaClass.A, "fixed_voice")
    assert policy.limit_for(DeadlineKind.RESTORE, voice, customer(CustomerLevel.LOCAL_B)) == 48 * H
    assert policy.limit_for(DeadlineKind.RESTORE, voice, customer(CustomerLevel.LOCAL_B), protected=True) == 20 * H
    n4008 = circuit(SlaClass.A, "number_4008")
    assert policy.limit_for(DeadlineKind.RESTORE, n4008, customer(segment="brand"), protected=True) == 12 * H
    # ICT: dispatch 1wd and restore 3wd are its only limits of those kinds: unchanged
    ict = circuit(SlaClass.A, "ict")
    assert policy.limit_for(DeadlineKind.DISPATCH, ict, customer(), protected=True) == WorkingDays(1)
    assert policy.limit_for(DeadlineKind.RESTORE, ict, customer(), protected=True) == WorkingDays(3)


def _rules_with(tmp_path: Path, protection: str) -> SlaPolicy:
    for f in (ROOT / "rules").glob("*.yaml"):
        text = f.read_text(encoding="utf-8")
        if f.name == "sla.yaml":
            start = text.index("protection:\n")
            end = text.index("\n\n", start)
            text = text[:start] + protection + text[end:]
        (tmp_path / f.name).write_text(text, encoding="utf-8")
    return load_policy(tmp_path)


def test_fixed_and_unchanged_limits_never_loosen_one(tmp_path: Path) -> None:
    policy = _rules_with(tmp_path, "protection:\n  limits: {restore: 90m, report: unchanged}\n  severity: page")
    assert policy.protection.severity == "page"
    aaa, a = circuit(SlaClass.AAA), circuit(SlaClass.A)
    assert policy.limit_for(DeadlineKind.RESTORE, a, customer(), protected=True) == 90 * M
    assert policy.limit_for(DeadlineKind.RESTORE, aaa, customer(), protected=True) == 60 * M  # its own is shorter
    assert policy.limit_for(DeadlineKind.REPORT, a, customer(), protected=True) == WorkingDays(2)
    # kinds not written keep the default, tightest
    assert policy.protection.tightest[DeadlineKind.DISPATCH] == 15 * M


def test_without_a_protection_section_the_default_holds(tmp_path: Path) -> None:
    policy = _rules_with(tmp_path, "")
    assert policy.protection.severity == "critical"
    assert policy.limit_for(DeadlineKind.RESTORE, circuit(SlaClass.A), customer(), protected=True) == 60 * M
    assert policy.limit_for(DeadlineKind.REPORT, circuit(SlaClass.A), customer(), protected=True) == WorkingDays(1)


# inventory and reports ------------------------------------------------------------------------


def test_inventory_periods_keep_local_times_naive_and_name_unnamed_ones() -> None:
    inv = load_inventory(ROOT / "tests/testdata/inventory/protection.good.yaml")
    got = {(p.customer, p.circuit, p.name): (p.start, p.end) for p in inv.protection}
    assert got == {
        ("C1", "", "年终决算"): (datetime(2026, 12, 31, 18, 0), datetime(2027, 1, 1, 6, 0)),
        ("C1", "", "广交会"): (datetime(2026, 10, 15, 0, 0), datetime(2026, 10, 20, 0, 0)),  # 19th 24:00
        ("C1", "", "C1@2026-11-11T00:00+08:00"): (local(1, 0) + timedelta(days=41), local(1, 0) + timedelta(days=42)),
        ("C1", "", "C1@2026-11-20T08:00"): (datetime(2026, 11, 20, 8, 0), datetime(2026, 11, 20, 20, 0)),
        ("C2", "K2", "开通仪式"): (datetime(2026, 12, 1, 9, 0, tzinfo=TZ), datetime(2026, 12, 1, 12, 0, tzinfo=TZ)),
    }


def test_the_fault_report_shows_the_protected_limits(policy: SlaPolicy) -> None:
    inv = load_inventory(ROOT / "tests/testdata/inventory/protection.good.yaml")
    events = [parse_event(e) for e in (
        # K1 (AAA, restore 60m either way, report 1wd) of C1, inside 广交会 (15-19 October)
        {"at": "2026-10-16T10:00:00+08:00", "type": "reported", "ticket": "T1", "circuit": "K1", "source": "customer"},
        # K2 (class A: 180m, 2wd) of C2, inside its own period 1 December 09:00-12:00: 60m, 1wd
        {"at": "2026-12-01T10:00:00+08:00", "type": "reported", "ticket": "T2", "circuit": "K2", "source": "customer"},
        {"at": "2026-12-01T10:30:00+08:00", "type": "restored", "ticket": "T2"},
        # K2 again after its period: its own limits
        {"at": "2026-12-01T12:00:00+08:00", "type": "reported", "ticket": "T3", "circuit": "K2", "source": "customer"},
    )]
    at = datetime(2026, 12, 1, 13, 0, tzinfo=TZ)
    facts, bad = fold_events(inv, list(enumerate(events)), at)
    assert not bad
    planner = SlaPlanner(policy, facts)
    t2 = fault_report(policy, planner, "T2", at)
    assert t2.fault.limit(DeadlineKind.RESTORE).limit == 60 * M  # type: ignore[union-attr]
    assert t2.report_limit == WorkingDays(1)
    assert planner.protected("T2") == Guard(datetime(2026, 12, 1, 9, tzinfo=TZ), datetime(2026, 12, 1, 12, tzinfo=TZ),
                                            "开通仪式")
    t3 = fault_report(policy, planner, "T3", at)
    assert t3.fault.limit(DeadlineKind.RESTORE).limit == 180 * M  # type: ignore[union-attr]
    assert t3.report_limit == WorkingDays(2)
    assert planner.protected("T3") is None
