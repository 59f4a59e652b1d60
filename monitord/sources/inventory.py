"""The inventory from YAML: customers, circuits and maintenance windows.

Shape (the `monitord evaluate --inventory` contract)::

    customers:
      - {id, name, level, account_manager: {name, email, phone}, contact?: {...}, segment?,
         protection?: [{name?, start, end, comment?}]}
    circuits:
      - {id, customer, service, sla_class, vpn?, a_end?, z_end?,
         monitor?: {host, port?, ifindex | ifname}, protection?: [...]}
    maintenance:                       # each names a circuit, or a device ("host:port") for all its circuits
      - {circuit | device, start, end, comment?}                       # one-off
      - {circuit | device, weekly: {days: [sun], at: "02:00", duration: 4h}, from?, until?, comment?}
      - {circuit | device, monthly: {days: [1], at: "01:00", duration: 2h}, from?, until?, comment?}

A recurring window's ``at`` is a local time in the rules' time zone (see
``monitord.maintenance``); weekdays are ``mon`` .. ``sun``; a day of the month
past a shorter month's end means its last day. ``from`` / ``until`` bound the
occurrences' starts.

A protection period (a customer's critical event; on a circuit: that circuit
only) is one-off: ``start`` and ``end`` are local times in the rules' time zone
(``"2026-10-15 08:00"``), instants with an offset, or dates (a date alone is
the whole day: ``start`` at its 00:00, ``end`` at its 24:00); ``24:00`` is
accepted as the end of a day. Without ``name`` the period is named by its
owner and start (``CUST-1@2026-10-15T08:00``), the value of the alerts'
``protection`` label.

Every problem is reported with file, line and key, all at once.
"""

from __future__ import annotations

import contextlib
import re
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from monitord.domain import (
    Circuit,
    Customer,
    CustomerLevel,
    Inventory,
    MaintenanceWindow,
    Monitor,
    Person,
    ProtectionPeriod,
    Recurrence,
    RecurringWindow,
    SlaClass,
)
from monitord.maintenance import WEEKDAYS, device_of
from monitord.yamldoc import Problems, Section


def load_inventory(path: Path | str) -> Inventory:
    """Read and validate an inventory YAML file; raises ``InputError`` with every problem."""
    problems = Problems()
    inv = inventory_from(Section.load(path, problems))
    problems.raise_if_any()
    return inv


def inventory_from(doc: Section) -> Inventory:
    """An inventory from a parsed section; problems go to the section's collector."""
    doc.only("customers", "circuits", "maintenance")
    # References are checked against every id declared, valid or not, so that one
    # bad entry is reported once and not again by everything that names it.
    declared = {"customers": _ids(doc, "customers"), "circuits": _ids(doc, "circuits")}
    customers: dict[str, Customer] = {}
    protection: list[ProtectionPeriod] = []
    for c in _list(doc, "customers"):
        cust = _customer(c)
        periods = _protection(c.get("protection") if c.is_mapping() else None, cust.id if cust else "", "")
        if cust is not None:
            if cust.id in customers:
                c.error(f"duplicate customer id {cust.id!r}")
            customers[cust.id] = cust
            protection.extend(periods)
    circuits: dict[str, Circuit] = {}
    for c in _list(doc, "circuits"):
        circ = _circuit(c, customers, declared["customers"])
        periods = _protection(c.get("protection") if c.is_mapping() else None,
                              circ.customer if circ else "", circ.id if circ else "")
        if circ is not None:
            if circ.id in circuits:
                c.error(f"duplicate circuit id {circ.id!r}")
            circuits[circ.id] = circ
            protection.extend(periods)
    devices = {device_of(c) for c in circuits.values() if c.monitor is not None}
    windows: list[MaintenanceWindow] = []
    recurring: list[RecurringWindow] = []
    for m in _list(doc, "maintenance"):
        window = _maintenance(m, declared["circuits"], devices)
        if window is None or not (window.device or window.circuit in circuits):
            continue  # a circuit declared but invalid: reported where it is declared
        if isinstance(window, RecurringWindow):
            recurring.append(window)
        else:
            windows.append(window)
    return Inventory(customers, circuits, tuple(windows), tuple(recurring), tuple(protection))


_24H = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]24:00(:00)?$")


