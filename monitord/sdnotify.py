"""A dependency-free client for systemd's notify protocol (``sd_notify(3)``) and its watchdog.

The daemon tells the service manager when it is ready, reloading and stopping, pings the
watchdog from its event loop, and publishes a one-line status. Everything here takes the
process environment as a mapping argument, so tests and callers decide what it holds.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from types import TracebackType

__all__ = ["Notifier", "watchdog_interval"]

log = logging.getLogger(__name__)


def _socket_address(value: str) -> bytes | None:
    """The ``sendto`` address for a ``NOTIFY_SOCKET`` value, or None when it is not one we can use."""
    if value.startswith("@"):
        # Abstract namespace: the kernel wants a leading NUL instead of the '@'.
        return b"\0" + os.fsencode(value[1:])
    if value.startswith("/"):
        return os.fsencode(value)
    # Anything else (a relative path, systemd 253's "vsock:" form) is not supported here.
    return None


class Notifier:
    """A connection to the service manager's notify socket; a no-op when ``NOTIFY_SOCKET`` is unset.

    A send failure never raises: the first one is logged as a warning, later ones at debug
    level, because a daemon must not die (or flood its log) because its supervisor went away.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        raw = env.get("NOTIFY_SOCKET", "")
        self._address = _socket_address(raw) if raw else None
        self._sock: socket.socket | None = None
        self._failed = False
        if raw and self._address is None:
            log.warning("NOTIFY_SOCKET=%r is neither an absolute path nor an abstract name; not notifying", raw)

    @property
    def enabled(self) -> bool:
        """Whether there is a notify socket to send to."""
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Send one datagram of ``KEY=VALUE`` lines; True when it was handed to the socket.

        False when disabled or when the send failed (logged, never raised).
        """
        if self._address is None:
            return False
        message = "\n".join(assignments).encode("utf-8")
        try:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                # Non-blocking: the watchdog ping runs on the event loop, which must never stall
                # on a full socket queue; a dropped datagram is better than a frozen loop.
                sock.setblocking(False)
                self._sock = sock
            self._sock.sendto(message, self._address)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.warning("systemd notify failed (%s); further failures are logged at debug level", exc)
            else:
                log.debug("systemd notify failed: %s", exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Tell the manager start-up (or a reload) has finished: ``READY=1``, optionally with a status."""
        return self.notify("READY=1", *self._status_line(status))

    def reloading(self, monotonic_usec: int, status: str | None = None) -> bool:
        """Tell the manager a reload began: ``RELOADING=1`` and ``MONOTONIC_USEC``.

        ``monotonic_usec`` is CLOCK_MONOTONIC in microseconds when the reload began (e.g.
        ``time.monotonic_ns() // 1000``); systemd >= 253 requires it with ``RELOADING=1``.
        Send ``ready()`` when the reload is done, whether or not it succeeded.
        """
        if isinstance(monotonic_usec, bool) or not isinstance(monotonic_usec, int) or monotonic_usec < 0:
            raise ValueError(f"monotonic_usec must be a non-negative int, got {monotonic_usec!r}")
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}", *self._status_line(status))

    def stopping(self, status: str | None = None) -> bool:
        """Tell the manager the daemon is shutting down: ``STOPPING=1``."""
        return self.notify("STOPPING=1", *self._status_line(status))

    def watchdog(self) -> bool:
        """Ping the watchdog: ``WATCHDOG=1``."""
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """Publish a one-line status (shown by ``systemctl status``): ``STATUS=...``."""
        return self.notify(*self._status_line(text))

    def close(self) -> None:
        """Close the socket; a later send opens a new one."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @staticmethod
    def _status_line(text: str | None) -> tuple[str, ...]:
        if text is None:
            return ()
        # A newline would start a new assignment and let the text inject e.g. READY=1.
        return ("STATUS=" + " ".join(text.splitlines()),)


def watchdog_interval(env: Mapping[str, str], pid: int) -> float | None:
    """Seconds between watchdog pings for process ``pid``, or None when no watchdog applies to it.

    Reads ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``, which must equal ``pid`` when set) as
    ``sd_watchdog_enabled(3)`` does, and returns half the timeout, as that page recommends.
    Unparsable or non-positive values mean no watchdog.
    """
    raw_usec = env.get("WATCHDOG_USEC", "")
    usec = _parse_uint(raw_usec)
    if usec is None:
        if raw_usec:
            log.warning("ignoring watchdog: unparsable WATCHDOG_USEC=%r", raw_usec)
        return None
    if usec == 0:
        return None
    raw_pid = env.get("WATCHDOG_PID", "")
    if raw_pid:
        watchdog_pid = _parse_uint(raw_pid)
        if watchdog_pid is None:
            log.warning("ignoring watchdog: unparsable WATCHDOG_PID=%r", raw_pid)
            return None
        # The variables were meant for another process (e.g. inherited from our parent).
        if watchdog_pid != pid:
            return None
    return usec / 2 / 1_000_000


def _parse_uint(text: str) -> int | None:
    """A plain decimal unsigned integer, or None; stricter than ``int()`` (no sign, spaces or '_')."""
    if text.isascii() and text.isdigit():
        return int(text)
    return None
