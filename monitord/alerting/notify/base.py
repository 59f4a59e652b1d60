"""What every notifier is, and the one place failed sends are retried.

A notifier turns a ``Notice`` into a message on one channel (e-mail, a
webhook, Alertmanager) and either delivers it or raises ``NotifyError``
saying whether trying again may help: a refused connection or a 503 may, a
rejected address or a 400 will not. ``deliver`` retries the retryable ones
with exponential backoff; notifiers never retry by themselves. ``deliver`` also
drops resolved alerts for a notifier with ``send_resolved = False`` (as
Alertmanager's retry stage does), and counts every outcome in ``NotifyStats``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from monitord.alerting.messages import Messages
from monitord.alerting.notice import Notice
from monitord.config.alerting import ReceiverSettings, SmtpSettings

log = logging.getLogger(__name__)


class NotifyError(Exception):
    """A send that failed; ``retryable`` says whether the same send may succeed later."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Notifier(Protocol):
    """Sends notices on one channel to one receiver's target.

    A notifier may also have ``send_resolved: bool``; when it is False, ``deliver`` sends it only the
    firing alerts of a notice, and nothing for a notice of resolved alerts only.
    """

    kind: str  # the config's ``kind``: email, webhook, alertmanager

    async def notify(self, notice: Notice) -> None:
        """Deliver ``notice``, or raise ``NotifyError``."""
        ...


@dataclass(frozen=True)
class NotifierSetup:
    """What a notifier is built with besides its own settings: whom it serves and how messages look."""

    receiver: ReceiverSettings
    messages: Messages  # in the notifier's language (its own ``lang``, else the receiver's)
    smtp: SmtpSettings | None = None
    external_url: str = ""
    stats: NotifyStats | None = None


NotifierClass = Callable[[Any, NotifierSetup], Notifier]
"""A notifier class: built from its kind's settings (``monitord.config.alerting``) and a ``NotifierSetup``."""


class Result(enum.StrEnum):
    """How one step of a delivery ended, as ``NotifyStats`` counts it."""

    SENT = "sent"  # delivered (for Alertmanager: at least one instance accepted)
    RETRIED = "retried"  # a retryable failure that another attempt followed
    FAILED = "failed"  # given up: not retryable, or out of attempts
    SKIPPED = "skipped"  # nothing to send: only resolved alerts for a notifier without send_resolved
    RESENT = "resent"  # Alertmanager: a periodic re-send accepted
    RESEND_FAILED = "resend_failed"  # Alertmanager: a periodic re-send no instance accepted


class NotifyStats:
    """Counters of notifier outcomes by (receiver, kind, result), read by the exporter at scrape time.

    ``receiver`` is the receiver that delivered (``Notice.delivers``). Safe to read from another thread.
    """

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()  # the exporter may scrape from a thread of its own

    def count(self, receiver: str, kind: str, result: Result, n: int = 1) -> None:
        """Add ``n`` to one counter."""
        with self._lock:
            self._counts[(receiver, kind, result.value)] += n

    def snapshot(self) -> dict[tuple[str, str, str], int]:
        """Every counter so far: (receiver, kind, result) -> count."""
        with self._lock:
            return dict(self._counts)


@dataclass(frozen=True)
class Outcome:
    """How a delivery ended: sent, or the last error and whether it was worth retrying."""

    sent: bool
    attempts: int
    error: str = ""
    retryable: bool = False


async def deliver(notifier: Notifier, notice: Notice, *, attempts: int = 4, first_backoff: float = 0.5,
                  sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, stats: NotifyStats | None = None,
                  ) -> Outcome:
    """Send with up to ``attempts`` tries, doubling the wait after each retryable failure.

    A notice with nothing for this notifier (resolved alerts only, ``send_resolved`` off) counts as
    sent in 0 attempts.
    """
    def counted(result: Result) -> None:
        if stats is not None:
            stats.count(notice.delivers, notifier.kind, result)

    if not getattr(notifier, "send_resolved", True) and notice.resolved:
        if not notice.firing:
            counted(Result.SKIPPED)
            return Outcome(True, 0)
        notice = dataclasses.replace(notice, alerts=tuple(notice.firing))
    wait = first_backoff
    for attempt in range(1, attempts + 1):
        try:
            await notifier.notify(notice)
            counted(Result.SENT)
            return Outcome(True, attempt)
        except NotifyError as exc:
            if not exc.retryable or attempt == attempts:
                log.warning("%s notice %s to %s failed after %d attempt(s): %s", notifier.kind, notice.key,
                            notice.delivers, attempt, exc)
                counted(Result.FAILED)
                return Outcome(False, attempt, str(exc), exc.retryable)
            counted(Result.RETRIED)
            await sleep(wait)
            wait *= 2
    raise AssertionError("unreachable")
