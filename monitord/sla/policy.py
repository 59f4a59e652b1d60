"""The SLA policy: ``rules/*.yaml`` -> a validated, typed ``SlaPolicy``.

The rules directory holds several YAML files (``sla.yaml``, ``services.yaml``,
``calendar.yaml``, ``compensation.yaml``); each top-level key belongs to
exactly one of them, and the loader reads them as one document. Every problem
is reported with its file, line and key, all at once; a policy that loads is
trusted from then on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from monitord.calendar import WorkCalendar
from monitord.config import OutageBasis
from monitord.domain import Circuit, Customer, CustomerLevel, DeadlineKind, SlaClass
from monitord.yamldoc import Limit, Problems, Section, WorkingDays


class Milestone(enum.StrEnum):
    """An instant in a ticket's life that a limit can start from."""

    REPORTED = "reported"  # when the ticket was reported
    CLOCK_START = "clock_start"  # reported, or the first monitoring `down` for a proactive ticket
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    RESTORED = "restored"


class AlertRole(enum.StrEnum):
    """What an alert of a deadline says about it."""

    WARNING = "warning"  # a share of the limit has elapsed
    BREACH = "breach"  # the limit has passed undone
    ESCALATION = "escalation"  # a step after the breach


class Tier(enum.StrEnum):
    """The family of service promise a class belongs to."""

    COMMITMENT = "commitment"  # SLA commitment: strict, compensated when missed
    MAINTENANCE = "maintenance"  # maintenance quality guarantee: compensation negotiable
    QUALITY = "quality"  # quality-level commitment: no compensation


DONE_BY: dict[DeadlineKind, str] = {
    DeadlineKind.DISPATCH: "dispatched",
    DeadlineKind.ACCEPT: "accepted",
    DeadlineKind.RESTORE: "restored",
    DeadlineKind.CONFIRM: "confirmed",
    DeadlineKind.REPORT: "report_sent",
}
"""The ticket milestone that completes each deadline kind (fixed: it is what the kind means)."""

class Tightening(enum.StrEnum):
    """What protection does to one deadline kind, when the rules give no fixed limit for it."""

    TIGHTEST = "tightest"  # the shortest limit any class (VPN variants and the default included) gives the kind
    UNCHANGED = "unchanged"  # protection leaves the kind's limit as it is


SEVERITY_KEYS = ("warning", "breach", "escalation", "repeat", "budget_burn", "circuit_down", "device_unreachable")


@dataclass(frozen=True)
class DeadlineRule:
    """How one deadline kind is clocked and which alerts it raises."""

    kind: DeadlineKind
    start: Milestone
    limit: Limit | None  # None: every class (or service) must give it
    pausable: bool
    alerts: dict[AlertRole, str]


@dataclass(frozen=True)
class EscalationStep:
    """A step after a breach: who is told and how long after the due instant."""

    after: timedelta
    step: str


@dataclass(frozen=True)
class ClassPolicy:
    """What one SLA class promises."""

    sla_class: SlaClass
    tier: Tier
    availability: float  # monthly target as a ratio, e.g. 0.9999
    limits: dict[DeadlineKind, Limit | None]  # None: the class waives that limit
    vpn_limits: dict[DeadlineKind, Limit | None]
    repeat_months: int | None  # a second fault within this many calendar months is a repeat
    proactive_notice: bool  # tell the customer's contact when monitoring finds a fault
    warnings: tuple[float, ...]  # shares of a limit at which warnings fire
    escalation: tuple[EscalationStep, ...]
    budget_burn: tuple[float, ...]  # shares of the monthly downtime budget
    severity: dict[str, str]  # per alert role (see SEVERITY_KEYS)


@dataclass(frozen=True)
class LimitChoice:
    """A service limit that depends on a customer attribute (level or segment)."""

    by: str  # "level" or "segment"
    values: dict[str, Limit]
    default: Limit | None

    def pick(self, customer: Customer) -> Limit | None:
        """The limit for a customer."""
        attr = customer.level.value if self.by == "level" else customer.segment
        return self.values.get(attr, self.default)


