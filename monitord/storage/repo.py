"""The repository: the only place that writes SQL, on SQLite or PostgreSQL.

Events are stored with SQLAlchemy Core in bulk, ``INSERT ... ON CONFLICT DO
NOTHING`` in one transaction, because building ORM objects for a million
events costs more than the database does. PostgreSQL learns which events were
new from ``RETURNING``; SQLite, which has one writer at a time, from the ids
above the largest one before the insert (see ``_insert_events_sqlite``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

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
    Silence,
    SlaClass,
    TicketEvent,
    TicketEventType,
    TicketSource,
)
from monitord.sources.events import event_to_dict
from monitord.storage import tables as t

MIGRATIONS = Path(__file__).with_name("migrations")
"""The Alembic script folder shipped inside the package."""

# Lookups by stored text: calling an Enum per row is a third of the cost of reading events.
_OBSERVATION_TYPES = {o.value: o for o in ObservationType}
_TICKET_TYPES = {t.value: t for t in TicketEventType}
_SOURCES = {s.value: s for s in TicketSource}
_EVENT_COLUMNS = ("key", "at", "type", "ticket", "circuit", "source", "reason", "recorded_at")
_MIGRATION_LOCK = 0x6D6F6D67  # PostgreSQL advisory lock id held while migrating: "momg"
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
    # Turning WAL on needs the file to itself, and SQLite answers "locked" at once rather than
    # waiting when another connection is opening it too: try again for a while.
    for attempt in itertools.count(1):
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 100:
                raise
            time.sleep(0.05)
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    # 32 MiB of page cache (default 2): the random sha256 keys touch the whole unique index.
    cur.execute("PRAGMA cache_size=-32768")
    cur.close()


@contextmanager
def _writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction; on SQLite it holds the database's write lock from its start.

    pysqlite would only BEGIN (deferred) at the first write, so reads before it
    could see another writer's commit; BEGIN IMMEDIATE makes the whole
    transaction one writer's view, which ``_insert_events_sqlite`` relies on.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


class Repository:
    """Inventory, events, alerts and source watermarks in one database; open it with ``Repository.open(url)``."""

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
        with _writing(engine) as conn:
            # Two processes starting at once must not both create the tables (the SQLite
            # write lock already keeps them apart, and makes the DDL one transaction).
            if engine.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
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
        with _writing(self.engine) as conn:
            if custs:
                conn.execute(self._upsert(t.customers, custs, ["id"]), custs)
            if circs:
                conn.execute(self._upsert(t.circuits, circs, ["id"]), circs)
            stored = {(r.circuit, r.start, r.end): r.id for r in conn.execute(select(mw))}
            new = [{"circuit": m.circuit, "start": m.start, "end": m.end} for m in inv.maintenance]
            new = [m for m in new if (m["circuit"], m["start"], m["end"]) not in stored]
            if new:
                conn.execute(self._insert(mw).on_conflict_do_nothing(), new)
            # Children first, so the foreign keys hold after every statement.
            _delete_ids(conn, mw, [i for k, i in stored.items() if k not in wanted])
            _delete_ids(conn, t.circuits, set(conn.scalars(select(t.circuits.c.id))) - inv.circuits.keys())
            _delete_ids(conn, t.customers, set(conn.scalars(select(t.customers.c.id))) - inv.customers.keys())

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
        stmt = self._insert(t.events).on_conflict_do_nothing(index_elements=["key"])
        with _writing(self.engine) as conn:
            if conn.dialect.name == "sqlite":
                new = _insert_events_sqlite(conn, stmt, rows)
            else:
                params = [dict(zip(_EVENT_COLUMNS, r, strict=True)) for r in rows]
                new = set(conn.scalars(stmt.returning(t.events.c.key), params))
        return [e for k, e in batch.items() if k in new]

    def events(self, after_id: int = 0) -> Iterator[tuple[int, Event]]:
        """Every event with id > ``after_id`` with its id, in ingestion order, read as a stream."""
        ev = t.events
        cols = (ev.c.id, ev.c.at, ev.c.type, ev.c.ticket, ev.c.circuit, ev.c.source, ev.c.reason)
        query = select(*cols).where(ev.c.id > after_id).order_by(ev.c.id)
        with self.engine.connect() as conn:
            rows = conn.execution_options(yield_per=2000).execute(query)
            for id_, at, type_, ticket, circuit, source, reason in rows:
                obs = _OBSERVATION_TYPES.get(type_)
                if obs is not None:
                    yield id_, Observation(at, obs, circuit)
                else:
                    src = _SOURCES[source] if source is not None else None
                    yield id_, TicketEvent(at, _TICKET_TYPES[type_], ticket, circuit or "", src, reason)

    def record_alert(self, alert: Alert) -> None:
        """Store a fired alert, or update its ``resolved_at`` if it is stored already."""
        self.record_alerts([alert])

    def record_alerts(self, alerts: Iterable[Alert], notices: Iterable[NewNotice] = ()) -> None:
        """``record_alert`` for many alerts in one transaction (one commit, not one per alert).

        ``notices`` (the outbox entries these transitions made) are written in
        the same transaction: a crash leaves both or neither.
        """
        rows = []
        for alert in alerts:
            if alert.fired_at is None:
                raise ValueError(f"alert {alert.name} has not fired: only fired alerts are stored")
            rows.append({"name": alert.name, "labels": _labels_json(alert), "fired_at": alert.fired_at,
                         "resolved_at": alert.resolved_at})
        outbox = [_notice_row(n) for n in notices]
        if not rows and not outbox:
            return
        with self.engine.begin() as conn:
            if rows:
                conn.execute(self._upsert(t.alerts, rows, ["name", "labels", "fired_at"]), rows)
            if outbox:
                conn.execute(self._insert(t.notices).on_conflict_do_nothing(index_elements=["key"]), outbox)

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

    def watermark(self, source: str) -> str | None:
        """The watermark saved for ``source`` (the text it was saved as), or None if none was."""
        w = t.source_watermarks
        with self.engine.connect() as conn:
            return conn.scalar(select(w.c.watermark).where(w.c.source == source))

    def save_watermark(self, source: str, watermark: str) -> None:
        """Save ``source``'s watermark, replacing the one saved before; call it after storing its events."""
        row = {"source": source, "watermark": watermark}
        with self.engine.begin() as conn:
            conn.execute(self._upsert(t.source_watermarks, [row], ["source"]), row)

    # silences ---------------------------------------------------------------------
    def add_silence(self, silence: Silence) -> None:
        """Store a new silence; raises ``ValueError`` when its id is already taken."""
        try:
            with _writing(self.engine) as conn:
                conn.execute(t.silences.insert(), [_silence_row(silence)])
        except IntegrityError:
            raise ValueError(f"a silence with id {silence.id!r} is already stored") from None

    def silences(self, ended_after: datetime | None = None) -> list[Silence]:
        """Stored silences by start, then id; with ``ended_after``, only those still running or to come then."""
        s = t.silences
        query = select(s).order_by(s.c.starts_at, s.c.id)
        if ended_after is not None:
            query = query.where(s.c.ends_at > ended_after)
        with self.engine.connect() as conn:
            return [_silence(r) for r in conn.execute(query)]

    def expire_silence(self, silence_id: str, now: datetime) -> Silence | None:
        """End a silence at ``now`` (Alertmanager's expire); the silence as stored afterwards, None if unknown.

        A pending silence gets ``starts_at = ends_at = now``. One already over is
        left as it is, so expiring twice changes nothing.
        """
        s = t.silences
        with _writing(self.engine) as conn:
            row = conn.execute(select(s).where(s.c.id == silence_id)).first()
            if row is None:
                return None
            old = _silence(row)
            if old.ends_at <= now:
                return old
            new = replace(old, starts_at=min(old.starts_at, now), ends_at=now, updated_at=now)
            conn.execute(update(s).where(s.c.id == silence_id)
                         .values(starts_at=new.starts_at, ends_at=new.ends_at, updated_at=new.updated_at))
        return new

    # the notification log (outbox) ----------------------------------------------
    def record_notices(self, notices: Iterable[NewNotice]) -> None:
        """Write outbox entries not written yet (by key), in one transaction, before they are sent."""
        self.record_alerts((), notices)

    def unsent_notices(self) -> list[StoredNotice]:
        """Every outbox entry neither sent nor given up, in the order written: what a start-up sends again."""
        n = t.notices
        query = select(n).where(n.c.sent_at.is_(None), n.c.failed_at.is_(None)).order_by(n.c.id)
        with self.engine.connect() as conn:
            return [_stored_notice(r) for r in conn.execute(query)]

    def notices(self) -> list[StoredNotice]:
        """Every outbox entry, in the order written."""
        n = t.notices
        with self.engine.connect() as conn:
            return [_stored_notice(r) for r in conn.execute(select(n).order_by(n.c.id))]

    def last_notices(self) -> list[tuple[str, str]]:
        """``(group_key, payload)`` of the latest entry written for each receiver's group: what it was last told."""
        n = t.notices
        latest = select(func.max(n.c.id)).group_by(n.c.receiver, n.c.group_key)
        query = select(n.c.group_key, n.c.payload).where(n.c.id.in_(latest)).order_by(n.c.id)
        with self.engine.connect() as conn:
            return [(r.group_key, r.payload) for r in conn.execute(query)]

    def prune_notices(self, before: datetime) -> int:
        """Delete the finished entries (sent or given up) written before ``before``; how many went.

        The latest entry of each receiver's group stays whatever its age: it is what
        ``last_notices`` reads so that a restart repeats nothing early. Unsent ones stay.
        """
        n = t.notices
        latest = select(func.max(n.c.id)).group_by(n.c.receiver, n.c.group_key)
        stmt = (delete(n).where(n.c.created_at < before, or_(n.c.sent_at.is_not(None), n.c.failed_at.is_not(None)),
                                n.c.id.not_in(latest)))
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount

    def mark_notices(self, results: Iterable[NoticeResult]) -> None:
        """Record how sends ended (sent, given up, or attempts so far with the last error), in one transaction."""
        n = t.notices
        params = [{"k": r.key, "sent": r.sent_at, "failed": r.failed_at, "tries": r.attempts, "err": r.error}
                  for r in results]
        if not params:
            return
        stmt = (update(n).where(n.c.key == bindparam("k"))
                .values(sent_at=bindparam("sent"), failed_at=bindparam("failed"), attempts=bindparam("tries"),
                        last_error=bindparam("err")))
        with self.engine.begin() as conn:
            conn.execute(stmt, params)


