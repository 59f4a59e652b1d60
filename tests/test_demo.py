"""The demo: simulated routers polled by monitord's own SnmpPoller, and the whole demo run and stopped with Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from monitord.alerting.route import Router
from monitord.app import load
from monitord.config.alerting import AlertingSettings, EmailSettings, WebhookSettings, alerting_settings
from monitord.demo import ALERTING, INVENTORY, RULES_DIR, DemoError, write_files
from monitord.demo.devices import DOWN, UP, SimulatedDevice, demo_specs, start_devices
from monitord.demo.scenario import SCRIPT, TZ, Link, Post, Reach, events_of
from monitord.evaluate import evaluate
from monitord.sla.policy import load_policy
from monitord.sources.events import parse_event
from monitord.sources.inventory import load_inventory
from monitord.sources.snmp import CircuitState, SnmpPoller, SnmpTarget, circuit_states
from monitord.yamldoc import Problems, Section
from tests.conftest import ROOT

T = TypeVar("T")
DEMO_TICKETS = {"DEMO-AAA-1", "DEMO-A-1", "DEMO-AA-1"}
AAA_TICKET = "DEMO-AAA-1"


def with_devices(fn: Callable[[dict[int, SimulatedDevice], SnmpPoller], Awaitable[T]]) -> T:
    """Run ``fn`` with the demo's routers on free ports (keyed by their inventory port) and a poller."""

    async def main() -> T:
        specs = demo_specs()
        devices = await start_devices(specs, [0] * len(specs))
        poller = SnmpPoller()
        try:
            return await fn({s.port: d for s, d in zip(specs, devices, strict=True)}, poller)
        finally:
            poller.close()
            for d in devices:
                d.stop()

    return asyncio.run(main())


def target(device: SimulatedDevice, **kw: Any) -> SnmpTarget:
    return SnmpTarget("127.0.0.1", device.port, **{"timeout": 1.0, "retries": 0, **kw})


# -- the routers, over real SNMP --------------------------------------------------------


def test_routers_cover_every_monitored_circuit_of_the_demo_inventory():
    specs = {s.port: s for s in demo_specs()}
    monitored = [c for c in load_inventory(INVENTORY).circuits.values() if c.monitor is not None]
    assert len(monitored) == 6
    for c in monitored:
        assert c.monitor is not None and c.monitor.host == "127.0.0.1"
        interfaces = specs[c.monitor.port].interfaces
        if c.monitor.ifindex is not None:
            assert c.monitor.ifindex in {i.ifindex for i in interfaces}, c.id
        else:
            assert c.monitor.ifname in {i.name for i in interfaces}, c.id


def test_poller_reads_oper_and_admin_status_of_the_demo_interfaces():
    async def check(devices: dict[int, SimulatedDevice], p: SnmpPoller) -> None:
        for port in (16100, 16102):
            poll = await p.poll(target(devices[port]), [1, 2, 3])
            assert poll.reachable, poll.error
            assert {i: (s.oper, s.admin) for i, s in poll.interfaces.items() if i in (1, 2)} == {1: (1, 1), 2: (1, 1)}
        spare = (await p.poll(target(devices[16100]), [3])).interfaces[3]
        assert (spare.oper, spare.admin) == (DOWN, DOWN)
        missing = (await p.poll(target(devices[16100]), [99])).interfaces
        assert missing == {} or not missing[99].present

    with_devices(check)


def test_ifname_resolves_on_the_router_monitored_by_name():
    async def check(devices: dict[int, SimulatedDevice], p: SnmpPoller) -> None:
        names = await p.resolve_ifnames(target(devices[16101]))
        assert names == {"GigabitEthernet0/0/0": 10, "GigabitEthernet0/0/1": 11, "GigabitEthernet0/0/2": 12}
        # A small GETBULK page still walks the whole column.
        small = SnmpPoller(bulk_repetitions=1)
        try:
            assert await small.resolve_ifnames(target(devices[16101])) == names
        finally:
            small.close()
        poll = await p.poll(target(devices[16101]), [names["GigabitEthernet0/0/1"]])
        assert (poll.interfaces[11].oper, poll.interfaces[11].admin) == (UP, UP)

    with_devices(check)