def _protection(sec: Section | None, customer: str, circuit: str) -> list[ProtectionPeriod]:
    """The ``protection:`` list of a customer (``circuit`` empty) or of one circuit.

    Entries are validated even when their owner is invalid (``customer`` empty),
    so that every problem shows at once; only an owner's valid entries are kept.
    """
    if sec is None or sec.value is None:
        return []
    if not isinstance(sec.value, list):
        sec.error('expected a list of periods like {name: 广交会, start: "2026-10-15 00:00", end: "2026-10-19 24:00"}')
        return []
    out: list[ProtectionPeriod] = []
    for p in sec.entries():
        if not p.is_mapping():
            p.error("expected a mapping with start and end (and optional name, comment)")
            continue
        p.only("name", "start", "end", "comment")
        start_sec, end_sec = _req(p, "start"), _req(p, "end")
        start = _local_instant(start_sec, end=False) if start_sec else None
        end = _local_instant(end_sec, end=True) if end_sec else None
        name = (n.text() or "") if (n := p.get("name")) else ""
        comment = (c.text() or "") if (c := p.get("comment")) else ""
        if start is None or end is None:
            continue
        assert end_sec is not None
        if (start.tzinfo is None) != (end.tzinfo is None):
            # Comparing them would need the rules' time zone, which the inventory does not know.
            end_sec.error("write start and end both with a UTC offset or both without (local time)")
            continue
        if end <= start:
            end_sec.error("end must be after start")
            continue
        if customer:
            owner = circuit or customer
            ident = name or f"{owner}@{start.isoformat(timespec='minutes')}"
            out.append(ProtectionPeriod(customer, start, end, ident, circuit, comment))
    return out


def _local_instant(sec: Section, end: bool) -> datetime | None:
    """A local wall-clock time (naive), an instant with offset (aware), or a date: its 00:00, or 24:00 for an end."""
    v = sec.value
    if isinstance(v, str) and (m := _24H.match(v.strip())):
        v = date.fromisoformat(m.group(1))
        end = True  # "24:00" is the end of that day, whichever key it is
    elif isinstance(v, str):
        with contextlib.suppress(ValueError):
            v = datetime.fromisoformat(v.strip())
    if isinstance(v, datetime):
        return v
    if isinstance(v, date):
        return datetime.combine(v + timedelta(days=1) if end else v, time(0))
    sec.error(f'expected a local time like "2026-10-15 08:00", a time with offset or a date, got {sec.value!r}')
    return None


_MAINTENANCE_KEYS = ("circuit", "device", "start", "end", "weekly", "monthly", "from", "until", "comment")
_LOCAL_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _maintenance(m: Section, circuits: set[str], devices: set[str]) -> MaintenanceWindow | RecurringWindow | None:
    """One entry of ``maintenance:``: a one-off or a recurring window of a circuit or a device."""
    if not m.is_mapping():
        m.error("expected a mapping with circuit or device, and start/end, weekly or monthly")
        return None
    m.only(*_MAINTENANCE_KEYS)
    circuit, device = _window_subject(m, circuits, devices)
    comment = (c.text() or "") if (c := m.get("comment")) else ""
    kinds = [k for k in ("weekly", "monthly") if m.get(k) is not None]
    if m.get("start") is not None or m.get("end") is not None or not kinds:
        for k in kinds + [k for k in ("from", "until") if m.get(k) is not None]:
            m.child(k, None).error("a one-off window has start and end only; a recurring one has weekly or monthly")
        start, end = (_req(m, k) for k in ("start", "end"))
        s, e = (start.instant() if start else None), (end.instant() if end else None)
        if s and e and e <= s:
            m.error("end must be after start")
            return None
        if circuit is None or s is None or e is None or kinds:
            return None
        return MaintenanceWindow(circuit, s, e, device, comment)
    if len(kinds) > 1:
        m.child("monthly", None).error("give one of weekly or monthly")
        return None
    every = Recurrence(kinds[0])
    spec = _recurrence(m.get(kinds[0]), every)  # type: ignore[arg-type]
    bounds = [(b.instant() if (b := m.get(k)) else None) for k in ("from", "until")]
    since, until = bounds
    if since and until and until <= since:
        m.child("until", None).error("until must be after from")
        return None
    bad_bound = any(m.get(k) is not None and b is None for k, b in zip(("from", "until"), bounds, strict=True))
    if circuit is None or spec is None or bad_bound:
        return None
    days, at, duration = spec
    return RecurringWindow(circuit, device, every, days, at, duration, since, until, comment)


def _window_subject(m: Section, circuits: set[str], devices: set[str]) -> tuple[str | None, str]:
    """``(circuit, "")`` or ``("", device)``; circuit None when the subject is missing or unknown."""
    c_sec, d_sec = m.get("circuit"), m.get("device")
    if (c_sec is None) == (d_sec is None):
        m.error("give exactly one of circuit or device (host:port)")
        return None, ""
    if c_sec is not None:
        cid = c_sec.text()
        if cid is not None and cid not in circuits:
            c_sec.error(f"unknown circuit {cid!r}")
            return None, ""
        return cid, ""
    assert d_sec is not None
    dev = d_sec.text()
    if dev is None:
        return None, ""
    if dev not in devices:
        d_sec.error(f"no circuit is monitored on device {dev!r} (write it as host:port, e.g. 10.0.0.1:161)")
        return None, ""
    return "", dev


