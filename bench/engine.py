"""Engine benchmark: 100,000 circuits, 20,000 open tickets and a year of 200,000 closed tickets.

Prints:
- cold start: fold every event into facts, compute every deadline of every
  ticket and the current-month availability of every circuit, and plan the
  engine's alerts for the open tickets and the circuits with downtime this month;
- ingest rate of new ticket events through facts + engine (events/s);
- latency from one event to its updated deadlines (p50, p99, max);
- peak RSS.

Run: python3 bench/engine.py [--circuits N] [--open N] [--closed N]
It is not a timed test: it prints figures for the closing note of an issue.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from monitord.domain import (
    Circuit,
    Customer,
    CustomerLevel,
    Event,
    Inventory,
    Person,
    SlaClass,
    TicketEvent,
    TicketEventType,
    TicketSource,
)
from monitord.engine import Engine
from monitord.sla.alerts import SlaPlanner
from monitord.sla.availability import Month
from monitord.sla.facts import AVAILABILITY, TICKET, Facts
from monitord.sla.policy import load_policy

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 10, 20, 12, 0, tzinfo=TZ)
ROOT = Path(__file__).resolve().parent.parent
CLASSES = [SlaClass.AAA, SlaClass.AA, SlaClass.A, SlaClass.I, SlaClass.II, SlaClass.III, SlaClass.ORDINARY]
SERVICES = ["sdh", "mpls_vpn", "ethernet", "internet", "leased_fibre"]
LEVELS = list(CustomerLevel)


def inventory(n_circuits: int, rng: random.Random) -> Inventory:
    """Customers (one per five circuits) and circuits of every class and service."""
    customers = {}
    for i in range(max(1, n_circuits // 5)):
        cid = f"CUST-{i:06d}"
        customers[cid] = Customer(cid, f"Customer {i}", LEVELS[i % 5], Person(f"AM {i % 997}", f"am{i % 997}@x"))
    ids = list(customers)
    circuits = {}
    for i in range(n_circuits):
        service = SERVICES[i % len(SERVICES)]
        c = Circuit(f"GZ-{i:07d}", ids[i % len(ids)], service, CLASSES[rng.randrange(len(CLASSES))],
                    Circuit.vpn_default(service))
        circuits[c.id] = c
    return Inventory(customers, circuits)


def closed_ticket(tid: str, circuit: str, start: datetime, rng: random.Random) -> list[Event]:
    """A finished ticket's seven events, with realistic gaps."""
    t = start
    out: list[Event] = [TicketEvent(t, TicketEventType.REPORTED, tid, circuit, TicketSource.CUSTOMER)]
    for kind, gap in ((TicketEventType.DISPATCHED, 20), (TicketEventType.ACCEPTED, 40),
                      (TicketEventType.RESTORED, 300), (TicketEventType.CONFIRMED, 20),
                      (TicketEventType.REPORT_SENT, 2000), (TicketEventType.CLOSED, 60)):
        t += timedelta(minutes=rng.uniform(1, gap))
        out.append(TicketEvent(t, kind, tid, ""))
    return out


def history(inv: Inventory, n_open: int, n_closed: int, rng: random.Random) -> tuple[list[Event], list[str]]:
    """A year of closed tickets and some open ones, in time order; and the open ticket ids."""
    circuits = list(inv.circuits)
    year = 365 * 86400 - 4 * 86400  # closed tickets end before the last days
    events: list[Event] = []
    for i in range(n_closed):
        start = NOW - timedelta(days=365) + timedelta(seconds=rng.uniform(0, year))
        events.extend(closed_ticket(f"TT-C{i:07d}", rng.choice(circuits), start, rng))
    open_ids = []
    for i in range(n_open):
        tid = f"TT-O{i:06d}"
        open_ids.append(tid)
        start = NOW - timedelta(minutes=rng.uniform(1, 600))
        events.append(TicketEvent(start, TicketEventType.REPORTED, tid, rng.choice(circuits), TicketSource.CUSTOMER))
        if rng.random() < 0.5:
            events.append(TicketEvent(start + timedelta(minutes=5), TicketEventType.DISPATCHED, tid))
    events.sort(key=lambda e: e.at)
    return [e for e in events if e.at <= NOW], open_ids


def from_storage(folder: Path, events: list[Event]) -> list[Event]:
    """Store the events in a fresh SQLite file (not timed), then time reading them all back."""
    from monitord.storage.repo import Repository

    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "bench.db"
    for f in folder.glob("bench.db*"):
        f.unlink()
    repo = Repository.open(f"sqlite:///{db}")
    t0 = time.perf_counter()
    for i in range(0, len(events), 50_000):
        repo.record_events(events[i:i + 50_000], now=NOW)
    print(f"storage: recorded {len(events):,} events in {time.perf_counter() - t0:.1f} s (setup, not cold start)")
    t0 = time.perf_counter()
    loaded = [e for _, e in repo.events()]
    print(f"storage: read {len(loaded):,} events back in {time.perf_counter() - t0:.2f} s")
    repo.close()
    return loaded