def test_a_flip_is_seen_on_the_next_poll():
    circuits = load_inventory(INVENTORY).circuits

    async def check(devices: dict[int, SimulatedDevice], p: SnmpPoller) -> None:
        dev = devices[16101]
        names = await p.resolve_ifnames(target(dev))
        before = await p.poll(target(dev), [11, 12])
        dev.set_oper("GigabitEthernet0/0/1", up=False)
        after = await p.poll(target(dev), [11, 12])
        dev.set_oper(11, up=True)
        back = await p.poll(target(dev), [11, 12])
        # The circuits' view, as the daemon takes it (inventory port 16101 -> the router's real port).
        moved = {c.id: c for c in circuits.values() if c.monitor and c.monitor.port == 16101}
        before, after, back = (replace(poll, target=SnmpTarget("127.0.0.1", 16101)) for poll in (before, after, back))
        assert circuit_states(before, moved.values(), names)["GZ-VPN-000301"] is CircuitState.UP
        assert circuit_states(after, moved.values(), names) == {
            "GZ-VPN-000301": CircuitState.DOWN, "GZ-ETH-000302": CircuitState.UP}
        assert circuit_states(back, moved.values(), names)["GZ-VPN-000301"] is CircuitState.UP

    with_devices(check)


def test_an_unreachable_router_times_out_and_answers_again_when_back():
    async def check(devices: dict[int, SimulatedDevice], p: SnmpPoller) -> None:
        dev = devices[16102]
        dev.reachable = False
        began = time.monotonic()
        poll = await p.poll(target(dev, timeout=0.3), [1, 2])
        assert not poll.reachable and poll.interfaces == {}
        assert "timeout" in poll.error
        assert time.monotonic() - began < 2.0
        dev.reachable = True
        again = await p.poll(target(dev, timeout=0.3), [1, 2])
        assert again.reachable and set(again.interfaces) == {1, 2}

    with_devices(check)


def test_another_community_gets_no_answer():
    async def check(devices: dict[int, SimulatedDevice], p: SnmpPoller) -> None:
        poll = await p.poll(target(devices[16100], community="private", timeout=0.3), [1])
        assert not poll.reachable

    with_devices(check)


def test_a_taken_port_is_an_error_naming_it():
    async def check() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            taken = s.getsockname()[1]
            with pytest.raises(OSError, match=f"127.0.0.1:{taken}"):
                await start_devices(demo_specs(), [0, taken, 0])

    asyncio.run(check())


# -- the packaged files and the script ----------------------------------------------------


@pytest.mark.skipif(not (ROOT / "rules").is_dir(), reason="not a repository checkout")
def test_packaged_rules_and_inventory_are_the_repositorys():
    shipped = {f.name: f.read_bytes() for f in (ROOT / "rules").glob("*.yaml")}
    packaged = {f.name: f.read_bytes() for f in RULES_DIR.glob("*.yaml")}
    assert packaged == shipped, "copy rules/*.yaml to monitord/demo/rules/"
    assert INVENTORY.read_bytes() == (ROOT / "demo/inventory.yaml").read_bytes(), (
        "copy demo/inventory.yaml to monitord/demo/inventory.yaml")
    assert ALERTING.read_bytes() == (ROOT / "demo/alerting.yaml").read_bytes(), (
        "copy demo/alerting.yaml to monitord/demo/alerting.yaml")


def test_every_scripted_event_parses_and_every_step_names_a_router_interface():
    start = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
    specs = {s.port: s for s in demo_specs()}
    circuits = load_inventory(INVENTORY).circuits
    reported = set()
    for step in SCRIPT:
        if isinstance(step.action, Post):
            for obj in events_of(step.action, start):
                # Never in the future when sent: the daemon would see a fault that has not happened yet.
                assert parse_event(obj).at <= start + timedelta(seconds=step.after)
                if obj["type"] == "reported":
                    assert obj["circuit"] in circuits
                    reported.add(obj["ticket"])
                else:
                    assert obj["ticket"] in reported, f"{obj['ticket']} is used before it is reported"
        elif isinstance(step.action, Link):
            names = {i.ifindex for i in specs[step.action.device].interfaces}
            names |= {i.name for i in specs[step.action.device].interfaces}
            assert step.action.interface in names
        else:
            assert isinstance(step.action, Reach) and step.action.device in specs
    assert reported == DEMO_TICKETS


