"""Monthly report benchmark: every customer of 100,000 circuits over a year of tickets.

Builds the inventory and history with bench/engine.py's generator (20,000 customers of
five circuits; one large customer is added with --large circuits taken from them), folds
the events into facts (as `monitord report --events` does), then times:
- the report data of one month for every customer (availability, faults with every
  limit, repeats, compliance, credit);
- its JSON document (built and serialised) and its CSV;
- the HTML page of the large customer alone.
Prints the figures and peak RSS. It is not a timed test.

Run: python3 bench/report.py [--circuits N] [--closed N] [--open N] [--large N]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import NOW, ROOT, TZ, history, inventory, rss_mib

from monitord.evaluate import fold_events
from monitord.reports.monthly import monthly_report
from monitord.reports.render import monthly_csv, monthly_html, monthly_json
from monitord.sla.alerts import SlaPlanner
from monitord.sla.availability import Month
from monitord.sla.policy import load_policy

BIG = "CUST-BIG"


def main() -> None:
    """Build the data, time each stage, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--circuits", type=int, default=100_000)
    ap.add_argument("--open", type=int, default=20_000)
    ap.add_argument("--closed", type=int, default=200_000)
    ap.add_argument("--large", type=int, default=2_000, help="circuits of the one large customer")
    args = ap.parse_args()
    rng = random.Random(20261020)

    policy = load_policy(ROOT / "rules")
    inv = inventory(args.circuits, rng)
    first = next(iter(inv.customers.values()))
    inv.customers[BIG] = replace(first, id=BIG, name="大型集团客户 (bench)")
    for cid in list(inv.circuits)[: args.large]:
        inv.circuits[cid] = replace(inv.circuits[cid], customer=BIG)
    events, _ = history(inv, args.open, args.closed, rng)
    print(f"data: {len(inv.circuits):,} circuits, {len(inv.customers):,} customers "
          f"(one of {args.large:,} circuits), {args.open:,} open + {args.closed:,} closed tickets, "
          f"{len(events):,} events")

    month = Month.of(NOW, TZ)
    prev = Month(month.year, month.month - 1) if month.month > 1 else Month(month.year - 1, 12)
    at = NOW  # the report is as of the generator's "now", inside its month
    gc.disable()  # as the daemon's cold start: millions of long-lived objects, no cyclic garbage
    t0 = time.perf_counter()
    facts, bad = fold_events(inv, list(enumerate(events)), at)
    t_fold = time.perf_counter()
    assert not bad
    print(f"fold {len(events):,} events into facts: {t_fold - t0:.2f} s")

    for label, m in (("finished month", prev), ("month in progress", month)):
        planner = SlaPlanner(policy, facts)
        t0 = time.perf_counter()
        report = monthly_report(policy, planner, m, at)
        t_data = time.perf_counter()
        doc = json.dumps(monthly_json(report), ensure_ascii=False)
        t_json = time.perf_counter()
        text = monthly_csv(report)
        t_csv = time.perf_counter()
        n_faults = sum(len(cm.faults) for c in report.customers for cm in c.circuits)
        print(f"{label} {m}: report data for {len(report.customers):,} customers, "
              f"{sum(len(c.circuits) for c in report.customers):,} circuits, {n_faults:,} faults: "
              f"{t_data - t0:.2f} s; JSON {len(doc) / 1e6:.0f} MB {t_json - t_data:.2f} s; "
              f"CSV {len(text) / 1e6:.0f} MB {t_csv - t_json:.2f} s; "
              f"total {t_csv - t0:.2f} s")

    t0 = time.perf_counter()
    big = monthly_report(policy, SlaPlanner(policy, facts), prev, at, [BIG])
    page = monthly_html(big)
    took = time.perf_counter() - t0
    print(f"HTML of the large customer ({args.large:,} circuits, "
          f"{sum(len(cm.faults) for cm in big.customers[0].circuits):,} faults) for {prev}: "
          f"{took:.2f} s, {len(page) / 1e6:.1f} MB")
    gc.enable()
    print(f"peak RSS: {rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
