"""IF-MIB polling of circuit interfaces over SNMP v2c and v3.

One poll of a device is one GET of exactly its monitored interfaces' ifOperStatus
and ifAdminStatus (split only when it would exceed ``max_varbinds`` per PDU), plus
sysUpTime and ifTableLastChange, which tell when the device's ifIndex map may
have changed. v2c GETs go through ``snmp_wire``'s own BER codec, the hot path;
SNMPv3 GETs and ifName walks go through pysnmp's asyncio API with raw OIDs and
``lookupMib=False`` (resolving response names through pyasn1 MIB lookups is what
dominates pysnmp's cost, and the poller needs only the numbers). ``bench/poll.py``
measures both. A device that does not answer is a result with
``reachable=False``, never an exception and never "all its interfaces down".
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pyasn1.error import PyAsn1Error
from pyasn1.type.univ import Integer
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    usmAesCfb128Protocol,
    usmAesCfb192Protocol,
    usmAesCfb256Protocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACSHAAuthProtocol,
)
from pysnmp.proto import errind
from pysnmp.proto.rfc1905 import EndOfMibView

from monitord.domain import Circuit, Monitor
from monitord.sources import snmp_wire

log = logging.getLogger(__name__)

SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
"""SNMPv2-MIB::sysUpTime.0: it goes back when the agent restarts, which may renumber ifIndexes."""
IF_TABLE_LAST_CHANGE = (1, 3, 6, 1, 2, 1, 31, 1, 5, 0)
"""IF-MIB::ifTableLastChange.0: sysUpTime when an ifTable row last came or went."""
IF_ADMIN_STATUS = (1, 3, 6, 1, 2, 1, 2, 2, 1, 7)
"""IF-MIB::ifAdminStatus, the column; the instance is ``+ (ifIndex,)``."""
IF_OPER_STATUS = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)
"""IF-MIB::ifOperStatus, the column; the instance is ``+ (ifIndex,)``."""
IF_NAME = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)
"""IF-MIB::ifName, the column walked to map interface names to ifIndex."""

AUTH_PROTOCOLS: dict[str, tuple[int, ...]] = {
    "SHA": usmHMACSHAAuthProtocol,
    "SHA256": usmHMAC192SHA256AuthProtocol,
    "SHA512": usmHMAC384SHA512AuthProtocol,
}
"""SNMPv3 authentication protocols by the name used in the config."""
PRIV_PROTOCOLS: dict[str, tuple[int, ...]] = {
    "AES": usmAesCfb128Protocol,
    "AES192": usmAesCfb192Protocol,
    "AES256": usmAesCfb256Protocol,
}
"""SNMPv3 privacy protocols by the name used in the config."""

_AUTH_ERRORS = (
    errind.WrongDigest,
    errind.UnknownUserName,
    errind.DecryptionError,
    errind.AuthenticationFailure,
    errind.AuthenticationError,
    errind.UnsupportedSecurityLevel,
    errind.NotInTimeWindow,
    errind.UnknownEngineID,
)


class IfStatus(enum.IntEnum):
    """IF-MIB ifOperStatus / ifAdminStatus values (RFC 2863); admin uses only 1-3."""

    UP = 1
    DOWN = 2
    TESTING = 3
    UNKNOWN = 4
    DORMANT = 5
    NOT_PRESENT = 6
    LOWER_LAYER_DOWN = 7


@dataclass(frozen=True, slots=True)
class SnmpTarget:
    """How to reach one device's agent: address, SNMP version and credentials, timing.

    ``timeout`` is seconds per try and ``retries`` the tries after the first, so a
    dead device is given up after about ``timeout * (retries + 1)``. Secrets stay
    out of ``repr`` so that a logged target does not leak them.
    """

    host: str
    port: int = 161
    version: Literal["2c", "3"] = "2c"
    community: str = field(default="public", repr=False)
    user: str = ""
    auth_key: str = field(default="", repr=False)
    auth_protocol: str = "SHA"
    priv_key: str = field(default="", repr=False)
    priv_protocol: str = "AES"
    timeout: float = 2.0
    retries: int = 1

    def __post_init__(self) -> None:
        if self.version not in ("2c", "3"):
            raise ValueError(f"SNMP version must be '2c' or '3', got {self.version!r}")
        if self.version == "3":
            if not self.user:
                raise ValueError("SNMPv3 needs a user")
            if self.auth_protocol not in AUTH_PROTOCOLS:
                raise ValueError(f"auth protocol must be one of {sorted(AUTH_PROTOCOLS)}, got {self.auth_protocol!r}")
            if self.priv_protocol not in PRIV_PROTOCOLS:
                raise ValueError(f"priv protocol must be one of {sorted(PRIV_PROTOCOLS)}, got {self.priv_protocol!r}")
            # net-snmp and RFC 3414 reject pass phrases shorter than 8 characters.
            if len(self.auth_key) < 8 or len(self.priv_key) < 8:
                raise ValueError("SNMPv3 authPriv needs auth and priv keys of at least 8 characters")
        if self.timeout <= 0 or self.retries < 0:
            raise ValueError("timeout must be > 0 and retries >= 0")

    @property
    def deadline(self) -> float:
        """Seconds after which a poll of an unresponsive device has surely given up."""
        return self.timeout * (self.retries + 1)


@dataclass(frozen=True, slots=True)
class InterfaceStatus:
    """One interface as read in one poll; None where the agent had no such instance."""

    oper: int | None
    admin: int | None

    @property
    def present(self) -> bool:
        """Whether the agent knows this ifIndex at all."""
        return self.oper is not None and self.admin is not None


@dataclass(frozen=True, slots=True)
class DevicePoll:
    """The result of polling one device: its interfaces' states, or why there are none.

    ``reachable`` is False when the agent gave no usable answer (timeout, name
    that does not resolve, SNMPv3 authentication failure); then ``interfaces`` is
    empty and ``error`` says why. A reachable device that answered with an SNMP
    error also has ``error`` set and may lack some interfaces.
    """

    target: SnmpTarget
    reachable: bool
    interfaces: dict[int, InterfaceStatus]
    duration: float  # seconds, wall clock, for the whole poll
    error: str = ""
    uptime: int | None = None  # sysUpTime, hundredths of a second
    if_table_changed: int | None = None  # ifTableLastChange (None: the agent does not keep it)


class SnmpUnreachable(Exception):
    """A device did not give a usable answer to a request that must return data."""


class _TooBig(Exception):
    """Internal: the agent answered tooBig; the request must be split."""


class _Failed(Exception):
    """Internal: one request failed; ``reachable`` says whether the device answered at all."""

    def __init__(self, message: str, *, reachable: bool) -> None:
        super().__init__(message)
        self.reachable = reachable


class SnmpPoller:
    """Polls IF-MIB interface states, reusing one pysnmp SnmpEngine per event loop.

    ``max_varbinds`` caps the variable bindings in one GET (two per interface);
    most agents answer far larger PDUs, but some routers' agents refuse big ones
    (an agent's tooBig answer also halves the request). Devices whose v3 user name
    repeats with other keys get an engine of their own: see ``_usm_group``.
    """

    def __init__(self, *, max_varbinds: int = 100, bulk_repetitions: int = 50) -> None:
        if max_varbinds < 2:
            raise ValueError("max_varbinds must be at least 2 (one interface)")
        self.max_varbinds = max_varbinds
        self.bulk_repetitions = bulk_repetitions
        # pysnmp's dispatcher binds to the loop it was created on, so one engine per loop
        # (and per USM key group, see _usm_group).
        self._engines: dict[tuple[asyncio.AbstractEventLoop, int], SnmpEngine] = {}
        self._usm_keys: dict[str, list[tuple[str, str, str, str]]] = {}
        self._context = ContextData()
        # Resolved ObjectTypes are reused: pysnmp skips resolving one that is already clean,
        # which takes the MIB machinery off the request path as well.
        self._varbinds: dict[tuple[int, ...], ObjectType] = {}
        # The v2c hot path: one socket per loop and family, and each OID encoded once.
        self._clients: dict[tuple[asyncio.AbstractEventLoop, int], snmp_wire.V2cClient] = {}
        self._encoded: dict[tuple[int, ...], bytes] = {}
        self._oid_of: dict[bytes, tuple[int, ...]] = {}

    # -- public API ---------------------------------------------------------------

    async def poll(self, target: SnmpTarget, ifindexes: Iterable[int]) -> DevicePoll:
        """ifOperStatus and ifAdminStatus of exactly ``ifindexes`` on one device, with its uptime stamps."""
        started = time.monotonic()
        wanted = sorted(set(ifindexes))
        oids = [SYS_UPTIME, IF_TABLE_LAST_CHANGE]
        oids += [(*col, i) for i in wanted for col in (IF_OPER_STATUS, IF_ADMIN_STATUS)]
        values: dict[tuple[int, ...], int | None] = {}
        error = ""
        try:
            get = await (self._wire_getter(target) if target.version == "2c" else self._pysnmp_getter(target))
            for start in range(0, len(oids), self.max_varbinds):
                got, error = await self._split_get(get, oids[start : start + self.max_varbinds])
                values.update(got)
                if error:
                    break
        except _Failed as exc:
            return DevicePoll(target, exc.reachable, {}, time.monotonic() - started, str(exc))
        except Exception as exc:  # a poll never raises: one odd device must not stop a poll group
            log.exception("SNMP poll of %s:%s failed unexpectedly", target.host, target.port)
            return DevicePoll(target, False, {}, time.monotonic() - started, f"poll failed: {exc!r}")
        interfaces = {  # oids holds each interface's two OIDs in turn after the two stamps
            i: InterfaceStatus(values.get(oper), values.get(admin))
            for i, oper, admin in zip(wanted, oids[2::2], oids[3::2], strict=True)
            if oper in values
        }
        return DevicePoll(target, True, interfaces, time.monotonic() - started, error,
                          values.get(SYS_UPTIME), values.get(IF_TABLE_LAST_CHANGE))

    async def resolve_ifnames(self, target: SnmpTarget) -> dict[str, int]:
        """ifName -> ifIndex for one device, walked with GETBULK.

        Raises SnmpUnreachable when the walk cannot complete. Where two interfaces
        share a name, the highest ifIndex wins: net-snmp, for one, keeps the row of a
        removed interface under its old (lower) index when one of the same name is
        created again.
        """
        names: dict[str, int] = {}
        try:
            auth, transport = await self._endpoint(target)
            engine = self._engine(target)
            cursor = IF_NAME
            while True:
                err_ind, err_status, err_index, rows = await _bounded(
                    target,
                    bulk_cmd(
                        engine,
                        auth,
                        transport,
                        self._context,
                        0,
                        self.bulk_repetitions,
                        ObjectType(ObjectIdentity(cursor)),
                        lookupMib=False,
                    ),
                )
                _check(target, err_ind, err_status, err_index)
                last = cursor
                for oid_obj, value in rows:
                    oid = tuple(oid_obj)
                    if oid[: len(IF_NAME)] != IF_NAME or isinstance(value, EndOfMibView):
                        return names
                    if oid <= last:  # a broken agent going round in circles
                        raise _Failed(f"agent returned non-increasing OID {oid_obj}", reachable=True)
                    last = oid
                    names[bytes(value).decode("utf-8", "replace")] = oid[-1]  # walked in index order
                if not rows:
                    return names
                cursor = last
        except _Failed as exc:
            raise SnmpUnreachable(f"{target.host}:{target.port}: {exc}") from None
        except (PySnmpError, PyAsn1Error, OSError) as exc:
            raise SnmpUnreachable(f"{target.host}:{target.port}: {exc}") from exc

    async def poll_many(
        self, requests: Iterable[tuple[SnmpTarget, Iterable[int]]], concurrency: int = 64
    ) -> list[DevicePoll]:
        """Poll many devices, at most ``concurrency`` at once; results in request order."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        gate = asyncio.Semaphore(concurrency)

        async def one(target: SnmpTarget, ifindexes: Iterable[int]) -> DevicePoll:
            async with gate:
                return await self.poll(target, ifindexes)

        return list(await asyncio.gather(*(one(t, i) for t, i in requests)))

    def close(self) -> None:
        """Close the engines of the running loop (their sockets and timer tasks)."""
        loop = asyncio.get_running_loop()
        for key in [k for k in self._engines if k[0] is loop]:
            self._engines.pop(key).close_dispatcher()
        for ckey in [k for k in self._clients if k[0] is loop]:
            self._clients.pop(ckey).close()

    # -- internals -------------------------------------------------------------------

    def _engine(self, target: SnmpTarget) -> SnmpEngine:
        key = (asyncio.get_running_loop(), self._usm_group(target))
        engine = self._engines.get(key)
        if engine is None:
            for stale in [k for k in self._engines if k[0].is_closed()]:
                del self._engines[stale]
            engine = self._engines[key] = SnmpEngine()
        return engine

    def _usm_group(self, target: SnmpTarget) -> int:
        """0 for nearly every target; n > 0 for the n-th other key set seen under one v3 user name.

        pysnmp keeps one USM user per name in an engine and replaces it when the
        keys differ, so devices sharing a user name but not its keys would trample
        each other's polls in flight. They get an engine of their own instead.
        """
        if target.version != "3":
            return 0
        keys = (target.auth_protocol, target.auth_key, target.priv_protocol, target.priv_key)
        seen = self._usm_keys.setdefault(target.user, [])
        if keys not in seen:
            seen.append(keys)
        return seen.index(keys)

    async def _endpoint(self, target: SnmpTarget) -> tuple[CommunityData | UsmUserData, UdpTransportTarget]:
        if target.version == "2c":
            auth: CommunityData | UsmUserData = CommunityData(target.community, mpModel=1)
        else:
            auth = UsmUserData(
                target.user,
                authKey=target.auth_key,
                privKey=target.priv_key,
                authProtocol=AUTH_PROTOCOLS[target.auth_protocol],
                privProtocol=PRIV_PROTOCOLS[target.priv_protocol],
            )
        try:
            # create() resolves the name; bounded because a stuck resolver must not stall the poll.
            transport = await asyncio.wait_for(
                UdpTransportTarget.create((target.host, target.port), timeout=target.timeout, retries=target.retries),
                timeout=target.deadline,
            )
        except (PySnmpError, OSError, TimeoutError) as exc:
            reason = str(exc).split(" caused by ")[0] or "resolver timed out"
            raise _Failed(f"cannot resolve {target.host!r}: {reason}", reachable=False) from exc
        return auth, transport

    def _varbind(self, oid: tuple[int, ...]) -> ObjectType:
        vb = self._varbinds.get(oid)
        if vb is None:
            vb = self._varbinds[oid] = ObjectType(ObjectIdentity(oid))
        return vb

    async def _split_get(self, get: _Get, oids: Sequence[tuple[int, ...]]) -> tuple[_Values, str]:
        """One GET through ``get``, halved (recursively) when the agent answers tooBig."""
        try:
            return await get(oids)
        except _TooBig:
            if len(oids) <= 2:
                return {}, "agent answered tooBig for a single interface"
        half = len(oids) // 2 // 2 * 2  # keep an interface's two columns together
        first, error = await self._split_get(get, oids[:half])
        if error:
            return first, error
        second, error = await self._split_get(get, oids[half:])
        return first | second, error

    async def _wire_getter(self, target: SnmpTarget) -> _Get:
        """A v2c GET of a device through the BER codec and the loop's shared socket."""
        peer, family = await _peer(target)
        key = (asyncio.get_running_loop(), family)
        client = self._clients.get(key)
        if client is None:
            for stale in [k for k in self._clients if k[0].is_closed()]:
                del self._clients[stale]
            client = self._clients[key] = await snmp_wire.V2cClient.open(family)
        community = target.community.encode()

        async def get(oids: Sequence[tuple[int, ...]]) -> tuple[_Values, str]:
            response = await client.get(peer, community, b"".join(map(self._wire_varbind, oids)),
                                        target.timeout, target.retries)
            if response is None:
                garbled = client.malformed.pop(peer, "")
                if garbled:
                    raise _Failed(f"agent answered with a malformed message: {garbled}", reachable=False)
                raise _Failed(_timeout_text(target), reachable=False)
            if response.error_status == snmp_wire.TOO_BIG:
                raise _TooBig
            if response.error_status:
                status = response.error_status
                name = snmp_wire.ERROR_STATUS[status] if status < len(snmp_wire.ERROR_STATUS) else str(status)
                return {}, f"agent answered {name} at varbind {response.error_index}"
            oid_of = self._oid_of
            return {oid_of.get(raw) or snmp_wire.decode_oid(raw): value if isinstance(value, int) else None
                    for raw, value in response.varbinds}, ""

        return get

    def _wire_varbind(self, oid: tuple[int, ...]) -> bytes:
        encoded = self._encoded.get(oid)
        if encoded is None:
            encoded = self._encoded[oid] = snmp_wire.varbind(oid)
            self._oid_of[snmp_wire.encode_oid(oid)] = oid
        return encoded

    async def _pysnmp_getter(self, target: SnmpTarget) -> _Get:
        """A GET of a device through pysnmp (SNMPv3: USM keys, discovery, encryption)."""
        auth, transport = await self._endpoint(target)

        async def get(oids: Sequence[tuple[int, ...]]) -> tuple[_Values, str]:
            err_ind, err_status, err_index, rows = await _bounded(
                target,
                get_cmd(self._engine(target), auth, transport, self._context, *map(self._varbind, oids),
                        lookupMib=False),
            )
            if not err_ind and err_status and err_status.prettyPrint() == "tooBig":
                raise _TooBig
            try:
                _check(target, err_ind, err_status, err_index)
            except _Failed as exc:
                if exc.reachable:
                    return {}, str(exc)
                raise
            # noSuchInstance / noSuchObject (or a non-integer from a broken agent) -> None for that OID
            return {tuple(oid): int(value) if isinstance(value, Integer) else None for oid, value in rows}, ""

        return get


_Values = dict[tuple[int, ...], int | None]
_Get = Callable[[Sequence[tuple[int, ...]]], Awaitable[tuple[_Values, str]]]
"""One GET of some OIDs: values by OID (None: no such instance) and an SNMP error text, if any."""


async def _peer(target: SnmpTarget) -> tuple[tuple[str, int], socket.AddressFamily]:
    """The device's socket address (its name resolved, within its deadline) and family."""
    try:
        ip = ipaddress.ip_address(target.host)
        return (str(ip), target.port), socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    except ValueError:
        pass
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(target.host, target.port, type=socket.SOCK_DGRAM),
            timeout=target.deadline)
    except (OSError, TimeoutError) as exc:
        raise _Failed(f"cannot resolve {target.host!r}: {exc or 'resolver timed out'}", reachable=False) from exc
    family, _, _, _, address = infos[0]
    return (str(address[0]), int(address[1])), family


