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
from pathlib import Path
from typing import Any, TypeVar

import pytest

from monitord.app import load
from monitord.demo import INVENTORY, RULES_DIR, DemoError, write_files
from monitord.demo.devices import DOWN, UP, SimulatedDevice, demo_specs, start_devices
from monitord.demo.scenario import SCRIPT, TZ, Link, Post, Reach, events_of
from monitord.sources.events import parse_event
from monitord.sources.inventory import load_inventory
from monitord.sources.snmp import CircuitState, SnmpPoller, SnmpTarget, circuit_states
from tests.conftest import ROOT

T = TypeVar("T")
DEMO_TICKETS = {"DEMO-AAA-1", "DEMO-A-1", "DEMO-AA-1"}


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


def test_demo_files_load_as_a_daemon_config(tmp_path: Path):
    files = write_files(tmp_path / "w", 0, {16100: 30100, 16101: 30101, 16102: 30102})
    loaded = load(files.config)
    ports = {c.monitor.port for c in loaded.inventory.circuits.values() if c.monitor}
    assert ports == {30100, 30101, 30102}
    assert files.token and files.token_file.read_text().strip() == files.token
    assert files.token_file.stat().st_mode & 0o077 == 0
    again = write_files(tmp_path / "w", 0, {})
    assert again.token == files.token  # kept across runs


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


def test_whole_demo_runs_feeds_the_daemon_and_stops_cleanly_on_ctrl_c(tmp_path: Path):
    argv = [sys.executable, "-m", "monitord.demo", "--workdir", str(tmp_path / "demo"), "--port", "0",
            "--snmp-ports", "0,0,0"]
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()

    def wait_for(pattern: str, within: float) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if proc.poll() is not None:
                    break
                continue
            output.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r} within {within} s:\n{''.join(output)}")

    try:
        url = wait_for(r"monitord demo is running at http://127\.0\.0\.1:\d+", 20).split()[-1]
        routers = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", wait_for(r"simulated routers", 5))]
        assert len(routers) == 3
        wait_for(r"\[\+00:00\] 省联社", 10)  # the last of the scenario's first tickets was sent
        deadline = time.monotonic() + 10
        tickets: dict[str, Any] = {}
        while time.monotonic() < deadline and not tickets.keys() >= DEMO_TICKETS:
            tickets = {t["ticket"]: t for t in _get(f"{url}/api/v1/tickets")["tickets"]}
            time.sleep(0.2)
        assert tickets.keys() >= DEMO_TICKETS
        paused = {d["kind"]: d for d in tickets["DEMO-AA-1"]["deadlines"]}
        assert paused["restore"]["due"] is None  # on hold: the restoration clock stands still
        assert tickets["DEMO-AAA-1"]["circuit"] == "GZ-VPN-000201"
        assert _get(f"{url}/api/v1/alerts")["alerts"]  # back-dated tickets: past instants fire at once
        assert "! failed" not in "".join(output)

        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=5)
    while not lines.empty():
        output.append(lines.get())
    text = "".join(output)
    assert rc == 0, text
    assert "monitord demo stopped." in text
    assert "Traceback" not in text
    assert all(_free_udp(p) for p in routers), "the routers' ports are still bound"
