"""The SLA domain as plain data: customers, circuits, tickets, events, outages, alerts.

No I/O here and no imports from the rest of monitord; every other module speaks
in these types. Times are timezone-aware ``datetime`` values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import NamedTuple


class CustomerLevel(enum.StrEnum):
    """The operator's five customer levels."""

    GROUP = "group"  # a national group account landed on the local network
    PROVINCIAL = "provincial"
    LOCAL_A = "local_a"  # brand, key industry and high-end clustered customers
    LOCAL_B = "local_b"  # rated by each city by revenue and importance
    LOCAL_C = "local_c"  # ordinary clustered customers


class SlaClass(enum.StrEnum):
    """SLA classes: commitment (AAA/AA/A), maintenance guarantee (I/II/III), quality level."""

    AAA = "AAA"
    AA = "AA"
    A = "A"
    I = "I"  # noqa: E741 - the operator's own name for the class
    II = "II"
    III = "III"
    ORDINARY = "ordinary"


VPN_SERVICE = "mpls_vpn"
"""The service type whose circuits count as VPN (VPN restoration limits) by default."""


@dataclass(frozen=True, slots=True)
class Person:
    """Somebody who can be told about a fault: an account manager or a customer contact."""

    name: str
    email: str = ""
    phone: str = ""


@dataclass(frozen=True, slots=True)
class Customer:
    """An enterprise customer with its account manager and optional own contact."""

    id: str
    name: str
    level: CustomerLevel
    account_manager: Person
    contact: Person | None = None
    segment: str = ""  # e.g. brand, industry, high_end_cluster: picks some service limits


@dataclass(frozen=True, slots=True)
class Monitor:
    """Where a circuit is watched: an SNMP device and one interface on it."""

    host: str
    port: int = 161
    ifindex: int | None = None
    ifname: str | None = None


@dataclass(frozen=True, slots=True)
class Circuit:
    """A leased circuit with its operator code, customer, service type and SLA class."""

    id: str
    customer: str
    service: str
    sla_class: SlaClass
    vpn: bool = False
    a_end: str = ""
    z_end: str = ""
    monitor: Monitor | None = None

    @staticmethod
    def vpn_default(service: str) -> bool:
        """Whether a service type counts as VPN when the inventory does not say."""
        return service == VPN_SERVICE


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """An announced one-off maintenance window [start, end): muted and excluded from availability.

    It is one circuit's (``circuit`` set), or every circuit's monitored on one
    device (``device`` set to its ``host:port``, ``circuit`` empty).
    """

    circuit: str
    start: datetime
    end: datetime
    device: str = ""
    comment: str = field(default="", compare=False)  # what is done; shown as the mute reason


class Recurrence(enum.StrEnum):
    """How often a recurring maintenance window comes back."""

    WEEKLY = "weekly"  # on some weekdays
    MONTHLY = "monthly"  # on some days of the month


@dataclass(frozen=True, slots=True)
class RecurringWindow:
    """A maintenance window that recurs weekly or monthly at a local wall-clock time.

    Like ``MaintenanceWindow`` it is a circuit's or a device's. ``days`` are
    weekdays (0 Monday .. 6 Sunday) for ``WEEKLY`` and days of the month (1..31,
    a day past a shorter month's end meaning its last day) for ``MONTHLY``;
    ``at`` is the local start time in the rules' time zone and ``duration`` the
    elapsed length of each occurrence. Occurrences start at or after ``since``
    and before ``until`` when these are set.
    """

    circuit: str
    device: str
    every: Recurrence
    days: tuple[int, ...]
    at: time
    duration: timedelta
    since: datetime | None = None
    until: datetime | None = None
    comment: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class ProtectionPeriod:
    """A customer's critical-event window [start, end) (a trade fair, a bank's year-end close).

    Faults of the customer's circuits whose clock starts inside it get the
    rules' protection limits, and every alert of those circuits while it is on
    the protection severity and a ``protection`` label (``monitord.sla.protection``).
    It covers every circuit of ``customer``, or only ``circuit`` when that is set.
    ``start`` and ``end`` are aware instants, or naive local wall-clock times
    in the rules' time zone (the inventory does not know the zone; the planner does).
    """

    customer: str
    start: datetime
    end: datetime
    name: str  # the `protection` label's value: the name written, or an id made from owner and start
    circuit: str = ""
    comment: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Inventory:
    """Customers, circuits, maintenance windows (one-off and recurring) and protection periods."""

    customers: dict[str, Customer]
    circuits: dict[str, Circuit]
    maintenance: tuple[MaintenanceWindow, ...] = ()
    recurring: tuple[RecurringWindow, ...] = ()
    protection: tuple[ProtectionPeriod, ...] = ()


class TicketEventType(enum.StrEnum):
    """What can happen to a fault ticket."""

    REPORTED = "reported"  # the fault enters the NOC queue; carries circuit and source
    DISPATCHED = "dispatched"  # the NOC sent it to a repair team
    ACCEPTED = "accepted"  # the repair team took it
    PAUSED = "paused"  # on hold for a customer-side reason; stops the restoration clock
    RESUMED = "resumed"  # the hold ended
    RESTORED = "restored"  # service is back (repaired or rerouted)
    CONFIRMED = "confirmed"  # restoration confirmed with the customer
    REPORT_SENT = "report_sent"  # the fault report went to the customer
    CLOSED = "closed"  # the ticket is finished
    CUSTOMER_CAUSED = "customer_caused"  # the fault was the customer's: not SLA-affecting


class ObservationType(enum.StrEnum):
    """What monitoring can say about a circuit."""

    DOWN = "down"
    UP = "up"


