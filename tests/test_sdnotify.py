"""The systemd notify client against real unix datagram sockets, and watchdog interval parsing."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitord.sdnotify import Notifier, watchdog_interval


class Receiver:
    """A bound unix datagram socket standing in for the service manager's notify socket."""

    def __init__(self, sock: socket.socket, notify_socket: str) -> None:
        self.sock = sock
        self.notify_socket = notify_socket

    def recv(self) -> bytes:
        """The next datagram (fails the test after 2 s without one)."""
        return self.sock.recv(4096)

    def assert_empty(self) -> None:
        """No datagram is waiting."""
        self.sock.setblocking(False)
        try:
            with pytest.raises(BlockingIOError):
                self.sock.recv(4096)
        finally:
            self.sock.settimeout(2.0)


@pytest.fixture
def path_receiver() -> Iterator[Receiver]:
    # A short directory of our own: sun_path holds only 108 bytes, pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="sdn-") as tmp:
        path = str(Path(tmp) / "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            sock.settimeout(2.0)
            yield Receiver(sock, path)


@pytest.fixture
def abstract_receiver() -> Iterator[Receiver]:
    name = f"monitord-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2.0)
        yield Receiver(sock, "@" + name)


@pytest.fixture(params=["path", "abstract"])
def receiver(request: pytest.FixtureRequest) -> Receiver:
    return request.getfixturevalue(f"{request.param}_receiver")


def test_each_message_is_one_exact_datagram(receiver: Receiver) -> None:
    with Notifier({"NOTIFY_SOCKET": receiver.notify_socket}) as notifier:
        assert notifier.enabled
        assert notifier.ready()
        assert receiver.recv() == b"READY=1"
        assert notifier.ready(status="polling 12 devices")
        assert receiver.recv() == b"READY=1\nSTATUS=polling 12 devices"
        assert notifier.reloading(123_456_789)
        assert receiver.recv() == b"RELOADING=1\nMONOTONIC_USEC=123456789"
        assert notifier.reloading(5, status="reloading rules")
        assert receiver.recv() == b"RELOADING=1\nMONOTONIC_USEC=5\nSTATUS=reloading rules"
        assert notifier.watchdog()
        assert receiver.recv() == b"WATCHDOG=1"
        assert notifier.status("3 alerts firing")
        assert receiver.recv() == b"STATUS=3 alerts firing"
        assert notifier.stopping()
        assert receiver.recv() == b"STOPPING=1"
        assert notifier.stopping(status="bye")
        assert receiver.recv() == b"STOPPING=1\nSTATUS=bye"
    receiver.assert_empty()


def test_status_text_cannot_inject_assignments(path_receiver: Receiver) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": path_receiver.notify_socket})
    assert notifier.status("line one\nREADY=1\r\nend")
    assert path_receiver.recv() == b"STATUS=line one READY=1 end"
    notifier.status("Zürich: 2 circuits down")
    assert path_receiver.recv() == "STATUS=Zürich: 2 circuits down".encode()


def test_reloading_rejects_a_bad_monotonic_time() -> None:
    notifier = Notifier({})
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="monotonic_usec"):
            notifier.reloading(bad)  # type: ignore[arg-type]


def test_close_then_send_reopens(path_receiver: Receiver) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": path_receiver.notify_socket})
    notifier.watchdog()
    notifier.close()
    notifier.close()
    assert notifier.watchdog()
    assert path_receiver.recv() == b"WATCHDOG=1"
    assert path_receiver.recv() == b"WATCHDOG=1"


@pytest.mark.parametrize("env", [{}, {"NOTIFY_SOCKET": ""}], ids=["unset", "empty"])
def test_no_socket_is_a_silent_no_op(env: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(env)
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.reloading(1)
    assert not notifier.watchdog()
    assert not notifier.status("x")
    assert not notifier.stopping()
    notifier.close()
    assert caplog.records == []


def test_reads_the_mapping_it_is_given_not_os_environ(path_receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", path_receiver.notify_socket)
    assert not Notifier({}).ready()
    path_receiver.assert_empty()


def test_send_failure_never_raises_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    with tempfile.TemporaryDirectory(prefix="sdn-") as tmp:
        notifier = Notifier({"NOTIFY_SOCKET": str(Path(tmp) / "nobody-listens")})
        assert notifier.enabled
        with caplog.at_level(logging.DEBUG, logger="monitord.sdnotify"):
            assert not notifier.ready()
            assert not notifier.watchdog()
            assert not notifier.watchdog()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "notify failed" in warnings[0].getMessage()
    assert len([r for r in caplog.records if r.levelno == logging.DEBUG]) == 2


def test_send_failure_on_a_too_long_path_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": "/" + "x" * 200})
    assert not notifier.ready()
    assert len(caplog.records) == 1


@pytest.mark.parametrize("value", ["relative/notify", "vsock:2:1234"])
def test_an_unusable_address_disables_with_one_warning(value: str, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": value})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()
    assert len(caplog.records) == 1
    assert caplog.records[0].levelno == logging.WARNING


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": ""}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "1"}, 0.0000005),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-30000000"}, None),
        ({"WATCHDOG_USEC": " 30000000"}, None),
        ({"WATCHDOG_USEC": "30s"}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4243"}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "pid"}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": ""}, 15.0),
        ({"WATCHDOG_PID": "4242"}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(env, pid=4242) == expected


def test_watchdog_interval_ignores_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval({}, pid=os.getpid()) is None
    assert watchdog_interval(os.environ, pid=os.getpid()) == 15.0
