"""Alerting through the whole daemon, to a real local webhook: in-process on the real scheduler, and as a real
process that is SIGKILLed between writing a notice and sending it, and restarted."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitord.alerting.notify import Notifiers, NotifyStats
from monitord.alerting.outbox import Outbox
from monitord.app import Daemon, load
from monitord.domain import TicketEvent, TicketEventType, TicketSource
from monitord.scheduler import Timer
from monitord.sources.snmp import DevicePoll, IfStatus, InterfaceStatus, SnmpTarget
from monitord.storage.repo import Repository
from tests.conftest import ROOT
from tests.hook import Hook
from tests.test_daemon import TOKEN
from tests.test_daemon import Daemon as Process

AAA, AAA_VPN = "GZ-SDH-000123", "GZ-VPN-000201"  # both of CUST-GRP-001
# A ticket reported 15 minutes back also burns the AAA downtime budget at once: those notices are a group of
# their own, so the tests look at the DispatchOverdue group.
OVERDUE = "DispatchOverdue"


def alerting(url: str, repeat: str = "1h") -> str:
    return (f"alerting:\n  route:\n    receiver: hook\n    group_by: [alertname, customer]\n"
            f"    group_interval: 1s\n    repeat_interval: {repeat}\n"
            f"  receivers:\n    - name: hook\n      notifiers: [{{kind: webhook, url: \"{url}\"}}]\n")


@pytest.fixture
def hook() -> Iterator[Hook]:
    with Hook() as h:
        yield h


def make_home(tmp_path: Path, hook: Hook, repeat: str = "1h") -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules", ignore=shutil.ignore_patterns("tests"))
    shutil.copy(ROOT / "demo/inventory.yaml", tmp_path / "inventory.yaml")
    (tmp_path / "token").write_text(TOKEN + "\n", encoding="utf-8")
    (tmp_path / "monitord.yaml").write_text(
        "rules: rules\ninventory: inventory.yaml\nstorage: sqlite:///state.db\n"
        "http: {listen: 127.0.0.1:0, token_file: token}\n" + alerting(hook.url, repeat), encoding="utf-8")
    return tmp_path


def reports(due: datetime) -> list[dict]:
    """Two AAA tickets of one customer whose dispatch limits (15 min) both come due at ``due``."""
    at = (due - timedelta(minutes=15)).isoformat()
    return [{"at": at, "type": "reported", "ticket": f"T-{c}", "circuit": c, "source": "customer"}
            for c in (AAA, AAA_VPN)]


def test_in_process_a_breach_is_one_notice_arriving_within_a_second_of_its_deadline(tmp_path: Path, hook: Hook):
    home = make_home(tmp_path, hook)
    clock = lambda: datetime.now(UTC)  # noqa: E731

    async def scenario() -> datetime:
        now = clock()
        loaded = load(home / "monitord.yaml")
        assert loaded.settings.alerting is not None
        repo = Repository.open(loaded.settings.storage)
        daemon = Daemon(loaded, repo, now)
        outbox = Outbox(repo, Notifiers(loaded.settings.alerting, stats=NotifyStats()),
                        loaded.settings.alerting.receivers, clock)
        daemon.send = outbox.submit
        timer = Timer(daemon.tick, daemon.next_instant, clock)
        timer.start()
        due = now + timedelta(seconds=0.5)
        daemon.ingest([TicketEvent(due - timedelta(minutes=15), TicketEventType.REPORTED, f"T-{c}", c,
                                   TicketSource.CUSTOMER) for c in (AAA, AAA_VPN)], now)
        timer.rearm()
        await asyncio.sleep(2.0)
        timer.stop()
        await outbox.drain()
        repo.close()
        return due

    due = asyncio.run(scenario())
    [got] = hook.about(OVERDUE)  # both circuits' breaches: one grouped notice
    assert got.body["status"] == "firing"
    assert sorted(a["labels"]["circuit"] for a in got.body["alerts"]) == [AAA, AAA_VPN]
    assert got.at - due.timestamp() < 1.0
    details = got.body["alerts"][0]["details"]
    assert details["customer_level"] == "group" and details["ticket_stage"] == "reported"
    assert datetime.fromisoformat(details["deadline"]) == due


def test_a_deadline_makes_one_grouped_notice_and_its_end_one_resolved_notice(tmp_path: Path, hook: Hook):
    home = make_home(tmp_path, hook)
    daemon = Process(home)
    try:
        due = datetime.now(UTC) + timedelta(seconds=1)
        assert daemon.request("POST", "/api/v1/events", reports(due))[0] == 201
        [first] = hook.wait(1, name=OVERDUE)
        assert len(first.body["alerts"]) == 2 and first.body["status"] == "firing"
        assert first.at - due.timestamp() < 1.0
        time.sleep(1.5)
        assert len(hook.about(OVERDUE)) == 1  # no repeat, no second notice of the same group
        dispatched = [{"at": datetime.now(UTC).isoformat(), "type": "dispatched", "ticket": f"T-{c}"}
                      for c in (AAA, AAA_VPN)]
        assert daemon.request("POST", "/api/v1/events", dispatched)[0] == 201
        [_, resolved] = hook.wait(2, name=OVERDUE)
        assert resolved.body["status"] == "resolved"
        assert {a["status"] for a in resolved.body["alerts"]} == {"resolved"}
        metrics = daemon.request("GET", "/metrics")[1].decode()
        assert 'monitord_notifications_total{receiver="hook",result="sent"} 3.0' in metrics  # + the budget burn
    finally:
        daemon.stop(signal.SIGKILL)


def test_killed_between_writing_and_sending_the_notice_arrives_again_under_the_same_key(tmp_path: Path,
                                                                                          hook: Hook):
    """At most twice raw, exactly once by Idempotency-Key: the first send was in flight when the daemon died."""
    home = make_home(tmp_path, hook)
    hook.hold.set()  # the receiver takes the request and does not answer: the send never completes
    first = Process(home)
    due = datetime.now(UTC) + timedelta(seconds=1)
    assert first.request("POST", "/api/v1/events", reports(due))[0] == 201
    hook.wait(1, name=OVERDUE)
    first.stop(signal.SIGKILL)
    hook.hold.clear()
    again = Process(home)
    try:
        received = hook.wait(2, name=OVERDUE)
        assert len(received) == 2
        assert received[0].key == received[1].key  # the same notice: the receiver dedupes by key
        assert received[0].body["alerts"] == received[1].body["alerts"]
        time.sleep(1.5)
        assert len(hook.about(OVERDUE)) == 2  # and no third send once marked
        repo = Repository.open(f"sqlite:///{home / 'state.db'}")
        assert repo.unsent_notices() == [] and len(repo.notices()) == 2  # the overdue and budget burn groups
        repo.close()
    finally:
        hook.release.set()
        again.stop(signal.SIGKILL)


def test_a_restart_does_not_bring_a_repeat_forward(tmp_path: Path, hook: Hook):
    home = make_home(tmp_path, hook, repeat="6s")
    first = Process(home)
    due = datetime.now(UTC) + timedelta(seconds=1)
    assert first.request("POST", "/api/v1/events", reports(due))[0] == 201
    [told] = hook.wait(1, name=OVERDUE)
    # Killed once the notice is marked sent: a kill before that re-sends it under its key at start-up
    # (at most twice, the test above), which is not what this test is about.
    repo = Repository.open(f"sqlite:///{home / 'state.db'}")
    try:
        deadline = time.monotonic() + 5
        while repo.unsent_notices() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not repo.unsent_notices(), "the notice was never marked sent"
    finally:
        repo.close()
    first.stop(signal.SIGKILL)
    again = Process(home)  # a restart well inside the repeat interval
    try:
        time.sleep(max(0.0, due.timestamp() + 5.0 - time.time()))
        assert len(hook.about(OVERDUE)) == 1  # not repeated at start-up, nor early
        received = hook.wait(2, seconds=5, name=OVERDUE)
        assert len(received) == 2
        repeat = received[1]
        assert repeat.at >= due.timestamp() + 6.0 - 0.05  # at its interval after the first notice
        assert repeat.key != told.key and repeat.body["alerts"] == told.body["alerts"]
    finally:
        again.stop(signal.SIGKILL)


def test_a_fault_monitoring_finds_on_an_aaa_circuit_tells_the_customer_once(tmp_path: Path, hook: Hook):
    """ProactiveNotice: fires when monitoring opens the ticket, resolves when the circuit is restored."""
    from monitord.alerting.notice import Notice

    home = make_home(tmp_path, hook)
    loaded = load(home / "monitord.yaml")
    t0 = datetime(2026, 10, 12, 2, 0, tzinfo=UTC)
    daemon = Daemon(loaded, Repository.open(loaded.settings.storage), t0)
    opened = TicketEvent(t0, TicketEventType.REPORTED, "MON-1", AAA, TicketSource.MONITORING)
    other = TicketEvent(t0, TicketEventType.REPORTED, "T-2", "GZ-VPN-000301", TicketSource.MONITORING)  # AA
    daemon.ingest([opened, other], t0)
    proactive = [n for n in (Notice.from_json(e.payload) for e in daemon.outgoing)
                 if n.alerts[0].name == "ProactiveNotice"]
    assert [(a.labels["circuit"], a.state.value) for n in proactive for a in n.alerts] == [(AAA, "firing")]
    daemon.outgoing.clear()
    restored = t0 + timedelta(minutes=20)
    daemon.ingest([TicketEvent(restored, TicketEventType.RESTORED, "MON-1")], restored)
    daemon.tick(t0 + timedelta(minutes=21))
    proactive = [n for n in (Notice.from_json(e.payload) for e in daemon.outgoing)
                 if n.alerts[0].name == "ProactiveNotice"]
    assert [(a.labels["circuit"], a.state.value) for n in proactive for a in n.alerts] == [(AAA, "resolved")]
    daemon.repo.close()


def test_a_silence_and_an_inhibition_keep_their_alerts_out_of_the_notices(tmp_path: Path, hook: Hook):
    home = make_home(tmp_path, hook)
    cfg = home / "monitord.yaml"
    # A test rule: a circuit whose budget is burning has its dispatch breach muted (the report 15 minutes
    # back burns the AAA budget at once, a second before the dispatch limit comes due).
    cfg.write_text(cfg.read_text(encoding="utf-8") + (
        "  inhibit_rules:\n    - source_matchers: ['alertname=\"AvailabilityBudgetBurn\"']\n"
        "      target_matchers: ['alertname=\"DispatchOverdue\"']\n      equal: [circuit]\n"),
        encoding="utf-8")
    daemon = Process(home)
    try:
        now = datetime.now(UTC)
        silence = {"matchers": [f'circuit="{AAA}"'], "endsAt": (now + timedelta(hours=1)).isoformat(),
                   "createdBy": "值班长", "comment": "割接"}
        status, body = daemon.request("POST", "/api/v1/silences", silence)
        assert status == 201, body
        due = now + timedelta(seconds=1)
        assert daemon.request("POST", "/api/v1/events", reports(due))[0] == 201
        burns = hook.wait(1, name="AvailabilityBudgetBurn")
        assert {a["labels"]["circuit"] for r in burns for a in r.body["alerts"]} == {AAA_VPN}  # AAA: silenced
        time.sleep(2.0)
        assert hook.about(OVERDUE) == []  # AAA silenced, AAA_VPN inhibited by its own burn
        firing = {(a["name"], a["labels"]["circuit"]) for a in daemon.alerts()}
        assert {(OVERDUE, AAA), (OVERDUE, AAA_VPN)} <= firing  # muted is not resolved: both still fire
    finally:
        daemon.stop(signal.SIGKILL)


def test_an_outage_of_a_device_with_10000_circuits_is_one_notice_per_group(tmp_path: Path, hook: Hook):
    # 10,000 circuits of two customers on one router; the router's uplink fails and every interface goes down.
    shutil.copytree(ROOT / "rules", tmp_path / "rules", ignore=shutil.ignore_patterns("tests"))
    device = {"host": "10.9.9.9", "port": 161}
    lines = ["customers:",
             "  - {id: BANK, name: 银行, level: group, account_manager: {name: 李明, email: li@example.com}}",
             "  - {id: SHOP, name: 商超, level: local_b, account_manager: {name: 王芳, email: wang@example.com}}",
             "circuits:"]
    lines += [f"  - {{id: C{i:05d}, customer: {'BANK' if i % 2 else 'SHOP'}, service: sdh, "
              f"sla_class: {'AAA' if i % 2 else 'A'}, monitor: {{host: 10.9.9.9, ifindex: {i + 1}}}}}"
              for i in range(10_000)]
    (tmp_path / "inventory.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "monitord.yaml").write_text(
        "rules: rules\ninventory: inventory.yaml\nstorage: sqlite:///state.db\n" + alerting(hook.url),
        encoding="utf-8")
    t0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)

    async def scenario() -> list[tuple[str, str]]:
        loaded = load(tmp_path / "monitord.yaml")
        assert loaded.settings.alerting is not None
        repo = Repository.open(loaded.settings.storage)
        daemon = Daemon(loaded, repo, t0)
        outbox = Outbox(repo, Notifiers(loaded.settings.alerting, stats=NotifyStats()),
                        loaded.settings.alerting.receivers, lambda: t0)
        daemon.send = outbox.submit
        target = SnmpTarget(**device)
        down = {i + 1: InterfaceStatus(IfStatus.DOWN, IfStatus.UP) for i in range(10_000)}
        circuits = list(loaded.inventory.circuits.values())
        for k in range(2):  # two down polls: past the debounce
            daemon.observe_poll(DevicePoll(target, True, down, 0.1), circuits, {}, t0 + timedelta(seconds=30 * k))
        await outbox.drain()
        firing = sorted({(a.name, a.labels["customer"]) for a in daemon.firing()})
        repo.close()
        return firing

    groups = asyncio.run(scenario())
    assert ("CircuitDown", "BANK") in groups and ("ProactiveNotice", "BANK") in groups
    received = hook.wait(len(groups))
    time.sleep(0.5)  # and no more than that
    got = sorted((r.body["alerts"][0]["name"], r.body["alerts"][0]["labels"]["customer"]) for r in hook.received)
    assert got == groups  # one notice per alert name and customer: the route groups by both
    down_alerts = sum(len(r.body["alerts"]) for r in received if r.body["alerts"][0]["name"] == "CircuitDown")
    assert down_alerts == 10_000
