"""The inventory from YAML: customers, circuits and maintenance windows.

Shape (the `monitord evaluate --inventory` contract)::

    customers:
      - {id, name, level, account_manager: {name, email, phone}, contact?: {...}, segment?}
    circuits:
      - {id, customer, service, sla_class, vpn?, a_end?, z_end?,
         monitor?: {host, port?, ifindex | ifname}}
    maintenance:
      - {circuit, start, end}

Every problem is reported with file, line and key, all at once.
"""

from __future__ import annotations

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
    SlaClass,
)
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
    for c in _list(doc, "customers"):
        cust = _customer(c)
        if cust is not None:
            if cust.id in customers:
                c.error(f"duplicate customer id {cust.id!r}")
            customers[cust.id] = cust
    circuits: dict[str, Circuit] = {}
    for c in _list(doc, "circuits"):
        circ = _circuit(c, customers, declared["customers"])
        if circ is not None:
            if circ.id in circuits:
                c.error(f"duplicate circuit id {circ.id!r}")
            circuits[circ.id] = circ
    windows = []
    for m in _list(doc, "maintenance"):
        m.only("circuit", "start", "end", "comment")
        circuit, start, end = (_req(m, k) for k in ("circuit", "start", "end"))
        cid = circuit.text() if circuit else None
        s, e = (start.instant() if start else None), (end.instant() if end else None)
        if cid is not None and cid not in declared["circuits"]:
            assert circuit is not None
            circuit.error(f"unknown circuit {cid!r}")
        if s and e and e <= s:
            m.error("end must be after start")
        elif cid in circuits and s and e:
            windows.append(MaintenanceWindow(cid, s, e))
    return Inventory(customers, circuits, tuple(windows))


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
    c.only("id", "name", "level", "account_manager", "contact", "segment")
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
    c.only("id", "customer", "service", "sla_class", "vpn", "a_end", "z_end", "monitor")
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
