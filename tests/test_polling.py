"""SNMP polling inside the daemon, against a real snmpd: debounced outages, proactive tickets, unreachable devices."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitord.app import Daemon, load
from monitord.domain import TicketSource
from monitord.scheduler import PollGroups
from monitord.sources.snmp import DevicePoll, SnmpPoller
from monitord.storage.repo import Repository
from tests.conftest import ROOT
from tests.sources.snmpd import COMMUNITY, Snmpd, VethPair, make_veth, snmpd_binary

PREFIX = f"mdp{os.getpid() % 10000}"
T0 = datetime(2026, 10, 12, 2, 0, tzinfo=UTC)


@pytest.fixture
def links() -> Iterator[tuple[VethPair, VethPair]]:
    ok, fault = make_veth(PREFIX + "o"), make_veth(PREFIX + "f")
    try:
        ok.set(admin_up=True, peer_up=True)
        fault.set(admin_up=True, peer_up=False)  # admin up, far end down: a circuit fault
        yield ok, fault
    finally:
        ok.delete()
        fault.delete()


@pytest.fixture
def agent(links: tuple[VethPair, VethPair], tmp_path: Path) -> Iterator[Snmpd]:
    a = Snmpd(tmp_path / "snmpd", snmpd_binary())  # started after the links exist
    yield a
    a.stop()


class Polled:
    """A Daemon on real rules and a given inventory, with the poll group of the test agent."""

    def __init__(self, tmp_path: Path, agent: Snmpd, monitors: dict[str, str]) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        shutil.copytree(ROOT / "rules", tmp_path / "rules", ignore=shutil.ignore_patterns("tests"))
        device = f"host: 127.0.0.1, port: {agent.port}"
        circuits = "".join(f"  - {{id: {cid}, customer: C1, service: sdh, sla_class: AAA, "
                           f"monitor: {{{device}, ifname: {ifname}}}}}\n" for cid, ifname in monitors.items())
        (tmp_path / "inventory.yaml").write_text(
            "customers:\n  - {id: C1, name: Bank, level: group, account_manager: {name: AM}, "
            "contact: {name: NOC desk}}\ncircuits:\n" + circuits, encoding="utf-8")
        (tmp_path / "monitord.yaml").write_text(
            "rules: rules\ninventory: inventory.yaml\nstorage: sqlite:///state.db\n"
            f"snmp: {{community: {COMMUNITY}, timeout: 1s, retries: 0, debounce_polls: 2}}\n", encoding="utf-8")
        loaded = load(tmp_path / "monitord.yaml")
        self.daemon = Daemon(loaded, Repository.open(loaded.settings.storage), T0)
        self.clock = [T0]
        self.poller = SnmpPoller()
        self.groups = PollGroups(loaded.inventory, loaded.settings.snmp, self.poller, self._on_polls,
                                 lambda: self.clock[0])
        [self.members] = self.groups.groups.values()

    def _on_polls(self, results: list[DevicePoll], at: datetime) -> None:
        for poll in results:
            circuits, names = self.groups.circuits_of(poll)
            self.daemon.observe_poll(poll, circuits, names, at)

    async def poll_at(self, minutes: float) -> None:
        self.clock[0] = T0 + timedelta(minutes=minutes)
        await self.groups.poll(self.members)


def test_fault_becomes_outage_and_proactive_ticket_and_silence_is_unreachable(
        agent: Snmpd, links: tuple[VethPair, VethPair], tmp_path: Path) -> None:
    ok, fault = links
    polled = Polled(tmp_path, agent, {"OK-1": ok.name, "BAD-1": fault.name})
    daemon, poll_at, poller = polled.daemon, polled.poll_at, polled.poller

    async def scenario() -> None:
        await poll_at(0)
        assert daemon.state.facts.tickets == {}  # one down poll is not yet an outage
        await poll_at(0.5)
        agent.pause()
        await poll_at(1)
        agent.resume()
        await poll_at(1.5)
        poller.close()

    asyncio.run(scenario())
    facts = daemon.state.facts
    [ticket] = facts.tickets.values()
    reported_at = T0 + timedelta(minutes=0.5)
    assert (ticket.circuit, ticket.source, ticket.reported) == ("BAD-1", TicketSource.MONITORING, reported_at)
    [(start, end)] = [(o.at, o.type.value) for o in facts.observations["BAD-1"]]
    assert (start, end) == (T0, "down")  # the outage starts at the first down poll
    assert "OK-1" not in facts.observations
    fired = {(a.name, a.fired_at, a.resolved_at) for a in daemon.state.engine.history}
    assert ("CircuitDown", T0, None) in fired
    assert ("DeviceUnreachable", T0 + timedelta(minutes=1), T0 + timedelta(minutes=1.5)) in fired
    stored = {(a.name, a.fired_at) for a in daemon.repo.alerts()}
    assert ("DeviceUnreachable", T0 + timedelta(minutes=1)) in stored
    daemon.repo.close()


def test_a_renumbered_interface_is_found_again_by_its_name(
        agent: Snmpd, links: tuple[VethPair, VethPair], tmp_path: Path) -> None:
    ok, _ = links
    polled = Polled(tmp_path, agent, {"OK-1": ok.name})
    maps = polled.groups._ifnames  # the device's ifName map is what this test is about
    device = f"127.0.0.1:{agent.port}"

    async def scenario() -> int:
        await polled.poll_at(0)
        before = dict(maps[device])
        # The interface is replaced: same name, a new ifIndex, and now faulty (far end down).
        ok.delete()
        replaced = VethPair(ok.name)
        replaced.set(admin_up=True, peer_up=False)
        minutes = 0.0
        # net-snmp refreshes its ifTable cache every few seconds; poll until the fault shows.
        deadline = asyncio.get_running_loop().time() + 30
        while "OK-1" not in polled.daemon.state.facts.observations:
            assert asyncio.get_running_loop().time() < deadline, "the renumbered interface was never polled"
            minutes += 0.5
            await polled.poll_at(minutes)
            await asyncio.sleep(0.5)
        polled.poller.close()
        assert maps[device][ok.name] != before[ok.name]
        return len(polled.daemon.state.facts.observations["OK-1"])

    assert asyncio.run(scenario()) == 1  # one debounced down observation, from the new ifIndex
    polled.daemon.repo.close()


def test_poll_groups_follow_a_reloaded_inventory(agent: Snmpd, links: tuple[VethPair, VethPair],
                                                 tmp_path: Path) -> None:
    ok, fault = links
    polled = Polled(tmp_path, agent, {"OK-1": ok.name})
    bigger = Polled(tmp_path / "next", agent, {"OK-1": ok.name, "BAD-1": fault.name}).daemon.loaded
    seen: list[set[str]] = []
    polled.groups._on_polls = lambda results, at: seen.append(  # record what each round hands over
        {c.id for r in results for c in polled.groups.circuits_of(r)[0]})

    async def scenario() -> None:
        await polled.poll_at(0)
        polled.groups.reload(bigger.inventory, bigger.settings.snmp)
        [members] = polled.groups.groups.values()
        await polled.groups.poll(members)
        polled.poller.close()

    asyncio.run(scenario())
    assert seen == [{"OK-1"}, {"OK-1", "BAD-1"}]
    polled.daemon.repo.close()


def test_device_overrides_take_the_snmp_sections_values_for_what_they_leave_out(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules", ignore=shutil.ignore_patterns("tests"))
    (tmp_path / "inventory.yaml").write_text(
        "customers:\n  - {id: C1, name: Bank, level: group, account_manager: {name: AM}}\ncircuits:\n"
        "  - {id: A-1, customer: C1, service: sdh, sla_class: AAA, monitor: {host: 10.0.0.1, ifindex: 1}}\n"
        "  - {id: B-1, customer: C1, service: sdh, sla_class: A, monitor: {host: 10.0.0.2, ifindex: 1}}\n"
        "  - {id: C-1, customer: C1, service: sdh, sla_class: A, monitor: {host: 10.0.0.3, ifindex: 1}}\n",
        encoding="utf-8")
    (tmp_path / "monitord.yaml").write_text(
        "rules: rules\ninventory: inventory.yaml\n"
        "snmp:\n  community: site-ro\n  timeout: 2s\n  retries: 1\n  devices:\n"
        '    "10.0.0.2:161": {timeout: 5s, retries: 3}\n'
        '    "10.0.0.3:161": {version: "3", user: noc, auth_key: auth-key-1, priv_key: priv-key-1}\n',
        encoding="utf-8")
    loaded = load(tmp_path / "monitord.yaml")
    groups = PollGroups(loaded.inventory, loaded.settings.snmp, SnmpPoller(), lambda r, at: None, lambda: T0)
    targets = {t.host: t for members in groups.groups.values() for t, _ in members}
    a, b, c = targets["10.0.0.1"], targets["10.0.0.2"], targets["10.0.0.3"]
    assert (a.version, a.community, a.timeout, a.retries) == ("2c", "site-ro", 2.0, 1)
    assert (b.version, b.community, b.timeout, b.retries) == ("2c", "site-ro", 5.0, 3)
    assert (c.version, c.user, c.timeout, c.retries) == ("3", "noc", 2.0, 1)
    assert sorted(groups.groups) == [30.0, 120.0]  # AAA every 30 s, class A at the default 120 s