def _timeout_text(target: SnmpTarget) -> str:
    return (f"timeout: no response within {target.deadline:g} s "
            f"({target.retries + 1} tries of {target.timeout:g} s)")


async def _bounded(target: SnmpTarget, request: Any) -> Any:
    """Await a pysnmp request, cut off shortly after pysnmp's own give-up time.

    pysnmp times out by itself; this only guards against a request it never
    completes. The margin covers its 0.1 s timer tick and an SNMPv3 discovery.
    """
    try:
        return await asyncio.wait_for(request, timeout=2 * target.deadline + 1.0)
    except TimeoutError:
        raise _Failed(f"timeout: no response within {target.deadline:g} s", reachable=False) from None


def _check(target: SnmpTarget, err_ind: Any, err_status: Any, err_index: Any) -> None:
    """Raise _Failed for an error indication or an SNMP error status."""
    if isinstance(err_ind, errind.RequestTimedOut):
        raise _Failed(_timeout_text(target), reachable=False)
    if isinstance(err_ind, _AUTH_ERRORS):
        raise _Failed(f"SNMPv3 authentication failed: {err_ind}", reachable=False)
    if err_ind:
        raise _Failed(f"SNMP error: {err_ind}", reachable=False)
    if err_status:
        raise _Failed(f"agent answered {err_status.prettyPrint()} at varbind {int(err_index)}", reachable=True)


