"""A small month written by hand: October 2026 (31 days = 2,678,400 s), Asia/Shanghai.

Customer CUST-A (local A):
- X-AAA  AAA sdh. T1: reported Tue 10-20 10:00, dispatched 10:10, accepted 10:20, restored 10:30,
         confirmed 10:50 (due 10:45: late), report sent Wed 10-21 12:00 (due end of Wed 10-21).
- X-AA   AA ethernet. T0 (September): reported 09-30 23:00, restored 10-01 00:30: 30 min of October.
         T2: reported Thu 10-22 08:00, dispatched 08:20 (due 08:15: late), accepted 08:30, on hold
         09:00-09:30, restored 10:00 (90 min running = exactly the limit: met), confirmed 10:05,
         report sent Tue 10-27 09:00 (due end of Mon 10-26: late). A repeat of T0 (window 2 months).
- X-A    A sdh, no fault; announced maintenance 10-10 02:00-04:00.
- X-I    class I leased fibre. T3: reported Sun 10-25 14:00, dispatched 14:05, customer-caused,
         restored 15:00, confirmed 15:10.
Customer CUST-B (local C):
- Y-ORD  ordinary ethernet. T4: reported Sat 10-31 23:00, never dispatched nor restored.

The report is as of 2026-11-01 00:00 +08:00, the end of the month.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from monitord.domain import (
    Circuit,
    Customer,
    CustomerLevel,
    Event,
    Inventory,
    MaintenanceWindow,
    Person,
    SlaClass,
    TicketEvent,
    TicketEventType,
    TicketSource,
)
from monitord.evaluate import fold_events
from monitord.sla.alerts import SlaPlanner
from monitord.sla.policy import SlaPolicy

TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 11, 1, tzinfo=TZ)
MONTH_SECONDS = 31 * 86400  # 2,678,400


def t(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A local instant of 2026."""
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


def inventory() -> Inventory:
    customers = {
        "CUST-A": Customer("CUST-A", "Alpha <Metro> & Co", CustomerLevel.LOCAL_A, Person("AM One", "am1@x", "1")),
        "CUST-B": Customer("CUST-B", "Beta Park", CustomerLevel.LOCAL_C, Person("AM Two")),
    }
    circuits = [
        Circuit("X-AAA", "CUST-A", "sdh", SlaClass.AAA, a_end="A1", z_end="Z1"),
        Circuit("X-AA", "CUST-A", "ethernet", SlaClass.AA),
        Circuit("X-A", "CUST-A", "sdh", SlaClass.A),
        Circuit("X-I", "CUST-A", "leased_fibre", SlaClass.I),
        Circuit("Y-ORD", "CUST-B", "ethernet", SlaClass.ORDINARY),
    ]
    return Inventory(customers, {c.id: c for c in circuits},
                     (MaintenanceWindow("X-A", t(10, 10, 2), t(10, 10, 4)),))


def ev(at: datetime, kind: str, ticket: str, circuit: str = "", source: TicketSource | None = None) -> TicketEvent:
    return TicketEvent(at, TicketEventType(kind), ticket, circuit, source)


C = TicketSource.CUSTOMER
EVENTS: list[Event] = [
    ev(t(10, 20, 10), "reported", "T1", "X-AAA", C),
    ev(t(10, 20, 10, 10), "dispatched", "T1"),
    ev(t(10, 20, 10, 20), "accepted", "T1"),
    ev(t(10, 20, 10, 30), "restored", "T1"),
    ev(t(10, 20, 10, 50), "confirmed", "T1"),
    ev(t(10, 21, 12), "report_sent", "T1"),
    ev(t(9, 30, 23), "reported", "T0", "X-AA", C),
    ev(t(10, 1, 0, 30), "restored", "T0"),
    ev(t(10, 22, 8), "reported", "T2", "X-AA", TicketSource.ACCOUNT_MANAGER),
    ev(t(10, 22, 8, 20), "dispatched", "T2"),
    ev(t(10, 22, 8, 30), "accepted", "T2"),
    ev(t(10, 22, 9), "paused", "T2"),
    ev(t(10, 22, 9, 30), "resumed", "T2"),
    ev(t(10, 22, 10), "restored", "T2"),
    ev(t(10, 22, 10, 5), "confirmed", "T2"),
    ev(t(10, 27, 9), "report_sent", "T2"),
    ev(t(10, 25, 14), "reported", "T3", "X-I", C),
    ev(t(10, 25, 14, 5), "dispatched", "T3"),
    ev(t(10, 25, 14, 30), "customer_caused", "T3"),
    ev(t(10, 25, 15), "restored", "T3"),
    ev(t(10, 25, 15, 10), "confirmed", "T3"),
    ev(t(10, 31, 23), "reported", "T4", "Y-ORD", C),
]


@pytest.fixture
def planner(policy: SlaPolicy) -> SlaPlanner:
    facts, bad = fold_events(inventory(), list(enumerate(EVENTS, 1)), AT)
    assert not bad
    return SlaPlanner(policy, facts)
