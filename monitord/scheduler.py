"""APScheduler jobs of the daemon: the timer job that wakes at the engine's next instant.

The timer job is a one-shot date job, re-armed after every run and after
anything that may bring the next instant forward (an ingest, a reload), so a
deadline fires at its instant, not at the next poll. Poll jobs (SNMP, ticket
databases) are interval jobs added next to it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

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
