"""Routing benchmark: 100,000 alert label sets through a realistic routing tree.

The tree is a province's: one child per city (21, matched by a regex on the
circuit code), each holding the shipped example's routes (proactive notice to
the customer contact, the two escalation steps, the account manager, the NOC
with a slower group for warnings): 148 routes, 1 to 3 matchers each. Labels
are those of the SLA alerts (alertname, circuit, customer, sla_class,
severity, ticket, and step / percent where they apply) over 20,000 customers.

Prints alerts/s for matching alone (Route.match) and for matching plus
resolving each receiver (Router.deliveries, with the account manager or
contact looked up in the inventory).

Run: python3 bench/route.py [--alerts N]
It is not a timed test: it prints figures for the closing note of an issue.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitord.alerting.route import Router
from monitord.config.alerting import alerting_settings
from monitord.domain import Customer, CustomerLevel, Person
from monitord.yamldoc import Problems, Section

CITIES = ["GZ", "SZ", "FS", "DG", "ZH", "ST", "SG", "HY", "MZ", "SW", "HZ", "JM", "YJ", "ZJ", "MM", "ZQ",
          "QY", "CZ", "JY", "YF", "ZS"]
ALERTS = [("RestoreWarning", "warning"), ("RestoreBreached", "critical"), ("RestoreEscalation", "critical"),
          ("DispatchOverdue", "critical"), ("AcceptOverdue", "critical"), ("ConfirmOverdue", "critical"),
          ("FaultReportOverdue", "critical"), ("RepeatFault", "major"), ("AvailabilityBudgetBurn", "major"),
          ("CircuitDown", "critical")]
CLASSES = ["AAA", "AA", "A", "I", "II", "III", "ordinary"]


AM_ALERTS = "CircuitDown|RestoreWarning|RestoreBreached|RepeatFault|AvailabilityBudgetBurn|FaultReportOverdue"


def city_routes(city: str) -> str:
    return f"""
      - matchers: ['circuit=~"{city}-.*"']
        receiver: noc-{city}
        routes:
          - matchers: ['alertname="CircuitDown"', 'sla_class="AAA"']
            receiver: customer-contact
            group_by: [customer, circuit]
            continue: true
          - matchers: ['step=~"shift_supervisor|department_head"']
            receiver: supervisors-{city}
            continue: true
          - matchers: ['step="department_head"']
            receiver: department-heads
            continue: true
          - matchers: ['alertname=~"{AM_ALERTS}"']
            receiver: account-manager
            continue: true
          - receiver: noc-{city}
            routes:
              - matchers: ['severity=~"warning|minor"']
                group_wait: 30s"""


def config() -> str:
    receivers = "".join(f"""
    - name: noc-{c}
      notifiers: [{{kind: webhook, url: "https://chat.example.com/hooks/noc-{c}"}}]
    - name: supervisors-{c}
      notifiers: [{{kind: email, to: [supervisors-{c}@example.com]}}]""" for c in CITIES)
    return f"""
alerting:
  smtp: {{smarthost: "mail.example.com:25", from: "monitord@example.com", starttls: false}}
  route:
    receiver: noc
    routes:{"".join(city_routes(c) for c in CITIES)}
  receivers:
    - name: noc
      notifiers: [{{kind: email, to: [noc@example.com]}}]
    - name: department-heads
      notifiers: [{{kind: email, to: [heads@example.com]}}]
    - name: account-manager
      person: account_manager
      notifiers: [{{kind: email}}]
    - name: customer-contact
      person: contact
      fallback: account-manager
      notifiers: [{{kind: email}}]{receivers}
"""


def label_sets(n: int, customers: int, rng: random.Random) -> list[dict[str, str]]:
    out = []
    for i in range(n):
        name, severity = rng.choice(ALERTS)
        labels = {"alertname": name, "severity": severity, "customer": f"CUST-{rng.randrange(customers):06d}",
                  "circuit": f"{rng.choice(CITIES)}-SDH-{rng.randrange(10**6):06d}",
                  "sla_class": rng.choice(CLASSES), "ticket": f"T{i}"}
        if name == "RestoreEscalation":
            labels["step"] = rng.choice(["shift_supervisor", "department_head"])
        elif name in ("RestoreWarning", "AvailabilityBudgetBurn"):
            labels["percent"] = rng.choice(["50", "80"])
        out.append(labels)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=100_000)
    ap.add_argument("--customers", type=int, default=20_000)
    args = ap.parse_args()
    rng = random.Random(7)

    problems = Problems()
    sec = Section.parse(config(), "bench.yaml", problems).get("alerting", required=True)
    settings = alerting_settings(sec) if sec else None
    problems.raise_if_any()
    assert settings is not None
    customers = {
        f"CUST-{i:06d}": Customer(f"CUST-{i:06d}", f"Customer {i}", CustomerLevel.LOCAL_B,
                                  Person(f"AM {i % 500}", f"am{i % 500}@example.com"),
                                  Person(f"Contact {i}", f"it@c{i}.example.com") if i % 3 else None)
        for i in range(args.customers)}
    router = Router(settings, customers.get)
    routes = sum(1 for _ in router.root.walk())
    alerts = label_sets(args.alerts, args.customers, rng)
    print(f"tree: {routes} routes, {len(settings.receivers)} receivers; {len(alerts):,} alerts")

    t0 = time.perf_counter()
    reached = sum(len(router.root.match(labels)) for labels in alerts)
    t1 = time.perf_counter()
    delivered = sum(len(router.deliveries(labels)) for labels in alerts)
    t2 = time.perf_counter()
    assert reached == delivered
    n = len(alerts)
    print(f"match:            {n / (t1 - t0):10,.0f} alerts/s  ({(t1 - t0) / n * 1e6:.1f} µs/alert, "
          f"{reached / n:.2f} routes/alert)")
    print(f"match + resolve:  {n / (t2 - t1):10,.0f} alerts/s  ({(t2 - t1) / n * 1e6:.1f} µs/alert)")


if __name__ == "__main__":
    main()