@dataclass(frozen=True)
class ServiceRule:
    """Limits of a non-bandwidth service that replace the class limits."""

    service: str
    limits: dict[DeadlineKind, Limit | LimitChoice]


@dataclass(frozen=True)
class CustomerCausedRule:
    """What a fault found to be the customer's own does to the SLA."""

    exclude_from_availability: bool
    counts_as_repeat: bool
    waives: frozenset[DeadlineKind]


@dataclass(frozen=True)
class CreditTier:
    """A compensation step: availability below ``below`` earns ``credit`` of the monthly fee."""

    below: float
    credit: float


@dataclass(frozen=True)
class ClassCredits:
    """The compensation table of one class."""

    availability: tuple[CreditTier, ...]
    per_missed_restoration: float
    max_credit: float


@dataclass(frozen=True)
class Compensation:
    """The credit table; ``example`` says the figures are not the contract's own."""

    example: bool
    note: str
    classes: dict[SlaClass, ClassCredits]


@dataclass(frozen=True)
class AlertNames:
    """Names of the alerts that are not tied to one deadline."""

    repeat: str
    budget_burn: str
    circuit_down: str
    device_unreachable: str = "DeviceUnreachable"


@dataclass(frozen=True)
class ProtectionRule:
    """What a customer's protection period does (the rules' ``protection:`` section).

    ``limits`` says per deadline kind what a fault whose clock starts inside a
    period gets: ``TIGHTEST`` (the default for every kind), ``UNCHANGED``, or a
    fixed limit (never looser than the circuit's own when both count the same
    unit). ``tightest`` and ``service_tightest`` are worked out at load time:
    per kind, the shortest limit of every class, its VPN variant and the
    deadline's default; per service and kind, the shortest of that service's own
    limits (a service limit replaces the class limit, so it is tightened among its own).
    Every alert of a protected circuit while a period is on carries ``severity``.
    """

    limits: dict[DeadlineKind, Limit | Tightening] = field(default_factory=dict)
    severity: str = "critical"
    tightest: dict[DeadlineKind, Limit] = field(default_factory=dict)
    service_tightest: dict[tuple[str, DeadlineKind], Limit] = field(default_factory=dict)


PROTECTION_LABEL = "protection"
"""The label every alert of a protected circuit carries while its period is on: the period's name."""


@dataclass(frozen=True)
class SlaPolicy:
    """The whole SLA policy, validated."""

    tz: ZoneInfo
    calendar: WorkCalendar
    outage_basis: OutageBasis
    deadlines: dict[DeadlineKind, DeadlineRule]
    classes: dict[SlaClass, ClassPolicy]
    services: dict[str, ServiceRule]
    customer_caused: CustomerCausedRule
    alert_names: AlertNames
    compensation: Compensation | None = None
    files: tuple[str, ...] = field(default=())
    default_severity: dict[str, str] = field(default_factory=dict)
    protection: ProtectionRule = field(default_factory=ProtectionRule)

    def defaults_severity(self, role: str) -> str:
        """The severity of an alert role that belongs to no class (e.g. a device's)."""
        return self.default_severity.get(role, "critical")

    def limits_of(
        self, circuit: Circuit, customer: Customer, protected: bool = False
    ) -> list[tuple[DeadlineRule, Limit]]:
        """Every deadline rule that applies to a circuit, with its limit, in the rules' order.

        ``protected``: the limits of a fault whose clock starts inside a protection period.
        """
        return [(rule, limit) for kind, rule in self.deadlines.items()
                if (limit := self.limit_for(kind, circuit, customer, protected)) is not None]

    def limit_for(
        self, kind: DeadlineKind, circuit: Circuit, customer: Customer, protected: bool = False
    ) -> Limit | None:
        """The limit of a deadline kind for a circuit: service rule, then class (VPN variant), then default.

        ``protected`` applies the rules' ``protection.limits`` to it; a limit the
        circuit does not have (waived by its class) stays waived: protection
        shortens promises, it does not make new ones.
        """
        own, service = self._own_limit(kind, circuit, customer)
        if not protected or own is None:
            return own
        choice = self.protection.limits.get(kind, Tightening.TIGHTEST)
        if choice is Tightening.UNCHANGED:
            return own
        if choice is Tightening.TIGHTEST:
            if service is not None:
                return self.protection.service_tightest.get((service, kind), own)
            return self.protection.tightest.get(kind, own)
        return shorter(choice, own)

    def _own_limit(self, kind: DeadlineKind, circuit: Circuit, customer: Customer) -> tuple[Limit | None, str | None]:
        """The unprotected limit, and the service whose rule gave it (None: the class or the default)."""
        service = self.services.get(circuit.service)
        if service and kind in service.limits:
            chosen = service.limits[kind]
            limit = chosen.pick(customer) if isinstance(chosen, LimitChoice) else chosen
            if limit is not None:
                return limit, service.service
        cls = self.classes[circuit.sla_class]
        if kind in cls.limits and cls.limits[kind] is None:
            return None, None  # the class waives this limit
        if circuit.vpn and kind in cls.vpn_limits:
            return cls.vpn_limits[kind], None
        if kind in cls.limits:
            return cls.limits[kind], None
        return (self.deadlines[kind].limit if kind in self.deadlines else None), None


