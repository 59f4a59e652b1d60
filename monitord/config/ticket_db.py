"""The ``ticket_databases:`` entries of monitord.yaml: an external trouble-ticket database each.

How the daemon reads such a database (the query, the watermark, the column
and vocabulary maps) is described in ``monitord.sources.tickets_sql``; this
module only turns one entry into ``TicketDbSettings`` and reports every
problem with its file, line and key.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import make_url, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from monitord.domain import TicketEventType, TicketSource
from monitord.yamldoc import Section


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
