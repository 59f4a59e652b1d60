"""SNMP polling spread over worker processes, for fleets one core cannot poll in time.

Each worker process runs its own event loop and ``SnmpPoller`` (so one
SnmpEngine and one v2c socket per worker), and polls a share of the devices;
results come back to the daemon's process as ``DevicePoll`` values. The v2c
path needs about 12 ms of CPU per 1,000 statuses and seldom needs this;
SNMPv3 through pysnmp needs about 600 ms, so a fleet polled over v3 needs
about one worker per 1,700 statuses a second (``bench/poll.py --workers``).
Workers are started with ``spawn``: forking a process that runs an event loop
and a web server would copy their state into the children.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor

from monitord.sources.snmp import DevicePoll, SnmpPoller, SnmpTarget

_loop: asyncio.AbstractEventLoop | None = None
_poller: SnmpPoller | None = None


def _start() -> None:
    """Worker initializer: the worker's own loop and poller, kept for its lifetime."""
    global _loop, _poller
    _loop = asyncio.new_event_loop()
    _poller = SnmpPoller()


def _poll(requests: Sequence[tuple[SnmpTarget, list[int]]], concurrency: int) -> list[DevicePoll]:
    assert _loop is not None and _poller is not None
    return _loop.run_until_complete(_poller.poll_many(requests, concurrency))


def _resolve(target: SnmpTarget) -> dict[str, int]:
    assert _loop is not None and _poller is not None
    return _loop.run_until_complete(_poller.resolve_ifnames(target))


class WorkerPoller:
    """``SnmpPoller``'s ``poll_many`` and ``resolve_ifnames``, run in ``workers`` processes.

    Requests are dealt round-robin to the workers, each polling its share with
    ``concurrency / workers`` devices at once; results keep the request order.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start)

    async def poll_many(self, requests: Iterable[tuple[SnmpTarget, Iterable[int]]],
                        concurrency: int = 64) -> list[DevicePoll]:
        """Poll every device once, spread over the workers; results in request order."""
        flat = [(t, list(i)) for t, i in requests]
        shares = [flat[k::self.workers] for k in range(self.workers)]
        each = max(1, concurrency // self.workers)
        loop = asyncio.get_running_loop()
        parts = await asyncio.gather(*(loop.run_in_executor(self._pool, _poll, share, each)
                                       for share in shares if share))
        out: list[DevicePoll] = [None] * len(flat)  # type: ignore[list-item]  # every slot is filled below
        for k, part in enumerate(parts):  # share k held requests k, k + workers, ...
            out[k::self.workers] = part
        return out

    async def resolve_ifnames(self, target: SnmpTarget) -> dict[str, int]:
        """ifName -> ifIndex of one device, walked in a worker; raises ``SnmpUnreachable`` as the poller does."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, _resolve, target)

    def pids(self) -> list[int]:
        """The worker processes' ids (for CPU accounting in ``bench/poll.py``)."""
        return list(self._pool._processes or {})  # the executor keeps them by pid

    def close(self) -> None:
        """Stop the workers."""
        self._pool.shutdown(wait=True, cancel_futures=True)