def shorter(a: Limit, b: Limit) -> Limit:
    """The shorter of two limits of the same unit; ``a`` when one counts working days and the other time."""
    if isinstance(a, WorkingDays) and isinstance(b, WorkingDays):
        return a if a.days <= b.days else b
    if not isinstance(a, WorkingDays) and not isinstance(b, WorkingDays):
        return min(a, b)
    return a


def tightest(limits: list[Limit]) -> Limit | None:
    """The shortest of ``limits``; None when there are none, or when they mix durations and working days.

    A duration and a number of working days have no order without a start
    instant, so such a pool has no tightest limit: the rules must write one.
    """
    if not limits:
        return None
    if all(isinstance(x, WorkingDays) for x in limits):
        return min(limits, key=lambda x: x.days)  # type: ignore[union-attr]
    if not any(isinstance(x, WorkingDays) for x in limits):
        return min(limits)  # type: ignore[type-var]
    return None


# --------------------------------------------------------------------------- loading


def load_policy(rules_dir: Path | str, outage_basis: OutageBasis | None = None) -> SlaPolicy:
    """Load and validate every ``*.yaml`` in ``rules_dir`` (or one rules file); raises ``InputError``."""
    problems = Problems()
    root = _merge_files(Path(rules_dir), problems)
    problems.raise_if_any()
    policy = _Builder(root, problems).build(outage_basis)
    problems.raise_if_any()
    assert policy is not None
    return policy


@dataclass
class _Merged:
    """Top-level keys of all rule files, each with the section it came from."""

    sections: dict[str, Section]
    files: tuple[str, ...]


def _merge_files(rules_dir: Path, problems: Problems) -> _Merged:
    if rules_dir.is_file():
        files = [rules_dir]
    elif rules_dir.is_dir():
        files = sorted(rules_dir.glob("*.yaml"))
    else:
        problems.add(str(rules_dir), 0, "", "rules directory not found")
        return _Merged({}, ())
    if not files:
        problems.add(str(rules_dir), 0, "", "no *.yaml rule files in this directory")
    merged: dict[str, Section] = {}
    for f in files:
        doc = Section.load(f, problems)
        for key, sec in doc.items():
            if key in merged:
                sec.error(f"already defined in {merged[key].file}:{merged[key].line}")
            else:
                merged[key] = sec
    return _Merged(merged, tuple(str(f) for f in files))