class TicketSource(enum.StrEnum):
    """How a fault reached the NOC."""

    CUSTOMER = "customer"  # the customer called the enterprise hotline
    ACCOUNT_MANAGER = "account_manager"  # the account manager reported it for the customer
    MONITORING = "monitoring"  # the NOC's own monitoring found it (a proactive ticket)


@dataclass(frozen=True, slots=True)
class TicketEvent:
    """One step in a fault ticket's life."""

    at: datetime
    type: TicketEventType
    ticket: str
    circuit: str = ""  # set on `reported`
    source: TicketSource | None = None  # set on `reported`
    reason: str = ""  # set on `paused`


@dataclass(frozen=True, slots=True)
class Observation:
    """A monitoring observation of a circuit's state."""

    at: datetime
    type: ObservationType
    circuit: str


Event = TicketEvent | Observation


@dataclass(slots=True)
class Ticket:
    """A fault ticket folded from its events; the first event of each kind counts."""

    id: str
    circuit: str
    source: TicketSource
    reported: datetime
    dispatched: datetime | None = None
    accepted: datetime | None = None
    restored: datetime | None = None
    confirmed: datetime | None = None
    report_sent: datetime | None = None
    closed: datetime | None = None
    customer_caused: bool = False
    pauses: list[tuple[datetime, datetime | None]] = field(default_factory=list)

    def paused_at(self, now: datetime) -> bool:
        """Whether the ticket is on hold at ``now``."""
        return any(s <= now and (e is None or now < e) for s, e in self.pauses)


class DeadlineKind(enum.StrEnum):
    """The limits every fault ticket runs against."""

    DISPATCH = "dispatch"
    ACCEPT = "accept"
    RESTORE = "restore"
    CONFIRM = "confirm"
    REPORT = "report"


class DeadlineState(enum.StrEnum):
    """Where a deadline stands at an instant."""

    PENDING = "pending"  # not done and not yet due
    MET = "met"  # done at or before it was due
    BREACHED = "breached"  # done late, or still not done when due


class Deadline(NamedTuple):
    """One limit of one ticket: when it started, when it is due and when it was done.

    ``due`` is None while the clock is stopped (a restoration clock on hold).
    A NamedTuple rather than a dataclass: a cold start builds a million of them.
    """

    ticket: str
    circuit: str
    kind: DeadlineKind
    start: datetime
    due: datetime | None
    done_at: datetime | None

    def state(self, now: datetime) -> DeadlineState:
        """The deadline's state at ``now``: a limit is breached at its due instant."""
        if self.done_at is not None and self.done_at <= now:
            if self.due is not None and self.done_at > self.due:
                return DeadlineState.BREACHED
            return DeadlineState.MET
        if self.due is not None and now >= self.due:
            return DeadlineState.BREACHED
        return DeadlineState.PENDING


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open stretch of time [start, end)."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        """Length in seconds."""
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class Outage:
    """An SLA-relevant outage of a circuit; ``end`` is None while it is still open."""

    circuit: str
    start: datetime
    end: datetime | None
    ticket: str = ""  # empty for an outage seen by monitoring only


class AlertState(enum.StrEnum):
    """An alert's life: armed, fired, over."""

    INACTIVE = "inactive"  # nothing scheduled, or disarmed before it fired
    PENDING = "pending"  # armed: its condition will hold at a known future instant
    FIRING = "firing"  # its instant has come and the condition still holds
    RESOLVED = "resolved"  # it fired and its condition has since ended


Labels = tuple[tuple[str, str], ...]
"""Alert labels as a sorted tuple of pairs, so they can key a dict."""


class AlertKey(NamedTuple):
    """What makes an alert the same alert: its name and labels."""

    name: str
    labels: Labels


@dataclass(slots=True)
class Alert:
    """An alert and its state; ``fired_at`` and ``resolved_at`` are exact instants."""

    key: AlertKey
    state: AlertState
    fires_at: datetime | None = None  # when pending: the instant it will fire
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The alert's name, e.g. ``RestoreBreached``."""
        return self.key.name

    @property
    def labels(self) -> dict[str, str]:
        """The alert's labels as a dict."""
        return dict(self.key.labels)


Condition = tuple[datetime, datetime | None]
"""A stretch of time during which an alert's condition holds; end None: still holding."""


@dataclass(frozen=True, slots=True)
class AlertPlan:
    """What a subject (a ticket, a circuit's availability, ...) says about its alerts.

    For each alert, the stretches during which it should fire, as known from
    the facts so far; ``replan_at`` asks to be planned again at that instant
    (e.g. at a month boundary, where a new downtime budget starts).
    """

    conditions: dict[AlertKey, list[Condition]]
    replan_at: datetime | None = None


class SilenceState(enum.StrEnum):
    """Where a silence stands at an instant (Alertmanager's states)."""

    PENDING = "pending"  # starts later
    ACTIVE = "active"  # mutes matching alerts now
    EXPIRED = "expired"  # over (ended, or expired by hand)


@dataclass(frozen=True, slots=True)
class Silence:
    """A silence: alerts whose labels satisfy every matcher are muted in [starts_at, ends_at).

    ``matchers`` are Alertmanager matcher strings (``'alertname="CircuitDown"'``),
    kept as text here and parsed where they are applied.
    """

    id: str
    matchers: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    updated_at: datetime

    def state(self, now: datetime) -> SilenceState:
        """The silence's state at ``now``."""
        if now < self.starts_at:
            return SilenceState.PENDING
        return SilenceState.ACTIVE if now < self.ends_at else SilenceState.EXPIRED


def clip(start: datetime, end: datetime, lo: datetime, hi: datetime) -> Interval | None:
    """The part of [start, end) inside [lo, hi), or None when they do not overlap."""
    s, e = max(start, lo), min(end, hi)
    return Interval(s, e) if s < e else None


ZERO = timedelta(0)
