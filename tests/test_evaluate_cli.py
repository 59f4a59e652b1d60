"""`monitord evaluate`: the documented JSON contract and its bad-input errors, through the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

INV = ROOT / "demo/inventory.yaml"
DEMO = ROOT / "demo/events-2026-10.jsonl"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitord.cli", "evaluate", "--rules", str(ROOT / "rules"), *args],
                          capture_output=True, text=True, check=False)


def test_demo_month_document_shape():
    p = run("--inventory", str(INV), "--events", str(DEMO), "--at", "2026-10-31T23:59:59+08:00")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["at"] == "2026-10-31T23:59:59+08:00"
    assert set(doc) >= {"at", "deadlines", "alerts", "availability"}
    for d in doc["deadlines"]:
        assert set(d) >= {"ticket", "circuit", "kind", "due", "state", "done_at"}
        assert d["kind"] in {"dispatch", "accept", "restore", "confirm", "report"}
        assert d["state"] in {"pending", "met", "breached"}
        assert d["due"] is None or d["due"].endswith("+08:00")
    for a in doc["alerts"]:
        assert set(a) >= {"name", "labels", "fired_at", "resolved_at"}
        assert {"circuit", "customer", "sla_class", "severity"} <= set(a["labels"])
        assert a["fired_at"] <= doc["at"]
    # every circuit of the inventory, every month from the first event to --at
    circuits = {a["circuit"] for a in doc["availability"]}
    assert len(circuits) == 9
    assert {a["month"] for a in doc["availability"]} == {"2026-10"}
    for a in doc["availability"]:
        assert set(a) >= {"circuit", "month", "target", "availability", "downtime_seconds", "budget_seconds", "met"}
        assert 0.0 <= a["availability"] <= 1.0


def test_demo_month_story(tmp_path: Path):
    """Figures worked out by hand from the demo events and the shipped rules."""
    p = run("--inventory", str(INV), "--events", str(DEMO), "--at", "2026-10-31T23:59:59+08:00")
    doc = json.loads(p.stdout)
    deadlines = {(d["ticket"], d["kind"]): d for d in doc["deadlines"]}
    # AA VPN: 120 min from 20:15 plus 75 min on hold (21:30-22:45) -> 23:30; restored 23:40
    vpn = deadlines[("TT-20261014-0102", "restore")]
    assert (vpn["due"], vpn["state"]) == ("2026-10-14T23:30:00+08:00", "breached")
    # class A proactive ticket: clock from the first `down` 14:02, 180 min -> 17:02; restored 16:40
    pro = deadlines[("TT-20261003-0007", "restore")]
    assert (pro["start"], pro["due"], pro["state"]) == ("2026-10-03T14:02:00+08:00", "2026-10-03T17:02:00+08:00",
                                                        "met")
    # its report: 2 working days after Sat Oct 3 (holiday) -> Oct 8 (Thu) is the 1st, Oct 9 the 2nd
    assert deadlines[("TT-20261003-0007", "report")]["due"] == "2026-10-10T00:00:00+08:00"
    # customer-caused ticket: no restore or report limit, and no downtime for the month
    assert ("TT-20261021-0011", "restore") not in deadlines
    avail = {a["circuit"]: a for a in doc["availability"]}
    assert avail["GZ-INT-000501"]["downtime_seconds"] == 0
    # AAA circuit GZ-SDH-000123: 09:12-10:26 (74 min) + proactive 13:47-14:39 (52 min) = 7560 s
    assert avail["GZ-SDH-000123"]["downtime_seconds"] == 7560
    assert avail["GZ-SDH-000123"]["budget_seconds"] == 267.84  # 31 d * 86400 s * 0.01 %
    assert avail["GZ-SDH-000123"]["met"] is False
    # the maintenance window excludes the monitored outage of GZ-ETH-000302 (basis: tickets anyway)
    assert avail["GZ-ETH-000302"]["downtime_seconds"] == 0
    fired = {(a["name"], a["labels"].get("ticket")) for a in doc["alerts"]}
    assert ("RepeatFault", "TT-20261027-0058") in fired  # 2nd AAA fault within 3 months
    assert ("RestoreBreached", "TT-20261031-0117") in fired  # AAA VPN 60 min: 22:30 -> 23:30


def test_monitoring_basis_from_config(tmp_path: Path):
    cfg = tmp_path / "monitord.yaml"
    cfg.write_text(f"rules: {ROOT / 'rules'}\noutage_basis: monitoring\n", encoding="utf-8")
    p = run("--inventory", str(INV), "--events", str(DEMO), "--at", "2026-10-31T23:59:59+08:00", "--config", str(cfg))
    avail = {a["circuit"]: a for a in json.loads(p.stdout)["availability"]}
    # monitoring only: 13:47-14:39 = 3120 s; the 09:12 customer report was never seen down
    assert avail["GZ-SDH-000123"]["downtime_seconds"] == 3120
    # 01:30-02:40 down, inside the 01:00-03:00 maintenance window: excluded
    assert avail["GZ-ETH-000302"]["downtime_seconds"] == 0


def test_every_bad_line_is_reported_with_file_and_line(tmp_path: Path):
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join([
        '{"at": "2026-10-01T10:00:00+08:00", "type": "reported", "ticket": "T1", "circuit": "GZ-SDH-000123"}',
        '{"at": "2026-10-01T10:05:00", "type": "dispatched", "ticket": "T1"}',
        'not json',
        '{"at": "2026-10-01T10:06:00+08:00", "type": "fixed", "ticket": "T1"}',
        '{"at": "2026-10-01T10:07:00+08:00", "type": "down", "circuit": "NO-SUCH"}',
        "",
    ]), encoding="utf-8")
    p = run("--inventory", str(INV), "--events", str(events), "--at", "2026-10-02T00:00:00+08:00")
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert lines[0].startswith(f"{events}:2: `at` has no UTC offset")
    assert lines[1].startswith(f"{events}:3: not valid JSON")
    assert lines[2].startswith(f"{events}:4: unknown event type 'fixed'")
    assert lines[3].startswith(f"{events}:5: unknown circuit 'NO-SUCH'")
    assert len(lines) == 4


def test_unknown_circuit_and_unreported_ticket(tmp_path: Path):
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"at": "2026-10-01T10:07:00+08:00", "type": "down", "circuit": "NO-SUCH"}\n'
        '{"at": "2026-10-01T10:08:00+08:00", "type": "dispatched", "ticket": "T9"}\n', encoding="utf-8")
    p = run("--inventory", str(INV), "--events", str(events), "--at", "2026-10-02T00:00:00+08:00")
    assert p.returncode == 2
    assert p.stderr.splitlines() == [f"{events}:1: unknown circuit 'NO-SUCH'",
                                     f"{events}:2: ticket 'T9' is never reported"]


def test_at_without_offset_is_rejected():
    p = run("--inventory", str(INV), "--events", str(DEMO), "--at", "2026-10-31T23:59:59")
    assert p.returncode == 2
    assert "no UTC offset" in p.stderr


def test_events_after_at_are_ignored():
    early = run("--inventory", str(INV), "--events", str(DEMO), "--at", "2026-10-09T09:30:00+08:00")
    doc = json.loads(early.stdout)
    tickets = {d["ticket"] for d in doc["deadlines"]}
    assert tickets == {"TT-20261003-0007", "TT-20261009-0031"}
    restore = next(d for d in doc["deadlines"] if d["ticket"] == "TT-20261009-0031" and d["kind"] == "restore")
    assert (restore["state"], restore["done_at"]) == ("pending", None)


def test_calendar_coverage_error_is_clear(tmp_path: Path):
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"at": "2026-12-31T10:00:00+08:00", "type": "reported", "ticket": "T1", "circuit": "GZ-SDH-000123"}\n'
        '{"at": "2026-12-31T10:30:00+08:00", "type": "restored", "ticket": "T1"}\n', encoding="utf-8")
    p = run("--inventory", str(INV), "--events", str(events), "--at", "2027-01-02T00:00:00+08:00")
    assert p.returncode == 2
    assert "calendar: 2027-01-01 is outside the holiday calendar's coverage" in p.stderr
