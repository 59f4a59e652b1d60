"""SNMP polling against a real net-snmp agent on loopback, with kernel interfaces whose state we set."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from monitord.domain import Circuit, Monitor, SlaClass
from monitord.sources.snmp import (
    CircuitState,
    DevicePoll,
    IfStatus,
    InterfaceStatus,
    SnmpPoller,
    SnmpTarget,
    SnmpUnreachable,
    circuit_states,
    ifindex_of,
)
from tests.sources.snmpd import (
    COMMUNITY,
    V3_AUTH_KEY,
    V3_PRIV_KEY,
    V3_USER,
    Snmpd,
    VethPair,
    free_udp_port,
    make_veth,
    snmpd_binary,
)

T = TypeVar("T")

PREFIX = f"mdt{os.getpid() % 10000}"  # unique per run; at most 7 + 2 characters, within IFNAMSIZ


def run(fn: Callable[[SnmpPoller], Awaitable[T]], poller: SnmpPoller | None = None) -> T:
    """Run ``fn(poller)`` on a fresh event loop and close the poller's engine afterwards."""
    p = poller or SnmpPoller()

    async def main() -> T:
        try:
            return await fn(p)
        finally:
            p.close()

    return asyncio.run(main())


class Interfaces:
    """The test interfaces: one up, one down with admin up (a fault), one shut down."""

    def __init__(self) -> None:
        self.pairs: list[VethPair] = []

    def create(self) -> None:
        self.up = self._make("u", admin_up=True, peer_up=True)
        self.fault = self._make("f", admin_up=True, peer_up=False)
        self.shut = self._make("s", admin_up=False, peer_up=True)

    def _make(self, suffix: str, **state: bool) -> VethPair:
        pair = make_veth(PREFIX + suffix)
        self.pairs.append(pair)
        pair.set(**state)
        return pair

    def delete(self) -> None:
        for pair in self.pairs:
            pair.delete()


@pytest.fixture(scope="module")
def ifaces() -> Iterator[Interfaces]:
    made = Interfaces()
    try:
        made.create()
        yield made
    finally:
        made.delete()


