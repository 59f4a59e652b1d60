"""``monitord.yaml`` -> typed settings; every error names file:line and the key.

Paths in the file are relative to the file's own directory. Example::

    rules: rules/                     # the SLA policy directory
    inventory: demo/inventory.yaml    # customers, circuits, maintenance windows
    storage: sqlite:///var/lib/monitord/monitord.db
    outage_basis: tickets             # optional: overrides rules' availability.outage_basis
    inventory_sync: 1m                # how often the inventory file is checked; a change reloads (0s: never)
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
      workers: 0                      # poller processes (0: in the daemon); for large SNMPv3 fleets
      intervals: {AAA: 30s, AA: 60s, default: 120s}   # a device is polled at its most demanding class
      devices:                        # per-device overrides, keyed host:port
        "10.1.1.1:161": {version: "3", user: noc, auth_key: ..., priv_key: ...}
        "10.2.0.9:161": {community: other, timeout: 5s, retries: 3}   # a slow satellite link
    ticket_databases:                 # external trouble-ticket databases, by source name
      tt-main:                        # see monitord/config/ticket_db.py and monitord/sources/tickets_sql.py
        url: postgresql+psycopg://monitord_ro:secret@tt-db.example.net/tt
        query: SELECT ... WHERE updated_at >= :watermark ORDER BY updated_at
        columns: {id: key, updated_at: updated_at, step_time: at, step: type, ...}
        interval: 1m
    alerting:                         # the routing tree and receivers: see monitord/config/alerting.py
      route: {receiver: noc-oncall}
      receivers: [{name: noc-oncall, notifiers: [{kind: webhook, url: "https://chat.example.com/hooks/noc"}]}]

A relative SQLite path in ``storage`` (or a ticket database's ``url``) is
relative to the config file too.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from monitord.config.alerting import AlertingSettings, alerting_settings
from monitord.config.ticket_db import TicketDbSettings, ticket_db_settings
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
    """How one device is polled where it differs from the ``snmp`` section; None takes the section's value."""

    version: str = "2c"
    community: str | None = None
    user: str = ""
    auth_key: str = ""
    auth_protocol: str = "SHA"
    priv_key: str = ""
    priv_protocol: str = "AES"
    timeout: float | None = None  # seconds per try
    retries: int | None = None


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
    workers: int = 0  # poller processes; 0: poll in the daemon's own process

    def interval(self, sla_class: str) -> float:
        """Seconds between polls for a circuit of ``sla_class``."""
        return self.intervals.get(sla_class, self.intervals["default"])


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
    alerting: AlertingSettings | None = None  # the routing tree and receivers; None: not configured
    inventory_sync: float = 60.0  # seconds between checks of the inventory file for changes; 0: never


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
    doc.only("rules", "inventory", "storage", "outage_basis", "http", "snmp", "ticket_databases", "alerting",
             "inventory_sync")
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
    sync_sec = doc.get("inventory_sync")
    sync = sync_sec.duration() if sync_sec else timedelta(minutes=1)
    alerting_sec = doc.get("alerting")
    alerting = alerting_settings(alerting_sec) if alerting_sec else None
    if rules is None or http is None or snmp is None or ticket_dbs is None or (alerting_sec and alerting is None):
        return None
    return Settings(path, base / rules, base / inventory if inventory else None, storage, basis, http, snmp,
                    ticket_dbs, alerting, sync.total_seconds() if sync is not None else 60.0)


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
    sec.only("community", "timeout", "retries", "concurrency", "debounce_polls", "intervals", "devices", "workers")
    before = len(sec.problems.items)
    d = SnmpSettings()
    community = (c.text() or d.community) if (c := sec.get("community")) else d.community
    timeout = t.duration() if (t := sec.get("timeout")) else None
    retries = r.integer(minimum=0) if (r := sec.get("retries")) else d.retries
    concurrency = n.integer(minimum=1) if (n := sec.get("concurrency")) else d.concurrency
    debounce = b.integer(minimum=1) if (b := sec.get("debounce_polls")) else d.debounce_polls
    workers = w.integer(minimum=0) if (w := sec.get("workers")) else d.workers
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
        values: dict[str, object] = {k: v.text() or "" for k, v in dev.items()
                                     if k in DeviceAccess.__dataclass_fields__ and k not in ("timeout", "retries")}
        if values.get("version", "2c") not in ("2c", "3"):
            dev.error(f'version must be "2c" or "3", got "{values["version"]}"')
        elif values.get("version") == "3" and not values.get("user"):
            dev.error("SNMPv3 needs a user")
        if (dt := dev.get("timeout")) is not None and (every := dt.duration()) is not None:
            values["timeout"] = every.total_seconds()
        if (dr := dev.get("retries")) is not None:
            values["retries"] = dr.integer(minimum=0)
        devices[key] = DeviceAccess(**values)  # type: ignore[arg-type]  # each value read as its field's type
    if len(sec.problems.items) > before:
        return None
    return SnmpSettings(community, timeout.total_seconds() if timeout else d.timeout, retries or 0,
                        concurrency or d.concurrency, debounce or d.debounce_polls, intervals, devices, workers or 0)


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
