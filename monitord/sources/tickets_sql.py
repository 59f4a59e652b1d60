"""An external trouble-ticket database, polled incrementally with an SQL query from the config.

The operator writes the query against their own schema, maps its columns to
the fields of a ticket event and, optionally, their vocabulary to ours; no code
is needed. Example (one entry of ``ticket_databases:`` in ``monitord.yaml``;
``monitord.config.ticket_db.ticket_db_settings`` reads it)::

    url: postgresql+psycopg://monitord_ro:secret@tt-db.example.net/tt
    query: |
      SELECT id, ticket_no, step, step_time, circuit_code, channel, note, updated_at
      FROM tt_events WHERE updated_at >= :watermark ORDER BY updated_at
    columns:                  # query column -> event field
      id: key                 # the row's identity, named in error messages
      updated_at: updated_at  # the watermark column
      step_time: at
      step: type
      ticket_no: ticket
      circuit_code: circuit
      channel: source         # optional (absent: customer, as in the HTTP API)
      note: reason            # optional
    values:                   # optional: their words -> ours
      type: {报障: reported, 派单: dispatched, 接单: accepted, 备注: ~}  # ~: skip such rows
      source: {客户热线: customer, 客户经理: account_manager, 网管监控: monitoring}
    timezone: Asia/Shanghai   # for naive timestamps in their database
    batch_size: 500           # rows fetched per round trip
    interval: 1m              # how often to poll
    start: "2026-01-01 00:00:00"  # the first watermark, in their database's terms

The watermark compares with ``>=``, not ``>``: rows committed after a poll
with the same ``updated_at`` as the last row read would otherwise never be
seen. The rows at the boundary are read again by the next poll; the watermark
remembers a fingerprint of each, so they are not returned twice (and after a
restart without that memory, storage ingestion is idempotent anyway).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, TextClause, create_engine, text

from monitord.config.ticket_db import RowField, TicketDbSettings
from monitord.domain import TicketEvent, TicketEventType
from monitord.sources.events import EventError, parse_event

log = logging.getLogger(__name__)


_TICKET_TYPES = {t.value: t for t in TicketEventType}


# polling -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watermark:
    """How far the source has read: the last ``updated_at`` value and fingerprints of the rows bearing it.

    ``value`` is the external database's own value (a ``datetime``, text or a
    number, as its driver returns it) and is bound back to ``:watermark``
    unchanged, so it compares exactly as the database compares its own values:
    no time zone or text format is guessed on the way.
    """

    value: Any
    seen: frozenset[str] = frozenset()  # fingerprints of the rows read whose updated_at equals `value`

    def dump(self) -> str:
        """The watermark as JSON text, to be stored across restarts (see ``load``)."""
        return json.dumps({"value": _tagged(self.value), "seen": sorted(self.seen)})

    @staticmethod
    def load(dumped: str) -> Watermark:
        """A watermark from ``dump``'s text."""
        obj = json.loads(dumped)
        return Watermark(_untagged(obj["value"]), frozenset(obj["seen"]))


def _tagged(value: Any) -> list[Any]:
    if isinstance(value, datetime):
        return ["datetime", value.isoformat()]
    if isinstance(value, date):
        return ["date", value.isoformat()]
    if isinstance(value, Decimal):
        return ["decimal", str(value)]
    if value is None or isinstance(value, (str, int, float)):
        return ["json", value]
    raise TypeError(f"cannot store a watermark of type {type(value).__name__}")


_FROM_TAG: dict[str, Callable[[Any], Any]] = {"datetime": datetime.fromisoformat, "date": date.fromisoformat,
                                              "decimal": Decimal}


def _untagged(tagged: list[Any]) -> Any:
    kind, v = tagged
    return _FROM_TAG.get(kind, lambda x: x)(v)