def rss_mib() -> float:
    """Peak resident set size of this process in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Build the data, run the stages and print their figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--circuits", type=int, default=100_000)
    ap.add_argument("--open", type=int, default=20_000)
    ap.add_argument("--closed", type=int, default=200_000)
    ap.add_argument("--live", type=int, default=20_000, help="new events for the ingest stage")
    ap.add_argument("--storage", metavar="DIR",
                    help="also store the events in SQLite under DIR and time the cold start's load from it")
    args = ap.parse_args()
    rng = random.Random(20261020)

    policy = load_policy(ROOT / "rules")
    inv = inventory(args.circuits, rng)
    events, open_ids = history(inv, args.open, args.closed, rng)
    print(f"data: {len(inv.circuits):,} circuits, {len(open_ids):,} open + {args.closed:,} closed tickets, "
          f"{len(events):,} events; RSS after generating {rss_mib():.0f} MiB")

    if args.storage:
        events = from_storage(Path(args.storage), events)

    # -- cold start -------------------------------------------------------------
    # As the daemon does: no cyclic GC passes while millions of start-up objects are
    # built, then freeze them so later collections do not walk them again.
    gc.disable()
    t0 = time.perf_counter()
    facts = Facts(inv)
    for e in events:
        facts.load(e)
    t_fold = time.perf_counter()
    planner = SlaPlanner(policy, facts)
    n_deadlines = sum(len(planner.clocks(tid)) for tid in facts.tickets)
    t_deadlines = time.perf_counter()
    month = Month.of(NOW, TZ)
    avail = [planner.availability(cid, month, NOW) for cid in inv.circuits]
    t_avail = time.perf_counter()
    engine = Engine(planner)
    with_downtime = {a.circuit for a in avail if a.downtime_seconds > 0}
    subjects = [(TICKET, t) for t in open_ids] + [(AVAILABILITY, c) for c in with_downtime]
    engine.update(subjects, NOW)
    gc.freeze()
    gc.enable()
    t_engine = time.perf_counter()
    print(f"cold start, load + every deadline + current-month availability: {t_avail - t0:.2f} s; "
          f"with every alert timer armed: {t_engine - t0:.2f} s")
    print(f"  stages: fold {t_fold - t0:.2f} s, {n_deadlines:,} deadlines "
          f"{t_deadlines - t_fold:.2f} s, availability of {len(avail):,} circuits {t_avail - t_deadlines:.2f} s, "
          f"engine plan of {len(subjects):,} subjects {t_engine - t_avail:.2f} s; "
          f"{len(engine.alerts()):,} alerts pending or firing")

    # -- ingest -----------------------------------------------------------------
    live: list[TicketEvent] = []
    t = NOW
    steps = [TicketEventType.DISPATCHED, TicketEventType.ACCEPTED, TicketEventType.RESTORED]
    for i in range(args.live):
        t += timedelta(milliseconds=100)
        live.append(TicketEvent(t, steps[(i // len(open_ids)) % 3], open_ids[i % len(open_ids)]))
    latencies = []
    worst = (0.0, 0, 0)  # seconds, transitions, GC collections during it
    gc_runs = 0
    gc.callbacks.append(lambda phase, info: phase == "stop" and info["generation"] == 2 and _count())

    def _count() -> None:
        nonlocal gc_runs
        gc_runs += 1

    t0 = time.perf_counter()
    for e in live:
        s, runs = time.perf_counter(), gc_runs
        moved = len(engine.advance(e.at, before=True))
        moved += len(engine.update(facts.apply(e), e.at))
        planner.clocks(e.ticket)  # the ticket's updated deadlines
        latencies.append(took := time.perf_counter() - s)
        if took > worst[0]:
            worst = (took, moved, gc_runs - runs)
    elapsed = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100)
    print(f"ingest: {len(live):,} events in {elapsed:.2f} s = {len(live) / elapsed:,.0f} events/s")
    print(f"one event -> updated deadlines: p50 {q[49] * 1e3:.3f} ms, p99 {q[98] * 1e3:.3f} ms, "
          f"max {worst[0] * 1e3:.3f} ms ({worst[1]} alert transitions, {worst[2]} full GC passes in it; "
          f"{gc_runs} full GC passes in the whole stage)")
    print(f"peak RSS: {rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
