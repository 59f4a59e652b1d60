"""``monitord.yaml`` -> typed settings; every error names file:line and the key.

Paths in the file are relative to the file's own directory. Example::

    rules: rules/                     # the SLA policy directory
    inventory: demo/inventory.yaml    # customers, circuits, maintenance windows
    storage: sqlite:///var/lib/monitord/monitord.db
    outage_basis: tickets             # optional: overrides rules' availability.outage_basis
    http:
      listen: 127.0.0.1:9464          # loopback unless you say otherwise
      token_file: /etc/monitord/token # bearer token for write endpoints (required to accept writes)
      auth_reads: false               # also require it for reads
    snmp:
      community: public               # v2c default for every device
      timeout: 2s                     # per try; a device is given up after timeout x (retries + 1)
      retries: 1
      concurrency: 64                 # devices polled at once
      debounce_polls: 2               # consecutive down polls before a circuit counts as down
      intervals: {AAA: 30s, AA: 60s, default: 120s}   # a device is polled at its most demanding class
      devices:                        # per-device overrides, keyed host:port
        "10.1.1.1:161": {version: "3", user: noc, auth_key: ..., priv_key: ...}
    ticket_databases:                 # external trouble-ticket databases, by source name
      tt-main:                        # the section shown in monitord/sources/tickets_sql.py
        url: postgresql+psycopg://monitord_ro:secret@tt-db.example.net/tt
        query: SELECT ... WHERE updated_at >= :watermark ORDER BY updated_at
        columns: {id: key, updated_at: updated_at, step_time: at, step: type, ...}
        interval: 1m

A relative SQLite path in ``storage`` (or a ticket database's ``url``) is
relative to the config file too.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import make_url, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from monitord.domain import TicketEventType, TicketSource
from monitord.yamldoc import Problems, Section


class OutageBasis(enum.StrEnum):
    """Where availability takes its outage intervals from (rules default, deployment override)."""

    TICKETS = "tickets"  # reported (or first `down`) -> restored, minus pauses
    MONITORING = "monitoring"  # observed down -> up
    BOTH = "both"  # the union of the two


@dataclass(frozen=True)
class HttpSettings:
    """Where the daemon's HTTP server listens and how it authenticates."""

    host: str = "127.0.0.1"
    port: int = 9464
    token_file: Path | None = None
    auth_reads: bool = False


@dataclass(frozen=True)
class DeviceAccess:
    """SNMP credentials of one device, overriding the defaults."""

    version: str = "2c"
    community: str = "public"
    user: str = ""
    auth_key: str = ""
    auth_protocol: str = "SHA"
    priv_key: str = ""
    priv_protocol: str = "AES"


DEFAULT_INTERVALS = {"AAA": 30.0, "AA": 60.0, "default": 120.0}


@dataclass(frozen=True)
class SnmpSettings:
    """How circuits are polled over SNMP."""

    community: str = "public"
    timeout: float = 2.0
    retries: int = 1
    concurrency: int = 64
    debounce_polls: int = 2
    intervals: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_INTERVALS))
    devices: dict[str, DeviceAccess] = field(default_factory=dict)

    def interval(self, sla_class: str) -> float:
        """Seconds between polls for a circuit of ``sla_class``."""
        return self.intervals.get(sla_class, self.intervals["default"])


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


@dataclass(frozen=True)
class Settings:
    """The daemon's settings, validated."""

    file: Path
    rules: Path
    inventory: Path | None
    storage: str
    outage_basis: OutageBasis | None
    http: HttpSettings = HttpSettings()
    snmp: SnmpSettings = field(default_factory=SnmpSettings)
    ticket_databases: dict[str, TicketDbSettings] = field(default_factory=dict)  # by source name


DEFAULT_STORAGE = "sqlite:///monitord.db"


def load_settings(path: Path | str) -> Settings:
    """Read ``monitord.yaml``; raises ``InputError`` with every problem."""
    problems = Problems()
    settings = settings_from(Section.load(path, problems), Path(path))
    problems.raise_if_any()
    assert settings is not None
    return settings


