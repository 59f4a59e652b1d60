"""The outbox: notices written to the notification log before they are sent, sent off the daemon's path, marked after.

One entry per notice and notifier of the receiver that gets it (a receiver
with a webhook and an e-mail has two), so a notifier that fails is retried
alone and never repeats the others. The daemon writes the entries in the
same transaction as the alert transitions that made them (``entries``), then
hands them to ``Outbox.submit``, which sends each on the event loop and
records how it ended (``OutboxStore.mark_notices``):

- sent: ``sent_at`` is set; the entry is done.
- a retryable failure (refused connection, 5xx) after ``deliver``'s quick
  retries: the entry stays unsent and is tried again later, the wait doubling
  from ``retry_after`` up to ``retry_max``, until it is ``give_up_after`` old;
  then it is marked failed.
- a failure that will not heal (4xx, a rejected address) or a notifier no
  longer configured: marked failed at once, with the error.

At start-up the daemon submits every entry still unsent, so a crash between
the write and the send (or before the mark) sends it again: at least once,
never lost. A crash after the receiver took it but before the mark is the one
case where it is sent twice; the second carries the same ``Notice.key``
(the webhook's ``Idempotency-Key``), so a receiver that keeps the keys it has
seen takes it once. Sends and failures are counted per receiver and result.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from monitord.alerting.dispatch import Due
from monitord.alerting.notice import Notice
from monitord.alerting.notify.base import Notifier, NotifyStats, deliver
from monitord.config.alerting import NotifierSettings, ReceiverSettings

log = logging.getLogger(__name__)


def channel_of(settings: NotifierSettings) -> str:
    """A notifier's identity within its receiver, kept across reloads: its kind and where it sends."""
    target = getattr(settings, "url", None) or ",".join(getattr(settings, "urls", ()) or getattr(settings, "to", ()))
    return f"{settings.kind}:{target or 'person'}"


@dataclass(frozen=True)
class OutboxEntry:
    """One notice to one notifier of its receiver, as written to the notification log before it is sent."""

    key: str  # the entry's own key: the notice's idempotency key and the channel, hashed
    receiver: str  # the receiver that gets it (``Notice.delivers``)
    channel: str  # ``channel_of`` the notifier
    group_key: str  # the dispatcher's group, so the log says what each group was last told
    payload: str  # ``Notice.to_json``
    created_at: datetime
    attempts: int = 0


