"""WorkerPoller: the same polls as SnmpPoller, done in worker processes, against a real snmpd."""

from __future__ import annotations

import asyncio

import pytest

from monitord.sources.snmp import IfStatus, SnmpPoller, SnmpUnreachable
from monitord.sources.snmp_workers import WorkerPoller
from tests.sources.snmpd import Snmpd, free_udp_port
from tests.sources.test_snmp import Interfaces, agent, ifaces, ifindexes, v2c, v3  # noqa: F401 - fixtures


def test_workers_poll_v2c_and_v3_devices_like_the_poller_in_request_order(agent: Snmpd,  # noqa: F811
                                                                           ifaces: Interfaces) -> None:  # noqa: F811
    idx = ifindexes(agent, ifaces)
    wanted = [idx["up"], idx["fault"], idx["shut"]]
    dead = v2c(free_udp_port(), timeout=0.3, retries=0)
    requests = [(v2c(agent.port), wanted), (v3(agent.port), wanted), (dead, wanted), (v2c(agent.port), wanted[:1])]

    async def both() -> tuple[list, list, dict[str, int]]:
        workers, local = WorkerPoller(2), SnmpPoller()
        try:
            return (await workers.poll_many(requests), await local.poll_many(requests),
                    await workers.resolve_ifnames(v2c(agent.port)))
        finally:
            workers.close()
            local.close()

    remote, local, names = asyncio.run(both())
    assert [r.target for r in remote] == [t for t, _ in requests]
    assert [(r.reachable, r.interfaces) for r in remote] == [(r.reachable, r.interfaces) for r in local]
    assert remote[0].interfaces[idx["up"]].oper == IfStatus.UP
    assert remote[1].interfaces[idx["fault"]].oper != IfStatus.UP  # over SNMPv3, in a worker
    assert not remote[2].reachable and "timeout" in remote[2].error
    assert names[ifaces.up.name] == idx["up"]


def test_a_walk_that_fails_in_a_worker_raises_unreachable_here() -> None:
    async def walk() -> None:
        workers = WorkerPoller(1)
        try:
            await workers.resolve_ifnames(v2c(free_udp_port(), timeout=0.3, retries=0))
        finally:
            workers.close()

    with pytest.raises(SnmpUnreachable, match="timeout"):
        asyncio.run(walk())
