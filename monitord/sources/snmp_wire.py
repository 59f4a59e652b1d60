"""SNMPv2c GET on the wire: BER bytes in and out, and one UDP socket per event loop.

This is the poller's hot path for v2c devices: one GET of fixed OIDs per
device per interval. pysnmp builds and parses every message through pyasn1
objects and its message-processing layers, which costs about half a
millisecond of CPU per interface status; a GetRequest of known OIDs and its
Response need only a few lines of BER (RFC 3416 PDUs in an RFC 1901
message). SNMPv3 (USM keys, engine discovery, encryption) and table walks
stay with pysnmp, where their cost does not matter or their logic is not
worth repeating.

Encoded OIDs and varbinds are cached per OID, so a poll joins bytes and a
response is decoded into (encoded OID, value) pairs without building one
object per varbind.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import socket
from collections.abc import Sequence
from typing import NamedTuple, cast

log = logging.getLogger(__name__)

SEQUENCE = 0x30
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
GET_REQUEST = 0xA0
RESPONSE = 0xA2
_UNSIGNED = frozenset({0x41, 0x42, 0x43, 0x46, 0x47})  # Counter32, Gauge32, TimeTicks, Counter64, UInteger32
"""Application tags whose content is an unsigned integer."""
TOO_BIG = 1
"""The error-status of a response too big for the agent to send."""
ERROR_STATUS = ("noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess", "wrongType",
                "wrongLength", "wrongEncoding", "wrongValue", "noCreation", "inconsistentValue",
                "resourceUnavailable", "commitFailed", "undoFailed", "authorizationError", "notWritable",
                "inconsistentName")
"""RFC 3416 error-status names by value."""


class WireError(ValueError):
    """A datagram that is not a well-formed SNMPv2c Response."""


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    """One BER tag-length-value."""
    return bytes((tag,)) + _length(len(content)) + content


def encode_integer(value: int) -> bytes:
    """A BER INTEGER, two's complement in the fewest octets."""
    return tlv(INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def encode_oid(oid: Sequence[int]) -> bytes:
    """The content octets of an OBJECT IDENTIFIER (no tag or length)."""
    if len(oid) < 2 or oid[0] > 2 or (oid[0] < 2 and oid[1] >= 40):
        raise ValueError(f"not an OID: {oid!r}")
    out = bytearray()
    for sub in (40 * oid[0] + oid[1], *oid[2:]):
        if sub < 0:
            raise ValueError(f"negative sub-identifier in {oid!r}")
        chunk = [sub & 0x7F]
        sub >>= 7
        while sub:
            chunk.append(0x80 | (sub & 0x7F))
            sub >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def decode_oid(content: bytes) -> tuple[int, ...]:
    """An OID from its content octets (for OIDs the poller did not ask for)."""
    subs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            subs.append(value)
            value = 0
    if not subs or content[-1] & 0x80:
        raise WireError("truncated OBJECT IDENTIFIER")
    first = subs[0]
    head = (0, first) if first < 40 else (1, first - 40) if first < 80 else (2, first - 80)
    return (*head, *subs[1:])


def get_request(community: bytes, request_id: int, varbinds: bytes) -> bytes:
    """A whole v2c GetRequest message; ``varbinds`` is the joined ``varbind()`` encodings."""
    pdu = tlv(GET_REQUEST, encode_integer(request_id) + b"\x02\x01\x00\x02\x01\x00" + tlv(SEQUENCE, varbinds))
    return tlv(SEQUENCE, b"\x02\x01\x01" + tlv(OCTET_STRING, community) + pdu)


def varbind(oid: Sequence[int]) -> bytes:
    """One request varbind: the OID with a NULL value."""
    return tlv(SEQUENCE, tlv(OBJECT_IDENTIFIER, encode_oid(oid)) + b"\x05\x00")


class Response(NamedTuple):
    """A decoded Response PDU; each varbind is (OID content octets, value).

    A value is an int (INTEGER and the unsigned application types), bytes (OCTET
    STRING, IpAddress, Opaque) or None (NULL, noSuchObject, noSuchInstance,
    endOfMibView).
    """

    request_id: int
    error_status: int
    error_index: int
    varbinds: list[tuple[bytes, int | bytes | None]]


def _header(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the TLV at ``pos``."""
    tag = data[pos]
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if not 0 < k <= 4:
            raise WireError(f"unsupported length form 0x{n:02x}")
        n = int.from_bytes(data[pos : pos + k], "big")
        pos += k
    end = pos + n
    if end > len(data):
        raise WireError("truncated message")
    return tag, pos, end


def _integer(data: bytes, pos: int) -> tuple[int, int]:
    tag, start, end = _header(data, pos)
    if tag != INTEGER:
        raise WireError(f"expected INTEGER, got tag 0x{tag:02x}")
    return int.from_bytes(data[start:end], "big", signed=True), end


def decode_response(data: bytes) -> Response:
    """Decode a v2c Response message; raises WireError for anything else."""
    try:
        tag, pos, end = _header(data, 0)
        if tag != SEQUENCE:
            raise WireError("not an SNMP message")
        version, pos = _integer(data, pos)
        if version != 1:
            raise WireError(f"not SNMPv2c (version field {version})")
        tag, _, pos = _header(data, pos)  # community: the socket's peer is checked instead
        tag, pos, end = _header(data, pos)
        if tag != RESPONSE:
            raise WireError(f"not a Response PDU (tag 0x{tag:02x})")
        request_id, pos = _integer(data, pos)
        error_status, pos = _integer(data, pos)
        error_index, pos = _integer(data, pos)
        tag, pos, end = _header(data, pos)
        varbinds: list[tuple[bytes, int | bytes | None]] = []
        append = varbinds.append
        while pos < end:
            # The fast case inline, as it is nearly every varbind: short-form lengths throughout.
            if data[pos] == SEQUENCE and data[pos + 1] < 0x80 and data[pos + 2] == OBJECT_IDENTIFIER \
                    and (n := data[pos + 3]) < 0x80:
                start, stop = pos + 4, pos + 4 + n
                next_pos = pos + 2 + data[pos + 1]
            else:
                _, vb_start, next_pos = _header(data, pos)
                tag, start, stop = _header(data, vb_start)
                if tag != OBJECT_IDENTIFIER:
                    raise WireError("varbind without an OID")
            oid = data[start:stop]
            if data[stop + 1] < 0x80:
                tag, start, stop = data[stop], stop + 2, stop + 2 + data[stop + 1]
            else:
                tag, start, stop = _header(data, stop)
            if stop != next_pos:
                raise WireError("varbind length does not match its contents")
            pos = next_pos
            if tag == INTEGER:
                append((oid, int.from_bytes(data[start:stop], "big", signed=True)))
            elif tag in _UNSIGNED:
                append((oid, int.from_bytes(data[start:stop], "big")))
            elif tag < 0x80 and tag != NULL:
                append((oid, data[start:stop]))
            else:  # NULL, or the exceptions noSuchObject / noSuchInstance / endOfMibView
                append((oid, None))
        if pos != end:
            raise WireError("varbind list length does not match its contents")
        return Response(request_id, error_status, error_index, varbinds)
    except IndexError:
        raise WireError("truncated message") from None


class V2cClient(asyncio.DatagramProtocol):
    """Sends GetRequests from one UDP socket and matches Responses to them by request-id.

    One client per event loop and address family serves every device: a
    response counts only when it comes from the address the request went to
    and carries its request-id. A retry resends the same request-id, so a late
    answer to the first try is as good as an answer to the second.
    """

    def __init__(self) -> None:
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[int, tuple[tuple[str, int], asyncio.Future[Response]]] = {}
        self._ids = itertools.count(random.randrange(1, 1 << 30))
        self.malformed: dict[tuple[str, int], str] = {}  # peer -> last undecodable datagram's reason

    @classmethod
    async def open(cls, family: socket.AddressFamily) -> V2cClient:
        """A client bound to an ephemeral port of the given family."""
        loop = asyncio.get_running_loop()
        _, client = await loop.create_datagram_endpoint(cls, family=family)
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        sock = transport.get_extra_info("socket")
        # Many devices answer a poll round at once; a larger buffer keeps bursts from being dropped.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        peer = (addr[0], addr[1])
        try:
            response = decode_response(data)
        except WireError as exc:
            self.malformed[peer] = str(exc)
            return
        pending = self._pending.get(response.request_id)
        if pending is not None and pending[0] == peer and not pending[1].done():
            pending[1].set_result(response)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like arrive here without saying which request; the
        # request then times out, which is what a dead device looks like anyway.
        log.debug("SNMP socket error: %s", exc)

    async def get(self, peer: tuple[str, int], community: bytes, varbinds: bytes, timeout: float,
                  retries: int) -> Response | None:
        """Send one GetRequest, retrying on timeout; None when no try was answered."""
        assert self._transport is not None
        request_id = next(self._ids) & 0x7FFFFFFF
        message = get_request(community, request_id, varbinds)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (peer, future)
        try:
            for _ in range(retries + 1):
                self._transport.sendto(message, peer)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), timeout)
                except TimeoutError:
                    continue
            return None
        finally:
            del self._pending[request_id]
            future.cancel()

    def close(self) -> None:
        """Close the socket."""
        if self._transport is not None:
            self._transport.close()