class Pending(Protocol):
    """An entry still to send, as written or as read back from storage."""

    @property
    def key(self) -> str: ...

    @property
    def receiver(self) -> str: ...

    @property
    def channel(self) -> str: ...

    @property
    def payload(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def attempts(self) -> int: ...


@dataclass(frozen=True)
class SendResult:
    """How a round of sending one entry ended: sent, failed for good, or (neither) to be tried again."""

    key: str
    attempts: int  # in all rounds so far
    sent_at: datetime | None = None
    failed_at: datetime | None = None
    error: str = ""


class OutboxStore(Protocol):
    """Where the outcome of each send is recorded (``storage.repo.Repository``)."""

    def mark_notices(self, results: Sequence[SendResult]) -> None:
        """Record each result on its entry."""
        ...


NotifierFactory = Callable[[ReceiverSettings, NotifierSettings], Notifier]
"""Builds the notifier of one of a receiver's notifier settings (from ``notify.NOTIFIERS``)."""


def entries(due: Iterable[Due], receivers: Mapping[str, ReceiverSettings], now: datetime) -> list[OutboxEntry]:
    """The outbox entries of notices: one per notifier of each notice's receiver.

    A notifier with ``send_resolved: false`` gets no notice that only tells of resolved alerts.
    """
    out: list[OutboxEntry] = []
    for d in due:
        notice = d.notice
        receiver = receivers.get(notice.delivers)
        if receiver is None or not receiver.notifiers:
            log.warning("notice %s: receiver %s has no notifiers; nothing sent", notice.key, notice.delivers)
            continue
        payload = notice.to_json()
        for settings in receiver.notifiers:
            if not notice.firing and not getattr(settings, "send_resolved", True):
                continue
            channel = channel_of(settings)
            key = hashlib.sha256(f"{notice.key}\n{channel}".encode()).hexdigest()
            out.append(OutboxEntry(key, notice.delivers, channel, d.group_key, payload, now))
    return out


@dataclass
class _Job:
    entry: Pending
    attempts: int
    rounds: int = 0


class Outbox:
    """Sends outbox entries on the running event loop, retrying later what may succeed later.

    ``clock`` stamps ``sent_at`` and measures an entry's age: sending is I/O at
    the edge of the daemon, and the instants it records are the real ones.
    """

    def __init__(self, store: OutboxStore, build: NotifierFactory, receivers: Mapping[str, ReceiverSettings],
                 clock: Callable[[], datetime], *, concurrency: int = 32, attempts: int = 4,
                 first_backoff: float = 0.5, retry_after: timedelta = timedelta(seconds=30),
                 retry_max: timedelta = timedelta(minutes=10), give_up_after: timedelta = timedelta(hours=24),
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, stats: NotifyStats | None = None) -> None:
        self._store, self._build, self._clock, self._sleep, self._stats = store, build, clock, sleep, stats
        self._loop = asyncio.get_running_loop()  # built on the loop; submit may be called from another thread
        self._thread = threading.get_ident()
        self._receivers = dict(receivers)
        self._notifiers: dict[tuple[str, str], Notifier] = {}
        self._limit = asyncio.Semaphore(concurrency)
        self._attempts, self._first_backoff = attempts, first_backoff
        self._retry_after, self._retry_max, self._give_up_after = retry_after, retry_max, give_up_after
        self._jobs: dict[str, _Job] = {}  # every entry not yet sent or failed: sending, or waiting to retry
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._results: list[SendResult] = []
        self.counts: Counter[tuple[str, str]] = Counter()  # (receiver, result) -> notices
        """Per receiver: ``sent``; ``failed`` (given up); ``retry`` (a round that failed and will be tried again)."""

    @property
    def backlog(self) -> int:
        """Entries written and not yet sent or given up (sending now or waiting to be retried)."""
        return len(self._jobs)

    def reconfigure(self, receivers: Mapping[str, ReceiverSettings], build: NotifierFactory | None = None) -> None:
        """Follow a reload: entries not yet sent go to the notifiers as now configured."""
        self._receivers = dict(receivers)
        self._build = build or self._build
        self._notifiers.clear()

    def submit(self, pending: Iterable[Pending]) -> None:
        """Send these entries (each once, however often it is submitted before it is done)."""
        if threading.get_ident() != self._thread:
            self._loop.call_soon_threadsafe(self.submit, list(pending))
            return
        for entry in pending:
            if entry.key not in self._jobs:
                self._jobs[entry.key] = _Job(entry, entry.attempts)
                self._start(entry.key)

    async def drain(self) -> None:
        """Wait until nothing is being sent (entries waiting for a retry do not count)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._flush()

    def close(self) -> None:
        """Stop: cancel sends in flight and retries (their entries stay unsent in the log)."""
        for timer in self._timers.values():
            timer.cancel()
        for task in self._tasks:
            task.cancel()
        self._flush()

    # internals --------------------------------------------------------------
    def _start(self, key: str) -> None:
        self._timers.pop(key, None)
        task = self._loop.create_task(self._send(self._jobs[key]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _notifier(self, receiver: str, channel: str) -> Notifier | None:
        found = self._notifiers.get((receiver, channel))
        if found is None:
            settings = self._receivers.get(receiver)
            match = [n for n in settings.notifiers if channel_of(n) == channel] if settings else []
            if settings is None or not match:
                return None
            found = self._notifiers[(receiver, channel)] = self._build(settings, match[0])
        return found

    async def _send(self, job: _Job) -> None:
        entry = job.entry
        try:
            notice = Notice.from_json(entry.payload)
            notifier = self._notifier(entry.receiver, entry.channel)
            if notifier is None:
                self._done(job, False, f"no notifier {entry.channel} in receiver {entry.receiver} any more")
                return
            async with self._limit:
                outcome = await deliver(notifier, notice, attempts=self._attempts, first_backoff=self._first_backoff,
                                        sleep=self._sleep, stats=self._stats)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a notifier bug must not stop the outbox; retried like a retryable failure
            log.exception("notice %s to %s: notifier raised", entry.key, entry.receiver)
            job.attempts += 1
            self._retry(job, f"{type(exc).__name__}: {exc}")
            return
        job.attempts += outcome.attempts
        if outcome.sent:
            self._done(job, True)
        elif outcome.retryable:
            self._retry(job, outcome.error)
        else:
            self._done(job, False, outcome.error)

    def _retry(self, job: _Job, error: str) -> None:
        entry, now = job.entry, self._clock()
        if now - entry.created_at >= self._give_up_after:
            self._done(job, False, f"gave up after {job.attempts} attempts: {error}")
            return
        self.counts[(entry.receiver, "retry")] += 1
        self._record(SendResult(entry.key, job.attempts, error=error))
        wait = min(self._retry_after * (2 ** job.rounds), self._retry_max)
        job.rounds += 1
        log.info("notice %s to %s: retrying in %s", entry.key, entry.receiver, wait)
        self._timers[entry.key] = self._loop.call_later(wait.total_seconds(), self._start, entry.key)

    def _done(self, job: _Job, sent: bool, error: str = "") -> None:
        entry, now = job.entry, self._clock()
        del self._jobs[entry.key]
        self.counts[(entry.receiver, "sent" if sent else "failed")] += 1
        if not sent:
            log.error("notice %s to %s (%s) failed: %s", entry.key, entry.receiver, entry.channel, error)
        self._record(SendResult(entry.key, job.attempts, now if sent else None, None if sent else now, error))

    def _record(self, result: SendResult) -> None:
        # Marks are written in batches, one transaction per turn of the loop: a flood sends thousands at once.
        if not self._results:
            self._loop.call_soon(self._flush)
        self._results.append(result)

    def _flush(self) -> None:
        results, self._results = self._results, []
        if not results:
            return
        try:
            self._store.mark_notices(results)
        except Exception:  # the entries stay unsent in the log: sent again after a restart, not lost
            log.exception("could not mark %d notices; they will be sent again after a restart", len(results))
