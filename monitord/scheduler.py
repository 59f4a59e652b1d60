"""APScheduler jobs of the daemon: the timer job that wakes at the daemon's next instant.

The timer job is a one-shot date job, re-armed after every run and after
anything that may bring the next instant forward (an ingest, a reload), so a
deadline fires at its instant, not at the next poll. The next instant is the
earlier of the engine's next deadline and the next notice group due, so a
breach routed with ``group_wait: 0s`` is sent at its deadline too. Poll jobs (SNMP, ticket
databases) are interval jobs added next to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitord.config import DeviceAccess, SnmpSettings
from monitord.config.ticket_db import TicketDbSettings
from monitord.domain import Circuit, Inventory, TicketEvent
from monitord.sources.snmp import DevicePoll, SnmpTarget, SnmpUnreachable, ifindex_of
from monitord.sources.tickets_sql import MalformedRow, PollResult, PollStats, SqlTicketSource, Watermark
from monitord.storage.repo import Repository

log = logging.getLogger(__name__)

TIMER_JOB = "engine-timer"


class Timer:
    """Runs ``tick(now)`` at each instant ``next_instant()`` names, on the running event loop.

    On the loop itself, not in a worker thread: the tick shares the daemon's state with the
    HTTP API and the polls, and the notices it writes are sent by tasks on the loop.
    """

    def __init__(self, tick: Callable[[datetime], None], next_instant: Callable[[], datetime | None],
                 clock: Callable[[], datetime]) -> None:
        self._tick = tick
        self._next = next_instant
        self._clock = clock  # the only clock: the daemon's, passed in
        self.scheduler = AsyncIOScheduler(timezone=UTC)

    def start(self) -> None:
        """Start the scheduler (inside a running event loop) and arm the timer."""
        self.scheduler.start()
        self.rearm()

    def stop(self) -> None:
        """Stop without waiting for running jobs."""
        self.scheduler.shutdown(wait=False)

    def rearm(self) -> None:
        """Point the timer job at the engine's next instant (or remove it when there is none)."""
        at = self._next()
        if at is None:
            if self.scheduler.get_job(TIMER_JOB):
                self.scheduler.remove_job(TIMER_JOB)
            return
        # misfire_grace_time=None: an instant already past runs at once, never skipped. max_instances=2: a
        # run re-armed while the current one is finishing would otherwise be dropped as "already running".
        self.scheduler.add_job(self._run, "date", run_date=at, id=TIMER_JOB, replace_existing=True,
                               misfire_grace_time=None, max_instances=2)

    async def _run(self) -> None:
        # A coroutine job: APScheduler runs plain functions in its thread pool, coroutines on the loop.
        for _ in range(100):  # what came due meanwhile (a group due at the deadline it notifies) is taken now
            try:
                self._tick(self._clock())
            except Exception:  # a failing tick must not stop the timer for every other deadline
                log.exception("timer tick failed")
            at = self._next()
            if at is None or at > self._clock():
                break
        self.rearm()


class DevicePoller(Protocol):
    """What polls devices: ``SnmpPoller`` in the daemon's process, or ``WorkerPoller`` over processes."""

    async def poll_many(self, requests: Iterable[tuple[SnmpTarget, Iterable[int]]],
                        concurrency: int = 64) -> list[DevicePoll]:
        """Poll each device once; results in request order."""
        ...

    async def resolve_ifnames(self, target: SnmpTarget) -> dict[str, int]:
        """ifName -> ifIndex of one device; raises ``SnmpUnreachable``."""
        ...