def _script_alerts(start: datetime, at: datetime) -> list[Any]:
    """The alerts the script's ticket events raise by ``at`` (offline, as ``monitord evaluate`` replays them)."""
    events = [parse_event(obj) for step in SCRIPT if isinstance(step.action, Post)
              for obj in events_of(step.action, start)]
    return evaluate(load_policy(RULES_DIR), load_inventory(INVENTORY), list(enumerate(events)), at).alerts


def _aaa_breach_after(start: datetime) -> timedelta:
    """How long after the script's start the AAA ticket's restore limit is breached."""
    [breach] = [a for a in _script_alerts(start, start + timedelta(minutes=10))
                if a.name == "RestoreBreached" and a.labels.get("ticket") == AAA_TICKET]
    return breach.fired_at - start


def test_the_script_breaches_an_aaa_restore_limit_live_within_the_first_minutes():
    start = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
    [breach] = [a for a in _script_alerts(start, start + timedelta(minutes=10))
                if a.name == "RestoreBreached" and a.labels.get("ticket") == AAA_TICKET]
    assert breach.labels["sla_class"] == "AAA"
    # Live: the ticket is sent at +0 and breached a minute or more later, so the daemon fires it at its instant.
    reported = [step.after for step in SCRIPT if isinstance(step.action, Post)
                and any(f["ticket"] == AAA_TICKET and f["type"] == "reported" for _, f in step.action.events)]
    assert reported == [0]
    assert timedelta(minutes=1) <= breach.fired_at - start <= timedelta(minutes=5)
    assert breach.resolved_at is not None and breach.resolved_at > breach.fired_at  # restored later in the script


def test_demo_files_load_as_a_daemon_config(tmp_path: Path):
    files = write_files(tmp_path / "w", 0, {16100: 30100, 16101: 30101, 16102: 30102})
    loaded = load(files.config)
    ports = {c.monitor.port for c in loaded.inventory.circuits.values() if c.monitor}
    assert ports == {30100, 30101, 30102}
    assert files.token and files.token_file.read_text().strip() == files.token
    assert files.token_file.stat().st_mode & 0o077 == 0
    again = write_files(tmp_path / "w", 0, {})
    assert again.token == files.token  # kept across runs


def _example_alerting(path: Path) -> AlertingSettings:
    problems = Problems()
    sec = Section.load(path, problems).get("alerting", required=True)
    settings = alerting_settings(sec) if sec else None
    problems.raise_if_any()
    assert settings is not None
    return settings


def _tree(settings: AlertingSettings) -> list[tuple[int, str]]:
    return [(depth, route.describe()) for depth, route in Router(settings).root.walk()]


def test_demo_alerting_is_the_examples_delivered_to_the_local_mail_server_and_webhook(tmp_path: Path):
    files = write_files(tmp_path / "w", 29464, {}, smtp_port=22525, webhook_port=29465)
    demo = load(files.config).settings.alerting
    assert demo is not None
    for example_file in (ALERTING, ROOT / "demo/alerting.yaml"):  # the packaged copy, and the repository's
        if not example_file.is_file():
            continue
        example = _example_alerting(example_file)
        assert _tree(demo) == _tree(example)
        assert [(r.source_matchers, r.target_matchers, r.equal) for r in demo.inhibit_rules] == [
            (r.source_matchers, r.target_matchers, r.equal) for r in example.inhibit_rules]
        assert {n: (r.person, r.fallback) for n, r in demo.receivers.items()} == {
            n: (r.person, r.fallback) for n, r in example.receivers.items()}
        # The same e-mail notifiers (addresses from the config or the inventory); every webhook keeps its path.
        for name, receiver in demo.receivers.items():
            ours, theirs = receiver.notifiers, example.receivers[name].notifiers
            assert [n for n in ours if isinstance(n, EmailSettings)] == [
                n for n in theirs if isinstance(n, EmailSettings)]
            assert [n.url for n in ours if isinstance(n, WebhookSettings)] == [
                "http://127.0.0.1:29465" + urlsplit(n.url).path for n in theirs if isinstance(n, WebhookSettings)]
            assert {n.kind for n in ours} <= {"email", "webhook"}, "the demo runs no Alertmanager"
            assert receiver.lang == "zh-CN"
    assert demo.smtp is not None
    assert (demo.smtp.host, demo.smtp.port, demo.smtp.starttls, demo.smtp.username) == ("127.0.0.1", 22525, False, "")
    assert demo.external_url == "http://127.0.0.1:29464"
    assert (files.mail, files.webhook) == (files.workdir / "mail", files.workdir / "webhook")


