"""The daemon polling a real external ticket database (a SQLite file, and PostgreSQL) on a given clock.

Each case runs the in-process ``Daemon`` with its ticket database job on a real
SQLite storage file. The ticket database is a SQLite file or the test
PostgreSQL (MONITORD_TEST_PG_URL, skipped only when CI is unset, as in
tests/storage/conftest.py). PostgreSQL is reached through a TCP relay the test
can cut, so "the database goes away" is a real network outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, insert, make_url
from sqlalchemy.pool import NullPool

from monitord.app import Daemon, DaemonBackend, load
from monitord.config import load_settings
from monitord.domain import AlertState
from monitord.scheduler import TIMER_JOB, TicketDbPolls, Timer
from monitord.sdnotify import Notifier
from monitord.storage.repo import Repository
from tests.conftest import ROOT, TESTDATA
from tests.sources.ticketdb import tt_events_table
from tests.storage.conftest import pg_turn

TABLE = "ext_tt_daemon_test"
SOURCE = "tt-main"
AAA = "GZ-SDH-000123"  # demo inventory: AAA, 60-minute restoration limit, 15-minute dispatch limit
SH = timedelta(hours=8)

tt_events = tt_events_table(TABLE)
meta = tt_events.metadata

SECTION = f"""
ticket_databases:
  {SOURCE}:
    url: "{{url}}"
    query: |
      SELECT id, ticket_no, step, step_time, circuit_code, channel, updated_at
      FROM {TABLE} WHERE updated_at >= :watermark ORDER BY updated_at
    columns: {{{{id: key, updated_at: updated_at, step_time: at, step: type, ticket_no: ticket,
               circuit_code: circuit, channel: source}}}}
    values:
      type: {{{{报障: reported, 派单: dispatched, 修复: restored}}}}
      source: {{{{客户热线: customer}}}}
    timezone: Asia/Shanghai
    interval: 1m
    start: "2026-01-01 00:00:00"
