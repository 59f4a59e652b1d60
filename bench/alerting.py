"""Alerting benchmark: 100,000 alerts firing through the routing tree and grouping to a local webhook.

The tree is bench/route.py's (21 cities x the shipped example's routes, 20,000 customers), with one
webhook receiver behind every route so that each notice is a real HTTP POST to a local server. Prints:

- routed: alerts/s taken by the dispatcher (routing + grouping, ``Dispatcher.take``);
- flushed: the groups flushed into notices (``Dispatcher.due``) and written to a SQLite outbox;
- sent: notices/s POSTed through the outbox and the webhook notifier, each marked sent;
- latency: for an AAA breach alone, from its deadline to its notice arriving at the webhook,
  through the real daemon path (engine timer -> dispatcher -> outbox -> webhook), median and max
  over several runs.

Run: python3 bench/alerting.py [--alerts N]
It is not a timed test: it prints figures for the closing note of an issue.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import route as route_bench  # bench/route.py: the tree and the alert label sets

from monitord.alerting.dispatch import Dispatcher
from monitord.alerting.notify import Notifiers, NotifyStats
from monitord.alerting.outbox import Outbox, entries
from monitord.alerting.route import Router
from monitord.app import Daemon, load
from monitord.config.alerting import alerting_settings
from monitord.domain import (
    Alert,
    AlertKey,
    AlertState,
    Customer,
    CustomerLevel,
    Person,
    TicketEvent,
    TicketEventType,
    TicketSource,
)
from monitord.scheduler import Timer
from monitord.storage.repo import Repository
from monitord.yamldoc import Problems, Section
from tests.hook import Hook

ROOT = Path(__file__).resolve().parent.parent


def webhook_tree(url: str) -> str:
    """bench/route.py's tree with every receiver's notifiers replaced by one webhook to ``url``."""
    return re.sub(r"notifiers: \[.*\]", f'notifiers: [{{kind: webhook, url: "{url}"}}]', route_bench.config())


async def throughput(n: int, send: int) -> None:
    rng = random.Random(7)
    customers = {
        f"CUST-{i:06d}": Customer(f"CUST-{i:06d}", f"Customer {i}", CustomerLevel.LOCAL_B,
                                  Person(f"AM {i % 500}", f"am{i % 500}@example.com"),
                                  Person(f"Contact {i}", f"it@c{i}.example.com") if i % 3 else None)
        for i in range(20_000)}
    with Hook() as hook, tempfile.TemporaryDirectory() as tmp:
        problems = Problems()
        sec = Section.parse(webhook_tree(hook.url), "bench.yaml", problems).get("alerting", required=True)
        settings = alerting_settings(sec) if sec else None
        problems.raise_if_any()
        assert settings is not None
        now = datetime.now(UTC)
        alerts = []
        for labels in route_bench.label_sets(n, len(customers), rng):
            name = labels.pop("alertname")
            alerts.append(Alert(AlertKey(name, tuple(sorted(labels.items()))), AlertState.FIRING, fired_at=now))
        gc.freeze()  # as the daemon does after its cold start: the alerts are long-lived
        d = Dispatcher(Router(settings, customers.get))
        t = time.perf_counter()
        d.take(alerts, now)
        routed = time.perf_counter() - t
        print(f"routed:  {n:,} alerts in {routed:.2f} s = {n / routed:,.0f} alerts/s (routing + grouping) "
              f"into {len(d.groups):,} groups")

        repo = Repository.open(f"sqlite:///{tmp}/state.db")
        t = time.perf_counter()
        due = d.due(now + timedelta(seconds=30))  # past every group_wait of the tree
        out = entries(due, settings.receivers, now)
        repo.record_notices(out)
        flushed = time.perf_counter() - t
        print(f"flushed: {len(due):,} notices in {flushed:.2f} s = {len(due) / flushed:,.0f} notices/s "
              f"made and written to the SQLite outbox")

        outbox = Outbox(repo, Notifiers(settings, stats=NotifyStats()), settings.receivers,
                        lambda: datetime.now(UTC), concurrency=64)
        batch = out[:send]
        t = time.perf_counter()
        outbox.submit(batch)
        await outbox.drain()
        sent = time.perf_counter() - t
        assert len(hook.received) == len(batch), "not every notice arrived"
        assert len(repo.unsent_notices()) == len(out) - len(batch), "not every sent notice was marked"
        print(f"sent:    {len(batch):,} of them POSTed to the local webhook and marked sent in {sent:.2f} s "
              f"= {len(batch) / sent:,.0f} notices/s")
        repo.close()


async def latency_once(home: Path, hook: Hook) -> float:
    clock = lambda: datetime.now(UTC)  # noqa: E731
    loaded = load(home / "monitord.yaml")
    assert loaded.settings.alerting is not None
    repo = Repository.open(loaded.settings.storage)
    now = clock()
    daemon = Daemon(loaded, repo, now)
    outbox = Outbox(repo, Notifiers(loaded.settings.alerting), loaded.settings.alerting.receivers, clock)
    daemon.send = outbox.submit
    timer = Timer(daemon.tick, daemon.next_instant, clock)
    timer.start()
    # An AAA circuit reported 60 minutes minus 0.5 s ago: the restoration limit is breached 0.5 s from now.
    due = now + timedelta(seconds=0.5)
    before = len(hook.about("RestoreBreached"))
    daemon.ingest([TicketEvent(due - timedelta(minutes=60), TicketEventType.REPORTED, "T-LAT", "GZ-SDH-000123",
                               TicketSource.CUSTOMER),
                   TicketEvent(due - timedelta(minutes=59), TicketEventType.DISPATCHED, "T-LAT"),
                   TicketEvent(due - timedelta(minutes=59), TicketEventType.ACCEPTED, "T-LAT")], now)
    timer.rearm()
    hook_seen = await asyncio.to_thread(hook.wait, before + 1, 5.0, "RestoreBreached")
    timer.stop()
    await outbox.drain()
    repo.close()
    return hook_seen[-1].at - due.timestamp()


async def latency(runs: int) -> None:
    figures = []
    with Hook() as hook:
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                home = Path(tmp)
                shutil.copytree(ROOT / "rules", home / "rules", ignore=shutil.ignore_patterns("tests"))
                shutil.copy(ROOT / "demo/inventory.yaml", home / "inventory.yaml")
                (home / "monitord.yaml").write_text(
                    "rules: rules\ninventory: inventory.yaml\nstorage: sqlite:///state.db\n"
                    f"alerting:\n  route:\n    receiver: noc\n  receivers:\n    - name: noc\n"
                    f"      notifiers: [{{kind: webhook, url: \"{hook.url}\"}}]\n", encoding="utf-8")
                figures.append(await latency_once(home, hook))
    print(f"latency: AAA RestoreBreached deadline -> notice at the webhook: median {statistics.median(figures):.3f} s, "
          f"max {max(figures):.3f} s over {runs} runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--send", type=int, default=5_000, help="notices actually POSTed (the rest stay written)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(throughput(args.alerts, args.send))
    asyncio.run(latency(args.runs))


if __name__ == "__main__":
    main()
