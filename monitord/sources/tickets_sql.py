"""An external trouble-ticket database, polled incrementally with an SQL query from the config.

The operator writes the query against their own schema, maps its columns to
the fields of a ticket event and, optionally, their vocabulary to ours; no code
is needed. Example (a section of ``monitord.yaml``)::

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

import enum
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, TextClause, create_engine, make_url, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from monitord.domain import TicketEvent, TicketEventType, TicketSource
from monitord.sources.events import EventError, parse_event
from monitord.yamldoc import Section

log = logging.getLogger(__name__)


class RowField(enum.StrEnum):
    """What a column of the operator's query can be mapped to."""

    KEY = "key"  # the row's identity, for error messages only (need not be unique)
    UPDATED_AT = "updated_at"  # the watermark: when the row last changed, in the database's own terms
    AT = "at"  # when the step happened
    TYPE = "type"
    TICKET = "ticket"
    CIRCUIT = "circuit"
    SOURCE = "source"
    REASON = "reason"


REQUIRED_FIELDS = (RowField.KEY, RowField.UPDATED_AT, RowField.AT, RowField.TYPE, RowField.TICKET, RowField.CIRCUIT)
"""Fields every mapping must name a column for (``circuit``: every ticket starts with ``reported``)."""

DEFAULT_START = "1970-01-01 00:00:00"
"""The first watermark when the config gives none; text, which both SQLite and PostgreSQL compare with times."""

DEFAULT_BATCH_SIZE = 500
"""Rows fetched per round trip when the config does not say."""

DEFAULT_INTERVAL = timedelta(minutes=1)
"""How often the database is polled when the config does not say."""

_TICKET_TYPES = {t.value: t for t in TicketEventType}
# `:watermark` as SQLAlchemy reads a bind parameter; `::watermark` would be a PostgreSQL cast.
_WATERMARK = re.compile(r"(?<![:\w]):watermark\b")
# A strict comparison with the watermark, written either way round.
_STRICT = re.compile(r"(?<![<>!])>\s*:watermark\b|:watermark\s*<(?![=>])")
_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)


@dataclass(frozen=True)
class TicketDbSettings:
    """Where the external ticket database is, how to read it and how to understand its rows."""

    url: str = field(repr=False)  # may hold a password
    query: str  # uses `:watermark`; compares with `>=` and ends with ORDER BY the watermark column
    columns: Mapping[str, RowField]  # query column -> event field
    types: Mapping[str, TicketEventType | None] = field(default_factory=dict)  # None: skip such rows
    sources: Mapping[str, TicketSource] = field(default_factory=dict)
    timezone: ZoneInfo | None = None  # for naive timestamps; None: a naive `at` is a malformed row
    batch_size: int = DEFAULT_BATCH_SIZE
    interval: timedelta = DEFAULT_INTERVAL
    start: Any = DEFAULT_START  # the first watermark value, bound to the query as written


def ticket_db_settings(sec: Section) -> TicketDbSettings | None:
    """Settings from their section of the config; None when it has problems (each recorded at file:line: key)."""
    sec.only("url", "query", "columns", "values", "timezone", "batch_size", "interval", "start")
    if sec.mapping() is None:
        return None
    before = len(sec.problems.items)
    url = _url(sec.get("url", required=True))
    query = _query(sec.get("query", required=True))
    columns = _columns(sec.get("columns", required=True))
    types, sources = _values(sec.get("values"))
    tz = tzs.timezone() if (tzs := sec.get("timezone")) else None
    batch_sec, interval_sec, start_sec = sec.get("batch_size"), sec.get("interval"), sec.get("start")
    batch = batch_sec.integer(minimum=1) if batch_sec else DEFAULT_BATCH_SIZE
    interval = interval_sec.duration() if interval_sec else DEFAULT_INTERVAL
    start = start_sec.value if start_sec else DEFAULT_START
    if start is None or isinstance(start, (dict, list, bool)):
        assert start_sec is not None
        got = "nothing" if start is None else "a mapping" if isinstance(start, dict) else "a list" if isinstance(
            start, list) else str(start).lower()
        start_sec.error(f'expected a value of the watermark column like "2026-01-01 00:00:00", got {got}')
    if len(sec.problems.items) > before:
        return None
    assert url and query and columns is not None and batch and interval
    return TicketDbSettings(url, query, columns, types, sources, tz, batch, interval, start)