def settings_from(doc: Section, path: Path) -> Settings | None:
    """Settings from a parsed document; problems go to its collector."""
    doc.only("rules", "inventory", "storage", "outage_basis", "http", "snmp", "ticket_databases")
    base = path.parent
    rules_sec, inv_sec = doc.get("rules", required=True), doc.get("inventory")
    storage_sec, basis_sec = doc.get("storage"), doc.get("outage_basis")
    rules = rules_sec.text() if rules_sec else None
    if rules is not None and not (base / rules).is_dir():
        assert rules_sec is not None
        rules_sec.error(f"no such directory: {base / rules}")
    inventory = inv_sec.text() if inv_sec else None
    if inventory is not None and not (base / inventory).is_file():
        assert inv_sec is not None
        inv_sec.error(f"no such file: {base / inventory}")
    storage = (storage_sec.text() if storage_sec else DEFAULT_STORAGE) or DEFAULT_STORAGE
    if "://" not in storage:
        assert storage_sec is not None
        storage_sec.error(f'expected an SQLAlchemy URL like "sqlite:///monitord.db", got "{storage}"')
    storage = _relative_sqlite(storage, base)
    basis = basis_sec.enum(OutageBasis) if basis_sec else None
    http = _http(doc.get("http"), base)
    snmp = _snmp(doc.get("snmp"))
    ticket_dbs = _ticket_databases(doc.get("ticket_databases"), base)
    if rules is None or http is None or snmp is None or ticket_dbs is None:
        return None
    return Settings(path, base / rules, base / inventory if inventory else None, storage, basis, http, snmp,
                    ticket_dbs)


def _relative_sqlite(url: str, base: Path) -> str:
    """A relative SQLite path made relative to the config file's directory; other URLs unchanged."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return f"sqlite:///{base / url.removeprefix('sqlite:///')}"
    return url


def _ticket_databases(sec: Section | None, base: Path) -> dict[str, TicketDbSettings] | None:
    """Each ticket database by source name; None when any has problems (all of them recorded)."""
    out: dict[str, TicketDbSettings] = {}
    if sec is None:
        return out
    entries = sec.mapping()
    if entries is None:
        return None
    ok = True
    for name, entry in entries.items():
        settings = ticket_db_settings(entry)
        if settings is None:
            ok = False
        else:
            out[name] = dataclasses.replace(settings, url=_relative_sqlite(settings.url, base))
    return out if ok else None


def _snmp(sec: Section | None) -> SnmpSettings | None:
    if sec is None:
        return SnmpSettings()
    sec.only("community", "timeout", "retries", "concurrency", "debounce_polls", "intervals", "devices")
    before = len(sec.problems.items)
    d = SnmpSettings()
    community = (c.text() or d.community) if (c := sec.get("community")) else d.community
    timeout = t.duration() if (t := sec.get("timeout")) else None
    retries = r.integer(minimum=0) if (r := sec.get("retries")) else d.retries
    concurrency = n.integer(minimum=1) if (n := sec.get("concurrency")) else d.concurrency
    debounce = b.integer(minimum=1) if (b := sec.get("debounce_polls")) else d.debounce_polls
    intervals = dict(DEFAULT_INTERVALS)
    for cls, v in (i.items() if (i := sec.get("intervals")) else ()):
        if (every := v.duration()) is not None:
            intervals[cls] = every.total_seconds()
    devices = {}
    for key, dev in (dv.items() if (dv := sec.get("devices")) else ()):
        dev.only(*DeviceAccess.__dataclass_fields__)
        if ":" not in key:
            dev.error('expected a device key "host:port"')
            continue
        values = {k: v.text() or "" for k, v in dev.items() if k in DeviceAccess.__dataclass_fields__}
        if values.get("version", "2c") not in ("2c", "3"):
            dev.error(f'version must be "2c" or "3", got "{values["version"]}"')
        elif values.get("version") == "3" and not values.get("user"):
            dev.error("SNMPv3 needs a user")
        devices[key] = DeviceAccess(**values)
    if len(sec.problems.items) > before:
        return None
    return SnmpSettings(community, timeout.total_seconds() if timeout else d.timeout, retries or 0,
                        concurrency or d.concurrency, debounce or d.debounce_polls, intervals, devices)


def _http(sec: Section | None, base: Path) -> HttpSettings | None:
    if sec is None:
        return HttpSettings()
    sec.only("listen", "token_file", "auth_reads")
    ok = True
    host, port = HttpSettings.host, HttpSettings.port
    if (listen := sec.get("listen")) is not None:
        text = listen.text() or ""
        h, _, p = text.rpartition(":")
        if not h or not p.isdigit() or not 0 <= int(p) < 65536:  # 0: any free port
            listen.error(f'expected host:port like "127.0.0.1:9464", got "{text}"')
            ok = False
        else:
            host, port = h.strip("[]"), int(p)
    token_file = None
    if (tf := sec.get("token_file")) is not None and (name := tf.text()):
        token_file = base / name
        if not token_file.is_file():
            tf.error(f"no such file: {token_file}")
            ok = False
    auth = sec.get("auth_reads")
    auth_reads = bool(auth.flag()) if auth else False
    return HttpSettings(host, port, token_file, auth_reads) if ok else None


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