def test_demo_starts_with_empty_mail_and_webhook_folders(tmp_path: Path):
    files = write_files(tmp_path / "w", 0, {})
    (files.mail / "0001-li.ming@example.com.eml").write_text("old")
    (files.webhook / "0001-notify.json").write_text("{}")
    again = write_files(tmp_path / "w", 0, {})
    assert list(again.mail.iterdir()) == [] and list(again.webhook.iterdir()) == []


def test_demo_refuses_a_workdir_holding_another_config(tmp_path: Path):
    (tmp_path / "monitord.yaml").write_text("rules: /etc/monitord/rules\n")
    with pytest.raises(DemoError, match="not written by the demo"):
        write_files(tmp_path, 0, {})
    assert (tmp_path / "monitord.yaml").read_text() == "rules: /etc/monitord/rules\n"


# -- the whole demo ------------------------------------------------------------------------


def _get(url: str) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as response:
        return json.load(response)


def _free_udp(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class DemoProcess:
    """``python -m monitord.demo`` on free ports in ``workdir``, its output read line by line; a context manager."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.workdir = workdir
        argv = [sys.executable, "-m", "monitord.demo", "--workdir", str(workdir), "--port", "0",
                "--snmp-ports", "0,0,0", "--smtp-port", "0", "--webhook-port", "0", *args]
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def __enter__(self) -> DemoProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def wait_for(self, pattern: str, within: float) -> str:
        """The next output line matching ``pattern``; fails with the output so far after ``within`` s."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.output.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r} within {within} s:\n{self.text()}")

    def started(self) -> str:
        """Wait for the banner; the daemon's URL."""
        return self.wait_for(r"monitord demo is running at http://127\.0\.0\.1:\d+", 20).split()[-1]

    def stop(self) -> int:
        """Ctrl-C, then the exit code once the demo is gone."""
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(timeout=15)
        self.reader.join(timeout=5)
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return rc

    def text(self) -> str:
        """The output read so far."""
        return "".join(self.output)


def test_whole_demo_runs_feeds_the_daemon_and_stops_cleanly_on_ctrl_c(tmp_path: Path):
    with DemoProcess(tmp_path / "demo") as demo:
        url = demo.started()
        routers = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", demo.wait_for(r"simulated routers", 5))]
        assert len(routers) == 3
        assert demo.wait_for(r"e-mail +smtp://127\.0\.0\.1:\d+", 5).split()[-1] == f"{tmp_path / 'demo/mail'}/*.eml"
        assert demo.wait_for(r"webhook +http://127\.0\.0\.1:\d+", 5).split()[-1] == (
            f"{tmp_path / 'demo/webhook'}/*.json")
        demo.wait_for(r"\[\+00:00\] 省联社", 10)  # the last of the scenario's first tickets was sent
        deadline = time.monotonic() + 10
        tickets: dict[str, Any] = {}
        while time.monotonic() < deadline and not tickets.keys() >= DEMO_TICKETS:
            tickets = {t["ticket"]: t for t in _get(f"{url}/api/v1/tickets")["tickets"]}
            time.sleep(0.2)
        assert tickets.keys() >= DEMO_TICKETS
        paused = {d["kind"]: d for d in tickets["DEMO-AA-1"]["deadlines"]}
        assert paused["restore"]["due"] is None  # on hold: the restoration clock stands still
        assert tickets[AAA_TICKET]["circuit"] == "GZ-VPN-000201"
        assert _get(f"{url}/api/v1/alerts")["alerts"]  # back-dated tickets: past instants fire at once
        # ... and their notices are told on the console as the mail server and the webhook take them.
        demo.wait_for(r"^  webhook POST /hooks/noc-oncall: 【告警", 10)
        demo.wait_for(r"^  mail +to .*@example\.com.*: 【告警", 10)
        assert "! failed" not in demo.text()
        rc = demo.stop()
        text = demo.text()
    assert rc == 0, text
    assert "monitord demo stopped." in text
    assert "Traceback" not in text
    assert all(_free_udp(p) for p in routers), "the routers' ports are still bound"


