"""`monitord run` as a real process: HTTP ingest with a token, deadlines on time, SIGHUP reloads, SIGKILL restarts."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitord.storage.repo import Repository
from tests.conftest import ROOT

TOKEN = "s3cret-token"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules", ignore=shutil.ignore_patterns("tests"))
    shutil.copy(ROOT / "demo/inventory.yaml", tmp_path / "inventory.yaml")
    (tmp_path / "token").write_text(TOKEN + "\n", encoding="utf-8")
    (tmp_path / "monitord.yaml").write_text(
        "rules: rules\ninventory: inventory.yaml\nstorage: sqlite:///state.db\n"
        "http: {listen: 127.0.0.1:0, token_file: token}\n", encoding="utf-8")
    return tmp_path


class Daemon:
    """A running `monitord run` process and its base URL."""

    def __init__(self, home: Path) -> None:
        command = [sys.executable, "-m", "monitord.cli", "run", "--config", str(home / "monitord.yaml")]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 20
        self.url = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("monitord is running: "):
                self.url = line.split()[3].removesuffix("/metrics,")
                break
        assert self.url, "the daemon did not start"

    def request(self, method: str, path: str, body: object = None, token: str | None = TOKEN) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def alerts(self) -> list[dict]:
        return json.loads(self.request("GET", "/api/v1/alerts")[1])["alerts"]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=20)


@pytest.fixture
def running(home: Path) -> Iterator[Daemon]:
    d = Daemon(home)
    yield d
    if d.proc.poll() is None:
        d.stop(signal.SIGKILL)


def iso(t: datetime) -> str:
    return t.isoformat()


def wait_for(check, seconds: float = 5.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    return check()


def test_ingest_fires_deadline_on_time_and_survives_sigkill(home: Path, running: Daemon):
    now = datetime.now(UTC)
    due = now + timedelta(seconds=1)
    report = {"at": iso(due - timedelta(minutes=15)), "type": "reported", "ticket": "T1",
              "circuit": "GZ-SDH-000123", "source": "customer"}
    assert running.request("POST", "/api/v1/events", report, token=None)[0] == 401
    status, body = running.request("POST", "/api/v1/events", [report])
    assert status == 201, body
    assert json.loads(body)["new"] == 1
    assert running.request("POST", "/api/v1/events", [report])[0] == 200  # a duplicate changes nothing

    overdue = wait_for(lambda: [a for a in running.alerts() if a["name"] == "DispatchOverdue"])
    assert overdue, "DispatchOverdue did not fire"
    assert datetime.fromisoformat(overdue[0]["fired_at"]) == due  # its exact instant
    assert datetime.now(UTC) - due < timedelta(seconds=2)

    running.stop(signal.SIGKILL)
    again = Daemon(home)
    try:
        names = {a["name"] for a in again.alerts()}
        assert "DispatchOverdue" in names  # state rebuilt from storage
        repo = Repository.open(f"sqlite:///{home / 'state.db'}")
        stored = [a for a in repo.alerts() if a.name == "DispatchOverdue"]
        repo.close()
        assert len(stored) == 1  # stored once, not again after the restart
        assert len(list(Repository.open(f"sqlite:///{home / 'state.db'}").events())) == 1
    finally:
        again.stop(signal.SIGKILL)


def test_bad_events_are_refused_with_their_index(running: Daemon):
    bad = [{"at": "2026-10-01T10:00:00", "type": "reported", "ticket": "T1", "circuit": "GZ-SDH-000123"},
           {"at": "2026-10-01T10:00:00+08:00", "type": "reported", "ticket": "T2", "circuit": "NO-SUCH"}]
    status, body = running.request("POST", "/api/v1/events", bad)
    assert status == 400
    assert json.loads(body)["errors"][0]["index"] == 0
    status, body = running.request("POST", "/api/v1/events", bad[1:])
    assert status == 400
    assert json.loads(body)["errors"] == [{"index": 0, "message": "unknown circuit 'NO-SUCH'"}]


def test_sighup_with_a_bad_rule_keeps_running_set(home: Path, running: Daemon):
    metric = "monitord_config_last_reload_successful"

    def reload_gauge() -> str:
        text = running.request("GET", "/metrics")[1].decode()
        return next(line for line in text.splitlines() if line.startswith(metric + " "))

    assert reload_gauge() == f"{metric} 1.0"
    sla = home / "rules/sla.yaml"
    good = sla.read_text(encoding="utf-8")
    sla.write_text(good.replace("limits: {restore: 60m, report: 1wd}", "limits: {restore: sixty, report: 1wd}"),
                   encoding="utf-8")
    os.kill(running.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: reload_gauge() == f"{metric} 0.0")
    assert running.request("GET", "/-/healthy")[0] == 200
    sla.write_text(good, encoding="utf-8")
    status, body = running.request("POST", "/-/reload")
    assert status == 200, body
    assert reload_gauge() == f"{metric} 1.0"
    assert running.stop() == 0  # SIGTERM: a clean stop


def test_ticket_command_files_events_with_the_configs_token(home: Path, running: Daemon):
    cfg = home / "monitord.yaml"
    port = running.url.rsplit(":", 1)[1]
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("127.0.0.1:0", f"127.0.0.1:{port}"), encoding="utf-8")

    def ticket(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "monitord.cli", "ticket", *args, "--config", str(cfg)],
                              capture_output=True, text=True, timeout=30, check=False)

    done = ticket("reported", "TT-CLI-1", "--circuit", "GZ-ETH-000601", "--source", "account_manager")
    assert (done.returncode, done.stdout.strip()) == (0, "reported TT-CLI-1: recorded"), done.stderr
    tickets = json.loads(running.request("GET", "/api/v1/tickets")[1])["tickets"]
    assert [(t["ticket"], t["source"]) for t in tickets] == [("TT-CLI-1", "account_manager")]
    refused = ticket("reported", "TT-CLI-2", "--circuit", "NO-SUCH")
    assert (refused.returncode, refused.stderr.strip()) == (2, "reported TT-CLI-2: unknown circuit 'NO-SUCH'")
    early = ticket("dispatched", "TT-CLI-9")
    assert early.returncode == 2 and "has not been reported" in early.stderr


def stored_tickets(d: Daemon) -> set[str]:
    return {t["ticket"] for t in json.loads(d.request("GET", "/api/v1/tickets")[1])["tickets"]}


def test_sigkill_in_the_middle_of_an_ingest_stream_loses_no_acknowledged_event(home: Path):
    first = Daemon(home)
    acked: list[str] = []
    stop = threading.Event()
    reported = iso(datetime.now(UTC) - timedelta(minutes=1))

    def stream() -> None:
        for i in itertools.count():
            if stop.is_set():
                return
            event = {"at": reported, "type": "reported", "ticket": f"K{i}", "circuit": "GZ-SDH-000123"}
            try:
                status, _ = first.request("POST", "/api/v1/events", [event])
            except OSError:  # the daemon is gone: whatever was in flight is not acknowledged
                return
            if status == 201:
                acked.append(f"K{i}")

    sender = threading.Thread(target=stream)
    sender.start()
    try:
        assert wait_for(lambda: len(acked) >= 30, seconds=30), "the stream did not get going"
        first.proc.kill()  # SIGKILL while requests keep arriving
        first.proc.wait(timeout=10)
    finally:
        stop.set()
        sender.join(timeout=30)
    again = Daemon(home)
    try:
        tickets = stored_tickets(again)
        assert set(acked) <= tickets  # every acknowledged event survived
        assert len(tickets) <= len(acked) + 1  # at most the one in flight, stored but not acknowledged
        repo = Repository.open(f"sqlite:///{home / 'state.db'}")
        assert len(list(repo.events())) == len(tickets)  # and nothing twice
        repo.close()
    finally:
        again.stop(signal.SIGKILL)


def test_a_deadline_that_passes_while_killed_fires_once_at_start_with_its_true_instant(home: Path):
    first = Daemon(home)
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    report = {"at": iso(due - timedelta(minutes=15)), "type": "reported", "ticket": "T-DOWN",
              "circuit": "GZ-SDH-000123", "source": "customer"}
    assert first.request("POST", "/api/v1/events", [report])[0] == 201
    first.stop(signal.SIGKILL)  # before the dispatch limit comes due
    time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.5)

    def stored_overdue() -> list[datetime]:
        repo = Repository.open(f"sqlite:///{home / 'state.db'}")
        try:
            return [a.fired_at for a in repo.alerts() if a.name == "DispatchOverdue"]
        finally:
            repo.close()

    for _ in range(2):  # the start-up after the deadline fires it; the next start-up does not again
        again = Daemon(home)
        try:
            [overdue] = [a for a in again.alerts() if a["name"] == "DispatchOverdue"]
            assert datetime.fromisoformat(overdue["fired_at"]) == due
            assert stored_overdue() == [due]
        finally:
            again.stop(signal.SIGKILL)


def test_the_inventory_sync_job_follows_an_edited_inventory_file(home: Path):
    cfg = home / "monitord.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + "inventory_sync: 1s\n", encoding="utf-8")
    running = Daemon(home)
    try:
        def circuits() -> set[str]:
            return {c["circuit"] for c in json.loads(running.request("GET", "/api/v1/circuits")[1])["circuits"]}

        def reload_gauge() -> str:
            text = running.request("GET", "/metrics")[1].decode()
            return next(line.split()[1] for line in text.splitlines()
                        if line.startswith("monitord_config_last_reload_successful "))

        inventory = home / "inventory.yaml"
        good = inventory.read_text(encoding="utf-8")
        assert "GZ-NEW-000001" not in circuits()
        inventory.write_text(good.replace("\ncircuits:\n", "\ncircuits:\n  - {id: GZ-NEW-000001, customer: "
                                          "CUST-GRP-001, service: internet, sla_class: A}\n"), encoding="utf-8")
        assert wait_for(lambda: "GZ-NEW-000001" in circuits(), seconds=10), "the new circuit never showed"
        inventory.write_text(good.replace("\ncircuits:\n", "\ncircuits:\n  - {id: GZ-BAD, customer: NOBODY, "
                                          "service: internet, sla_class: A}\n"), encoding="utf-8")
        assert wait_for(lambda: reload_gauge() == "0.0", seconds=10), "the bad inventory was not noticed"
        assert "GZ-NEW-000001" in circuits()  # the running set is kept
    finally:
        running.stop(signal.SIGKILL)


def test_silence_command_adds_lists_and_expires_and_silences_survive_a_restart(home: Path):
    first = Daemon(home)
    cfg = home / "monitord.yaml"
    port = first.url.rsplit(":", 1)[1]
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("127.0.0.1:0", f"127.0.0.1:{port}"), encoding="utf-8")

    def silence(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "monitord.cli", "silence", *args, "--config", str(cfg)],
                              capture_output=True, text=True, timeout=30, check=False)

    try:
        start = datetime.now(UTC) + timedelta(hours=1)
        added = silence("add", 'alertname="CircuitDown"', 'circuit=~"GZ-.*"', "--start", iso(start),
                        "--duration", "2h", "--author", "wang.wei", "--comment", "cutover CR-1024")
        assert added.returncode == 0, added.stderr
        sid = added.stdout.strip()
        bad = silence("add", 'circuit=~"GZ-(.*"', "--duration", "1h", "--comment", "x")
        assert bad.returncode == 2 and "`matchers[0]`: bad regular expression" in bad.stderr
        listed = silence("list")
        assert listed.returncode == 0 and listed.stdout.split()[:2] == [sid, "pending"], listed.stdout
        # The rules' zone (+08:00); the end is the start plus the 2h duration.
        got = json.loads(first.request("GET", "/api/v1/silences")[1])["silences"]
        assert datetime.fromisoformat(got[0]["endsAt"]) == start + timedelta(hours=2)
        assert got[0]["endsAt"].endswith("+08:00") and got[0]["createdBy"] == "wang.wei"
        assert first.stop() == 0
    finally:
        if first.proc.poll() is None:
            first.stop(signal.SIGKILL)

    second = Daemon(home)
    try:
        port = second.url.rsplit(":", 1)[1]
        cfg.write_text(re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", cfg.read_text(encoding="utf-8")),
                       encoding="utf-8")
        assert silence("list").stdout.split()[:2] == [sid, "pending"]  # stored, so a restart keeps it
        expired = silence("expire", sid)
        assert expired.returncode == 0 and expired.stdout.startswith(f"{sid}: expired at "), expired.stderr
        assert silence("list").stdout == ""  # expired ones only with --all
        assert silence("list", "--all").stdout.split()[:2] == [sid, "expired"]
        unknown = silence("expire", "no-such-id")
        assert unknown.returncode == 2 and "no silence with id 'no-such-id'" in unknown.stderr
    finally:
        second.stop(signal.SIGKILL)


def test_the_reports_through_the_api_come_from_the_daemons_own_facts(home: Path, running: Daemon):
    tz = ZoneInfo("Asia/Shanghai")
    start = datetime.now(UTC) - timedelta(minutes=20)
    if (start + timedelta(minutes=10)).astimezone(tz).month != start.astimezone(tz).month:
        start -= timedelta(minutes=30)  # just after midnight on the 1st: keep the whole fault in one month
    month = start.astimezone(tz).strftime("%Y-%m")
    events = [{"at": iso(start), "type": "reported", "ticket": "TT-API-1", "circuit": "GZ-SDH-000123"},
              {"at": iso(start + timedelta(minutes=10)), "type": "restored", "ticket": "TT-API-1"}]
    assert running.request("POST", "/api/v1/events", events)[0] == 201
    status, body = running.request("GET", f"/api/v1/reports/monthly?month={month}&customer=CUST-GRP-001")
    assert status == 200, body
    [customer] = json.loads(body)["customers"]
    circuit = next(c for c in customer["circuits"] if c["circuit"] == "GZ-SDH-000123")
    assert [f["ticket"] for f in circuit["faults"]] == ["TT-API-1"]
    assert circuit["downtime_seconds"] == 600.0  # reported -> restored: 10 minutes
    status, page = running.request("GET", f"/api/v1/reports/monthly?month={month}&customer=CUST-GRP-001"
                                          "&format=html&lang=en")
    assert status == 200 and b"<svg" in page and b"GZ-SDH-000123" in page
    status, body = running.request("GET", "/api/v1/reports/fault/TT-API-1")
    assert status == 200 and json.loads(body)["circuit"]["id"] == "GZ-SDH-000123"
    assert json.loads(body)["report"]["sent"] is None
    assert running.request("GET", "/api/v1/reports/fault/NO-SUCH")[0] == 404
    status, body = running.request("GET", "/api/v1/reports/monthly?month=2099-01")
    assert status == 400 and json.loads(body)["errors"][0]["field"] == "month"
