"""The composition root: load, build, run, reload (build new, then swap), stop.

Only this module imports everything. The daemon's state is rebuilt from
storage at start-up: every stored event is folded into the facts, the engine
is planned as of now (deadlines that passed while the daemon was down fire
with their true instants), and every alert transition is stored before it is
acted on. A transition already stored (same alert, same instant) is not new,
so a restart never repeats one.

Alerting follows the transitions: new firing and resolved alerts go to the
dispatcher (route, group, mute), the notices it says are due are written to
the outbox in the same transaction as the transitions, and the outbox sends
them on the event loop. At start-up the dispatcher takes the alerts still
firing and the notification log (what each group was last told), and the
outbox sends again whatever was written and not sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import hashlib
import logging
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from monitord import api, exporter
from monitord.alerting import messages
from monitord.alerting.dispatch import Dispatcher, LogEntry
from monitord.alerting.mute import Inhibitor, MaintenanceMuter, Muters, Silences
from monitord.alerting.notice import Notice
from monitord.alerting.notify import Notifiers, NotifyStats
from monitord.alerting.notify import http as notify_http
from monitord.alerting.outbox import Outbox, OutboxEntry, entries
from monitord.alerting.route import Router, route_labels
from monitord.config import Settings, load_settings
from monitord.config.alerting import AlertingSettings, ReceiverSettings, RouteSettings
from monitord.domain import (
    Alert,
    AlertKey,
    AlertPlan,
    AlertState,
    Circuit,
    Event,
    Inventory,
    ObservationType,
    Silence,
    Ticket,
    TicketEvent,
    TicketEventType,
    TicketSource,
)
from monitord.engine import Engine, Transition
from monitord.reports import render
from monitord.reports.fault import TicketNotFound, fault_report
from monitord.reports.monthly import ReportError, monthly_report
from monitord.scheduler import PollGroups, TicketDbPolls, Timer
from monitord.sdnotify import Notifier, watchdog_interval
from monitord.sla.alerts import SlaPlanner
from monitord.sla.availability import Month
from monitord.sla.facts import AVAILABILITY, DOWN, REPEAT, TICKET, FactError, Facts, Subject
from monitord.sla.policy import PROTECTION_LABEL, AlertRole, SlaPolicy, load_policy
from monitord.sources.debounce import Debouncer, Reachability
from monitord.sources.inventory import load_inventory
from monitord.sources.snmp import DevicePoll, SnmpPoller, circuit_states
from monitord.sources.snmp_workers import WorkerPoller
from monitord.storage.repo import Repository
from monitord.yamldoc import InputError

log = logging.getLogger(__name__)

NOTICE_RETENTION = timedelta(days=30)
"""How long sent notices stay in the notification log (each group's latest stays for good)."""


@dataclass(frozen=True)
class Loaded:
    """What a (re)load builds from the files; building it may fail and changes nothing."""

    settings: Settings
    policy: SlaPolicy
    inventory: Inventory
    router: Router | None = None  # the routing tree, when the config has an alerting: section


def load(config: Path | str) -> Loaded:
    """Read and validate config, rules and inventory; raises ``InputError`` listing every problem."""
    settings = load_settings(config)
    problems = []
    policy = inventory = None
    try:
        policy = load_policy(settings.rules, settings.outage_basis)
    except InputError as exc:
        problems.extend(exc.problems)
    if settings.inventory is None:
        inventory = Inventory({}, {})
    else:
        try:
            inventory = load_inventory(settings.inventory)
        except InputError as exc:
            problems.extend(exc.problems)
    if problems or policy is None or inventory is None:
        raise InputError(problems)
    # The running daemon guesses Monday to Friday past the holiday calendar's coverage (and says so)
    # rather than fail on a deadline that reaches into a year with no notice yet.
    policy = dataclasses.replace(policy, calendar=dataclasses.replace(policy.calendar, guess_uncovered=True))
    router = Router(settings.alerting, inventory.customers.get) if settings.alerting else None
    return Loaded(settings, policy, inventory, router)


CALENDAR_NOTICE = timedelta(days=60)
"""How long before the holiday calendar's coverage ends the daemon starts warning about it."""


def warn_calendar_coverage(policy: SlaPolicy, now: datetime) -> None:
    """Log a warning when the working-day calendar ends within ``CALENDAR_NOTICE`` of ``now``."""
    until = policy.calendar.covered_until
    if now.astimezone(policy.tz).date() + CALENDAR_NOTICE > until:
        log.warning("the holiday calendar covers working days until %s only: add %d to rules/calendar.yaml "
                    "once the State Council publishes its holidays", until.isoformat(), until.year + 1)


@dataclass(frozen=True)
class Rejected:
    """An event the daemon will not take, with its position in the request."""

    index: int
    message: str


@dataclass
class IngestResult:
    """What an ingest did: events new to storage, duplicates, and (if any) rejections."""

    new: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)


