"""The repository: the only place that writes SQL, on SQLite or PostgreSQL.

Events are stored with SQLAlchemy Core in bulk (an ``INSERT ... ON CONFLICT DO
NOTHING ... RETURNING`` sent in large batches), because building ORM objects
for a million events costs more than the database does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Insert, Table, create_engine, delete, event, select
from sqlalchemy.dialects import postgresql, sqlite

from monitord.domain import (
    Alert,
    AlertKey,
    AlertState,
    Circuit,
    Customer,
    CustomerLevel,
    Event,
    Inventory,
    MaintenanceWindow,
    Monitor,
    Observation,
    ObservationType,
    Person,
    SlaClass,
    TicketEvent,
    TicketEventType,
    TicketSource,
)
from monitord.sources.events import event_to_dict
from monitord.storage import tables as t

MIGRATIONS = Path(__file__).with_name("migrations")
"""The Alembic script folder shipped inside the package."""

_OBSERVATION_TYPES = {o.value for o in ObservationType}
# One encoder for every key: json.dumps with options would build a new one per event.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_key(event: Event) -> str:
    """The event's identity: SHA-256 of its canonical JSON with ``at`` in UTC."""
    obj = event_to_dict(event)
    obj["at"] = event.at.astimezone(UTC).isoformat()
    return hashlib.sha256(_CANONICAL.encode(obj).encode()).hexdigest()


def alembic_config() -> Config:
    """An Alembic config for the packaged migrations, with no alembic.ini behind it."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _set_sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the API read while the scheduler writes; FULL makes a commit survive power loss.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    # 32 MiB of page cache (default 2): the random sha256 keys touch the whole unique index.
    cur.execute("PRAGMA cache_size=-32768")
    cur.close()


class Repository:
    """Inventory, events and alerts in one database; open it with ``Repository.open(url)``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = sqlite.insert if engine.dialect.name == "sqlite" else postgresql.insert

    @classmethod
    def open(cls, url: str) -> Repository:
        """Connect to ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``) and migrate to head."""
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _set_sqlite_pragmas)
        elif engine.dialect.name != "postgresql":
            raise ValueError(f"unsupported database {engine.dialect.name!r}: use sqlite or postgresql")
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        return cls(engine)

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def _upsert(self, table: Table, rows: list[dict[str, Any]], keys: list[str]) -> Insert:
        stmt = self._insert(table)
        updates = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
        return stmt.on_conflict_do_update(index_elements=keys, set_=updates)

    def save_inventory(self, inv: Inventory) -> None:
        """Make the stored customers, circuits and maintenance windows exactly those of ``inv``."""
        custs = [_customer_row(c) for c in inv.customers.values()]
        circs = [_circuit_row(c) for c in inv.circuits.values()]
        wanted = {(m.circuit, m.start, m.end) for m in inv.maintenance}
        mw = t.maintenance_windows
        with self.engine.begin() as conn:
            if custs:
                conn.execute(self._upsert(t.customers, custs, ["id"]), custs)
            if circs:
                conn.execute(self._upsert(t.circuits, circs, ["id"]), circs)
            stored = {(r.circuit, r.start, r.end): r.id for r in conn.execute(select(mw))}
            gone = [i for k, i in stored.items() if k not in wanted]
            if gone:
                conn.execute(delete(mw).where(mw.c.id.in_(gone)))
            new = [{"circuit": m.circuit, "start": m.start, "end": m.end} for m in inv.maintenance]
            new = [m for m in new if (m["circuit"], m["start"], m["end"]) not in stored]
            if new:
                conn.execute(self._insert(mw).on_conflict_do_nothing(), new)
            # Deletes go children first so the foreign keys hold at every statement.
            conn.execute(delete(t.circuits).where(t.circuits.c.id.not_in(list(inv.circuits))))
            conn.execute(delete(t.customers).where(t.customers.c.id.not_in(list(inv.customers))))

    def load_inventory(self) -> Inventory:
        """The stored inventory; maintenance windows ordered by start, circuit, end."""
        mw = t.maintenance_windows
        with self.engine.connect() as conn:
            customers = {r.id: _customer(r) for r in conn.execute(select(t.customers).order_by(t.customers.c.id))}
            circuits = {r.id: _circuit(r) for r in conn.execute(select(t.circuits).order_by(t.circuits.c.id))}
            windows = tuple(
                MaintenanceWindow(r.circuit, r.start, r.end)
                for r in conn.execute(select(mw).order_by(mw.c.start, mw.c.circuit, mw.c.end))
            )
        return Inventory(customers, circuits, windows)

    def record_events(self, events: Iterable[Event], now: datetime | None = None) -> list[Event]:
        """Store the events not stored yet, in one transaction; returns those, in input order.

        Recording an event again (or twice in one batch) changes nothing.
        ``now`` is the ``recorded_at`` of the batch (default: the clock).
        """
        recorded_at = now or datetime.now(UTC)
        batch: dict[str, Event] = {}
        for e in events:
            batch.setdefault(event_key(e), e)
        if not batch:
            return []
        rows = [_event_row(k, e, recorded_at) for k, e in batch.items()]
        stmt = self._insert(t.events).on_conflict_do_nothing(index_elements=["key"]).returning(t.events.c.key)
        with self.engine.begin() as conn:
            new = set(conn.scalars(stmt, rows))
        return [e for k, e in batch.items() if k in new]

    def events(self, after_id: int = 0) -> Iterator[tuple[int, Event]]:
        """Every event with id > ``after_id`` with its id, in ingestion order, read as a stream."""
        ev = t.events
        cols = (ev.c.id, ev.c.at, ev.c.type, ev.c.ticket, ev.c.circuit, ev.c.source, ev.c.reason)
        query = select(*cols).where(ev.c.id > after_id).order_by(ev.c.id)
        with self.engine.connect() as conn:
            rows = conn.execution_options(yield_per=2000).execute(query)
            for id_, at, type_, ticket, circuit, source, reason in rows:
                if type_ in _OBSERVATION_TYPES:
                    yield id_, Observation(at, ObservationType(type_), circuit)
                else:
                    src = TicketSource(source) if source is not None else None
                    yield id_, TicketEvent(at, TicketEventType(type_), ticket, circuit or "", src, reason)

    def record_alert(self, alert: Alert) -> None:
        """Store a fired alert, or update its ``resolved_at`` if it is stored already."""
        if alert.fired_at is None:
            raise ValueError(f"alert {alert.name} has not fired: only fired alerts are stored")
        row = {
            "name": alert.name,
            "labels": _labels_json(alert),
            "fired_at": alert.fired_at,
            "resolved_at": alert.resolved_at,
        }
        stmt = self._upsert(t.alerts, [row], ["name", "labels", "fired_at"])
        with self.engine.begin() as conn:
            conn.execute(stmt, row)

    def alerts(self) -> list[Alert]:
        """Every stored alert, firing or resolved, in the order they fired."""
        a = t.alerts
        with self.engine.connect() as conn:
            rows = conn.execute(select(a).order_by(a.c.fired_at, a.c.id)).all()
        return [
            Alert(
                AlertKey(r.name, tuple(sorted(json.loads(r.labels).items()))),
                AlertState.RESOLVED if r.resolved_at is not None else AlertState.FIRING,
                fired_at=r.fired_at,
                resolved_at=r.resolved_at,
            )
            for r in rows
        ]