class CircuitState(enum.StrEnum):
    """What one poll says about one circuit's interface."""

    UP = "up"  # ifOperStatus up
    DOWN = "down"  # administratively up but not operationally up: a fault
    ADMIN_DOWN = "admin_down"  # shut (or testing) on purpose by the operator: not a fault by itself
    UNKNOWN = "unknown"  # device answered but the interface is missing or its state is unknown
    UNREACHABLE = "unreachable"  # the device gave no answer: says nothing about the circuit


def ifindex_of(monitor: Monitor, ifnames: Mapping[str, int] | None = None) -> int | None:
    """The ifIndex a monitor points at: its own, or its ifName looked up in ``ifnames``."""
    if monitor.ifindex is not None:
        return monitor.ifindex
    if monitor.ifname is not None and ifnames is not None:
        return ifnames.get(monitor.ifname)
    return None


def circuit_states(
    poll: DevicePoll, circuits: Iterable[Circuit], ifnames: Mapping[str, int] | None = None
) -> dict[str, CircuitState]:
    """The state of each monitored circuit on the polled device, by circuit id.

    Circuits without a monitor or on another device are left out.
    """
    states: dict[str, CircuitState] = {}
    for circuit in circuits:
        m = circuit.monitor
        if m is None or (m.host, m.port) != (poll.target.host, poll.target.port):
            continue
        if not poll.reachable:
            states[circuit.id] = CircuitState.UNREACHABLE
            continue
        ifindex = ifindex_of(m, ifnames)
        status = poll.interfaces.get(ifindex) if ifindex is not None else None
        if status is None or not status.present:
            states[circuit.id] = CircuitState.UNKNOWN
        elif status.oper == IfStatus.UP:
            states[circuit.id] = CircuitState.UP
        elif status.admin != IfStatus.UP:
            states[circuit.id] = CircuitState.ADMIN_DOWN
        elif status.oper == IfStatus.UNKNOWN:
            states[circuit.id] = CircuitState.UNKNOWN
        else:
            states[circuit.id] = CircuitState.DOWN
    return states
