"""Scrape benchmark: ``/metrics`` of a daemon with 100,000 circuits and 20,000 open tickets.

Builds the daemon core on bench/engine.py's data (a year of closed tickets, the
open ones, no stored events: the facts are folded in memory), then prints:
- the exporter's view built at start-up (every circuit's month-to-date outage
  spans, every open ticket's next deadline);
- one scrape: the snapshot on the event loop, the text written in the worker
  thread, bytes and series;
- a scrape after 1,000 new events (only the circuits and tickets they touch
  are computed again) and the first scrape of the next month;
- the same snapshot written by prometheus_client (``StateCollector`` and
  ``generate_latest``), for comparison;
- a scrape through HTTP (uvicorn on the loop, as the daemon serves it), with
  the longest the event loop went without running a 10 ms ticker meanwhile;
- peak RSS.

Run: python3 bench/scrape.py [--circuits N] [--open N] [--closed N] [--devices N]
It is not a timed test: it prints figures for the closing note of an issue.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

# This tree's monitord (an installed one may be another checkout's), and bench/ for engine.py.
sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

import engine as data  # noqa: E402  (bench/engine.py: the generator of circuits and tickets)

from monitord import api, exporter  # noqa: E402
from monitord.app import Daemon, DaemonBackend, Loaded, State, load  # noqa: E402
from monitord.domain import TicketEvent, TicketEventType  # noqa: E402
from monitord.scheduler import Timer  # noqa: E402
from monitord.sdnotify import Notifier  # noqa: E402
from monitord.sla.facts import Facts  # noqa: E402
from monitord.storage.repo import Repository  # noqa: E402


class Clock:
    """The daemon's clock, moved by the benchmark."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def build(folder: Path, args: argparse.Namespace, clock: Clock) -> tuple[DaemonBackend, list[str]]:
    """A daemon core over the generated inventory and facts, and the open ticket ids."""
    rng = random.Random(20261020)
    cfg = folder / "monitord.yaml"
    cfg.write_text(f"rules: {data.ROOT / 'rules'}\nstorage: sqlite:///{folder / 'state.db'}\n", encoding="utf-8")
    base = load(cfg)
    inv = data.inventory(args.circuits, rng)
    events, open_ids = data.history(inv, args.open, args.closed, rng)
    loaded = Loaded(base.settings, base.policy, inv)
    print(f"data: {len(inv.circuits):,} circuits, {len(open_ids):,} open + {args.closed:,} closed tickets, "
          f"{len(events):,} events")
    gc.disable()  # as the daemon's start-up: no cyclic GC passes over millions of new objects
    daemon = Daemon(loaded, Repository.open(loaded.settings.storage), clock())
    facts = Facts(inv)
    for e in events:
        facts.load(e)
    daemon.state = State(loaded, facts, clock(), daemon.reachability)
    # Device polls: reachability and counts as a poll round leaves them.
    for i in range(args.devices):
        device = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}:161"
        ok = i % 97 != 0
        daemon.reachability.observe(device, ok, clock())
        daemon.polls.observe(device, 0.004 + (i % 50) / 1000 if ok else 2.0, not ok)
    t0 = time.perf_counter()
    backend = DaemonBackend(daemon, Timer(daemon.tick, daemon.next_instant, clock), cfg, clock, Notifier({}))
    print(f"exporter view built at start-up: {time.perf_counter() - t0:.2f} s "
          f"({backend._view.computed if backend._view else 0:,} rows)")
    gc.freeze()
    gc.enable()
    return backend, open_ids


def one_scrape(backend: DaemonBackend, label: str) -> bytes:
    """Time the snapshot and the writing of one scrape; print them."""
    view = backend._view
    computed = view.computed if view else 0
    t0 = time.perf_counter()
    snapshot = backend.snapshot()
    t1 = time.perf_counter()
    body = exporter.exposition(snapshot)
    t2 = time.perf_counter()
    again = (backend._view.computed if backend._view else 0) - (computed if backend._view is view else 0)
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    print(f"{label}: snapshot on the loop {(t1 - t0) * 1e3:.1f} ms ({again:,} rows computed again), "
          f"text in the worker {t2 - t1:.2f} s; whole {t2 - t0:.2f} s, {len(body) / 1e6:.1f} MB, {series:,} series")
    return body


async def over_http(backend: DaemonBackend) -> None:
    """One GET /metrics through uvicorn on this loop, with a ticker watching the loop meanwhile."""
    settings = api.ApiSettings("127.0.0.1", 0)
    server = api.ApiServer(api.build_app(backend, settings), settings)
    serving = asyncio.create_task(server.serve())
    await asyncio.sleep(0.2)
    worst = 0.0
    done = False

    async def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            worst = max(worst, now - last - 0.01)
            last = now

    def get() -> bytes:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{server.url}/metrics", timeout=60) as response:
            body: bytes = response.read()
            return body

    watching = asyncio.create_task(ticker())
    t0 = time.perf_counter()
    body = await asyncio.to_thread(get)
    took = time.perf_counter() - t0
    done = True
    await watching
    print(f"through HTTP: GET /metrics {took:.2f} s, {len(body) / 1e6:.1f} MB; the event loop's longest wait "
          f"meanwhile {worst * 1e3:.0f} ms (the GIL is shared with the writer thread)")
    server.stop()
    await serving


def main() -> None:
    """Build the data, run the scrapes and print their figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--circuits", type=int, default=100_000)
    ap.add_argument("--open", type=int, default=20_000)
    ap.add_argument("--closed", type=int, default=200_000)
    ap.add_argument("--devices", type=int, default=5_000)
    args = ap.parse_args()
    clock = Clock(data.NOW)
    with tempfile.TemporaryDirectory() as tmp:
        backend, open_ids = build(Path(tmp), args, clock)
        print(f"RSS after start-up: {data.rss_mib():,.0f} MiB (peak)")
        one_scrape(backend, "first scrape")
        one_scrape(backend, "second scrape")
        snapshot = backend.snapshot()
        t0 = time.perf_counter()
        exporter.client_exposition(snapshot)
        print(f"the same snapshot through prometheus_client's writer (StateCollector): "
              f"{time.perf_counter() - t0:.2f} s")

        steps = [TicketEventType.DISPATCHED, TicketEventType.ACCEPTED, TicketEventType.RESTORED]
        t = clock.now
        for i in range(1_000):
            t += timedelta(milliseconds=100)
            backend.daemon.ingest([TicketEvent(t, steps[i % 3], open_ids[(i * 7) % len(open_ids)])], t)
        clock.now = t + timedelta(seconds=1)
        one_scrape(backend, "after 1,000 events")

        local = data.NOW.astimezone(data.TZ)
        clock.now = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, 0, 5, tzinfo=data.TZ)
        one_scrape(backend, "first scrape of the next month")
        asyncio.run(over_http(backend))
        print(f"peak RSS: {data.rss_mib():,.0f} MiB")
        backend.daemon.repo.close()


if __name__ == "__main__":
    main()
