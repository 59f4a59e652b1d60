"""`monitord report monthly | fault`: from files like `monitord evaluate`, and from the daemon (`--mark-sent`)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitord.cli import main
from tests.conftest import ROOT
from tests.test_daemon import Daemon, home, running, wait_for  # noqa: F401 - fixtures used by name

FILES = ["--rules", str(ROOT / "rules"), "--inventory", str(ROOT / "demo/inventory.yaml"),
         "--events", str(ROOT / "demo/events-2026-10.jsonl")]
END = "2026-11-01T00:00:00+08:00"


def test_monthly_csv_of_the_demo_month(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "r.csv"
    args = ["report", "monthly", "--month", "2026-10", "--format", "csv", "--at", END, "-o", str(out)]
    assert main([*args, *FILES]) == 0
    rows = {r["circuit"]: r for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8")))}
    assert len(rows) == 9  # every circuit of the demo inventory
    # GZ-SDH-000123 (AAA): TT-20261009-0031 09:12-10:26 (74 min) + TT-20261027-0058 from the first
    # `down` 13:47 to 14:39 (52 min) = 126 min = 7560 s; 1 - 7560 / 2,678,400 = 0.997177419.
    assert (rows["GZ-SDH-000123"]["downtime_seconds"], rows["GZ-SDH-000123"]["availability"]) == \
        ("7560.000", "0.997177419")
    assert rows["GZ-SDH-000123"]["repeat_faults"] == "1"
    # GZ-ETH-000302: down 01:30-02:40 inside the 01:00-03:00 maintenance window, and no ticket.
    assert rows["GZ-ETH-000302"]["downtime_seconds"] == "0.000"


def test_monthly_json_for_one_customer_in_english_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["report", "monthly", "--month", "2026-10", "--customer", "CUST-PRV-002", "--at", END, *FILES]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in doc["customers"]] == ["CUST-PRV-002"]
    page = tmp_path / "r.html"
    assert main(["report", "monthly", "--month", "2026-10", "--customer", "CUST-PRV-002", "--format", "html",
                 "--lang", "en", "--at", END, "-o", str(page), *FILES]) == 0
    text = page.read_text(encoding="utf-8")
    assert "GZ-VPN-000301" in text and "<svg" in text and "GZ-SDH-000123" not in text


@pytest.mark.parametrize(("args", "message"), [
    (["monthly", "--month", "2026-13"], "--month: expected a month like 2026-10"),
    (["monthly", "--month", "2026-10", "--customer", "NOPE"], "report: unknown customer(s): NOPE"),
    (["monthly", "--month", "2026-12"], "report: month 2026-12 has not begun"),
    (["fault", "--ticket", "NOPE"], "report: unknown ticket 'NOPE'"),
    (["fault", "--ticket", "TT-20261009-0031", "--mark-sent"], "--mark-sent files the event with the running daemon"),
])
def test_bad_input_exits_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]):
    assert main(["report", *args, "--at", END, *FILES]) == 2
    assert message in capsys.readouterr().err


def test_missing_source_and_bad_events_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["report", "monthly", "--month", "2026-10"]) == 2
    assert "give --config" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"at": "2026-10-01T10:00:00+08:00", "type": "dispatched", "ticket": "X"}\n', encoding="utf-8")
    assert main(["report", "monthly", "--month", "2026-10", "--inventory", str(ROOT / "demo/inventory.yaml"),
                 "--events", str(bad)]) == 2
    assert f"{bad}:1: ticket 'X' is never reported" in capsys.readouterr().err


def test_fault_text_of_the_demo(capsys: pytest.CaptureFixture[str]):
    assert main(["report", "fault", "--ticket", "TT-20261014-0102", "--lang", "en", "--at", END, *FILES]) == 0
    out = capsys.readouterr().out
    # Reported 20:15, on hold 21:30-22:45 (75 min), restored 23:40: 205 min less 75 = 130 min running.
    assert "Restoration time (on hold excluded): 2 h 10 min" in out
    assert "On hold: 1 h 15 min" in out
    assert "Fault report due 2026-10-17 00:00; Fault report sent: 2026-10-16 15:00 -> met" in out


def iso(x: datetime) -> str:
    return x.isoformat()


def test_mark_sent_files_report_sent_and_ends_fault_report_overdue(home: Path, running: Daemon):  # noqa: F811
    cfg = home / "monitord.yaml"
    port = running.url.rsplit(":", 1)[1]
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("127.0.0.1:0", f"127.0.0.1:{port}"), encoding="utf-8")
    # Restored 30 days ago: its report (1 working day for AAA) is long overdue whatever today is.
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    events = [{"at": iso(t0), "type": "reported", "ticket": "TT-R1", "circuit": "GZ-SDH-000123", "source": "customer"},
              {"at": iso(t0 + timedelta(minutes=30)), "type": "restored", "ticket": "TT-R1"}]
    assert running.request("POST", "/api/v1/events", events)[0] == 201

    def overdue() -> list[dict]:
        return [a for a in running.alerts() if a["name"] == "FaultReportOverdue"]

    assert wait_for(lambda: [a["labels"]["ticket"] for a in overdue()] == ["TT-R1"])  # firing
    done = subprocess.run([sys.executable, "-m", "monitord.cli", "report", "fault", "--ticket", "TT-R1",
                           "--config", str(cfg), "--mark-sent", "--lang", "en", "--format", "json"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("report_sent TT-R1: recorded")
    report = json.loads(done.stdout.split("\n", 1)[1])
    assert report["report"]["sent"] is not None and report["report"]["state"] == "breached"  # sent, but late
    assert wait_for(lambda: overdue() == [])  # no longer firing
