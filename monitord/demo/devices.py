"""Simulated routers for the demo: real SNMPv2c agents on loopback UDP ports, state in memory.

Each ``SimulatedDevice`` answers GET, GETNEXT and GETBULK (SET is refused, as by a
read-only community) for a small MIB: the system group and an IF-MIB interface
table (ifIndex, ifDescr, ifAdminStatus, ifOperStatus from ifTable; ifName and
ifAlias from ifXTable). The demo scenario flips ``ifOperStatus`` with
``set_oper`` and makes a device stop answering with ``reachable = False``, which
looks to a poller exactly like a dead device: requests time out.

Messages are decoded and encoded with pysnmp's protocol API (``pysnmp.proto.api``)
on a plain asyncio datagram endpoint; an engine and MIB instrumentation would add
nothing for a dozen objects whose values the demo sets directly.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pysnmp.proto import api

log = logging.getLogger(__name__)

v2c = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]

SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_OBJECT_ID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
IF_NUMBER = (1, 3, 6, 1, 2, 1, 2, 1, 0)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)  # columns 1 ifIndex, 2 ifDescr, 7 ifAdminStatus, 8 ifOperStatus
IF_X_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)  # columns 1 ifName, 18 ifAlias

UP, DOWN = 1, 2
"""ifAdminStatus / ifOperStatus values used by the demo (RFC 2863: up(1), down(2))."""

MAX_BULK_VARBINDS = 500
"""Most variable bindings one GETBULK answer carries, whatever max-repetitions asks."""

_NOT_WRITABLE = 17  # v2c error-status notWritable: the community is read-only


@dataclass
class Interface:
    """One interface of a simulated device; ``admin`` and ``oper`` are IF-MIB status numbers."""

    ifindex: int
    name: str  # ifName, e.g. GigabitEthernet0/0/1
    alias: str = ""  # ifAlias: operators write the circuit id here
    admin: int = UP
    oper: int = UP


@dataclass
class DeviceSpec:
    """What a simulated device is: its name, its default port and its interfaces."""

    name: str
    port: int
    interfaces: list[Interface] = field(default_factory=list)


def demo_specs() -> list[DeviceSpec]:
    """The three provider-edge routers of the demo inventory (``monitor.port`` 16100-16102).

    16100 and 16102 are monitored by ifIndex 1 and 2; 16101 by ifName, and its
    ifIndexes (10-12) differ from the name's position so that resolving the name matters.
    """
    return [
        DeviceSpec("pe-gz-yuexiu-01", 16100, [
            Interface(1, "GigabitEthernet0/0/0", "GZ-SDH-000123"),
            Interface(2, "GigabitEthernet0/0/1", "GZ-VPN-000201"),
            Interface(3, "GigabitEthernet0/0/2", "spare", admin=DOWN, oper=DOWN),
        ]),
        DeviceSpec("pe-gz-tianhe-02", 16101, [
            Interface(10, "GigabitEthernet0/0/0", "uplink"),
            Interface(11, "GigabitEthernet0/0/1", "GZ-VPN-000301"),
            Interface(12, "GigabitEthernet0/0/2", "GZ-ETH-000302"),
        ]),
        DeviceSpec("pe-gz-huangpu-03", 16102, [
            Interface(1, "GigabitEthernet0/0/0", "GZ-SDH-000401"),
            Interface(2, "GigabitEthernet0/0/1", "GZ-INT-000501"),
            Interface(3, "GigabitEthernet0/0/2", "uplink"),
        ]),
    ]


class SimulatedDevice:
    """One SNMPv2c agent on ``host:port`` serving a device's interfaces from memory.

    ``start`` binds the UDP socket on the running loop, ``stop`` closes it. While
    ``reachable`` is False, requests are dropped unanswered. Requests with another
    community are dropped too, as real agents do.
    """

    def __init__(self, spec: DeviceSpec, *, port: int | None = None, host: str = "127.0.0.1",
                 community: str = "public") -> None:
        self.name = spec.name
        self.host = host
        self.port = spec.port if port is None else port
        self.community = community
        self.interfaces = {i.ifindex: Interface(i.ifindex, i.name, i.alias, i.admin, i.oper) for i in spec.interfaces}
        self.reachable = True
        self.requests = 0  # answered requests, for tests and curiosity
        self._started = time.monotonic()
        self._transport: asyncio.DatagramTransport | None = None

    def __repr__(self) -> str:
        return f"SimulatedDevice({self.name!r}, {self.host}:{self.port})"

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Bind the agent's UDP port on the running loop; raises OSError when it is taken."""
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _AgentProtocol(self), local_addr=(self.host, self.port)
            )
        except OSError as exc:
            raise OSError(exc.errno, f"{self.name}: cannot listen on udp {self.host}:{self.port}: "
                                     f"{exc.strerror or exc}") from None
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]  # the real one when port was 0
        self._started = time.monotonic()

    def stop(self) -> None:
        """Close the agent's socket (idempotent)."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # -- state the scenario changes ----------------------------------------------

    def interface(self, ref: int | str) -> Interface:
        """An interface by ifIndex or ifName; KeyError when the device has none such."""
        if isinstance(ref, int):
            return self.interfaces[ref]
        for i in self.interfaces.values():
            if i.name == ref:
                return i
        raise KeyError(f"{self.name} has no interface {ref!r}")

    def set_oper(self, ref: int | str, up: bool) -> Interface:
        """Set an interface's ifOperStatus to up(1) or down(2); returns the interface."""
        iface = self.interface(ref)
        iface.oper = UP if up else DOWN
        return iface

    # -- the MIB -------------------------------------------------------------------

    def objects(self) -> list[tuple[tuple[int, ...], Any]]:
        """Every object instance the agent serves, in OID order, with its current value."""
        uptime = int((time.monotonic() - self._started) * 100)
        rows: list[tuple[tuple[int, ...], Any]] = [
            (SYS_DESCR, v2c.OctetString(f"monitord demo router {self.name}")),
            (SYS_OBJECT_ID, v2c.ObjectIdentifier((1, 3, 6, 1, 4, 1, 8072, 3, 2, 10))),
            (SYS_UPTIME, v2c.TimeTicks(uptime % 2**32)),
            (SYS_NAME, v2c.OctetString(self.name)),
            (IF_NUMBER, v2c.Integer(len(self.interfaces))),
        ]
        for i in self.interfaces.values():
            rows += [
                ((*IF_ENTRY, 1, i.ifindex), v2c.Integer(i.ifindex)),
                ((*IF_ENTRY, 2, i.ifindex), v2c.OctetString(i.name)),
                ((*IF_ENTRY, 7, i.ifindex), v2c.Integer(i.admin)),
                ((*IF_ENTRY, 8, i.ifindex), v2c.Integer(i.oper)),
                ((*IF_X_ENTRY, 1, i.ifindex), v2c.OctetString(i.name)),
                ((*IF_X_ENTRY, 18, i.ifindex), v2c.OctetString(i.alias)),
            ]
        rows.sort(key=lambda r: r[0])
        return rows

    # -- the protocol ----------------------------------------------------------------

    def handle(self, data: bytes) -> bytes | None:
        """The encoded answer to one request, or None to drop it (unreachable, bad, other community)."""
        if not self.reachable:
            return None
        try:
            if int(api.decodeMessageVersion(data)) != api.SNMP_VERSION_2C:
                return None
            msg, _ = decoder.decode(data, asn1Spec=v2c.Message())
        except (PyAsn1Error, ValueError):
            log.debug("%s: dropped an undecodable datagram", self.name)
            return None
        if bytes(v2c.apiMessage.get_community(msg)) != self.community.encode():
            return None
        request = v2c.apiMessage.get_pdu(msg)
        answer = v2c.apiMessage.get_response(msg)
        response = v2c.apiMessage.get_pdu(answer)
        asked = [(tuple(oid), value) for oid, value in v2c.apiPDU.get_varbinds(request)]
        table = self.objects()
        if request.isSameTypeWith(v2c.GetRequestPDU()):
            varbinds = [_get(table, oid) for oid, _ in asked]
        elif request.isSameTypeWith(v2c.GetNextRequestPDU()):
            varbinds = [_next(table, oid) for oid, _ in asked]
        elif request.isSameTypeWith(v2c.GetBulkRequestPDU()):
            non_repeaters = int(v2c.apiBulkPDU.get_non_repeaters(request))
            repetitions = int(v2c.apiBulkPDU.get_max_repetitions(request))
            varbinds = list(_bulk(table, [oid for oid, _ in asked], non_repeaters, repetitions))
        elif request.isSameTypeWith(v2c.SetRequestPDU()):
            v2c.apiPDU.set_error_status(response, _NOT_WRITABLE)
            v2c.apiPDU.set_error_index(response, 1)
            varbinds = asked
        else:
            return None  # responses, traps, reports: nothing to answer
        v2c.apiPDU.set_varbinds(response, varbinds)
        self.requests += 1
        return encoder.encode(answer)