@dataclass(frozen=True)
class MalformedRow:
    """A row that could not be read as a ticket event: its key and what is wrong with it."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"row {self.key}: {self.message}"


@dataclass(frozen=True)
class PollResult:
    """What one poll (or one batch of it) read: the events, how far it got, and the rows skipped."""

    events: list[TicketEvent]
    watermark: Watermark  # pass it to the next poll; store it once the events are stored
    malformed: list[MalformedRow]
    keys: list[str] = field(default_factory=list)  # the row key of each event, for messages


@dataclass
class PollStats:
    """What the daemon did with one ticket database's rows since it started, for the exporter."""

    ingested: int = 0  # rows handed to storage as events (re-reads of stored events included)
    malformed: int = 0  # rows that are not ticket events (bad time, unknown step, ...)
    rejected: int = 0  # well-formed rows the daemon would not take (unknown circuit, ticket never reported)
    errors: int = 0  # polls that failed (database unreachable, query broken, storage failing)
    last_success: float | None = None  # seconds since the epoch when a poll last completed


@dataclass
class SourceCounts:
    """Running totals since the source was built, for the exporter to read."""

    rows: int = 0  # rows read, boundary re-reads not included
    events: int = 0  # rows returned as events
    malformed: int = 0  # rows reported and skipped
    ignored: int = 0  # rows whose step maps to ~ in values.type


class TicketDbError(Exception):
    """The query's result does not fit the settings (e.g. a mapped column it does not return)."""


class SqlTicketSource:
    """Ticket events from an external database, read incrementally by an ``updated_at`` watermark.

    A malformed row (bad time, unknown step, missing ticket, ...) is logged with
    its key, counted in ``counts.malformed``, reported in the result and
    skipped; the other rows are processed. The watermark still advances past a
    malformed row, so one bad row cannot block the queue forever: it is not
    read again unless it changes (and with it its ``updated_at``).
    """

    def __init__(self, settings: TicketDbSettings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings.url, pool_pre_ping=True)
        self.counts = SourceCounts()
        self._query: TextClause = text(settings.query)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def poll(self, since: Watermark | None = None) -> PollResult:
        """Every row changed since ``since`` (None: since ``settings.start``), read in batches.

        The events of the whole delta are collected; to store and advance batch
        by batch (a first poll over a long history), use ``batches``.
        """
        events: list[TicketEvent] = []
        malformed: list[MalformedRow] = []
        keys: list[str] = []
        watermark = since or Watermark(self.settings.start)
        for part in self.batches(since):
            events += part.events
            malformed += part.malformed
            keys += part.keys
            watermark = part.watermark
        return PollResult(events, watermark, malformed, keys)

    def batches(self, since: Watermark | None = None) -> Generator[PollResult, None, None]:
        """The rows changed since ``since``, one result per ``batch_size`` rows fetched.

        One query, streamed (a server-side cursor where the driver has one), so
        at most one batch of rows is in memory. Each result's watermark is safe
        to store: the rows are ordered by ``updated_at`` and compared with ``>=``.
        """
        s = self.settings
        watermark = since or Watermark(s.start)
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, max_row_buffer=s.batch_size).execute(
                self._query, {"watermark": watermark.value})
            reader = _RowReader(s, list(result.keys()))
            while rows := result.fetchmany(s.batch_size):
                part = PollResult([], watermark, [])
                for row in rows:
                    updated, fp = row[reader.updated_at], _fingerprint(row)
                    if updated is not None and updated == watermark.value:
                        if fp in watermark.seen:
                            continue  # read by an earlier poll at this boundary
                        watermark = Watermark(updated, watermark.seen | {fp})
                    elif updated is not None:
                        watermark = Watermark(updated, frozenset({fp}))
                    self._take(reader, row, part)
                yield dataclasses.replace(part, watermark=watermark)

    def _take(self, reader: _RowReader, row: Sequence[Any], part: PollResult) -> None:
        self.counts.rows += 1
        try:
            event = reader.event(row)
        except EventError as exc:
            bad = MalformedRow(reader.key(row), str(exc))
            log.warning("ticket database: skipping %s", bad)
            part.malformed.append(bad)
            self.counts.malformed += 1
            return
        if event is None:
            self.counts.ignored += 1
            return
        part.events.append(event)
        part.keys.append(reader.key(row))
        self.counts.events += 1


