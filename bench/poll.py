"""SNMP polling benchmark: net-snmp agents on loopback, polled over and over.

Prints, for each way of polling, polls/s, circuit statuses/s, the poller's CPU
milliseconds per poll and per 1,000 circuit statuses, and the agents' CPU share:
- pysnmp naive: fresh ObjectType(ObjectIdentity("1.3.6...")) per request, lookupMib=True;
- pysnmp, lookupMib=True: SnmpPoller's pysnmp path with only the MIB lookup put back;
- pysnmp, lookupMib=False: raw OIDs, reused resolved varbinds (the SNMPv3 path as shipped);
- wire codec: SnmpPoller as shipped for v2c (snmp_wire's BER codec, one socket);
- with --workers N: the shipped path through WorkerPoller's N processes (CPU includes theirs).
Then the daemon's own share: circuit_states + Debouncer for the same statuses.

Setup: --pairs veth pairs (2 interfaces each; root needed; without it the host's
own interfaces are polled), --agents snmpd agents on 127.0.0.1, each polled for
the same --interfaces ifIndexes (up to all it has) in one poll (GETs of at most
100 varbinds). Loopback only; about --seconds per mode.

Run: python3 bench/poll.py [--agents 4] [--pairs 200] [--interfaces 400] [--seconds 8] [--v3] [--fast]
     [--workers N]
It is not a timed test: it prints figures for the closing note of an issue.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import monitord.sources.snmp as snmp_module
from monitord.domain import Circuit, Monitor, SlaClass
from monitord.sources.debounce import Debouncer
from monitord.sources.snmp import DevicePoll, SnmpPoller, SnmpTarget, circuit_states
from monitord.sources.snmp_workers import WorkerPoller
from tests.sources.snmpd import (
    COMMUNITY,
    V3_AUTH_KEY,
    V3_PRIV_KEY,
    V3_USER,
    Snmpd,
    VethPair,
)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu(pids: list[int]) -> float:
    """CPU seconds the processes have used so far (utime + stime from /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def agent_cpu(agents: list[Snmpd]) -> float:
    """CPU seconds the agents have used so far."""
    return process_cpu([a.proc.pid for a in agents])


class PysnmpPoller(SnmpPoller):
    """SnmpPoller with v2c sent through pysnmp too, as SNMPv3 is."""

    async def _wire_getter(self, target: SnmpTarget) -> Any:
        return await self._pysnmp_getter(target)


class NaivePoller(SnmpPoller):
    """The textbook way: string OIDs built per request and responses resolved through the MIB."""

    async def _wire_getter(self, target: SnmpTarget) -> Any:
        return await self._pysnmp_getter(target)

    async def _pysnmp_getter(self, target: SnmpTarget) -> Any:
        from pysnmp.hlapi.v3arch.asyncio import ObjectIdentity, ObjectType, get_cmd

        auth, transport = await self._endpoint(target)

        async def get(oids: Any) -> Any:
            vbs = [ObjectType(ObjectIdentity(".".join(map(str, oid)))) for oid in oids]
            err_ind, err_status, _, rows = await get_cmd(
                self._engine(target), auth, transport, self._context, *vbs, lookupMib=True
            )
            if err_ind or err_status:
                return {}, str(err_ind or err_status)
            return {tuple(o): int(v) for o, v in rows}, ""

        return get


def with_mib_lookup(get_cmd: Callable[..., Any]) -> Callable[..., Any]:
    """get_cmd with lookupMib=True forced: the one change the shipped poller avoids."""

    async def patched(*args: Any, **kwargs: Any) -> Any:
        kwargs["lookupMib"] = True
        return await get_cmd(*args, **kwargs)

    return patched


async def measure(poller: SnmpPoller | WorkerPoller, requests: list[tuple[SnmpTarget, list[int]]],
                  seconds: float) -> tuple[dict[str, float], list[DevicePoll]]:
    """Poll all requests again and again for about ``seconds``; figures for the whole run, and the last round.

    CPU is this process's plus, for a WorkerPoller, its workers'.
    """
    await poller.poll_many(requests, concurrency=len(requests))  # warm-up: sockets, engine, v3 discovery
    workers = poller.pids() if isinstance(poller, WorkerPoller) else []
    polls = statuses = failures = 0
    last: list[DevicePoll] = []
    wall0, cpu0 = time.monotonic(), time.process_time() + process_cpu(workers)
    while time.monotonic() - wall0 < seconds:
        last = await poller.poll_many(requests, concurrency=len(requests))
        for r in last:
            polls += 1
            statuses += len(r.interfaces)
            failures += not r.reachable or bool(r.error)
    wall, cpu = time.monotonic() - wall0, time.process_time() + process_cpu(workers) - cpu0
    poller.close()
    return {"wall": wall, "cpu": cpu, "polls": polls, "statuses": statuses, "failures": failures}, last


def daemon_share(results: list[DevicePoll], rounds: int = 50) -> float:
    """CPU ms per 1,000 statuses of what the daemon does next: circuit states, then the debounce."""
    circuits = {
        r.target: [Circuit(f"C{r.target.port}-{i}", "cust", "internet", SlaClass.A,
                           monitor=Monitor(host=r.target.host, port=r.target.port, ifindex=i))
                   for i in r.interfaces]
        for r in results
    }
    debouncer = Debouncer(2)
    at = datetime(2026, 11, 1, tzinfo=UTC)
    cpu0 = time.process_time()
    for _ in range(rounds):
        for r in results:
            for circuit, state in circuit_states(r, circuits[r.target]).items():
                debouncer.observe(circuit, state, at)
    statuses = rounds * sum(len(r.interfaces) for r in results)
    return 1e6 * (time.process_time() - cpu0) / max(statuses, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=4, help="snmpd agents on loopback (default 4)")
    ap.add_argument("--interfaces", type=int, default=400, help="ifIndexes polled per agent (default 400)")
    ap.add_argument("--pairs", type=int, default=200, help="veth pairs to make, 2 interfaces each (default 200)")
    ap.add_argument("--seconds", type=float, default=8.0, help="seconds per mode (default 8)")
    ap.add_argument("--v3", action="store_true", help="poll with SNMPv3 authPriv SHA/AES instead of v2c")
    ap.add_argument("--fast", action="store_true", help="only the poller as shipped (skip the slow pysnmp modes)")
    ap.add_argument("--workers", type=int, default=0, help="also poll through a WorkerPoller of N processes")
    args = ap.parse_args()
    binary = shutil.which("snmpd") or "/usr/sbin/snmpd"
    if not os.path.exists(binary):
        sys.exit("snmpd is not installed: bash .ci/snmpd.sh")

    pairs: list[VethPair] = []
    agents: list[Snmpd] = []
    with tempfile.TemporaryDirectory(prefix="bench-snmp-") as tmp:
        try:
            for i in range(args.pairs):
                try:
                    pairs.append(VethPair(f"mdb{os.getpid() % 1000}x{i}"))
                    pairs[-1].set(admin_up=True, peer_up=i % 3 != 0)  # every third one "down"
                except Exception as exc:
                    print(f"(no veth interfaces: {exc}; polling the host's own)")
                    break
            agents = [Snmpd(Path(tmp) / f"a{i}", binary) for i in range(args.agents)]

            def target(a: Snmpd) -> SnmpTarget:
                if args.v3:
                    return SnmpTarget(
                        "127.0.0.1", a.port, "3", user=V3_USER, auth_key=V3_AUTH_KEY, priv_key=V3_PRIV_KEY
                    )
                return SnmpTarget("127.0.0.1", a.port, community=COMMUNITY)

            names = asyncio.run(SnmpPoller().resolve_ifnames(target(agents[0])))
            indexes = sorted(names.values())[: args.interfaces]
            requests = [(target(a), indexes) for a in agents]
            print(
                f"{len(agents)} snmpd agents on 127.0.0.1, {'SNMPv3 authPriv' if args.v3 else 'SNMPv2c'}, "
                f"{len(indexes)} interfaces per poll ({2 * len(indexes) + 2} varbinds), "
                f"~{args.seconds:g} s per mode, {os.cpu_count()} CPUs"
            )
            print(
                f"{'mode':<28}{'polls/s':>9}{'statuses/s':>11}{'CPU ms/poll':>13}"
                f"{'CPU ms/1k statuses':>20}{'agents CPU':>12}{'failed':>8}"
            )
            real_get_cmd = snmp_module.get_cmd
            modes: list[tuple[str, Callable[[], SnmpPoller | WorkerPoller], Callable[..., Any]]] = [
                ("pysnmp naive (strings, MIB)", NaivePoller, real_get_cmd),
                ("pysnmp, lookupMib=True", PysnmpPoller, with_mib_lookup(real_get_cmd)),
                ("pysnmp, lookupMib=False", PysnmpPoller, real_get_cmd),
            ]
            if args.fast:
                modes = []
            if not args.v3:
                modes.append(("wire codec (v2c as shipped)", SnmpPoller, real_get_cmd))
            elif args.fast:
                modes.append(("pysnmp (v3 as shipped)", SnmpPoller, real_get_cmd))
            if args.workers:
                shipped = "pysnmp v3" if args.v3 else "wire codec"
                modes.append((f"{shipped}, {args.workers} workers", lambda: WorkerPoller(args.workers), real_get_cmd))
            last: list[DevicePoll] = []
            for label, make, get_cmd in modes:
                snmp_module.get_cmd = get_cmd  # type: ignore[assignment]
                try:
                    a0 = agent_cpu(agents)
                    f, last = asyncio.run(measure(make(), requests, args.seconds))
                    agents_share = (agent_cpu(agents) - a0) / f["wall"]
                finally:
                    snmp_module.get_cmd = real_get_cmd  # type: ignore[assignment]
                print(
                    f"{label:<28}{f['polls'] / f['wall']:>9.1f}{f['statuses'] / f['wall']:>11.0f}"
                    f"{1000 * f['cpu'] / max(f['polls'], 1):>13.2f}"
                    f"{1e6 * f['cpu'] / max(f['statuses'], 1):>20.1f}"
                    f"{agents_share:>11.0%} {int(f['failures']):>7}"
                )
            print("CPU = the poller's CPU time (this process and any workers); agents CPU = snmpd CPU / wall time.")
            print(f"daemon side (circuit_states + Debouncer): {daemon_share(last):.1f} CPU ms per 1k statuses")
        finally:
            for a in agents:
                a.stop()
            for p in pairs:
                p.delete()


if __name__ == "__main__":
    main()