"""


def shanghai(hour: int, minute: int = 0) -> datetime:
    """2026-03-02 at a Shanghai wall-clock time, as an aware UTC instant."""
    return datetime(2026, 3, 2, hour, minute, tzinfo=UTC) - SH


def instant(text: str | None) -> datetime | None:
    """An API time as an instant (the API writes the rules' offset)."""
    return None if text is None else datetime.fromisoformat(text)


class Clock:
    """The daemon's clock, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Relay:
    """A TCP relay to a server that the test can cut (connections dropped, new ones refused) and restore."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.port = 0
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        """Listen (again, on the same port) and relay every connection."""
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def cut(self) -> None:
        """Stop listening and drop every open connection."""
        assert self._listener is not None
        # shutdown() first: close() alone neither wakes a thread blocked in accept/recv nor ends the connection.
        for s in (self._listener, *self._conns):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            server = socket.create_connection(self.upstream)
            self._conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            s.close()


@dataclass
class TicketDb:
    """The operator's ticket database: an engine to write rows, the URL monitord reads, and an outage switch."""

    engine: Engine
    url: str
    relay: Relay | None = None
    _next_id: int = 1000

    def add(self, step: str | None, ticket: str, at: str, updated: datetime, circuit: str | None = None,
            channel: str | None = None) -> int:
        """Commit one row; returns its id (the row key monitord names in messages)."""
        self._next_id += 1
        row = {"id": self._next_id, "ticket_no": ticket, "step": step, "step_time": at, "circuit_code": circuit,
               "channel": channel, "updated_at": updated}
        with self.engine.begin() as conn:
            conn.execute(insert(tt_events), [row])
        return self._next_id

    def go_away(self) -> None:
        """Make the database unusable for monitord: the network cut (PostgreSQL) or the table gone (SQLite)."""
        if self.relay is not None:
            self.relay.cut()
        else:
            with self.engine.begin() as conn:
                conn.exec_driver_sql(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_away")

    def come_back(self) -> None:
        """Undo ``go_away``."""
        if self.relay is not None:
            self.relay.restore()
        else:
            with self.engine.begin() as conn:
                conn.exec_driver_sql(f"ALTER TABLE {TABLE}_away RENAME TO {TABLE}")


@pytest.fixture(params=["sqlite", "postgresql"])
def ticket_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TicketDb]:
    """A fresh, empty ticket table, on a SQLite file or on PostgreSQL behind a relay."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tt.db'}"
        engine = create_engine(url, poolclass=NullPool)
        meta.create_all(engine)
        yield TicketDb(engine, url)
        engine.dispose()
        return
    with pg_turn() as engine:
        meta.drop_all(engine)
        meta.create_all(engine)
        pg = engine.url
        relay = Relay(pg.host or "127.0.0.1", pg.port or 5432)
        url = make_url(pg).set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
        yield TicketDb(engine, url, relay)
        relay.cut()
        meta.drop_all(engine)


@pytest.fixture
def home(tmp_path: Path, ticket_db: TicketDb) -> Path:
    """A config directory: the shipped rules, the demo inventory, SQLite storage and the ticket database."""
    shutil.copytree(ROOT / "rules", tmp_path / "rules", ignore=shutil.ignore_patterns("tests"))
    shutil.copy(ROOT / "demo/inventory.yaml", tmp_path / "inventory.yaml")
    cfg = tmp_path / "monitord.yaml"
    cfg.write_text("rules: rules\ninventory: inventory.yaml\nstorage: sqlite:///state.db\n"
                   + SECTION.format(url=ticket_db.url), encoding="utf-8")
    return cfg


class Running:
    """The daemon core with its ticket database job, as ``app.run`` wires them (without the HTTP server)."""

    def __init__(self, config: Path, clock: Clock) -> None:
        loaded = load(config)
        self.daemon = Daemon(loaded, Repository.open(loaded.settings.storage), clock())
        self.timer = Timer(self.daemon.tick, self.daemon.next_instant, clock)
        self.polls = TicketDbPolls(loaded.settings.ticket_databases, self.daemon.ingest_each, self.daemon.repo,
                                   clock, self.timer.rearm)
        self.backend = DaemonBackend(self.daemon, self.timer, config, clock, Notifier({}), self.polls)

    def poll(self) -> None:
        """One run of the ticket database job, as the scheduler would start it."""
        asyncio.run(self.polls.poll(SOURCE))

    def tickets(self) -> dict[str, dict[str, Any]]:
        """The API's ticket view, by ticket."""
        return {t["ticket"]: t for t in self.backend.tickets()}

    def metric(self, name: str, **labels: str) -> float | None:
        """One sample of the Prometheus exposition, None when absent."""
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in asyncio.run(self.backend.metrics()).decode().splitlines():
            series, _, value = line.rpartition(" ")
            if series in (f"{name}{{{want}}}", name if not labels else ""):
                return float(value)
        return None

    def stop(self) -> None:
        self.polls.close()
        self.daemon.repo.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(shanghai(9, 1))


@pytest.fixture
def running(home: Path, clock: Clock) -> Iterator[Running]:
    r = Running(home, clock)
    yield r
    r.stop()


# --- rows become tickets -----------------------------------------------------------------------------


def test_rows_become_tickets_with_deadlines_and_the_timer_is_armed(ticket_db: TicketDb, running: Running,
                                                                   clock: Clock) -> None:
    t0 = datetime(2026, 3, 2, 9, 0)  # their database's naive local time
    ticket_db.add("报障", "TT1", "2026-03-02 09:00:00", t0, circuit=AAA, channel="客户热线")
    ticket_db.add("派单", "TT1", "2026-03-02 09:05:00", t0 + timedelta(minutes=5))
    clock.now = shanghai(9, 6)

    async def poll_with_a_timer() -> datetime | None:
        running.timer.scheduler.start(paused=True)  # armed, but the test's clock is not the wall clock
        await running.polls.poll(SOURCE)
        job = running.timer.scheduler.get_job(TIMER_JOB)
        running.timer.stop()
        return job.next_run_time if job else None

    armed = asyncio.run(poll_with_a_timer())
    tt1 = running.tickets()["TT1"]
    assert (tt1["circuit"], tt1["source"], instant(tt1["reported"])) == (AAA, "customer", shanghai(9))
    deadlines = {d["kind"]: d for d in tt1["deadlines"]}
    assert deadlines["dispatch"]["state"] == "met"
    assert instant(deadlines["restore"]["due"]) == shanghai(10)
    assert armed == running.daemon.next_instant() is not None  # re-armed at the engine's next instant

    clock.now = shanghai(10, 1)
    running.daemon.tick(clock.now)
    assert ("RestoreBreached", shanghai(10)) in [(n.alert.name, n.at) for n in running.daemon.notices]
    assert running.metric("monitord_ticket_source_rows_total", source=SOURCE) == 2
    assert running.metric("monitord_ticket_source_last_success_timestamp_seconds", source=SOURCE) == \
        shanghai(9, 6).timestamp()


def test_bad_rows_are_skipped_and_counted_and_the_others_processed(
    ticket_db: TicketDb, running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    t0 = datetime(2026, 3, 2, 9, 0)
    ticket_db.add("报障", "TT1", "2026-03-02 09:00:00", t0, circuit=AAA, channel="客户热线")
    unknown = ticket_db.add("报障", "TT2", "2026-03-02 09:01:00", t0 + timedelta(minutes=1), circuit="NO-SUCH")
    follows = ticket_db.add("派单", "TT2", "2026-03-02 09:02:00", t0 + timedelta(minutes=2))
    unreported = ticket_db.add("派单", "TT9", "2026-03-02 09:03:00", t0 + timedelta(minutes=3))
    bad_time = ticket_db.add("派单", "TT1", "yesterday", t0 + timedelta(minutes=4))
    ticket_db.add("报障", "TT3", "2026-03-02 09:05:00", t0 + timedelta(minutes=5), circuit=AAA, channel="客户热线")
    ticket_db.add("修复", "TT1", "2026-03-02 09:06:00", t0 + timedelta(minutes=6))

    running.poll()
    tickets = running.tickets()
    assert sorted(tickets) == ["TT1", "TT3"]
    assert instant(tickets["TT1"]["restored"]) == shanghai(9, 6)
    assert running.metric("monitord_ticket_source_rows_total", source=SOURCE) == 3
    assert running.metric("monitord_ticket_source_rows_skipped_total", source=SOURCE, reason="rejected") == 3
    assert running.metric("monitord_ticket_source_rows_skipped_total", source=SOURCE, reason="malformed") == 1
    assert running.metric("monitord_ticket_source_poll_errors_total", source=SOURCE) == 0
    assert f"row {unknown}: unknown circuit 'NO-SUCH'" in caplog.text
    assert f"row {follows}: ticket 'TT2' has not been reported" in caplog.text
    assert f"row {unreported}: ticket 'TT9' has not been reported" in caplog.text
    assert f"row {bad_time}: `at` (column step_time) is not an ISO 8601 time" in caplog.text

    # The skipped rows do not come back and block nothing: the next row is read.
    ticket_db.add("修复", "TT3", "2026-03-02 09:10:00", t0 + timedelta(minutes=10))
    running.poll()
    assert instant(running.tickets()["TT3"]["restored"]) == shanghai(9, 10)
    assert running.metric("monitord_ticket_source_rows_skipped_total", source=SOURCE, reason="rejected") == 3


# --- restarts ----------------------------------------------------------------------------------------


def test_the_watermark_survives_a_restart(ticket_db: TicketDb, home: Path, clock: Clock) -> None:
    t0 = datetime(2026, 3, 2, 9, 0)
    ticket_db.add("报障", "TT1", "2026-03-02 09:00:00", t0, circuit=AAA, channel="客户热线")
    first = Running(home, clock)
    first.poll()
    stored = sum(1 for _ in first.daemon.repo.events())
    first.stop()  # down for a while; a row is added meanwhile
    ticket_db.add("修复", "TT1", "2026-03-02 09:30:00", t0 + timedelta(minutes=30))

    clock.now = shanghai(9, 40)
    again = Running(home, clock)
    try:
        assert again.tickets()["TT1"]["restored"] is None  # rebuilt from storage
        again.poll()
        assert again.metric("monitord_ticket_source_rows_total", source=SOURCE) == 1  # the new row only
        assert instant(again.tickets()["TT1"]["restored"]) == shanghai(9, 30)
        assert sum(1 for _ in again.daemon.repo.events()) == stored + 1
        again.poll()
        assert again.metric("monitord_ticket_source_rows_total", source=SOURCE) == 1
    finally:
        again.stop()


def test_a_crash_before_the_watermark_is_saved_repeats_nothing(ticket_db: TicketDb, home: Path,
                                                               clock: Clock) -> None:
    t0 = datetime(2026, 3, 2, 9, 0)
    ticket_db.add("报障", "TT1", "2026-03-02 09:00:00", t0, circuit=AAA, channel="客户热线")
    clock.now = shanghai(10, 5)  # read late: the restoration limit (10:00) has passed
    first = Running(home, clock)
    first.poll()
    assert "RestoreBreached" in [n.alert.name for n in first.daemon.notices]
    stored = sum(1 for _ in first.daemon.repo.events())
    # What a kill -9 leaves between storing the events and saving the watermark: the old watermark.
    first.daemon.repo.save_watermark(SOURCE, '{"value": ["json", "2026-01-01 00:00:00"], "seen": []}')
    first.stop()

    clock.now = shanghai(10, 6)
    again = Running(home, clock)
    try:
        again.poll()  # reads the row again
        assert sum(1 for _ in again.daemon.repo.events()) == stored
        assert [n for n in again.daemon.notices if n.new is AlertState.FIRING] == []
    finally:
        again.stop()


# --- outages and reloads -----------------------------------------------------------------------------


def test_a_database_that_goes_away_is_an_error_counted_and_polling_resumes(
    ticket_db: TicketDb, running: Running, clock: Clock
) -> None:
    t0 = datetime(2026, 3, 2, 9, 0)
    ticket_db.add("报障", "TT1", "2026-03-02 09:00:00", t0, circuit=AAA, channel="客户热线")
    running.poll()
    ok_at = shanghai(9, 1).timestamp()

    ticket_db.go_away()
    clock.now = shanghai(9, 2)
    running.poll()  # no exception: logged and counted
    clock.now = shanghai(9, 3)
    running.poll()
    assert running.metric("monitord_ticket_source_poll_errors_total", source=SOURCE) == 2
    assert running.metric("monitord_ticket_source_last_success_timestamp_seconds", source=SOURCE) == ok_at

    ticket_db.come_back()
    ticket_db.add("修复", "TT1", "2026-03-02 09:02:30", t0 + timedelta(minutes=2, seconds=30))
    clock.now = shanghai(9, 4)
    running.poll()
    assert instant(running.tickets()["TT1"]["restored"]) == (shanghai(9, 2) + timedelta(seconds=30))
    assert running.metric("monitord_ticket_source_poll_errors_total", source=SOURCE) == 2
    assert running.metric("monitord_ticket_source_last_success_timestamp_seconds", source=SOURCE) == \
        shanghai(9, 4).timestamp()


def test_reload_makes_the_jobs_follow_the_new_settings(ticket_db: TicketDb, running: Running, home: Path) -> None:
    t0 = datetime(2026, 3, 2, 9, 0)
    ticket_db.add("报障", "TT1", "2026-03-02 09:00:00", t0, circuit=AAA, channel="客户热线")
    text = home.read_text(encoding="utf-8")

    async def scenario() -> list[tuple[str, float]]:
        scheduler = running.timer.scheduler
        scheduler.start(paused=True)
        running.polls.add_jobs(scheduler)
        seen = [(j.id, j.trigger.interval.total_seconds()) for j in scheduler.get_jobs()]
        # Renamed and slower: the old job goes, the new one comes with its interval.
        home.write_text(text.replace(f"  {SOURCE}:", "  tt-renamed:").replace("interval: 1m", "interval: 5m"),
                        encoding="utf-8")
        assert (await running.backend.reload()).ok
        seen += [(j.id, j.trigger.interval.total_seconds()) for j in scheduler.get_jobs()]
        await running.polls.poll("tt-renamed")
        await running.polls.poll(SOURCE)  # a run of the removed job already due: nothing happens
        running.timer.stop()
        return seen

    seen = asyncio.run(scenario())
    assert seen == [(f"ticket-db-{SOURCE}", 60.0), ("ticket-db-tt-renamed", 300.0)]
    assert "TT1" in running.tickets()
    assert running.metric("monitord_ticket_source_rows_total", source="tt-renamed") == 1
    assert running.metric("monitord_ticket_source_rows_total", source=SOURCE) is None


# --- config ------------------------------------------------------------------------------------------


def test_config_reads_every_ticket_database() -> None:
    path = TESTDATA / "config" / "ticket-databases.good.yaml"
    dbs = load_settings(path).ticket_databases
    assert sorted(dbs) == ["tt-legacy", "tt-main"]
    assert dbs["tt-main"].interval == timedelta(seconds=30) and str(dbs["tt-main"].timezone) == "Asia/Shanghai"
    assert dbs["tt-legacy"].url == f"sqlite:///{path.parent / 'legacy-tt.db'}"  # relative to the config file
    assert dbs["tt-legacy"].interval == timedelta(minutes=1)