DEVICE = "device"
PROACTIVE = "proactive"  # subject kind: a ticket monitoring opened, whose customer is told proactively
PROACTIVE_NOTICE = "ProactiveNotice"
"""The alert that tells an AAA customer's contact of a fault monitoring found (while the ticket is open)."""
PROACTIVE_SEVERITY = "info"  # a message to the customer, not a page for the NOC


class State:
    """Facts, planner and engine for one loaded configuration, kept up to date with storage."""

    def __init__(self, loaded: Loaded, facts: Facts, now: datetime,
                 reachability: Reachability | None = None) -> None:
        self.reachability = reachability or Reachability()
        self.loaded = loaded
        self.facts = facts
        self.planner = SlaPlanner(loaded.policy, self.facts)
        self.engine = Engine(self._plan)
        subjects = startup_subjects(self.facts, loaded.policy, now)
        subjects += [(PROACTIVE, s[1]) for s in subjects if s[0] == TICKET]
        subjects += [(DEVICE, d) for d in self.reachability.spans]
        self.startup = self.engine.update(subjects, now)

    def _plan(self, subject: Subject, now: datetime) -> AlertPlan:
        """Device and proactive-notice subjects are planned here; every other one by the SLA planner."""
        if subject[0] == PROACTIVE:
            return self._proactive(subject[1])
        if subject[0] != DEVICE:
            return self.planner(subject, now)
        policy = self.loaded.policy
        severity = policy.defaults_severity("device_unreachable")
        key = AlertKey(policy.alert_names.device_unreachable, (("device", subject[1]), ("severity", severity)))
        return AlertPlan({key: list(self.reachability.spans.get(subject[1], []))})

    def _proactive(self, ticket_id: str) -> AlertPlan:
        """``ProactiveNotice`` of a ticket monitoring opened on a circuit whose class tells the customer.

        It fires once, when the ticket is reported, and resolves when the circuit is restored (or the
        ticket closed): the routing tree sends it to the customer's contact (``demo/alerting.yaml``).
        """
        t = self.facts.tickets.get(ticket_id)
        circuit = self.loaded.inventory.circuits.get(t.circuit) if t is not None else None
        if t is None or circuit is None or t.source is not TicketSource.MONITORING:
            return AlertPlan({})
        if not self.loaded.policy.classes[circuit.sla_class].proactive_notice:
            return AlertPlan({})
        ends = [e for e in (t.restored, t.closed) if e is not None]
        # It fires once, so it is not split at a protection period's edges as other alerts are; a fault that
        # starts in one is marked with it, so the routing tree can treat the notice as protected too.
        guard = self.planner.protected(t.id)
        extra = {PROTECTION_LABEL: guard.name} if guard is not None else {}
        labels = self.planner.labels(circuit, PROACTIVE_SEVERITY, ticket=t.id, **extra)
        return AlertPlan({AlertKey(PROACTIVE_NOTICE, labels): [(t.reported, min(ends) if ends else None)]})


def last_told(repo: Repository) -> list[tuple[str, Notice]]:
    """Each group's key with the last notice written for it: what its receiver was last told."""
    return [(key, Notice.from_json(payload)) for key, payload in repo.last_notices()]


def stored_facts(inventory: Inventory, repo: Repository) -> Facts:
    """Every stored event folded into facts for ``inventory``."""
    facts = Facts(inventory)
    skipped = 0
    for _, event in repo.events():
        try:
            facts.load(event)
        except FactError:
            skipped += 1  # e.g. a circuit since removed from the inventory
    if skipped:
        log.warning("%d stored events name circuits or tickets this inventory lacks", skipped)
    return facts


def startup_subjects(facts: Facts, policy: SlaPolicy, now: datetime) -> list[Subject]:
    """What to plan at start-up: open tickets, and circuits with something this month or still open."""
    month_start = Month.of(now, policy.tz).bounds(policy.tz)[0]
    subjects: list[Subject] = []
    busy: set[str] = set()
    for t in facts.tickets.values():
        ended = t.closed or t.restored
        if t.closed is None:
            subjects.append((TICKET, t.id))
        if ended is None or ended >= month_start:
            busy.add(t.circuit)
    for circuit, observations in facts.observations.items():
        if observations:
            subjects.append((DOWN, circuit))
            if observations[-1].at >= month_start or observations[-1].type is ObservationType.DOWN:
                busy.add(circuit)
    subjects += [(AVAILABILITY, c) for c in busy] + [(REPEAT, c) for c in busy]
    return subjects