def _fingerprint(row: Sequence[Any]) -> str:
    """A row's content, hashed: the same row read again is recognised even when keys repeat."""
    return hashlib.sha256(repr(tuple(row)).encode()).hexdigest()[:16]


class _RowReader:
    """Turns rows of one query result into event objects, by column position."""

    def __init__(self, settings: TicketDbSettings, result_columns: list[str]) -> None:
        self.s = settings
        # PostgreSQL folds unquoted names to lower case, so match names case-insensitively.
        position = {c.lower(): i for i, c in enumerate(result_columns)}
        self.pos: dict[RowField, int] = {}
        self.names: dict[RowField, str] = {}
        missing = []
        for column, f in settings.columns.items():
            if column.lower() not in position:
                missing.append(column)
            else:
                self.pos[f], self.names[f] = position[column.lower()], column
        if missing:
            raise TicketDbError(f"the ticket query returns no column {', '.join(missing)} "
                                f"(it returns: {', '.join(result_columns)})")
        self.updated_at = self.pos[RowField.UPDATED_AT]

    def key(self, row: Sequence[Any]) -> str:
        """The row's key as text, for messages."""
        v = row[self.pos[RowField.KEY]]
        return "(no key)" if v is None else str(v).strip()

    def event(self, row: Sequence[Any]) -> TicketEvent | None:
        """The row as a ticket event, None when its step is to be skipped; ``EventError`` when malformed."""
        raw_type = _word(row[self.pos[RowField.TYPE]])
        etype = self._type(raw_type)
        if etype is None:
            return None
        obj: dict[str, Any] = {"type": etype.value, "at": self._at(row[self.pos[RowField.AT]])}
        for f in (RowField.TICKET, RowField.CIRCUIT, RowField.REASON):
            if f in self.pos and (v := _word(row[self.pos[f]])) is not None:
                obj[f.value] = v
        if RowField.SOURCE in self.pos and (src := _word(row[self.pos[RowField.SOURCE]])) is not None:
            mapped = self.s.sources.get(src)
            obj["source"] = mapped.value if mapped else src
        try:
            event = parse_event(obj)
        except EventError as exc:
            raise EventError(self._name_columns(str(exc))) from None
        assert isinstance(event, TicketEvent)  # the type was checked against ticket steps above
        return event

    def _type(self, raw: str | None) -> TicketEventType | None:
        if raw is not None and raw in self.s.types:
            return self.s.types[raw]
        if raw is not None and raw in _TICKET_TYPES:
            return _TICKET_TYPES[raw]
        column = self.names[RowField.TYPE]
        if self.s.types:
            raise EventError(f"unknown step {raw!r} in column {column} (add it to values.type, or map it to ~)")
        raise EventError(f"unknown event type {raw!r} in column {column} (expected one of: {', '.join(_TICKET_TYPES)})")

    def _at(self, value: Any) -> Any:
        """An ISO 8601 text with offset for ``parse_event``; what cannot be one is passed on for it to reject."""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                return value
        if isinstance(value, datetime):
            if value.tzinfo is None:
                if self.s.timezone is None:
                    raise EventError(f"`at` (column {self.names[RowField.AT]}) has no UTC offset: "
                                     f"{value.isoformat(' ')!r} (set the ticket database's timezone)")
                value = value.replace(tzinfo=self.s.timezone)
            return value.isoformat()
        return value if value is None else str(value)

    def _name_columns(self, message: str) -> str:
        """``parse_event``'s message in the operator's terms: each field followed by its column."""
        for f, column in self.names.items():
            message = message.replace(f"`{f.value}`", f"`{f.value}` (column {column})", 1)
        return message


def _word(value: Any) -> str | None:
    """A cell as text: numbers as written, CHAR padding trimmed; NULL and blank as None."""
    if value is None:
        return None
    s = str(value).strip()
    return s or None