class PollGroups:
    """SNMP poll jobs: the inventory's devices grouped by polling interval, one interval job per group.

    A device is polled as often as its most demanding circuit's class asks. Each
    run polls the group's devices with bounded concurrency (one GET per device)
    and hands the results to ``on_polls`` with the instant the round started.
    """

    def __init__(self, inventory: Inventory, settings: SnmpSettings, poller: DevicePoller,
                 on_polls: Callable[[list[DevicePoll], datetime], None], clock: Callable[[], datetime]) -> None:
        self._poller, self._on_polls, self._clock = poller, on_polls, clock
        self._ifnames: dict[str, dict[str, int]] = {}
        # Per device, (sysUpTime, ifTableLastChange) of its last poll: see _map_moved.
        self._stamps: dict[str, tuple[int | None, int | None]] = {}
        self._scheduler: AsyncIOScheduler | None = None
        self._group(inventory, settings)

    def _group(self, inventory: Inventory, settings: SnmpSettings) -> None:
        self._settings = settings
        devices: dict[tuple[str, int], list[Circuit]] = defaultdict(list)
        for c in inventory.circuits.values():
            if c.monitor is not None:
                devices[(c.monitor.host, c.monitor.port)].append(c)
        self.groups: dict[float, list[tuple[SnmpTarget, list[Circuit]]]] = defaultdict(list)
        self._circuits: dict[SnmpTarget, list[Circuit]] = {}
        for (host, port), circuits in sorted(devices.items()):
            every = min(settings.interval(c.sla_class.value) for c in circuits)
            target = self._target(host, port)
            self.groups[every].append((target, circuits))
            self._circuits[target] = circuits

    def _target(self, host: str, port: int) -> SnmpTarget:
        s = self._settings
        a = s.devices.get(f"{host}:{port}") or DeviceAccess()
        return SnmpTarget(host, port, "3" if a.version == "3" else "2c", a.community or s.community, a.user,
                          a.auth_key, a.auth_protocol, a.priv_key, a.priv_protocol,
                          s.timeout if a.timeout is None else a.timeout, s.retries if a.retries is None else a.retries)

    def add_jobs(self, scheduler: AsyncIOScheduler) -> None:
        """One interval job per group, the first run at once."""
        self._scheduler = scheduler
        for every, members in self.groups.items():
            scheduler.add_job(self.poll, "interval", seconds=every, args=[members], id=f"snmp-poll-{every:g}s",
                              next_run_time=self._clock(), max_instances=1, coalesce=True, replace_existing=True)

    def reload(self, inventory: Inventory, settings: SnmpSettings) -> None:
        """Follow a new inventory and SNMP settings: regroup the devices and replace the jobs.

        The ifName maps walked so far are kept: a device's map does not depend on
        the inventory, and a stale one is walked again as usual.
        """
        old = set(self.groups)
        self._group(inventory, settings)
        if self._scheduler is not None:
            for every in old - set(self.groups):
                self._scheduler.remove_job(f"snmp-poll-{every:g}s")
            self.add_jobs(self._scheduler)

    def circuits_of(self, poll: DevicePoll) -> tuple[list[Circuit], dict[str, int]]:
        """The circuits on a polled device and its known ifName -> ifIndex map."""
        t = poll.target
        return self._circuits.get(t, []), self._ifnames.get(f"{t.host}:{t.port}", {})

    async def poll(self, members: list[tuple[SnmpTarget, list[Circuit]]]) -> None:
        """Poll one group's devices and hand over the results.

        A device whose ifIndex map may have moved since it was walked (see
        ``_map_moved``) is walked again and polled again in the same round, so
        that no state is handed over under a stale ifIndex.
        """
        started = self._clock()
        results = await self._poll(members, fresh=False)
        moved = [k for k, r in enumerate(results) if self._map_moved(r, members[k][1])]
        if moved:
            again = await self._poll([members[k] for k in moved], fresh=True)
            for k, r in zip(moved, again, strict=True):
                results[k] = r
                self._map_moved(r, members[k][1])  # remember the stamps the new map goes with
        self._on_polls(results, started)

    async def _poll(self, members: list[tuple[SnmpTarget, list[Circuit]]], fresh: bool) -> list[DevicePoll]:
        requests = []
        for target, circuits in members:
            names = await self._names(target, circuits, fresh)
            indexes = [i for c in circuits if c.monitor and (i := ifindex_of(c.monitor, names)) is not None]
            requests.append((target, indexes))
        return await self._poller.poll_many(requests, self._settings.concurrency)

    def _map_moved(self, poll: DevicePoll, circuits: list[Circuit]) -> bool:
        """Whether the device's ifIndexes may have been renumbered since its previous poll.

        They may when ifTableLastChange moved (an interface came or went) or
        sysUpTime went back (the agent restarted; ifIndexes need not survive
        that). Only devices with circuits monitored by ifName care.
        """
        if not poll.reachable:
            return False
        key = f"{poll.target.host}:{poll.target.port}"
        before = self._stamps.get(key)
        uptime, changed = self._stamps[key] = (poll.uptime, poll.if_table_changed)
        if before is None or not any(c.monitor and c.monitor.ifname for c in circuits):
            return False
        restarted = uptime is not None and before[0] is not None and uptime < before[0]
        return restarted or (changed is not None and before[1] is not None and changed != before[1])

    async def _names(self, target: SnmpTarget, circuits: list[Circuit], fresh: bool = False) -> dict[str, int]:
        """The device's ifName map: walked once, again when a monitored name is missing, and when ``fresh``."""
        key = f"{target.host}:{target.port}"
        wanted = {c.monitor.ifname for c in circuits if c.monitor and c.monitor.ifname}
        known = self._ifnames.get(key, {})
        if wanted and (fresh or not wanted <= known.keys()):
            # An unreachable device keeps its old map: the poll itself reports it unreachable.
            with contextlib.suppress(SnmpUnreachable):
                known = self._ifnames[key] = await self._poller.resolve_ifnames(target)
        return known


class Rejection(Protocol):
    """An event the daemon would not take: its index in the batch and why (``app.Rejected``)."""

    @property
    def index(self) -> int: ...

    @property
    def message(self) -> str: ...


class Ingested(Protocol):
    """What the daemon did with a batch of polled events (``app.IngestResult``)."""

    @property
    def rejected(self) -> Sequence[Rejection]: ...


TicketIngest = Callable[[Sequence[TicketEvent], datetime], Ingested]
"""Stores and applies the events it takes, skipping the ones it rejects (``app.Daemon.ingest_each``)."""