class Daemon:
    """The running daemon's core: ingest events, advance time, reload; every change stored first.

    ``send`` takes the outbox entries each change wrote (``Outbox.submit`` in
    the running daemon); until one is set they are kept in ``outgoing``.
    """

    def __init__(self, loaded: Loaded, repo: Repository, now: datetime,
                 told: Sequence[tuple[str, Notice]] | None = None) -> None:
        self.repo = repo
        self.outgoing: list[OutboxEntry] = []
        self.send: Callable[[list[OutboxEntry]], None] = self.outgoing.extend
        # Alerts already stored, by identity -> resolved_at: what a restart must not repeat.
        self._stored = {(a.name, a.key.labels, a.fired_at): a.resolved_at for a in repo.alerts()}
        self.silences = Silences(repo.silences(ended_after=now))  # the API's adds and expiries go here too
        self.muter = self._muter(loaded)
        self.reachability = Reachability()
        warn_calendar_coverage(loaded.policy, now)
        self.state = State(loaded, stored_facts(loaded.inventory, repo), now, self.reachability)
        self.debouncer = Debouncer(loaded.settings.snmp.debounce_polls)
        for circuit, observations in self.state.facts.observations.items():
            if observations and observations[-1].type is ObservationType.DOWN:
                self.debouncer.known_down(circuit)
        self.reload_ok = True
        self.reload_errors: list[str] = []
        # For the exporter: who is told the subjects each ingest changed, the device polls, and every
        # alert occurrence stored as fired by (alert name, sla_class), counted from storage at start-up.
        self.on_change: list[Callable[[Iterable[Subject]], None]] = []
        self.polls = exporter.DevicePolls()
        self.fired: Counter[tuple[str, str]] = Counter(
            (name, dict(labels).get("sla_class", "")) for name, labels, _ in self._stored)
        self.notices: list[Transition] = []  # new transitions, for the alerting layer to send
        self.dispatcher = self._dispatcher(loaded.router)
        # What each group was last told (``told``, or read from the log), so nothing repeats early.
        for key, notice in told if told is not None else last_told(repo):
            self.dispatcher.remember(key, notice)
        self.dispatcher.take(self.state.engine.firing(), now)  # fired before a restart: grouped, not re-told
        self._persist(self.state.startup, now)

    @property
    def loaded(self) -> Loaded:
        """The configuration in force."""
        return self.state.loaded

    # inputs -----------------------------------------------------------------
    def ingest(self, events: Sequence[Event], now: datetime) -> IngestResult:
        """Validate, store, then apply events; a batch with any bad event is rejected whole."""
        rejected = self._check(events)
        if rejected:
            return IngestResult(rejected=rejected)
        new = self.repo.record_events(events, now)
        engine = self.state.engine
        clock = max(now, engine.now) if engine.now else now
        moved = engine.advance(clock, before=True)
        # Every fact of the batch first, then one plan: a late report and the dispatch sent
        # with it must not fire the dispatch limit in between.
        subjects: dict[Subject, None] = {}
        for event in sorted(new, key=lambda e: e.at):
            subjects.update(dict.fromkeys(self.state.facts.apply(event)))
        subjects.update(dict.fromkeys([(PROACTIVE, s[1]) for s in subjects if s[0] == TICKET]))
        for listener in self.on_change:
            listener(subjects)
        moved += engine.update(subjects, clock)
        self._persist(moved, clock)
        return IngestResult(new=len(new), duplicates=len(events) - len(new))

    def ingest_each(self, events: Sequence[Event], now: datetime) -> IngestResult:
        """Store and apply the events it can take, skipping the rejected ones (listed in the result).

        For sources that cannot resend a batch corrected (a ticket database): one
        bad row must not hold back the others, unlike an API request.
        """
        keep = list(range(len(events)))
        rejected: list[Rejected] = []
        # Until none is left: skipping a rejected report leaves its ticket's later steps unreported.
        while bad := self._check([events[i] for i in keep]):
            rejected += [Rejected(keep[r.index], r.message) for r in bad]
            gone = {keep[r.index] for r in bad}
            keep = [i for i in keep if i not in gone]
        result = self.ingest([events[i] for i in keep], now) if keep else IngestResult()
        result.rejected = sorted(rejected, key=lambda r: r.index)
        return result

    def observe_poll(self, poll: DevicePoll, circuits: list[Circuit], ifnames: dict[str, int],
                     at: datetime) -> None:
        """Take one device poll: reachability, debounced observations, and proactive tickets.

        A circuit seen down past the debounce with no open ticket gets one from
        monitord itself (``source: monitoring``), reported now; its restoration
        clock starts at the first down poll.
        """
        device = f"{poll.target.host}:{poll.target.port}"
        self.polls.observe(device, poll.duration, not poll.reachable or bool(poll.error))
        if self.reachability.observe(device, poll.reachable, at):
            engine = self.state.engine
            clock = max(at, engine.now) if engine.now else at
            self._persist(engine.update([(DEVICE, device)], clock), clock)
        if not poll.reachable:
            return
        events: list[Event] = []
        for circuit, state in circuit_states(poll, circuits, ifnames).items():
            obs = self.debouncer.observe(circuit, state, at)
            if obs is None:
                continue
            events.append(obs)
            if obs.type is ObservationType.DOWN and not self._open_ticket(circuit):
                ticket = f"MON-{circuit}-{at.astimezone(UTC):%Y%m%d%H%M%S}"
                # For a class with proactive_notice (AAA) the ticket fires ProactiveNotice (State._proactive).
                events.append(TicketEvent(at, TicketEventType.REPORTED, ticket, circuit, TicketSource.MONITORING))
        if events:
            self.ingest(events, at)

    def _open_ticket(self, circuit: str) -> bool:
        return any(t.restored is None and t.closed is None
                   for t in self.state.facts.circuit_tickets.get(circuit, ()))

    def tick(self, now: datetime) -> None:
        """Apply everything due by ``now``: alert deadlines and notices (the scheduler's timer job)."""
        self._persist(self.state.engine.advance(now), now)

    def next_instant(self) -> datetime | None:
        """When the next tick is due: the earlier of the engine's next deadline and the next group due."""
        instants = [t for t in (self.state.engine.next_instant(), self.dispatcher.next_instant()) if t is not None]
        return min(instants, default=None)

    def reload(self, config: Path | str, now: datetime) -> list[str]:
        """Build a new state from the files and swap it in; on any problem keep the old one.

        Returns the problems (empty on success).
        """
        try:
            loaded = load(config)
            old = self.state.facts
            # Re-index what is already folded; fold the stored events again only when circuits were
            # dropped, so that their tickets come back if a later reload restores them.
            if old.inventory.circuits.keys() <= loaded.inventory.circuits.keys():
                facts = old.rebased(loaded.inventory)
            else:
                facts = stored_facts(loaded.inventory, self.repo)
            state = State(loaded, facts, now, self.reachability)
        except InputError as exc:
            self.reload_ok, self.reload_errors = False, [str(p) for p in exc.problems]
            log.error("reload failed, keeping the running configuration:\n%s", "\n".join(self.reload_errors))
            return self.reload_errors
        self.state = state
        self.debouncer.polls = loaded.settings.snmp.debounce_polls
        self.reload_ok, self.reload_errors = True, []
        warn_calendar_coverage(loaded.policy, now)
        # The new tree regroups what is firing; the log and the resolutions not yet told carry over.
        before = self.dispatcher
        self.muter = self._muter(loaded)
        self.dispatcher = self._dispatcher(loaded.router, before.log)
        self.dispatcher.take([s for s in before.alerts() if s.resolved_at is not None], now)
        self.dispatcher.take(state.engine.firing(), now)
        self._persist(state.startup, now)
        return []

    # queries ----------------------------------------------------------------
    def firing(self) -> list[Alert]:
        """Alerts firing now."""
        return self.state.engine.firing()

    def notice_details(self, name: str, labels: Mapping[str, str], fired_at: datetime,
                       now: datetime) -> dict[str, str]:
        """What a message about an alert shows beyond its labels (``NoticeAlert.details``), from the facts.

        The keys are ``alerting.messages``' ``DETAIL_*``: the customer's name, level and account
        manager, the circuit's service and ends, the ticket's stage, and for an alert of a ticket's
        deadline that deadline and its kind (a message tells how late from it and its own instant).
        """
        state = self.state
        inventory, tz = state.loaded.inventory, state.loaded.policy.tz
        out: dict[str, str] = {}
        if (customer := inventory.customers.get(labels.get("customer", ""))) is not None:
            am = customer.account_manager
            out[messages.DETAIL_CUSTOMER_NAME] = customer.name
            out[messages.DETAIL_CUSTOMER_LEVEL] = customer.level.value
            out[messages.DETAIL_ACCOUNT_MANAGER] = f"{am.name} {am.phone}".strip()
        if (circuit := inventory.circuits.get(labels.get("circuit", ""))) is not None:
            out[messages.DETAIL_SERVICE] = circuit.service
            out[messages.DETAIL_A_END], out[messages.DETAIL_Z_END] = circuit.a_end, circuit.z_end
        ticket = state.facts.tickets.get(labels.get("ticket", ""))
        if ticket is None:
            return out
        out[messages.DETAIL_TICKET_STAGE] = ticket_stage(ticket)
        for clock in state.planner.clocks(ticket.id):
            due = clock.deadline.due
            if due is not None and name in clock.rule.alerts.values():
                out[messages.DETAIL_DEADLINE] = due.astimezone(tz).isoformat()
                out[messages.DETAIL_DEADLINE_KIND] = clock.deadline.kind.value
                break
        return out

    # internals --------------------------------------------------------------
    def _muter(self, loaded: Loaded) -> Muters:
        """Maintenance windows, silences and inhibition for ``loaded``; the inhibitor starts from what is stored firing.

        ``_persist`` then keeps the inhibitor told of every alert that fires or resolves.
        """
        alerting = loaded.settings.alerting
        firing = [route_labels(AlertKey(name, labels)) for (name, labels, _), resolved in self._stored.items()
                  if resolved is None]
        self.inhibitor = Inhibitor(alerting.inhibit_rules if alerting else (), firing)
        return Muters(MaintenanceMuter(loaded.inventory, loaded.policy.tz), self.silences, self.inhibitor)

    def _dispatcher(self, router: Router | None, log: Mapping[str, LogEntry] | None = None) -> Dispatcher:
        """A dispatcher for ``router`` (None without an alerting section: it sends nothing)."""
        return Dispatcher(router, self.muter, self.notice_details, log)

    def _check(self, events: Sequence[Event]) -> list[Rejected]:
        facts, circuits = self.state.facts, self.loaded.inventory.circuits
        reported = {e.ticket for e in events if isinstance(e, TicketEvent) and e.type is TicketEventType.REPORTED}
        out = []
        for i, e in enumerate(events):
            circuit = getattr(e, "circuit", "")
            known = facts.tickets.get(e.ticket) if isinstance(e, TicketEvent) else None
            if circuit and circuit not in circuits:
                out.append(Rejected(i, f"unknown circuit {circuit!r}"))
            elif known is not None and e.type is TicketEventType.REPORTED and circuit != known.circuit:
                out.append(Rejected(i, f"ticket {known.id!r} was reported on circuit {known.circuit!r}"))
            elif isinstance(e, TicketEvent) and e.ticket not in facts.tickets and e.ticket not in reported:
                out.append(Rejected(i, f"ticket {e.ticket!r} has not been reported"))
        return out

    def _persist(self, transitions: Iterable[Transition], now: datetime) -> None:
        """Store every fired or resolved alert and the notices due by ``now`` (one transaction), then send them.

        The transitions not stored before are new: kept in ``notices`` and handed to the dispatcher.
        """
        changed: dict[int, Alert] = {}
        new: list[Alert] = []
        for tr in transitions:
            if tr.new not in (AlertState.FIRING, AlertState.RESOLVED):
                continue
            alert = tr.alert
            ident = (alert.name, alert.key.labels, alert.fired_at)
            known = ident in self._stored
            if known and self._stored[ident] == alert.resolved_at:
                continue  # stored exactly so before: already acted on
            changed[id(alert)] = alert
            if not known:
                self.fired[(alert.name, alert.labels.get("sla_class", ""))] += 1
            self._stored[ident] = alert.resolved_at
            if tr.new is AlertState.FIRING and known:
                continue  # fired before a restart; only its resolution could be new
            self.notices.append(tr)
            new.append(alert)
            labels = route_labels(alert.key)
            # Every alert that resolves here was counted firing: stored so at start-up, or fired since.
            (self.inhibitor.fired if tr.new is AlertState.FIRING else self.inhibitor.resolved)(labels)
            when = tr.at.astimezone(self.loaded.policy.tz).isoformat() if tr.at else "?"
            log.info("alert %s %s at %s %s", alert.name, tr.new.value, when, dict(alert.key.labels))
        self.dispatcher.take(new, now)
        alerting = self.loaded.settings.alerting
        outbox = entries(self.dispatcher.due(now), alerting.receivers, now) if alerting else []
        self.repo.record_alerts(changed.values(), outbox)
        if outbox:
            self.send(outbox)


