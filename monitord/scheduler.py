"""APScheduler jobs of the daemon: the timer job that wakes at the engine's next instant.

The timer job is a one-shot date job, re-armed after every run and after
anything that may bring the next instant forward (an ingest, a reload), so a
deadline fires at its instant, not at the next poll. Poll jobs (SNMP, ticket
databases) are interval jobs added next to it.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitord.config import SnmpSettings
from monitord.domain import Circuit, Inventory
from monitord.sources.snmp import DevicePoll, SnmpPoller, SnmpTarget, SnmpUnreachable, ifindex_of

log = logging.getLogger(__name__)

TIMER_JOB = "engine-timer"


class Timer:
    """Runs ``tick(now)`` at each instant ``next_instant()`` names, on the running event loop."""

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
        # misfire_grace_time=None: an instant already past runs at once, never skipped.
        self.scheduler.add_job(self._run, "date", run_date=at, id=TIMER_JOB, replace_existing=True,
                               misfire_grace_time=None)

    def _run(self) -> None:
        try:
            self._tick(self._clock())
        except Exception:  # a failing tick must not stop the timer for every other deadline
            log.exception("timer tick failed")
        self.rearm()


class PollGroups:
    """SNMP poll jobs: the inventory's devices grouped by polling interval, one interval job per group.

    A device is polled as often as its most demanding circuit's class asks. Each
    run polls the group's devices with bounded concurrency (one GET per device)
    and hands the results to ``on_polls`` with the instant the round started.
    """

    def __init__(self, inventory: Inventory, settings: SnmpSettings, poller: SnmpPoller,
                 on_polls: Callable[[list[DevicePoll], datetime], None], clock: Callable[[], datetime]) -> None:
        self._settings, self._poller, self._on_polls, self._clock = settings, poller, on_polls, clock
        self._ifnames: dict[str, dict[str, int]] = {}
        # Per device, (sysUpTime, ifTableLastChange) of its last poll: see _map_moved.
        self._stamps: dict[str, tuple[int | None, int | None]] = {}
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
        access = s.devices.get(f"{host}:{port}")
        if access is None:
            return SnmpTarget(host, port, community=s.community, timeout=s.timeout, retries=s.retries)
        return SnmpTarget(host, port, "3" if access.version == "3" else "2c", access.community, access.user,
                          access.auth_key, access.auth_protocol, access.priv_key, access.priv_protocol,
                          s.timeout, s.retries)

    def add_jobs(self, scheduler: AsyncIOScheduler) -> None:
        """One interval job per group, the first run at once."""
        for every, members in self.groups.items():
            scheduler.add_job(self.poll, "interval", seconds=every, args=[members], id=f"snmp-poll-{every:g}s",
                              next_run_time=self._clock(), max_instances=1, coalesce=True)

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
        if wanted and not wanted <= known.keys():
            # An unreachable device keeps its old map: the poll itself reports it unreachable.
            with contextlib.suppress(SnmpUnreachable):
                known = self._ifnames[key] = await self._poller.resolve_ifnames(target)
        return known
