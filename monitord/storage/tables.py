"""The database schema as SQLAlchemy declarative models: inventory, events, alerts, watermarks, notices, silences.

``migrations/`` creates exactly this schema; a test holds the two together.
Enum-valued fields are stored as their string values (not database enums) so a
new value in ``monitord.domain`` needs no migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint names, spelled out so migrations and reflection agree on every backend."""

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), not BIGINT.
_Id = BigInteger().with_variant(Integer(), "sqlite")


class _SqliteUtcText(sqlite.DATETIME):
    """SQLite DATETIME whose values UtcDateTime already turned into text (and parses back itself)."""

    def bind_processor(self, dialect: Dialect) -> None:
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        return None


class UtcDateTime(TypeDecorator[datetime]):
    """An instant: stored as UTC, read back as an aware UTC datetime; naive input is refused.

    PostgreSQL stores a timestamptz; SQLite, which has no time type, the naive
    UTC text ``YYYY-MM-DD HH:MM:SS.ffffff`` (what SQLAlchemy's DATETIME writes).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        # On SQLite the text is made here in one step: SQLAlchemy's generic DATETIME
        # conversion would double the per-value cost of bulk event inserts.
        return _SqliteUtcText() if dialect.name == "sqlite" else self.impl_instance

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: instants must carry a UTC offset")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # The text SQLAlchemy's SQLite DATETIME writes, so it sorts and compares as time;
            # the first 26 characters drop the "+00:00" (quicker than replace(tzinfo=None)).
            return value.isoformat(" ", "microseconds")[:26]
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            # SQLite's text is UTC without an offset: parsing it with "+00:00" appended
            # gives an aware instant in one step (twice as fast as replace(tzinfo=UTC)).
            return datetime.fromisoformat(value + "+00:00")
        assert isinstance(value, datetime), value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """The declarative base whose metadata is the whole schema."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CustomerRow(Base):
    """A customer; the contact columns are all NULL when the customer has no own contact."""

    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    level: Mapped[str] = mapped_column(String)
    account_manager_name: Mapped[str] = mapped_column(String)
    account_manager_email: Mapped[str] = mapped_column(String)
    account_manager_phone: Mapped[str] = mapped_column(String)
    contact_name: Mapped[str | None] = mapped_column(String)
    contact_email: Mapped[str | None] = mapped_column(String)
    contact_phone: Mapped[str | None] = mapped_column(String)
    segment: Mapped[str] = mapped_column(String)


class CircuitRow(Base):
    """A circuit; the monitor columns are all NULL when the circuit is not polled."""

    __tablename__ = "circuits"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    customer: Mapped[str] = mapped_column(String, ForeignKey("customers.id"))
    service: Mapped[str] = mapped_column(String)
    sla_class: Mapped[str] = mapped_column(String)
    vpn: Mapped[bool] = mapped_column(Boolean)
    a_end: Mapped[str] = mapped_column(String)
    z_end: Mapped[str] = mapped_column(String)
    monitor_host: Mapped[str | None] = mapped_column(String)
    monitor_port: Mapped[int | None] = mapped_column(Integer)
    monitor_ifindex: Mapped[int | None] = mapped_column(Integer)
    monitor_ifname: Mapped[str | None] = mapped_column(String)


class MaintenanceWindowRow(Base):
    """An announced maintenance window of one circuit."""

    __tablename__ = "maintenance_windows"
    __table_args__ = (UniqueConstraint("circuit", "start", "end"),)

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    circuit: Mapped[str] = mapped_column(String, ForeignKey("circuits.id"))
    start: Mapped[datetime] = mapped_column(UtcDateTime)
    end: Mapped[datetime] = mapped_column(UtcDateTime)


class EventRow(Base):
    """A recorded event; ``id`` is the ingestion order, ``key`` makes recording idempotent.

    ``key`` is the SHA-256 of the event's canonical JSON with ``at`` in UTC, so
    the same instant written with another offset is the same event.
    """

    __tablename__ = "events"
    __table_args__ = (Index(None, "ticket"), Index(None, "circuit"))

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(CHAR(64), unique=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    type: Mapped[str] = mapped_column(String)
    ticket: Mapped[str | None] = mapped_column(String)
    circuit: Mapped[str | None] = mapped_column(String)
    source: Mapped[str | None] = mapped_column(String)
    reason: Mapped[str] = mapped_column(String)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AlertRow(Base):
    """An alert that fired; ``labels`` is canonical JSON (sorted keys) so it can be compared."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("name", "labels", "fired_at"),)

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String)
    labels: Mapped[str] = mapped_column(Text)
    fired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SourceWatermarkRow(Base):
    """How far an incremental source (a ticket database) has read: its watermark as the source dumps it.

    Saved only after the events read up to it are stored, so a crash between
    the two makes the source read those rows again, which storage deduplicates.
    """

    __tablename__ = "source_watermarks"

    source: Mapped[str] = mapped_column(String, primary_key=True)  # the source's name in the config
    watermark: Mapped[str] = mapped_column(Text)


class NoticeRow(Base):
    """The notification log (outbox): one notice to one receiver, written before it is sent.

    ``key`` is the notice's idempotency key. ``sent_at`` is set once a notifier
    has delivered it; a row without one is re-sent after a restart. The rows of
    a receiver's group (``receiver``, ``group_key``) also say what was last
    sent and when, which is what keeps a repeat from going out early after a
    restart. ``payload`` is the notice as JSON.

    One row per notice and notifier (``channel``, e.g. ``webhook:https://...``)
    of the receiver that gets it, so a failing notifier is retried alone.
    ``failed_at`` is set when a send is given up (with ``last_error``); such a
    row is not sent again.
    """

    __tablename__ = "notices"
    __table_args__ = (Index(None, "receiver", "group_key"), Index(None, "sent_at"))

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String, unique=True)
    receiver: Mapped[str] = mapped_column(String)
    channel: Mapped[str] = mapped_column(String)
    group_key: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")


class SilenceRow(Base):
    """A silence: alerts matching all ``matchers`` (a JSON list of strings) are muted in [starts_at, ends_at)."""

    __tablename__ = "silences"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    matchers: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String)
    comment: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


# The Core tables, for the repository's bulk statements (declarative types them as FromClause).
customers = cast(Table, CustomerRow.__table__)
circuits = cast(Table, CircuitRow.__table__)
maintenance_windows = cast(Table, MaintenanceWindowRow.__table__)
events = cast(Table, EventRow.__table__)
alerts = cast(Table, AlertRow.__table__)
source_watermarks = cast(Table, SourceWatermarkRow.__table__)
notices = cast(Table, NoticeRow.__table__)
silences = cast(Table, SilenceRow.__table__)