class NewNotice(Protocol):
    """An outbox entry to write (``alerting.outbox.OutboxEntry``)."""

    @property
    def key(self) -> str: ...

    @property
    def receiver(self) -> str: ...

    @property
    def channel(self) -> str: ...

    @property
    def group_key(self) -> str: ...

    @property
    def payload(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...


class NoticeResult(Protocol):
    """How a send ended (``alerting.outbox.SendResult``): sent, given up, or neither (to be retried)."""

    @property
    def key(self) -> str: ...

    @property
    def attempts(self) -> int: ...

    @property
    def sent_at(self) -> datetime | None: ...

    @property
    def failed_at(self) -> datetime | None: ...

    @property
    def error(self) -> str: ...


@dataclass(frozen=True)
class StoredNotice:
    """An outbox entry as stored: what was written, and how sending it has gone so far."""

    key: str
    receiver: str
    channel: str
    group_key: str
    payload: str
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
    attempts: int
    last_error: str


def _notice_row(n: NewNotice) -> dict[str, Any]:
    return {"key": n.key, "receiver": n.receiver, "channel": n.channel, "group_key": n.group_key,
            "payload": n.payload, "created_at": n.created_at, "sent_at": None, "failed_at": None, "attempts": 0,
            "last_error": ""}


def _stored_notice(r: Any) -> StoredNotice:
    return StoredNotice(r.key, r.receiver, r.channel, r.group_key, r.payload, r.created_at, r.sent_at, r.failed_at,
                        r.attempts, r.last_error)


def _labels_json(alert: Alert) -> str:
    return _CANONICAL.encode(alert.labels)


def _insert_events_sqlite(conn: Connection, stmt: Insert, rows: list[tuple[Any, ...]]) -> set[str]:
    """Insert event rows on SQLite; returns the keys of the rows that were new.

    SQLAlchemy's per-row parameter handling costs as much as SQLite itself, so
    the rows go straight to the driver's executemany, the instants converted
    here by the column type. The transaction holds the write lock (``_writing``):
    no other writer can insert until commit, so the rows whose id is above the
    largest id before are exactly the ones this call inserted.
    """
    ev = t.events
    before = conn.scalar(select(func.coalesce(func.max(ev.c.id), 0)))
    compiled = stmt.values({c: bindparam(c) for c in _EVENT_COLUMNS}).compile(dialect=conn.dialect)
    assert tuple(compiled.positiontup or ()) == _EVENT_COLUMNS, compiled.positiontup
    to_db, dialect = t.UtcDateTime().process_bind_param, conn.dialect
    recorded = to_db(rows[0][-1], dialect)  # the same for the whole batch: convert it once
    params = [(key, to_db(at, dialect), *rest, recorded) for key, at, *rest, _ in rows]
    conn.exec_driver_sql(str(compiled), params)
    return set(conn.scalars(select(ev.c.key).where(ev.c.id > before)))


def _delete_ids(conn: Connection, table: Table, ids: Iterable[Any]) -> None:
    """Delete rows by id; one statement per id through executemany, so no limit on how many."""
    params = [{"gone": i} for i in ids]
    if params:
        conn.execute(delete(table).where(table.c.id == bindparam("gone")), params)


def _event_row(key: str, e: Event, recorded_at: datetime) -> tuple[Any, ...]:
    """An event as the values of ``_EVENT_COLUMNS``."""
    if isinstance(e, Observation):
        return key, e.at, e.type.value, None, e.circuit, None, "", recorded_at
    source = e.source.value if e.source is not None else None
    return key, e.at, e.type.value, e.ticket, e.circuit or None, source, e.reason, recorded_at


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


def _silence_row(s: Silence) -> dict[str, Any]:
    return {"id": s.id, "matchers": json.dumps(list(s.matchers), ensure_ascii=False), "starts_at": s.starts_at,
            "ends_at": s.ends_at, "created_by": s.created_by, "comment": s.comment, "updated_at": s.updated_at}


def _silence(r: Any) -> Silence:
    return Silence(r.id, tuple(json.loads(r.matchers)), r.starts_at, r.ends_at, r.created_by, r.comment, r.updated_at)