class _AgentProtocol(asyncio.DatagramProtocol):
    def __init__(self, device: SimulatedDevice) -> None:
        self.device = device
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            answer = self.device.handle(data)
        except Exception:  # one odd request must not take the agent down
            log.exception("%s: failed to answer a request", self.device.name)
            return
        if answer is not None and self.transport is not None:
            self.transport.sendto(answer, addr)


def _get(table: Sequence[tuple[tuple[int, ...], Any]], oid: tuple[int, ...]) -> tuple[tuple[int, ...], Any]:
    i = bisect.bisect_left(table, oid, key=lambda r: r[0])
    if i < len(table) and table[i][0] == oid:
        return table[i]
    # noSuchInstance where the object (the column or scalar) exists, noSuchObject where it does not.
    exists = any(o[: len(oid) - 1] == oid[:-1] for o, _ in table) if len(oid) > 1 else False
    return oid, v2c.NoSuchInstance("") if exists else v2c.NoSuchObject("")


def _next(table: Sequence[tuple[tuple[int, ...], Any]], oid: tuple[int, ...]) -> tuple[tuple[int, ...], Any]:
    i = bisect.bisect_right(table, oid, key=lambda r: r[0])
    return table[i] if i < len(table) else (oid, v2c.EndOfMibView(""))