def _wait_for_file(directory: Path, pattern: str, test: Callable[[Path], bool], within: float) -> Path:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for f in sorted(directory.glob(pattern)):
            if test(f):
                return f
        time.sleep(0.05)
    raise AssertionError(f"no {pattern} in {directory} as expected within {within} s: {sorted(directory.iterdir())}")


def _about_the_aaa_breach(body: dict[str, Any]) -> bool:
    return body.get("status") == "firing" and any(
        a["name"] == "RestoreBreached" and a["labels"].get("ticket") == AAA_TICKET for a in body.get("alerts", []))


def _mail(path: Path) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert isinstance(message, EmailMessage)
    return message


def test_the_aaa_breach_reaches_the_noc_webhook_and_the_account_managers_mailbox_within_a_second(tmp_path: Path):
    # Fast-forwarded so that the breach, live (armed by the scenario's first events), comes 5 s after the start.
    lead = timedelta(seconds=5)
    fast_forward = _aaa_breach_after(datetime(2026, 11, 23, 10, 0, tzinfo=TZ)) - lead
    customer = load_inventory(INVENTORY).customers["CUST-GRP-001"]
    work = tmp_path / "demo"
    with DemoProcess(work, "--fast-forward", str(fast_forward.total_seconds())) as demo:
        url = demo.started()
        demo.wait_for(r"\[\+00:00\] 省联社", 10)
        hook = _wait_for_file(work / "webhook", "*-hooks-noc-oncall.json",
                              lambda f: _about_the_aaa_breach(json.loads(f.read_bytes())), 30)
        mail = _wait_for_file(work / "mail", f"*-{customer.account_manager.email}.eml",
                              lambda f: "恢复超时" in str(_mail(f)["Subject"]), 10)
        [alert] = [a for a in _get(f"{url}/api/v1/alerts")["alerts"]
                   if a["name"] == "RestoreBreached" and a["labels"].get("ticket") == AAA_TICKET]
        ticket = {t["ticket"]: t for t in _get(f"{url}/api/v1/tickets")["tickets"]}[AAA_TICKET]
        rc = demo.stop()
    assert rc == 0, demo.text()
    fired_at = datetime.fromisoformat(alert["fired_at"])
    due = datetime.fromisoformat({d["kind"]: d for d in ticket["deadlines"]}["restore"]["due"])
    assert fired_at == due
    # The files are written as the bodies arrive.
    assert 0 <= hook.stat().st_mtime - fired_at.timestamp() < 1.0, "the NOC webhook heard of it late"
    assert 0 <= mail.stat().st_mtime - fired_at.timestamp() < 1.0, "the account manager heard of it late"

    body = json.loads(hook.read_bytes())
    assert body["lang"] == "zh-CN" and body["title"].startswith("【告警】恢复超时")
    [breach] = [a for a in body["alerts"] if a["name"] == "RestoreBreached"]
    assert breach["labels"]["circuit"] == "GZ-VPN-000201" and breach["labels"]["sla_class"] == "AAA"
    assert breach["details"]["customer_name"] == customer.name
    assert datetime.fromisoformat(breach["details"]["deadline"]) == due

    message = _mail(mail)
    assert customer.account_manager.email in str(message["To"])
    assert str(message["Subject"]).startswith("【告警】恢复超时：GZ-VPN-000201")
    body_part = message.get_body(("plain",))
    assert body_part is not None
    text = str(body_part.get_content())
    local_due = due.astimezone(TZ).strftime("%Y-%m-%d %H:%M")
    for what in (f"{customer.account_manager.name}，您好",  # to the account manager, in Chinese
                 "电路：GZ-VPN-000201", f"客户：{customer.name}", "SLA 等级：AAA",
                 f"时限：{local_due}（北京时间）",  # the deadline
                 "情况：恢复时限已超 不到 1 分钟",  # how late, at the instant it is told
                 "故障单：DEMO-AAA-1，当前环节：已接单，处理中",  # the ticket and its stage
                 f"{url}/api/v1/tickets?ticket=DEMO-AAA-1"):  # and where to look
        assert what in text, f"{what!r} not in the mail:\n{text}"