def ticket_stage(ticket: Ticket) -> str:
    """The ``TicketEventType`` value of a ticket's latest step (reported, dispatched, ..., paused, resumed, closed)."""
    steps: list[tuple[datetime, str]] = [(ticket.reported, "reported")]
    for stage in ("dispatched", "accepted", "restored", "confirmed", "report_sent", "closed"):
        if (at := getattr(ticket, stage)) is not None:
            steps.append((at, stage))
    for start, end in ticket.pauses:
        steps.append((start, "paused"))
        if end is not None:
            steps.append((end, "resumed"))
    return sorted(steps, key=lambda s: s[0])[-1][1]  # stable: of steps at one instant, the later one


_NO_ALERTING = AlertingSettings(RouteSettings(receiver="none"), {})
"""The settings of a config without ``alerting:``, for the notifier factory (which then builds nothing)."""


class DaemonBackend:
    """The HTTP API's view of the daemon (``api.Backend``)."""

    def __init__(self, daemon: Daemon, timer: Timer, config: Path, clock: Callable[[], datetime],
                 notifier: Notifier, ticket_dbs: TicketDbPolls | None = None, outbox: Outbox | None = None,
                 notify_stats: NotifyStats | None = None) -> None:
        self.daemon, self.timer, self.config, self.clock, self.notifier = daemon, timer, config, clock, notifier
        self.ticket_dbs = ticket_dbs
        self.outbox, self.notify_stats = outbox, notify_stats
        self.followers: list[Callable[[Loaded], None]] = []  # jobs that follow a successful reload
        if ticket_dbs is not None:
            self.followers.append(lambda new: ticket_dbs.reload(new.settings.ticket_databases))
        self.reloaded_at = clock()
        self.events_total = 0
        self._inventory_seen = _fingerprint(daemon.loaded.settings.inventory)
        # The exporter's rows of the state in force, kept between scrapes; built now, at start-up.
        self._view: exporter.StateView | None = None
        daemon.on_change.append(self._touch)
        self._rows(self.reloaded_at)

    def ingest(self, events: list[Event]) -> api.IngestResult:
        """Store and apply events; re-arm the timer, as an event may bring the next deadline forward."""
        result = self.daemon.ingest(events, self.clock())
        if result.rejected:
            raise api.EventsRejected([(r.index, r.message) for r in result.rejected])
        self.events_total += result.new
        self.timer.rearm()
        return api.IngestResult(result.new, result.duplicates)

    def tickets(self) -> list[dict[str, Any]]:
        """Every ticket with its deadlines as of now."""
        now, state = self.clock(), self.daemon.state
        out = []
        for tid, t in state.facts.tickets.items():
            deadlines = [{"kind": d.kind.value, "due": _iso(d.due), "state": d.state(now).value,
                          "done_at": _iso(d.done_at)} for d in (c.deadline for c in state.planner.clocks(tid))]
            out.append({"ticket": tid, "circuit": t.circuit, "source": t.source.value, "reported": _iso(t.reported),
                        "restored": _iso(t.restored), "closed": _iso(t.closed), "deadlines": deadlines})
        return out

    def circuits(self) -> list[dict[str, Any]]:
        """Every circuit with its class and month-to-date availability."""
        now, state = self.clock(), self.daemon.state
        month = Month.of(now, state.loaded.policy.tz)
        out = []
        for cid, c in state.loaded.inventory.circuits.items():
            a = state.planner.availability(cid, month, now)
            out.append({"circuit": cid, "customer": c.customer, "service": c.service, "sla_class": c.sla_class.value,
                        "month": str(month), "availability": a.availability, "downtime_seconds": a.downtime_seconds,
                        "budget_seconds": a.budget_seconds})
        return out

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts firing now."""
        return [{"name": a.name, "labels": a.labels, "fired_at": _iso(a.fired_at)} for a in self.daemon.firing()]

    def ready(self) -> bool:
        """Ready once the state is built (the daemon serves only after that)."""
        return True

    async def reload(self) -> api.ReloadResult:
        """Rebuild from the files and swap; the old set keeps running on any problem."""
        self.notifier.reloading(time.monotonic_ns() // 1000)
        errors = self.daemon.reload(self.config, self.clock())
        if not errors:
            self.reloaded_at = self.clock()
            self._rows(self.reloaded_at)  # the exporter's view of the new state, now rather than at a scrape
        self._inventory_seen = _fingerprint(self.daemon.loaded.settings.inventory)
        if not errors:
            for follow in self.followers:
                follow(self.daemon.loaded)
        self.timer.rearm()
        self.notifier.ready(status="reload failed, old configuration kept" if errors else "running")
        return api.ReloadResult(not errors, errors)

    async def metrics(self) -> bytes:
        """The Prometheus exposition of the current state: snapshot on the loop, text in a worker thread.

        The snapshot costs the loop O(what changed since the last scrape); writing
        some 300,000 samples of a large network takes most of a second, which the
        loop must not wait for (``bench/scrape.py``).
        """
        snapshot = self.snapshot()
        return await asyncio.to_thread(exporter.exposition, snapshot)

    def snapshot(self) -> exporter.Snapshot:
        """What the exporter shows, as of the daemon's clock now; on the event loop."""
        now, daemon = self.clock(), self.daemon
        state = daemon.state
        policy = state.loaded.policy
        month, circuits, tickets = self._rows(now)
        lo, hi = month.bounds(policy.tz)
        nxt, due = daemon.next_instant(), state.engine.next_instant()
        # The engine has processed everything before its next instant; only an instant already past is lag.
        lag = (now - due).total_seconds() if due is not None and due < now else 0.0
        kinds = {rule.alerts[AlertRole.BREACH]: kind.value for kind, rule in policy.deadlines.items()
                 if AlertRole.BREACH in rule.alerts}
        breaches: Counter[tuple[str, str]] = Counter({(k, c.value): 0 for k in kinds.values() for c in policy.classes})
        for (name, cls), n in daemon.fired.items():
            if name in kinds and cls:
                breaches[(kinds[name], cls)] += n
        devices = {d: not (spans and spans[-1][1] is None) for d, spans in daemon.reachability.spans.items()}
        outbox = self.outbox
        return exporter.Snapshot(
            reload_ok=daemon.reload_ok, reload_timestamp=self.reloaded_at.timestamp(), firing=daemon.firing(),
            next_instant=nxt.timestamp() if nxt else None, events_total=self.events_total,
            ticket_sources={k: replace(v) for k, v in self.ticket_dbs.stats.items()} if self.ticket_dbs else {},
            notifications=dict(outbox.counts) if outbox else {}, outbox_backlog=outbox.backlog if outbox else None,
            deliveries=self.notify_stats.snapshot() if self.notify_stats else {},
            now=now.timestamp(), engine_lag=lag, month=(lo.timestamp(), hi.timestamp()),
            targets={c.value: p.availability for c, p in policy.classes.items()}, circuits=circuits,
            tickets=tickets, breaches=breaches, devices=devices, polls=daemon.polls.figures(),
            calendar_until=_end_of_day(policy.calendar.covered_until, policy.tz),
            calendar_guessed=tuple(sorted(policy.calendar.guessed)))

    def _rows(self, now: datetime) -> tuple[Month, list[exporter.CircuitRow], list[exporter.TicketRow]]:
        """The exporter's rows as of ``now``; a new state (a reload) gets a new view."""
        state = self.daemon.state
        if self._view is None or self._view.facts is not state.facts:
            self._view = exporter.StateView(state.facts, state.planner, ticket_stage, now)
        return self._view.rows(now)

    def _touch(self, subjects: Iterable[Subject]) -> None:
        """Tell the exporter's view what an ingest changed (``Daemon.on_change``), if it is the state's."""
        if self._view is not None and self._view.facts is self.daemon.state.facts:
            self._view.touch(subjects)

    # silences (api.Backend) -------------------------------------------------------
    def monthly_report(self, month: str, customers: list[str], fmt: str, lang: str) -> tuple[str, str]:
        """The monthly report from the daemon's own facts (up to now), as ``monitord report monthly`` makes it.

        Made on the loop, as the facts change there: a whole network of 100,000 circuits takes
        seconds (``bench/report.py``), so such a report is better made with the command.
        """
        now, state = self.clock(), self.daemon.state
        try:
            m = Month.parse(month)
        except ValueError:
            raise api.ReportRejected("month", f"expected a month like 2026-10, got {month!r}") from None
        try:
            report = monthly_report(state.loaded.policy, state.planner, m, now, customers or None)
        except ReportError as exc:
            raise api.ReportRejected(exc.about, str(exc)) from None
        return render.monthly(report, fmt, lang)

    def fault_report(self, ticket: str, fmt: str, lang: str) -> tuple[str, str] | None:
        """One fault's report from the daemon's own facts (up to now); None for an unknown ticket."""
        state = self.daemon.state
        try:
            report = fault_report(state.loaded.policy, state.planner, ticket, self.clock())
        except TicketNotFound:
            return None
        return render.fault(report, fmt, lang)

    def silences(self) -> list[dict[str, Any]]:
        """Every stored silence with its state now, times in the rules' zone."""
        now, tz = self.clock(), self.daemon.loaded.policy.tz
        return [api.silence_json(s, now, tz) for s in self.daemon.repo.silences()]

    def add_silence(self, new: api.NewSilence) -> dict[str, Any]:
        """Store a silence with a new id (its start: now, unless given); one that has already ended is refused."""
        now = self.clock()
        if new.ends_at <= now:
            raise api.SilenceRejected("endsAt", f"{new.ends_at.isoformat()} has already passed")
        silence = Silence(str(uuid.uuid4()), new.matchers, new.starts_at or now, new.ends_at, new.created_by,
                          new.comment, now)
        self.daemon.repo.add_silence(silence)
        self.daemon.silences.put(silence)
        log.info("silence %s added by %s until %s: %s (%s)", silence.id, silence.created_by,
                 silence.ends_at.isoformat(), ", ".join(silence.matchers), silence.comment)
        return api.silence_json(silence, now, self.daemon.loaded.policy.tz)

    def expire_silence(self, silence_id: str) -> dict[str, Any] | None:
        """End a silence now; None when there is no such silence."""
        now = self.clock()
        silence = self.daemon.repo.expire_silence(silence_id, now)
        if silence is None:
            return None
        self.daemon.silences.put(silence)
        log.info("silence %s expired", silence_id)
        return api.silence_json(silence, now, self.daemon.loaded.policy.tz)


    async def sync_inventory(self) -> None:
        """The inventory sync job: reload when the inventory file changed since the last (re)load."""
        if _fingerprint(self.daemon.loaded.settings.inventory) != self._inventory_seen:
            log.info("inventory file changed: reloading")
            await self.reload()


