"""The v2c BER codec, checked against pysnmp/pyasn1's independent encoder and decoder,
and the poller's v2c path against fake agents that misbehave (failure injection)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from pyasn1.codec.ber import decoder, encoder
from pyasn1.type import univ
from pysnmp.proto import api, rfc1902, rfc1905

from monitord.sources import snmp_wire
from monitord.sources.snmp import IF_ADMIN_STATUS, IF_OPER_STATUS, SnmpPoller, SnmpTarget

v2c = api.v2c


def pysnmp_response(request_id: int, varbinds: list[tuple[tuple[int, ...], object]], error_status: int = 0,
                    error_index: int = 0, community: str = "public") -> bytes:
    """A Response message as pysnmp encodes it."""
    pdu = v2c.ResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, request_id)
    v2c.apiPDU.set_error_status(pdu, error_status)
    v2c.apiPDU.set_error_index(pdu, error_index)
    v2c.apiPDU.set_varbinds(pdu, varbinds)
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, community)
    v2c.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


# -- encoding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("oid", "content"),
    [
        # X.690 8.19: the first two arcs as 40 * X + Y, then base-128 with the high bit on all but the last
        ((1, 3, 6, 1, 2, 1, 1, 3, 0), bytes([43, 6, 1, 2, 1, 1, 3, 0])),
        ((1, 3, 6, 1, 4, 1, 2021), bytes([43, 6, 1, 4, 1, 0x8F, 0x65])),  # 2021 = 15 * 128 + 101
        ((2, 100, 3), bytes([0x81, 0x34, 3])),  # 80 + 100 = 180 = 1 * 128 + 52
        ((1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 4294967295), bytes([43, 6, 1, 2, 1, 2, 2, 1, 8, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F])),
    ],
)
def test_oid_content_octets(oid: tuple[int, ...], content: bytes) -> None:
    assert snmp_wire.encode_oid(oid) == content
    assert snmp_wire.decode_oid(content) == oid


@pytest.mark.parametrize("bad", [(1,), (3, 1), (1, 40), (1, 3, -1)])
def test_invalid_oids_are_refused(bad: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        snmp_wire.encode_oid(bad)


@pytest.mark.parametrize("request_id", [0, 1, 127, 128, 255, 256, 0x7FFFFFFF])
def test_get_request_decodes_with_pysnmp(request_id: int) -> None:
    oids = [(*IF_OPER_STATUS, i) for i in (1, 200, 70000)] + [(1, 3, 6, 1, 2, 1, 1, 3, 0)] * 40  # > 255 bytes
    raw = snmp_wire.get_request(b"mdtest-ro", request_id, b"".join(map(snmp_wire.varbind, oids)))
    msg, rest = decoder.decode(raw, asn1Spec=v2c.Message())
    assert rest == b""
    assert v2c.apiMessage.get_community(msg) == b"mdtest-ro"
    pdu = v2c.apiMessage.get_pdu(msg)
    assert isinstance(pdu, rfc1905.GetRequestPDU)
    assert v2c.apiPDU.get_request_id(pdu) == request_id
    assert [tuple(o) for o, _ in v2c.apiPDU.get_varbinds(pdu)] == oids
    assert all(isinstance(v, univ.Null) for _, v in v2c.apiPDU.get_varbinds(pdu))


# -- decoding ---------------------------------------------------------------------------


def test_response_values_of_every_kind_decode_like_pysnmp() -> None:
    varbinds: list[tuple[tuple[int, ...], object]] = [
        ((*IF_OPER_STATUS, 1), rfc1902.Integer(1)),
        ((*IF_ADMIN_STATUS, 1), rfc1902.Integer(2)),
        ((1, 3, 6, 1, 2, 1, 1, 3, 0), rfc1902.TimeTicks(4294967295)),  # unsigned: all bits set
        ((1, 3, 6, 1, 9, 1), rfc1902.Counter64(18446744073709551615)),
        ((1, 3, 6, 1, 9, 2), rfc1902.Integer(-5)),
        ((1, 3, 6, 1, 9, 3), rfc1902.OctetString(b"ge-0/0/1")),
        ((*IF_OPER_STATUS, 9), rfc1905.noSuchInstance),
        ((1, 3, 6, 1, 9, 4), rfc1905.noSuchObject),
        ((1, 3, 6, 1, 9, 5), rfc1905.endOfMibView),
    ]
    raw = pysnmp_response(123456, varbinds * 20)  # long enough for a multi-octet length
    got = snmp_wire.decode_response(raw)
    assert got.request_id == 123456 and got.error_status == 0 and got.error_index == 0
    expected = [(snmp_wire.encode_oid(o), v) for o, v in
                [(o, int(v) if isinstance(v, rfc1902.Integer | rfc1902.TimeTicks | rfc1902.Counter64)
                  else bytes(v) if isinstance(v, rfc1902.OctetString) else None) for o, v in varbinds]]
    assert got.varbinds == expected * 20


def test_error_status_and_index_are_read() -> None:
    got = snmp_wire.decode_response(pysnmp_response(7, [((1, 3, 6, 1), rfc1902.Null())], 1, 0))
    assert (got.request_id, got.error_status, got.error_index) == (7, snmp_wire.TOO_BIG, 0)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw[:-3],  # truncated
        lambda raw: b"\x31" + raw[1:],  # not a SEQUENCE
        lambda raw: raw.replace(b"\xa2", b"\xa0", 1),  # a GetRequest, not a Response
        lambda raw: raw[:4] + b"\x00" + raw[5:],  # version 0: SNMPv1
        lambda raw: b"",
        lambda raw: b"\x30\x85\x00\x00\x00\x00\x01",  # a 5-octet length
    ],
)
def test_malformed_datagrams_raise_wire_error(mangle: Callable[[bytes], bytes]) -> None:
    raw = pysnmp_response(1, [((*IF_OPER_STATUS, 1), rfc1902.Integer(1))])
    with pytest.raises(snmp_wire.WireError):
        snmp_wire.decode_response(mangle(raw))


# -- the poller's v2c path against fake agents (failure injection) ------------------------


class FakeAgent(asyncio.DatagramProtocol):
    """Answers each GetRequest through ``answer(request_id, oids)`` -> datagrams to send back."""

    def __init__(self, answer: Callable[[int, list[tuple[int, ...]]], list[bytes]]) -> None:
        self.answer = answer
        self.requests: list[int] = []  # varbinds per request

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        msg, _ = decoder.decode(data, asn1Spec=v2c.Message())
        pdu = v2c.apiMessage.get_pdu(msg)
        oids = [tuple(o) for o, _ in v2c.apiPDU.get_varbinds(pdu)]
        self.requests.append(len(oids))
        for out in self.answer(int(v2c.apiPDU.get_request_id(pdu)), oids):
            self.transport.sendto(out, addr)  # type: ignore[attr-defined]


def poll_fake(answer: Callable[[int, list[tuple[int, ...]]], list[bytes]], indexes: list[int],
              poller: SnmpPoller | None = None) -> tuple[object, FakeAgent]:
    async def main() -> tuple[object, FakeAgent]:
        loop = asyncio.get_running_loop()
        transport, agent = await loop.create_datagram_endpoint(lambda: FakeAgent(answer),
                                                               local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        p = poller or SnmpPoller()
        try:
            return await p.poll(SnmpTarget("127.0.0.1", port, timeout=0.3, retries=1), indexes), agent
        finally:
            p.close()
            transport.close()

    return asyncio.run(main())


def all_up(request_id: int, oids: list[tuple[int, ...]]) -> list[bytes]:
    return [pysnmp_response(request_id, [(o, rfc1902.Integer(1)) for o in oids])]


def test_a_fake_agent_answering_all_up_gives_every_interface_up() -> None:
    poll, agent = poll_fake(all_up, [3, 1, 2])
    assert poll.reachable and poll.error == ""  # type: ignore[attr-defined]
    assert sorted(poll.interfaces) == [1, 2, 3]  # type: ignore[attr-defined]
    assert all(s.oper == 1 and s.admin == 1 for s in poll.interfaces.values())  # type: ignore[attr-defined]
    assert agent.requests == [8]  # one GET: uptime, table stamp and two columns of three interfaces


def test_answers_with_another_request_id_are_ignored_and_the_right_one_taken() -> None:
    def stray_first(request_id: int, oids: list[tuple[int, ...]]) -> list[bytes]:
        wrong = pysnmp_response(request_id + 1, [(o, rfc1902.Integer(2)) for o in oids])
        return [wrong, b"\x30\x03garbage", *all_up(request_id, oids)]

    poll, _ = poll_fake(stray_first, [1])
    assert poll.reachable and poll.interfaces[1].oper == 1  # type: ignore[attr-defined]


def test_an_agent_that_only_sends_garbage_is_unreachable_and_says_so() -> None:
    poll, agent = poll_fake(lambda rid, oids: [b"\x30\x05\x02\x01\x01\x04"], [1])
    assert not poll.reachable and "malformed" in poll.error  # type: ignore[attr-defined]
    assert len(agent.requests) == 2  # the first try and one retry


def test_too_big_answers_split_the_request_until_it_fits() -> None:
    def small_pdus_only(request_id: int, oids: list[tuple[int, ...]]) -> list[bytes]:
        if len(oids) > 5:
            return [pysnmp_response(request_id, [(o, rfc1902.Null()) for o in oids], error_status=1)]
        return all_up(request_id, oids)

    poll, agent = poll_fake(small_pdus_only, list(range(1, 11)))
    assert poll.reachable and sorted(poll.interfaces) == list(range(1, 11))  # type: ignore[attr-defined]
    assert max(n for n in agent.requests if n <= 5) <= 5 and len(agent.requests) > 3


def test_an_snmp_error_status_keeps_the_device_reachable_with_the_error() -> None:
    def gen_err(request_id: int, oids: list[tuple[int, ...]]) -> list[bytes]:
        return [pysnmp_response(request_id, [(o, rfc1902.Null()) for o in oids], error_status=5, error_index=3)]

    poll, _ = poll_fake(gen_err, [1])
    assert poll.reachable and poll.error == "agent answered genErr at varbind 3"  # type: ignore[attr-defined]
