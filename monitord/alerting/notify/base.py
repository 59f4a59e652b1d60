"""What every notifier is, and the one place failed sends are retried.

A notifier turns a ``Notice`` into a message on one channel (e-mail, a
webhook, Alertmanager) and either delivers it or raises ``NotifyError``
saying whether trying again may help: a refused connection or a 503 may, a
rejected address or a 400 will not. ``deliver`` retries the retryable ones
with exponential backoff; notifiers never retry by themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from monitord.alerting.notice import Notice

log = logging.getLogger(__name__)


class NotifyError(Exception):
    """A send that failed; ``retryable`` says whether the same send may succeed later."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Notifier(Protocol):
    """Sends notices on one channel to one receiver's target."""

    kind: str  # the config's ``kind``: email, webhook, alertmanager

    async def notify(self, notice: Notice) -> None:
        """Deliver ``notice``, or raise ``NotifyError``."""
        ...


@dataclass(frozen=True)
class Outcome:
    """How a delivery ended: sent, or the last error and whether it was worth retrying."""

    sent: bool
    attempts: int
    error: str = ""
    retryable: bool = False


async def deliver(notifier: Notifier, notice: Notice, *, attempts: int = 4, first_backoff: float = 0.5,
                  sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> Outcome:
    """Send with up to ``attempts`` tries, doubling the wait after each retryable failure."""
    wait = first_backoff
    for attempt in range(1, attempts + 1):
        try:
            await notifier.notify(notice)
            return Outcome(True, attempt)
        except NotifyError as exc:
            if not exc.retryable or attempt == attempts:
                log.warning("%s notice %s to %s failed after %d attempt(s): %s", notifier.kind, notice.key,
                            notice.delivers, attempt, exc)
                return Outcome(False, attempt, str(exc), exc.retryable)
            await sleep(wait)
            wait *= 2
    raise AssertionError("unreachable")