def _recurrence(sec: Section, every: Recurrence) -> tuple[tuple[int, ...], time, timedelta] | None:
    """``{days, at, duration}`` of a weekly or monthly window."""
    if not sec.is_mapping():
        sec.error('expected a mapping like {days: [sun], at: "02:00", duration: 4h}')
        return None
    sec.only("days", "at", "duration")
    days_sec, at_sec, dur_sec = (_req(sec, k) for k in ("days", "at", "duration"))
    days: list[int] = []
    entries = days_sec.entries() if days_sec else []
    if days_sec is not None and isinstance(days_sec.value, list) and not entries:
        days_sec.error("expected at least one day")
    for d in entries:
        day = _weekday(d) if every is Recurrence.WEEKLY else _month_day(d)
        if day is not None and day not in days:
            days.append(day)
    at = _local_time(at_sec) if at_sec else None
    duration = dur_sec.duration() if dur_sec else None
    period = timedelta(days=7) if every is Recurrence.WEEKLY else timedelta(days=28)
    if duration is not None and not timedelta(0) < duration < period:
        assert dur_sec is not None
        dur_sec.error(f"expected a duration above 0 and under {period.days}d (shorter than the shortest period)")
        duration = None
    if len(days) != len(entries) or not days or at is None or duration is None:
        return None
    return tuple(sorted(days)), at, duration


def _weekday(sec: Section) -> int | None:
    name = sec.value.lower() if isinstance(sec.value, str) else None
    if name not in WEEKDAYS:
        sec.error(f"expected a weekday ({', '.join(WEEKDAYS)}), got {sec.value!r}")
        return None
    return WEEKDAYS.index(name)


def _month_day(sec: Section) -> int | None:
    day = sec.integer(minimum=1)
    if day is not None and day > 31:
        sec.error(f"expected a day of the month 1..31, got {day}")
        return None
    return day


def _local_time(sec: Section) -> time | None:
    # YAML 1.1 reads an unquoted 2:00 as the number 120 (base 60): ask for quotes instead of guessing.
    m = _LOCAL_TIME.match(sec.value) if isinstance(sec.value, str) else None
    if m is None:
        sec.error(f'expected a local time like "02:00" (quoted), got {sec.value!r}')
        return None
    return time(int(m.group(1)), int(m.group(2)))


def _ids(doc: Section, key: str) -> set[str]:
    return {str(v.value["id"]) for v in _list(doc, key) if v.is_mapping() and "id" in v.value}


def _list(doc: Section, key: str) -> list[Section]:
    sec = doc.get(key)
    return sec.entries() if sec else []


def _req(sec: Section, key: str) -> Section | None:
    return sec.get(key, required=True)


def _person(sec: Section | None) -> Person | None:
    if sec is None:
        return None
    sec.only("name", "email", "phone")
    name = _req(sec, "name")
    n = name.text() if name else None
    fields: dict[str, Any] = {}
    for k in ("email", "phone"):
        if (v := sec.get(k)) is not None:
            fields[k] = v.text() or ""
    return Person(n, **fields) if n else None


def _customer(c: Section) -> Customer | None:
    c.only("id", "name", "level", "account_manager", "contact", "segment", "protection")
    ident, name, level, am = (_req(c, k) for k in ("id", "name", "level", "account_manager"))
    cid = ident.text() if ident else None
    cname = name.text() if name else None
    lvl = level.enum(CustomerLevel) if level else None
    manager = _person(am)
    contact = _person(c.get("contact"))
    seg = c.get("segment")
    segment = (seg.text() or "") if seg else ""
    if cid is None or cname is None or lvl is None or manager is None:
        return None
    return Customer(cid, cname, lvl, manager, contact, segment)


def _circuit(c: Section, customers: dict[str, Customer], declared: set[str]) -> Circuit | None:
    c.only("id", "customer", "service", "sla_class", "vpn", "a_end", "z_end", "monitor", "protection")
    ident, cust, service, cls = (_req(c, k) for k in ("id", "customer", "service", "sla_class"))
    cid = ident.text() if ident else None
    customer = cust.text() if cust else None
    if customer is not None and customer not in declared:
        assert cust is not None
        cust.error(f"unknown customer {customer!r}")
    if customer not in customers:
        customer = None
    svc = service.text() if service else None
    sla = cls.enum(SlaClass) if cls else None
    vpn_sec = c.get("vpn")
    vpn = vpn_sec.flag() if vpn_sec else None
    ends = {k: (s.text() or "") if (s := c.get(k)) else "" for k in ("a_end", "z_end")}
    monitor = _monitor(c.get("monitor"))
    if cid is None or customer is None or svc is None or sla is None:
        return None
    return Circuit(cid, customer, svc, sla, Circuit.vpn_default(svc) if vpn is None else vpn,
                   ends["a_end"], ends["z_end"], monitor)


def _monitor(m: Section | None) -> Monitor | None:
    if m is None:
        return None
    m.only("host", "port", "ifindex", "ifname")
    host = _req(m, "host")
    h = host.text() if host else None
    port_sec, idx_sec, name_sec = m.get("port"), m.get("ifindex"), m.get("ifname")
    port = port_sec.integer(minimum=1) if port_sec else 161
    ifindex = idx_sec.integer(minimum=1) if idx_sec else None
    ifname = name_sec.text() if name_sec else None
    if (idx_sec is None) == (name_sec is None):
        m.error("give exactly one of ifindex or ifname")
        return None
    if h is None or port is None:
        return None
    return Monitor(h, port, ifindex, ifname)