class _Builder:
    """Turns the merged sections into typed policy objects, recording problems."""

    KNOWN = ("timezone", "availability", "deadlines", "alerts", "defaults", "customer_caused",
             "classes", "services", "calendar", "compensation", "protection")

    def __init__(self, merged: _Merged, problems: Problems) -> None:
        self.base_severity: dict[str, str] = {}
        self.s = merged.sections
        self.files = merged.files
        self.problems = problems

    def build(self, basis_override: OutageBasis | None) -> SlaPolicy | None:
        for key, sec in self.s.items():
            if key not in self.KNOWN:
                sec.error(f"unknown top-level key (expected one of: {', '.join(self.KNOWN)})")
        for key in ("timezone", "deadlines", "classes", "alerts"):
            if key not in self.s:
                self.problems.add(self.files[0] if self.files else "rules", 1, key,
                                  "missing required top-level key (in any rules/*.yaml)")
        tz = self._timezone()
        deadlines = self._deadlines()
        defaults = self._defaults()
        classes = self._classes(defaults, deadlines)
        services = self._services()
        caused = self._customer_caused()
        names = self._alert_names()
        basis = basis_override or self._basis()
        calendar = self._calendar(tz) if tz else None
        compensation = self._compensation()
        protection = self._protection(deadlines, classes, services)
        if tz is None or calendar is None or names is None or basis is None or caused is None:
            return None
        return SlaPolicy(tz, calendar, basis, deadlines, classes, services, caused, names,
                         compensation, self.files, self.base_severity, protection)

    def _protection(
        self, deadlines: dict[DeadlineKind, DeadlineRule], classes: dict[SlaClass, ClassPolicy],
        services: dict[str, ServiceRule],
    ) -> ProtectionRule:
        """``protection: {limits: tightest | {kind: tightest | unchanged | LIMIT}, severity}``."""
        sec = self.s.get("protection")
        limits: dict[DeadlineKind, Limit | Tightening] = {}
        severity = "critical"
        lim_sec: Section | None = None
        if sec is not None:
            sec.only("limits", "severity")
            if (sev := sec.get("severity")) is not None:
                severity = sev.text() or severity
            lim_sec = sec.get("limits")
            if lim_sec is not None and not lim_sec.is_mapping():
                whole = lim_sec.enum(Tightening)
                limits = {kind: whole for kind in deadlines} if whole else {}
            for name, v in lim_sec.items() if lim_sec is not None and lim_sec.is_mapping() else ():
                if name not in DeadlineKind._value2member_map_:
                    v.error(f"unknown deadline kind (expected one of: {', '.join(k.value for k in DeadlineKind)})")
                    continue
                word = v.value if isinstance(v.value, str) and v.value in Tightening._value2member_map_ else None
                choice = Tightening(word) if word else v.limit()
                if choice is not None:
                    limits[DeadlineKind(name)] = choice
        tight: dict[DeadlineKind, Limit] = {}
        by_service: dict[tuple[str, DeadlineKind], Limit] = {}
        where = lim_sec or sec or self.s.get("classes")
        for kind, rule in deadlines.items():
            if limits.get(kind, Tightening.TIGHTEST) is not Tightening.TIGHTEST:
                continue
            pool = [x for x in [rule.limit, *(c.limits.get(kind) for c in classes.values()),
                                *(c.vpn_limits.get(kind) for c in classes.values())] if x is not None]
            if (t := tightest(pool)) is not None:
                tight[kind] = t
            elif pool and where is not None:
                where.error(f"the classes give '{kind}' limits in both time and working days, so none is "
                            f"the tightest: write protection.limits.{kind}")
            for svc in services.values():
                chosen = svc.limits.get(kind)
                if chosen is None:
                    continue
                own = [*chosen.values.values(), *([chosen.default] if chosen.default else [])] \
                    if isinstance(chosen, LimitChoice) else [chosen]
                if (t := tightest(own)) is not None:
                    by_service[(svc.service, kind)] = t
                elif where is not None:
                    where.error(f"service {svc.service!r} gives '{kind}' limits in both time and working days, "
                                f"so none is the tightest: write protection.limits.{kind}")
        return ProtectionRule(limits, severity, tight, by_service)

    def _timezone(self) -> ZoneInfo | None:
        sec = self.s.get("timezone")
        return sec.timezone() if sec else None

    def _basis(self) -> OutageBasis | None:
        sec = self.s.get("availability")
        if sec is None:
            return OutageBasis.TICKETS
        sec.only("outage_basis")
        b = sec.get("outage_basis")
        return b.enum(OutageBasis) if b else OutageBasis.TICKETS

    def _deadlines(self) -> dict[DeadlineKind, DeadlineRule]:
        out: dict[DeadlineKind, DeadlineRule] = {}
        sec = self.s.get("deadlines")
        if sec is None:
            return out
        for name, d in sec.items():
            kind = DeadlineKind(name) if name in DeadlineKind._value2member_map_ else None
            if kind is None:
                d.error(f"unknown deadline kind (expected one of: {', '.join(k.value for k in DeadlineKind)})")
            d.only("from", "limit", "pausable", "alerts")
            start_sec = d.get("from", required=True)
            start = start_sec.enum(Milestone) if start_sec else None
            limit_sec = d.get("limit")
            limit = limit_sec.limit() if limit_sec else None
            pausable_sec = d.get("pausable")
            pausable = bool(pausable_sec.flag()) if pausable_sec else False
            alerts: dict[AlertRole, str] = {}
            a = d.get("alerts", required=True)
            for role_name, n in a.items() if a else ():
                role = AlertRole(role_name) if role_name in AlertRole._value2member_map_ else None
                if role is None:
                    n.error(f"unknown alert role (expected one of: {', '.join(r.value for r in AlertRole)})")
                alert = n.text()
                if role and alert:
                    alerts[role] = alert
            if a and AlertRole.BREACH not in alerts and a.is_mapping():
                a.error("missing required key 'breach' (the alert raised when the limit passes)")
            if kind and start:
                out[kind] = DeadlineRule(kind, start, limit, pausable, alerts)
        return out

    def _defaults(self) -> Section | None:
        return self.s.get("defaults")

    def _shares(self, sec: Section) -> tuple[float, ...]:
        vals = [p.percent() for p in sec.entries()]
        return tuple(sorted(v for v in vals if v is not None))

    def _escalation(self, sec: Section) -> tuple[EscalationStep, ...]:
        steps = []
        for item in sec.entries():
            item.only("after", "step")
            after, step = item.get("after", required=True), item.get("step", required=True)
            a = after.duration() if after else None
            s = step.text() if step else None
            if a is not None and s is not None:
                steps.append(EscalationStep(a, s))
        return tuple(sorted(steps, key=lambda e: e.after))

    def _severity(self, sec: Section, base: dict[str, str]) -> dict[str, str]:
        out = dict(base)
        for role, v in sec.items():
            if role not in SEVERITY_KEYS:
                v.error(f"unknown severity role (expected one of: {', '.join(SEVERITY_KEYS)})")
                continue
            name = v.text()
            if name:
                out[role] = name
        return out

    def _classes(
        self, defaults: Section | None, deadlines: dict[DeadlineKind, DeadlineRule]
    ) -> dict[SlaClass, ClassPolicy]:
        base_warn: tuple[float, ...] = ()
        base_esc: tuple[EscalationStep, ...] = ()
        base_burn: tuple[float, ...] = ()
        base_sev = {k: "critical" for k in SEVERITY_KEYS}
        if defaults is not None:
            defaults.only("warnings", "escalation", "budget_burn", "severity")
            if (w := defaults.get("warnings")) is not None:
                base_warn = self._shares(w)
            if (e := defaults.get("escalation")) is not None:
                base_esc = self._escalation(e)
            if (b := defaults.get("budget_burn")) is not None:
                base_burn = self._shares(b)
            if (s := defaults.get("severity")) is not None:
                base_sev = self._severity(s, base_sev)
        self.base_severity = base_sev
        out: dict[SlaClass, ClassPolicy] = {}
        sec = self.s.get("classes")
        if sec is None:
            return out
        for name, c in sec.items():
            if name not in SlaClass._value2member_map_:
                c.error(f"unknown SLA class (expected one of: {', '.join(m.value for m in SlaClass)})")
                continue
            c.only("tier", "availability", "limits", "vpn_limits", "repeat_window", "proactive_notice",
                   "warnings", "escalation", "budget_burn", "severity")
            tier_sec, avail_sec = c.get("tier", required=True), c.get("availability", required=True)
            tier = tier_sec.enum(Tier) if tier_sec else None
            avail = avail_sec.percent() if avail_sec else None
            limits_sec = c.get("limits")
            limits = self._limits(limits_sec)
            vpn_limits = self._limits(c.get("vpn_limits"))
            given = limits_sec.value if limits_sec and limits_sec.is_mapping() else {}
            for kind, rule in deadlines.items():
                if rule.limit is None and kind.value not in given:
                    (limits_sec or c).error(f"missing limit for '{kind}' (the deadlines rule gives no default)")
            rw = c.get("repeat_window")
            repeat = rw.months() if rw else None
            pn = c.get("proactive_notice")
            proactive = bool(pn.flag()) if pn else False
            w, e, b, s = c.get("warnings"), c.get("escalation"), c.get("budget_burn"), c.get("severity")
            warnings = self._shares(w) if w else base_warn
            escalation = self._escalation(e) if e else base_esc
            burn = self._shares(b) if b else base_burn
            severity = self._severity(s, base_sev) if s else base_sev
            if tier is None or avail is None:
                continue
            cls = SlaClass(name)
            out[cls] = ClassPolicy(cls, tier, avail, limits, vpn_limits, repeat, proactive, warnings, escalation,
                                   burn, severity)
        return out

    def _limits(self, sec: Section | None) -> dict[DeadlineKind, Limit | None]:
        """Limits by kind; ``none`` waives a kind for the class (None in the result)."""
        out: dict[DeadlineKind, Limit | None] = {}
        for kind_name, v in sec.items() if sec else ():
            if kind_name not in DeadlineKind._value2member_map_:
                v.error(f"unknown deadline kind (expected one of: {', '.join(k.value for k in DeadlineKind)})")
                continue
            if v.value is None or v.value == "none":
                out[DeadlineKind(kind_name)] = None
            elif (limit := v.limit()) is not None:
                out[DeadlineKind(kind_name)] = limit
        return out

    def _services(self) -> dict[str, ServiceRule]:
        out: dict[str, ServiceRule] = {}
        sec = self.s.get("services")
        for service, s in sec.items() if sec else ():
            s.only("limits", "description")
            limits: dict[DeadlineKind, Limit | LimitChoice] = {}
            lim = s.get("limits", required=True)
            for kind_name, v in lim.items() if lim else ():
                if kind_name not in DeadlineKind._value2member_map_:
                    v.error(f"unknown deadline kind (expected one of: {', '.join(k.value for k in DeadlineKind)})")
                    continue
                choice = self._choice(v) if v.is_mapping() else v.limit()
                if choice is not None:
                    limits[DeadlineKind(kind_name)] = choice
            out[service] = ServiceRule(service, limits)
        return out

    def _choice(self, sec: Section) -> LimitChoice | None:
        by_sec = sec.get("by", required=True)
        by = by_sec.text() if by_sec else None
        if by not in (None, "level", "segment"):
            assert by_sec is not None
            by_sec.error(f'expected "level" or "segment", got "{by}"')
            by = None
        values: dict[str, Limit] = {}
        default: Limit | None = None
        for key, v in sec.items():
            if key == "by":
                continue
            if by == "level" and key not in ("default", *CustomerLevel._value2member_map_):
                v.error(f"unknown customer level (expected one of: {', '.join(m.value for m in CustomerLevel)})")
                continue
            limit = v.limit()
            if limit is None:
                continue
            if key == "default":
                default = limit
            else:
                values[key] = limit
        return LimitChoice(by, values, default) if by else None

    def _customer_caused(self) -> CustomerCausedRule | None:
        sec = self.s.get("customer_caused")
        if sec is None:
            return CustomerCausedRule(True, False, frozenset({DeadlineKind.RESTORE, DeadlineKind.REPORT}))
        sec.only("exclude_from_availability", "counts_as_repeat", "waives")
        ex, rep, waives = sec.get("exclude_from_availability"), sec.get("counts_as_repeat"), sec.get("waives")
        kinds = frozenset(k for k in (w.enum(DeadlineKind) for w in (waives.entries() if waives else [])) if k)
        return CustomerCausedRule(
            bool(ex.flag()) if ex else True,
            bool(rep.flag()) if rep else False,
            kinds,
        )

    def _alert_names(self) -> AlertNames | None:
        sec = self.s.get("alerts")
        if sec is None:
            return None
        sec.only("repeat", "budget_burn", "circuit_down", "device_unreachable")
        names = {k: (v.text() if (v := sec.get(k, required=True)) else None)
                 for k in ("repeat", "budget_burn", "circuit_down")}
        if None in names.values():
            return None
        if (d := sec.get("device_unreachable")) is not None and (name := d.text()):
            names["device_unreachable"] = name
        return AlertNames(**names)  # type: ignore[arg-type]

    def _calendar(self, tz: ZoneInfo) -> WorkCalendar | None:
        sec = self.s.get("calendar")
        if sec is None:
            return WorkCalendar(tz)
        sec.only("extra_holidays", "extra_workdays", "years")
        hol: set[date] = set()
        work: set[date] = set()
        covered: set[int] = set()
        for key, target in (("extra_holidays", hol), ("extra_workdays", work)):
            if (lst := sec.get(key)) is not None:
                target.update(d for d in (x.date() for x in lst.entries()) if d)
        years = sec.get("years")
        for year, y in years.items() if years else ():
            if not year.isdigit():
                y.error("expected a year like 2027")
                continue
            y.only("holidays", "workdays")
            covered.add(int(year))
            for key, target in (("holidays", hol), ("workdays", work)):
                if (lst := y.get(key)) is not None:
                    for x in lst.entries():
                        d = x.date()
                        if d and d.year != int(year):
                            x.error(f"date {d} is not in year {year}")
                        elif d:
                            target.add(d)
        both = hol & work
        if both:
            sec.error(f"dates listed as both holiday and working day: {', '.join(sorted(map(str, both)))}")
        return WorkCalendar(tz, frozenset(hol), frozenset(work), frozenset(covered))

    def _compensation(self) -> Compensation | None:
        sec = self.s.get("compensation")
        if sec is None:
            return None
        sec.only("example", "note", "classes")
        ex, note = sec.get("example"), sec.get("note")
        classes: dict[SlaClass, ClassCredits] = {}
        cl = sec.get("classes", required=True)
        for name, c in cl.items() if cl else ():
            if name not in SlaClass._value2member_map_:
                c.error("unknown SLA class")
                continue
            c.only("availability", "per_missed_restoration", "max_credit")
            tiers = []
            for t in (a.entries() if (a := c.get("availability")) else []):
                t.only("below", "credit")
                below, credit = t.get("below", required=True), t.get("credit", required=True)
                bv, cv = (below.percent() if below else None), (credit.percent() if credit else None)
                if bv is not None and cv is not None:
                    tiers.append(CreditTier(bv, cv))
            pm, mx = c.get("per_missed_restoration"), c.get("max_credit")
            classes[SlaClass(name)] = ClassCredits(
                tuple(sorted(tiers, key=lambda t: -t.below)),
                (pm.percent() or 0.0) if pm else 0.0,
                (mx.percent() or 1.0) if mx else 1.0,
            )
        return Compensation(bool(ex.flag()) if ex else True, (note.text() or "") if note else "", classes)


def limit_seconds(limit: Limit) -> float | None:
    """A duration limit in seconds; None for a working-day limit."""
    return None if isinstance(limit, WorkingDays) else limit.total_seconds()