def _bulk(table: Sequence[tuple[tuple[int, ...], Any]], oids: Sequence[tuple[int, ...]], non_repeaters: int,
          repetitions: int) -> Iterator[tuple[tuple[int, ...], Any]]:
    """GETBULK (RFC 3416 4.2.3): the first ``non_repeaters`` once, then the rest row by row."""
    non_repeaters = max(0, min(non_repeaters, len(oids)))
    for oid in oids[:non_repeaters]:
        yield _next(table, oid)
    cursors = list(oids[non_repeaters:])
    if not cursors:
        return
    rows = max(0, min(repetitions, (MAX_BULK_VARBINDS - non_repeaters) // len(cursors)))
    for _ in range(rows):
        row = [_next(table, oid) for oid in cursors]
        yield from row
        if all(isinstance(value, v2c.EndOfMibView) for _, value in row):
            return
        cursors = [oid for oid, _ in row]


async def start_devices(specs: Iterable[DeviceSpec], ports: Sequence[int] | None = None, *,
                        community: str = "public") -> list[SimulatedDevice]:
    """Start one agent per spec (on ``ports`` in order, else each spec's port); all or none."""
    specs = list(specs)
    if ports is not None and len(ports) != len(specs):
        raise ValueError(f"{len(specs)} devices need {len(specs)} ports, got {len(ports)}")
    devices = [SimulatedDevice(s, port=None if ports is None else ports[n], community=community)
               for n, s in enumerate(specs)]
    started: list[SimulatedDevice] = []
    try:
        for d in devices:
            await d.start()
            started.append(d)
    except OSError:
        for d in started:
            d.stop()
        raise
    return devices