def _url(sec: Section | None) -> str | None:
    url = sec.text() if sec else None
    if sec is None or url is None:
        return None
    try:
        parsed = make_url(url)
    except ArgumentError:
        sec.error('expected an SQLAlchemy URL like "postgresql+psycopg://user:password@host/db"')
        return None
    try:
        parsed.get_dialect()  # only names the dialect; the driver itself is imported on first connect
    except NoSuchModuleError:
        sec.error(f'unknown database dialect "{parsed.drivername}" (e.g. postgresql+psycopg, sqlite)')
        return None
    return url


def _query(sec: Section | None) -> str | None:
    q = sec.text() if sec else None
    if sec is None or q is None:
        return None
    # A trailing `;` breaks PostgreSQL's server-side cursor (DECLARE ... CURSOR FOR <query>).
    q = q.strip().rstrip(";").strip()
    if not _WATERMARK.search(q):
        sec.error("the query must use the bind parameter :watermark (e.g. WHERE updated_at >= :watermark)")
        return None
    ok = True
    others = sorted(set(text(q).compile().params) - {"watermark"})
    if others:
        sec.error(f"unknown bind parameter {', '.join(':' + p for p in others)} (only :watermark is supplied)")
        ok = False
    if _STRICT.search(q):
        sec.error("compare with >= :watermark, not > :watermark: rows committed later with the same "
                  "updated_at as the last row read would be lost (re-read boundary rows are not returned twice)")
        ok = False
    if not _ORDER_BY.search(q):
        sec.error("the query must end with ORDER BY its updated_at column, so the watermark only moves forward")
        ok = False
    return q if ok else None


def _columns(sec: Section | None) -> dict[str, RowField] | None:
    if sec is None:
        return None
    entries = sec.mapping()
    if entries is None:
        return None
    out: dict[str, RowField] = {}
    seen: dict[RowField, str] = {}
    ok = True
    for column, target in entries.items():
        f = target.enum(RowField)
        if f is None:
            ok = False
        elif f in seen:
            target.error(f'field "{f}" is already mapped from column {seen[f]}')
            ok = False
        else:
            seen[f] = column
            out[column] = f
    # A field is missing only if every entry was understood: a bad one may have been meant for it.
    for f in REQUIRED_FIELDS if ok else ():
        if f not in seen:
            sec.error(f'no column is mapped to "{f}"')
            ok = False
    return out if ok else None


def _values(sec: Section | None) -> tuple[dict[str, TicketEventType | None], dict[str, TicketSource]]:
    types: dict[str, TicketEventType | None] = {}
    sources: dict[str, TicketSource] = {}
    if sec is None:
        return types, sources
    sec.only("type", "source")
    type_sec, source_sec = sec.get("type"), sec.get("source")
    for word, target in type_sec.items() if type_sec else ():
        if target.value is None:
            types[word] = None  # a step of theirs that means nothing to the SLA, e.g. a comment
        elif (t := _ticket_type(target)) is not None:
            types[word] = t
    for word, target in source_sec.items() if source_sec else ():
        if (s := target.enum(TicketSource)) is not None:
            sources[word] = s
    return types, sources


def _ticket_type(sec: Section) -> TicketEventType | None:
    t = _TICKET_TYPES.get(str(sec.value))
    if t is None:
        allowed = ", ".join(_TICKET_TYPES)
        sec.error(f'unknown event type "{sec.value}" (expected one of {allowed}, or ~ to skip such rows)')
    return t


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
        watermark = since or Watermark(self.settings.start)
        for part in self.batches(since):
            events += part.events
            malformed += part.malformed
            watermark = part.watermark
        return PollResult(events, watermark, malformed)

    def batches(self, since: Watermark | None = None) -> Iterator[PollResult]:
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
                events: list[TicketEvent] = []
                malformed: list[MalformedRow] = []
                for row in rows:
                    updated, fp = row[reader.updated_at], _fingerprint(row)
                    if updated is not None and updated == watermark.value:
                        if fp in watermark.seen:
                            continue  # read by an earlier poll at this boundary
                        watermark = Watermark(updated, watermark.seen | {fp})
                    elif updated is not None:
                        watermark = Watermark(updated, frozenset({fp}))
                    self._take(reader, row, events, malformed)
                yield PollResult(events, watermark, malformed)

    def _take(self, reader: _RowReader, row: Sequence[Any], events: list[TicketEvent],
              malformed: list[MalformedRow]) -> None:
        self.counts.rows += 1
        try:
            event = reader.event(row)
        except EventError as exc:
            bad = MalformedRow(reader.key(row), str(exc))
            log.warning("ticket database: skipping %s", bad)
            malformed.append(bad)
            self.counts.malformed += 1
            return
        if event is None:
            self.counts.ignored += 1
            return
        events.append(event)
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