def _labels_json(alert: Alert) -> str:
    return _CANONICAL.encode(alert.labels)


def _event_row(key: str, e: Event, recorded_at: datetime) -> dict[str, Any]:
    if isinstance(e, Observation):
        ticket, circuit, source, reason = None, e.circuit, None, ""
    else:
        ticket, circuit, reason = e.ticket, e.circuit or None, e.reason
        source = e.source.value if e.source is not None else None
    return {
        "key": key,
        "at": e.at,
        "type": e.type.value,
        "ticket": ticket,
        "circuit": circuit,
        "source": source,
        "reason": reason,
        "recorded_at": recorded_at,
    }


def _customer_row(c: Customer) -> dict[str, Any]:
    am, ct = c.account_manager, c.contact
    return {
        "id": c.id,
        "name": c.name,
        "level": c.level.value,
        "account_manager_name": am.name,
        "account_manager_email": am.email,
        "account_manager_phone": am.phone,
        "contact_name": ct.name if ct else None,
        "contact_email": ct.email if ct else None,
        "contact_phone": ct.phone if ct else None,
        "segment": c.segment,
    }


def _customer(r: Any) -> Customer:
    am = Person(r.account_manager_name, r.account_manager_email, r.account_manager_phone)
    contact = None
    if r.contact_name is not None:
        contact = Person(r.contact_name, r.contact_email or "", r.contact_phone or "")
    return Customer(r.id, r.name, CustomerLevel(r.level), am, contact, r.segment)


def _circuit_row(c: Circuit) -> dict[str, Any]:
    m = c.monitor
    return {
        "id": c.id,
        "customer": c.customer,
        "service": c.service,
        "sla_class": c.sla_class.value,
        "vpn": c.vpn,
        "a_end": c.a_end,
        "z_end": c.z_end,
        "monitor_host": m.host if m else None,
        "monitor_port": m.port if m else None,
        "monitor_ifindex": m.ifindex if m else None,
        "monitor_ifname": m.ifname if m else None,
    }


def _circuit(r: Any) -> Circuit:
    monitor = (
        Monitor(r.monitor_host, r.monitor_port, r.monitor_ifindex, r.monitor_ifname)
        if r.monitor_host is not None
        else None
    )
    return Circuit(r.id, r.customer, r.service, SlaClass(r.sla_class), r.vpn, r.a_end, r.z_end, monitor)