@pytest.fixture(scope="module")
def agent(ifaces: Interfaces, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    """One agent shared by the tests that do not stop it; started after the interfaces exist."""
    a = Snmpd(tmp_path_factory.mktemp("snmpd"), snmpd_binary())
    yield a
    a.stop()


@pytest.fixture()
def lone_agent(tmp_path: Path) -> Iterator[Snmpd]:
    """An agent of the test's own, for tests that pause it."""
    a = Snmpd(tmp_path / "snmpd", snmpd_binary())
    yield a
    a.stop()  # resumes it first


def v2c(port: int, **kw: Any) -> SnmpTarget:
    return SnmpTarget("127.0.0.1", port, community=COMMUNITY, **kw)


def v3(port: int, **kw: Any) -> SnmpTarget:
    kw = {"user": V3_USER, "auth_key": V3_AUTH_KEY, "priv_key": V3_PRIV_KEY, **kw}
    return SnmpTarget("127.0.0.1", port, version="3", **kw)


def ifindexes(agent: Snmpd, ifaces: Interfaces) -> dict[str, int]:
    names = run(lambda p: p.resolve_ifnames(v2c(agent.port)))
    return {k: names[p.name] for k, p in (("up", ifaces.up), ("fault", ifaces.fault), ("shut", ifaces.shut))}


# -- against the agent -------------------------------------------------------------------


def test_resolve_ifnames_finds_the_test_interfaces(agent: Snmpd, ifaces: Interfaces) -> None:
    names = run(lambda p: p.resolve_ifnames(v2c(agent.port)))
    assert names["lo"] == 1
    for pair in ifaces.pairs:
        assert pair.name in names and pair.peer in names
    assert len(set(names.values())) == len(names)


def test_resolve_ifnames_walks_past_one_bulk_response(agent: Snmpd, ifaces: Interfaces) -> None:
    whole = run(lambda p: p.resolve_ifnames(v2c(agent.port)))
    assert run(lambda p: p.resolve_ifnames(v2c(agent.port)), SnmpPoller(bulk_repetitions=2)) == whole


def test_v2c_poll_reads_up_fault_and_shut_interfaces(agent: Snmpd, ifaces: Interfaces) -> None:
    idx = ifindexes(agent, ifaces)
    poll = run(lambda p: p.poll(v2c(agent.port), idx.values()))
    assert poll.reachable and poll.error == ""
    assert poll.interfaces[idx["up"]] == InterfaceStatus(oper=IfStatus.UP, admin=IfStatus.UP)
    assert poll.interfaces[idx["fault"]].admin == IfStatus.UP
    assert poll.interfaces[idx["fault"]].oper in (IfStatus.DOWN, IfStatus.LOWER_LAYER_DOWN)
    assert poll.interfaces[idx["shut"]] == InterfaceStatus(oper=IfStatus.DOWN, admin=IfStatus.DOWN)
    assert set(poll.interfaces) == set(idx.values())
    assert 0 < poll.duration < 2


def test_missing_ifindex_is_reported_for_that_index_only(agent: Snmpd, ifaces: Interfaces) -> None:
    idx = ifindexes(agent, ifaces)
    poll = run(lambda p: p.poll(v2c(agent.port), [idx["up"], 999_999]))
    assert poll.reachable
    assert poll.interfaces[999_999] == InterfaceStatus(oper=None, admin=None)
    assert not poll.interfaces[999_999].present
    assert poll.interfaces[idx["up"]].oper == IfStatus.UP


def test_many_indexes_are_chunked_into_several_gets(agent: Snmpd, ifaces: Interfaces) -> None:
    idx = ifindexes(agent, ifaces)
    wanted = [*idx.values(), *range(1000, 1010)]
    whole = run(lambda p: p.poll(v2c(agent.port), wanted))
    chunked = run(lambda p: p.poll(v2c(agent.port), wanted), SnmpPoller(max_varbinds=4))
    assert chunked.reachable and chunked.interfaces == whole.interfaces
    assert len(chunked.interfaces) == 13


def test_no_interfaces_still_checks_the_device_answers(agent: Snmpd) -> None:
    assert run(lambda p: p.poll(v2c(agent.port), [])).reachable
    closed = run(lambda p: p.poll(v2c(free_udp_port(), timeout=0.3, retries=0), []))
    assert not closed.reachable


def test_interface_state_change_shows_in_the_next_polls(agent: Snmpd, ifaces: Interfaces) -> None:
    idx = ifindexes(agent, ifaces)
    ifaces.fault.set(admin_up=True, peer_up=True)
    try:

        async def until_up(p: SnmpPoller) -> DevicePoll:
            # net-snmp caches its interface table for a few seconds.
            for _ in range(40):
                poll = await p.poll(v2c(agent.port), [idx["fault"]])
                if poll.interfaces[idx["fault"]].oper == IfStatus.UP:
                    return poll
                await asyncio.sleep(0.25)
            return poll

        assert run(until_up).interfaces[idx["fault"]].oper == IfStatus.UP
    finally:
        ifaces.fault.set(admin_up=True, peer_up=False)


def test_v3_auth_priv_reads_the_same_states(agent: Snmpd, ifaces: Interfaces) -> None:
    idx = ifindexes(agent, ifaces)
    by_v2c = run(lambda p: p.poll(v2c(agent.port), idx.values()))
    by_v3 = run(lambda p: p.poll(v3(agent.port), idx.values()))
    assert by_v3.reachable, by_v3.error
    assert by_v3.interfaces == by_v2c.interfaces
    assert run(lambda p: p.resolve_ifnames(v3(agent.port)))[ifaces.up.name] == idx["up"]


@pytest.mark.parametrize(
    "wrong",
    [{"auth_key": "not-the-auth-key"}, {"user": "nobody-here"}, {"priv_key": "not-the-priv-key"}],
    ids=["auth-key", "user", "priv-key"],
)
def test_v3_wrong_credentials_are_unreachable_not_a_crash(agent: Snmpd, wrong: dict[str, str]) -> None:
    target = v3(agent.port, timeout=0.5, retries=0, **wrong)
    poll = run(lambda p: p.poll(target, [1]))
    assert not poll.reachable and poll.interfaces == {}
    # A wrong auth key or user is reported by the agent; a wrong priv key it just drops.
    assert "authentication failed" in poll.error or "timeout" in poll.error
    assert poll.duration < target.deadline + 1.0


def test_v3_wrong_keys_do_not_disturb_a_concurrent_good_poll(agent: Snmpd) -> None:
    good, bad = v3(agent.port, timeout=0.5, retries=0), v3(agent.port, auth_key="not-the-auth-key", timeout=0.5)

    async def both(p: SnmpPoller) -> list[DevicePoll]:
        return list(await asyncio.gather(*(p.poll(t, [1]) for t in (good, bad, good, bad))))

    results = run(both)
    assert [r.reachable for r in results] == [True, False, True, False]
    assert "authentication failed" in results[1].error


def test_community_and_keys_stay_out_of_repr() -> None:
    text = repr(v3(161)) + repr(v2c(161))
    assert V3_AUTH_KEY not in text and V3_PRIV_KEY not in text and COMMUNITY not in text


@pytest.mark.parametrize("make", [v2c, v3], ids=["v2c", "v3"])
def test_agent_that_stops_answering_is_unreachable_within_its_timeout(lone_agent: Snmpd, make: Any) -> None:
    target = make(lone_agent.port, timeout=0.5, retries=1)
    poller = SnmpPoller()

    async def scenario(p: SnmpPoller) -> tuple[DevicePoll, DevicePoll, float, DevicePoll]:
        before = await p.poll(target, [1])
        lone_agent.pause()
        try:
            started = time.monotonic()
            during = await p.poll(target, [1])
            elapsed = time.monotonic() - started
        finally:
            lone_agent.resume()
        after = await p.poll(target, [1])
        return before, during, elapsed, after

    before, during, elapsed, after = run(scenario, poller)
    assert before.reachable and before.interfaces[1].oper == IfStatus.UP
    assert not during.reachable and during.interfaces == {}
    assert "timeout" in during.error
    # pysnmp's timer ticks every 0.1 s; 0.5 s covers that and a loaded machine.
    assert target.deadline * 0.9 <= elapsed <= target.deadline + 0.5
    assert after.reachable, after.error


def test_resolve_ifnames_of_a_silent_agent_raises_unreachable(lone_agent: Snmpd) -> None:
    lone_agent.pause()
    with pytest.raises(SnmpUnreachable, match="timeout"):
        run(lambda p: p.resolve_ifnames(v2c(lone_agent.port, timeout=0.3, retries=0)))


def test_closed_port_is_unreachable() -> None:
    target = v2c(free_udp_port(), timeout=0.3, retries=1)
    poll = run(lambda p: p.poll(target, [1, 2]))
    assert not poll.reachable and poll.interfaces == {} and "timeout" in poll.error
    assert poll.duration <= target.deadline + 0.5


def test_unknown_host_is_unreachable() -> None:
    poll = run(lambda p: p.poll(SnmpTarget("no-such-device.invalid", timeout=0.5, retries=0), [1]))
    assert not poll.reachable and "cannot resolve" in poll.error


def test_poll_many_polls_several_agents_in_request_order(
    agent: Snmpd, ifaces: Interfaces, tmp_path_factory: pytest.TempPathFactory
) -> None:
    idx = ifindexes(agent, ifaces)
    others = [Snmpd(tmp_path_factory.mktemp("snmpd-many"), snmpd_binary()) for _ in range(2)]
    try:
        closed = v2c(free_udp_port(), timeout=0.3, retries=0)
        requests = [(v2c(a.port), [idx["up"], idx["fault"]]) for a in (agent, *others)]
        requests.insert(1, (closed, [idx["up"]]))
        requests.append((v3(agent.port), [idx["shut"]]))
        results = run(lambda p: p.poll_many(requests, concurrency=2))
    finally:
        for a in others:
            a.stop()
    assert [r.target for r in results] == [t for t, _ in requests]
    assert [r.reachable for r in results] == [True, False, True, True, True]
    for r in (results[0], results[2], results[3]):
        assert r.interfaces[idx["up"]].oper == IfStatus.UP
        assert r.interfaces[idx["fault"]].oper != IfStatus.UP
    assert results[4].interfaces[idx["shut"]].admin == IfStatus.DOWN


def test_poll_many_never_runs_more_than_concurrency_polls(agent: Snmpd) -> None:
    poller = SnmpPoller()
    inner = poller.poll
    in_flight = peak = 0

    async def counting(target: SnmpTarget, idx: Any) -> DevicePoll:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.sleep(0.02)  # hold the slot long enough for the others to pile up
            return await inner(target, idx)
        finally:
            in_flight -= 1

    poller.poll = counting  # type: ignore[method-assign]
    results = run(lambda p: p.poll_many([(v2c(agent.port), [1])] * 12, concurrency=3), poller)
    assert all(r.reachable for r in results)
    assert peak == 3


def test_poll_many_concurrency_bounds_the_time_for_silent_devices(lone_agent: Snmpd) -> None:
    lone_agent.pause()
    requests = [(v2c(lone_agent.port, timeout=0.5, retries=0), [1])] * 4

    def timed(concurrency: int) -> float:
        started = time.monotonic()
        results = run(lambda p: p.poll_many(requests, concurrency=concurrency))
        assert not any(r.reachable for r in results)
        return time.monotonic() - started

    assert timed(4) < 0.95  # all four wait together: one timeout
    assert timed(2) >= 0.95  # two rounds of two: two timeouts


# -- the pure mapping to circuit states ----------------------------------------------------


def _circuit(cid: str, **monitor: Any) -> Circuit:
    return Circuit(cid, "cust", "internet", SlaClass.AAA, monitor=Monitor(**monitor))


def test_circuit_states_from_a_poll() -> None:
    target = SnmpTarget("10.0.0.1")
    poll = DevicePoll(
        target,
        True,
        {
            1: InterfaceStatus(1, 1),
            2: InterfaceStatus(2, 1),
            3: InterfaceStatus(2, 2),
            4: InterfaceStatus(7, 1),
            5: InterfaceStatus(None, None),
            6: InterfaceStatus(4, 1),
        },
        0.01,
    )
    circuits = [
        _circuit("up", host="10.0.0.1", ifindex=1),
        _circuit("down", host="10.0.0.1", ifindex=2),
        _circuit("shut", host="10.0.0.1", ifindex=3),
        _circuit("lower", host="10.0.0.1", ifindex=4),
        _circuit("gone", host="10.0.0.1", ifindex=5),
        _circuit("unk", host="10.0.0.1", ifindex=6),
        _circuit("named", host="10.0.0.1", ifname="ge-0/0/1"),
        _circuit("unnamed", host="10.0.0.1", ifname="ge-9/9/9"),
        _circuit("elsewhere", host="10.0.0.2", ifindex=1),
        _circuit("other-port", host="10.0.0.1", port=1161, ifindex=1),
        Circuit("unmonitored", "cust", "internet", SlaClass.A),
    ]
    assert circuit_states(poll, circuits, {"ge-0/0/1": 2}) == {
        "up": CircuitState.UP,
        "down": CircuitState.DOWN,
        "shut": CircuitState.ADMIN_DOWN,
        "lower": CircuitState.DOWN,
        "gone": CircuitState.UNKNOWN,
        "unk": CircuitState.UNKNOWN,
        "named": CircuitState.DOWN,
        "unnamed": CircuitState.UNKNOWN,
    }


def test_an_unreachable_device_never_means_circuits_down() -> None:
    poll = DevicePoll(SnmpTarget("10.0.0.1"), False, {}, 2.0, "timeout")
    circuits = [_circuit("a", host="10.0.0.1", ifindex=1), _circuit("b", host="10.0.0.1", ifname="x")]
    assert circuit_states(poll, circuits) == {"a": CircuitState.UNREACHABLE, "b": CircuitState.UNREACHABLE}


def test_ifindex_of_prefers_the_configured_index() -> None:
    assert ifindex_of(Monitor("h", ifindex=7, ifname="x"), {"x": 3}) == 7
    assert ifindex_of(Monitor("h", ifname="x"), {"x": 3}) == 3
    assert ifindex_of(Monitor("h", ifname="x")) is None


def test_target_validation() -> None:
    with pytest.raises(ValueError, match="version"):
        SnmpTarget("h", version="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="8 characters"):
        SnmpTarget("h", version="3", user="u", auth_key="short", priv_key="short")
    with pytest.raises(ValueError, match="auth protocol"):
        SnmpTarget("h", version="3", user="u", auth_key="x" * 8, priv_key="x" * 8, auth_protocol="MD5")