MAX_BATCHES_PER_ROUND = 20
"""Batches read before they are stored: a long backlog is taken in rounds, so memory and each
stretch of work on the event loop stay bounded."""


class TicketDbPolls:
    """Ticket database jobs: one interval job per configured database, polled by its watermark.

    Each run reads the rows changed since the stored watermark in a worker
    thread (the query blocks), hands the events to the daemon on the loop, and
    saves the new watermark only once they are stored: a crash in between reads
    the rows again, and storage drops the repeats. Malformed and rejected rows
    are logged with their key, counted and skipped. A failing database is
    logged and counted, and tried again at the next interval.
    """

    def __init__(self, settings: Mapping[str, TicketDbSettings], ingest: TicketIngest, repo: Repository,
                 clock: Callable[[], datetime], after_ingest: Callable[[], None]) -> None:
        self._ingest, self._repo, self._clock, self._after_ingest = ingest, repo, clock, after_ingest
        self._settings = dict(settings)
        self._sources: dict[str, SqlTicketSource] = {}  # built at the first poll, so a bad driver is a poll error
        self._scheduler: AsyncIOScheduler | None = None
        self.stats = {name: PollStats() for name in settings}

    def add_jobs(self, scheduler: AsyncIOScheduler) -> None:
        """One interval job per database, the first run at once."""
        self._scheduler = scheduler
        for name, s in self._settings.items():
            scheduler.add_job(self.poll, "interval", seconds=s.interval.total_seconds(), args=[name],
                              id=f"ticket-db-{name}", next_run_time=self._clock(), max_instances=1, coalesce=True,
                              misfire_grace_time=None, replace_existing=True)

    def reload(self, settings: Mapping[str, TicketDbSettings]) -> None:
        """Follow new settings: databases removed or changed are dropped, new or changed ones (re)scheduled.

        The stored watermark is kept by name, so a changed database resumes where it was.
        """
        for name in [n for n, s in self._settings.items() if settings.get(n) != s]:
            del self._settings[name], self.stats[name]
            if (source := self._sources.pop(name, None)) is not None:
                source.close()
            if self._scheduler is not None and self._scheduler.get_job(f"ticket-db-{name}"):
                self._scheduler.remove_job(f"ticket-db-{name}")
        for name, s in settings.items():
            if name not in self._settings:
                self._settings[name], self.stats[name] = s, PollStats()
        if self._scheduler is not None:
            self.add_jobs(self._scheduler)

    def close(self) -> None:
        """Release every database's connections."""
        for source in self._sources.values():
            source.close()
        self._sources.clear()

    async def poll(self, name: str) -> None:
        """Read one database's changed rows off the loop and ingest them, round after round until none is left."""
        settings = self._settings.get(name)
        if settings is None:
            return  # dropped by a reload after this run was due
        stats = self.stats[name]
        try:
            source = self._sources.get(name)
            if source is None:
                source = self._sources[name] = SqlTicketSource(settings)
            more = True
            while more:
                saved = self._repo.watermark(name)
                since = Watermark.load(saved) if saved is not None else None
                result, more = await asyncio.to_thread(_read, source, since)
                self._take(name, result, since, stats)
        except Exception as exc:  # unreachable, broken query, storage down: the next interval tries again
            stats.errors += 1
            log.error("ticket database %s: poll failed, retrying at the next interval: %s", name, exc)
            return
        stats.last_success = self._clock().timestamp()

    def _take(self, name: str, result: PollResult, since: Watermark | None, stats: PollStats) -> None:
        """Ingest one round's events, then save its watermark."""
        rejected: Sequence[Rejection] = ()
        if result.events:
            rejected = self._ingest(result.events, self._clock()).rejected
            for r in rejected:
                log.warning("ticket database %s: skipping row %s: %s", name, result.keys[r.index], r.message)
            self._after_ingest()  # an event may bring the engine's next instant forward
        if result.watermark != since:
            self._repo.save_watermark(name, result.watermark.dump())
        # Counted once stored: a round that fails before is read, and counted, again.
        stats.ingested += len(result.events) - len(rejected)
        stats.rejected += len(rejected)
        stats.malformed += len(result.malformed)


def _read(source: SqlTicketSource, since: Watermark | None) -> tuple[PollResult, bool]:
    """Up to ``MAX_BATCHES_PER_ROUND`` batches changed since ``since``, and whether more may follow."""
    events: list[TicketEvent] = []
    keys: list[str] = []
    malformed: list[MalformedRow] = []
    watermark = since or Watermark(source.settings.start)
    # closing(): stopping early must close the cursor in this thread, not whenever the generator is collected.
    with contextlib.closing(source.batches(since)) as parts:
        for n, part in enumerate(parts, 1):
            events += part.events
            keys += part.keys
            malformed += part.malformed
            watermark = part.watermark
            if n == MAX_BATCHES_PER_ROUND:
                return PollResult(events, watermark, malformed, keys), True
    return PollResult(events, watermark, malformed, keys), False