def _fingerprint(path: Path | None) -> str:
    """A digest of a file's content ("" for none or unreadable): what tells the inventory sync it changed."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path else ""
    except OSError:
        return ""


def _end_of_day(day: date, tz: ZoneInfo) -> float:
    """Seconds since the epoch of 24:00 local at the end of ``day``."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tz).timestamp()


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _receivers(loaded: Loaded) -> Mapping[str, ReceiverSettings]:
    return loaded.settings.alerting.receivers if loaded.settings.alerting else {}


def _notifiers(loaded: Loaded, stats: NotifyStats, previous: Notifiers | None = None) -> Notifiers:
    """The outbox's notifier factory for a configuration (messages in the rules' time zone)."""
    return Notifiers(loaded.settings.alerting or _NO_ALERTING, tz=loaded.policy.tz, stats=stats, previous=previous)


async def run(config: Path, env: Mapping[str, str], clock: Callable[[], datetime] = lambda: datetime.now(UTC),
              started: Callable[[str], None] | None = None) -> None:
    """Run the daemon until SIGTERM or SIGINT; SIGHUP reloads. Raises ``InputError`` on a bad start-up config."""
    loaded = load(config)
    repo = Repository.open(loaded.settings.storage)
    notifier = Notifier(env)
    gc.disable()  # the cold start builds millions of long-lived objects and no cyclic garbage
    try:
        told = last_told(repo)
        daemon = Daemon(loaded, repo, clock(), told)
    finally:
        gc.freeze()  # later collections leave the cold start's objects alone (a full pass took ~170 ms)
        gc.enable()
    stats = NotifyStats()
    notifiers = _notifiers(loaded, stats)
    # What each group was last told: Alertmanager must keep hearing of the alerts still firing.
    notifiers.remember((notice for _, notice in told), _receivers(loaded))
    outbox = Outbox(repo, notifiers, _receivers(loaded), clock, stats=stats)
    # Whatever was written and not sent before (a crash, a stop mid-send, the start-up's own catch-up).
    outbox.submit(repo.unsent_notices())
    daemon.outgoing.clear()
    daemon.send = outbox.submit
    timer = Timer(daemon.tick, daemon.next_instant, clock)
    ticket_dbs = TicketDbPolls(loaded.settings.ticket_databases, daemon.ingest_each, repo, clock, timer.rearm)
    backend = DaemonBackend(daemon, timer, config, clock, notifier, ticket_dbs, outbox, stats)

    def follow_alerting(new: Loaded) -> None:
        nonlocal notifiers
        notifiers = _notifiers(new, stats, notifiers)
        outbox.reconfigure(_receivers(new), notifiers)
    http = loaded.settings.http
    settings = api.ApiSettings(http.host, http.port, http.token_file, http.auth_reads)
    server = api.ApiServer(api.build_app(backend, settings), settings)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(backend.reload()))
    workers = loaded.settings.snmp.workers  # fixed at start-up: changing it takes a restart
    poller = WorkerPoller(workers) if workers else SnmpPoller()

    def on_polls(results: list[DevicePoll], at: datetime) -> None:
        for poll in results:
            circuits, names = groups.circuits_of(poll)
            daemon.observe_poll(poll, circuits, names, at)
        timer.rearm()

    groups = PollGroups(loaded.inventory, loaded.settings.snmp, poller, on_polls, clock)
    backend.followers += [follow_alerting,
                          lambda new: groups.reload(new.inventory, new.settings.snmp)]
    timer.start()
    groups.add_jobs(timer.scheduler)
    ticket_dbs.add_jobs(timer.scheduler)
    if loaded.settings.inventory_sync:
        # The interval of the first load; changing it takes a restart.
        timer.scheduler.add_job(backend.sync_inventory, "interval", seconds=loaded.settings.inventory_sync,
                                id="inventory-sync", max_instances=1, coalesce=True)
    # Alertmanager forgets alerts not re-sent: its notifiers re-send what fires (the shortest interval of the
    # first load; a change takes a restart).
    async def resend() -> None:
        await notifiers.resend(clock())

    timer.scheduler.add_job(resend, "interval", seconds=notifiers.resend_interval.total_seconds(),
                            id="alertmanager-resend", max_instances=1, coalesce=True)

    async def prune_log() -> None:  # a coroutine, so that it runs on the loop like every other writer
        gone = repo.prune_notices(clock() - NOTICE_RETENTION)
        if gone:
            log.info("notification log: %d entries older than %d days pruned", gone, NOTICE_RETENTION.days)

    timer.scheduler.add_job(prune_log, "interval", days=1, id="notification-log-prune", next_run_time=clock(),
                            max_instances=1, coalesce=True)
    interval = watchdog_interval(env, os.getpid())
    if interval is not None:
        # Pinged from the loop itself: a hung loop stops the pings and systemd restarts us.
        timer.scheduler.add_job(notifier.watchdog, "interval", seconds=interval, id="watchdog")
    serving = asyncio.create_task(server.serve())
    notifier.ready(status="running")
    if started is not None:
        started(server.url)
    try:
        await stop.wait()
    finally:
        notifier.stopping()
        timer.stop()
        server.stop()
        await serving
        outbox.close()  # sends in flight stay unsent in the log: sent again at the next start
        await notify_http.close()
        poller.close()
        ticket_dbs.close()
        repo.close()
