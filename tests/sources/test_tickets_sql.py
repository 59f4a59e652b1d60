"""The external ticket database source, polled for real on a SQLite file and on PostgreSQL.

PostgreSQL comes from MONITORD_TEST_PG_URL as in tests/storage/conftest.py, and
is skipped or failed the same way (skipped only when CI is unset). Each case
owns the table ``ext_tt_events_test``: it drops and creates it while holding
the same advisory lock as the storage suite, whose clean-up drops every table
in the database, so concurrent runs take turns instead of dropping each other's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, insert
from sqlalchemy.pool import NullPool

from monitord.config.ticket_db import RowField, TicketDbSettings, ticket_db_settings
from monitord.domain import TicketEventType, TicketSource
from monitord.sources.tickets_sql import MalformedRow, SqlTicketSource, TicketDbError, Watermark
from monitord.yamldoc import Problems, Section
from tests.conftest import TESTDATA, expectations
from tests.sources.ticketdb import tt_events_table
from tests.storage.conftest import pg_turn

SETTINGS_DIR = TESTDATA / "ticketdb" / "settings"
TABLE = "ext_tt_events_test"

tt_events = tt_events_table(TABLE)
meta = tt_events.metadata

T0 = datetime(2026, 3, 2, 9, 0)  # naive, as their database holds it (Asia/Shanghai)
SH = timedelta(hours=8)


# backends --------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def ext_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database holding a fresh, empty ``ext_tt_events_test`` table, per backend."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'tt.db'}", poolclass=NullPool)
        meta.create_all(engine)
        yield engine
        engine.dispose()
        return
    with pg_turn() as engine:
        meta.drop_all(engine)
        meta.create_all(engine)
        yield engine
        meta.drop_all(engine)


_next_id = iter(range(1, 1_000_000))


def row(
    step: str | None,
    ticket: str | None = "TT1",
    *,
    at: str | None = "2026-03-02 09:00:00",
    updated: datetime = T0,
    circuit: str | None = "C1",
    channel: str | None = None,
    note: str | None = None,
    id: int | None = None,
) -> dict[str, Any]:
    """One row of their table."""
    return {
        "id": id or next(_next_id),
        "ticket_no": ticket,
        "step": step,
        "step_time": at,
        "circuit_code": circuit,
        "channel": channel,
        "note": note,
        "updated_at": updated,
    }


def add(engine: Engine, *rows: dict[str, Any]) -> None:
    """Commit rows to their table."""
    with engine.begin() as conn:
        conn.execute(insert(tt_events), list(rows))


def settings(**changes: Any) -> TicketDbSettings:
    """The settings of chinese.good.yaml, with changes."""
    problems = Problems()
    s = ticket_db_settings(Section.load(SETTINGS_DIR / "chinese.good.yaml", problems))
    assert s is not None, problems.items
    return dataclasses.replace(s, **changes)


def source(engine: Engine, **changes: Any) -> SqlTicketSource:
    """A source reading their table through ``engine``."""
    return SqlTicketSource(settings(url=engine.url.render_as_string(hide_password=False), **changes), engine)


def shanghai(hour: int, minute: int = 0) -> datetime:
    """2026-03-02 at a Shanghai wall-clock time, as an aware UTC instant."""
    return datetime(2026, 3, 2, hour, minute, tzinfo=UTC) - SH


# polling ---------------------------------------------------------------------------------------------


def test_second_poll_returns_only_new_rows(ext_db: Engine) -> None:
    add(
        ext_db,
        row("报障", "TT1", at="2026-03-02 09:00:00", updated=T0, channel="客户热线"),
        row("派单", "TT1", at="2026-03-02 09:05:00", updated=T0 + timedelta(minutes=5)),
        row("接单", "TT1", at="2026-03-02 09:12:00", updated=T0 + timedelta(minutes=12)),
    )
    src = source(ext_db)
    first = src.poll()
    assert [e.type for e in first.events] == [
        TicketEventType.REPORTED,
        TicketEventType.DISPATCHED,
        TicketEventType.ACCEPTED,
    ]
    assert first.malformed == []

    add(
        ext_db,
        row("修复", "TT1", at="2026-03-02 09:40:00", updated=T0 + timedelta(minutes=40)),
        row("回访确认", "TT1", at="2026-03-02 09:50:00", updated=T0 + timedelta(minutes=50)),
    )
    second = src.poll(first.watermark)
    assert [(e.type, e.at) for e in second.events] == [
        (TicketEventType.RESTORED, shanghai(9, 40)),
        (TicketEventType.CONFIRMED, shanghai(9, 50)),
    ]
    third = src.poll(second.watermark)
    assert third.events == [] and third.malformed == []
    assert third.watermark == second.watermark
    assert src.counts.rows == 5 and src.counts.events == 5


def test_first_poll_starts_at_the_configured_start(ext_db: Engine) -> None:
    add(
        ext_db,
        row("报障", "OLD", updated=datetime(2025, 12, 31, 23, 59), channel="客户热线"),
        row("报障", "NEW", updated=datetime(2026, 1, 1, 0, 0), channel="客户热线"),
    )
    assert [e.ticket for e in source(ext_db).poll().events] == ["NEW"]  # start: "2026-01-01 00:00:00", >=


def test_rows_at_the_boundary_are_neither_lost_nor_returned_twice(ext_db: Engine) -> None:
    """Rows committed after a poll with the last row's updated_at are still read, and only once."""
    add(ext_db, row("报障", "TT1", updated=T0, channel="客户热线"), row("报障", "TT2", updated=T0, channel="客户热线"))
    src = source(ext_db)
    first = src.poll()
    assert sorted(e.ticket for e in first.events) == ["TT1", "TT2"]

    # A transaction that took its timestamp before the poll commits after it.
    add(ext_db, row("报障", "TT3", updated=T0, channel="客户热线"))
    second = src.poll(first.watermark)
    assert [e.ticket for e in second.events] == ["TT3"]

    # Two rows identical but for their id (keys need not be unique): both are new, then both are old.
    add(ext_db, row("派单", "TT3", updated=T0), row("派单", "TT3", updated=T0))
    third = src.poll(second.watermark)
    assert [e.type for e in third.events] == [TicketEventType.DISPATCHED] * 2
    assert src.poll(third.watermark).events == []

    # A stored watermark (dump/load across a restart) remembers the boundary too.
    assert src.poll(Watermark.load(third.watermark.dump())).events == []
    # Without that memory the boundary rows come again: harmless, storage ingestion is idempotent.
    assert len(src.poll(Watermark(third.watermark.value)).events) == 5


def test_vocabulary_maps(ext_db: Engine) -> None:
    add(
        ext_db,
        row("报障", "TT1", circuit="BJ-SH-0001", channel="客户经理", updated=T0),
        row("备注", "TT1", note="客户来电催单", updated=T0 + timedelta(minutes=1)),  # mapped to ~: skipped
        row("挂起", "TT1", note="客户机房停电", updated=T0 + timedelta(minutes=2)),
        row("解挂", "TT1", updated=T0 + timedelta(minutes=3)),
        row("报障", "TT2", circuit="BJ-SH-0002", channel="网管监控", updated=T0 + timedelta(minutes=4)),
        row("restored", "TT2", updated=T0 + timedelta(minutes=5)),  # our own word is understood as well
        row("报障", "TT3", circuit="BJ-SH-0003", channel=None, updated=T0 + timedelta(minutes=6)),
    )
    src = source(ext_db)
    result = src.poll()
    assert result.malformed == []
    got = [(e.ticket, e.type, e.circuit, e.source, e.reason) for e in result.events]
    assert got == [
        ("TT1", TicketEventType.REPORTED, "BJ-SH-0001", TicketSource.ACCOUNT_MANAGER, ""),
        ("TT1", TicketEventType.PAUSED, "", None, "客户机房停电"),
        ("TT1", TicketEventType.RESUMED, "", None, ""),
        ("TT2", TicketEventType.REPORTED, "BJ-SH-0002", TicketSource.MONITORING, ""),
        ("TT2", TicketEventType.RESTORED, "", None, ""),
        ("TT3", TicketEventType.REPORTED, "BJ-SH-0003", TicketSource.CUSTOMER, ""),  # absent: customer, as the API
    ]
    assert src.counts.ignored == 1 and src.counts.events == 6


def test_naive_timestamps_are_in_the_configured_zone(ext_db: Engine) -> None:
    add(
        ext_db,
        row("报障", "TT1", at="2026-03-02 09:00:00", updated=T0, channel="客户热线"),
        row("派单", "TT1", at="2026-03-02T01:10:00+00:00", updated=T0 + timedelta(minutes=10)),  # aware: kept
        row("接单", "TT1", at="2026-03-02 09:20:00.250000", updated=T0 + timedelta(minutes=20)),
    )
    events = source(ext_db).poll().events
    assert [e.at for e in events] == [shanghai(9), shanghai(9, 10), shanghai(9, 20) + timedelta(milliseconds=250)]
    assert all(e.at.utcoffset() is not None for e in events)

    # A real timestamp column as `at` (a driver datetime on PostgreSQL, text on SQLite): the same rule.
    query = (
        f"SELECT id, ticket_no, step, updated_at AS happened, circuit_code, channel, note, updated_at "
        f"FROM {TABLE} WHERE updated_at >= :watermark ORDER BY updated_at"
    )
    columns = {
        "id": RowField.KEY,
        "ticket_no": RowField.TICKET,
        "step": RowField.TYPE,
        "happened": RowField.AT,
        "circuit_code": RowField.CIRCUIT,
        "channel": RowField.SOURCE,
        "updated_at": RowField.UPDATED_AT,
    }
    at = [e.at for e in source(ext_db, query=query, columns=columns).poll().events]
    assert at == [shanghai(9), shanghai(9, 10), shanghai(9, 20)]

    # Without a time zone a naive time is a malformed row, not a guess.
    result = source(ext_db, timezone=None).poll()
    assert [e.type for e in result.events] == [TicketEventType.DISPATCHED]
    assert [m.message for m in result.malformed] == [
        "`at` (column step_time) has no UTC offset: '2026-03-02 09:00:00' (set the ticket database's timezone)",
        "`at` (column step_time) has no UTC offset: '2026-03-02 09:20:00.250000' (set the ticket database's timezone)",
    ]


def test_malformed_rows_are_reported_with_their_key_and_skipped(
    ext_db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    add(
        ext_db,
        row("报障", "TT1", updated=T0, channel="客户热线", id=101),
        row("派单", "TT1", at="yesterday", updated=T0 + timedelta(minutes=1), id=102),
        row("挂起审批", "TT1", updated=T0 + timedelta(minutes=2), id=103),
        row("接单", None, updated=T0 + timedelta(minutes=3), id=104),
        row("报障", "TT2", circuit=None, channel="客户热线", updated=T0 + timedelta(minutes=4), id=105),
        row("报障", "TT3", channel="微信", updated=T0 + timedelta(minutes=5), id=106),
        row("修复", "TT1", at="2026-03-02 10:00:00", updated=T0 + timedelta(minutes=6), id=107),
        row(None, "TT1", updated=T0 + timedelta(minutes=7), id=108),
    )  # the last row read is malformed
    src = source(ext_db)
    result = src.poll()
    assert [(e.ticket, e.type) for e in result.events] == [
        ("TT1", TicketEventType.REPORTED),
        ("TT1", TicketEventType.RESTORED),
    ]
    assert result.malformed == [
        MalformedRow("102", "`at` (column step_time) is not an ISO 8601 time: 'yesterday'"),
        MalformedRow("103", "unknown step '挂起审批' in column step (add it to values.type, or map it to ~)"),
        MalformedRow("104", "`ticket` (column ticket_no) must be a non-empty string"),
        MalformedRow("105", "`circuit` (column circuit_code) must be a non-empty string"),
        MalformedRow(
            "106", "`source` (column channel) must be one of customer, account_manager, monitoring; got '微信'"
        ),
        MalformedRow("108", "unknown step None in column step (add it to values.type, or map it to ~)"),
    ]
    assert src.counts.malformed == 6 and src.counts.events == 2
    assert "row 103: unknown step '挂起审批'" in caplog.text
    # The watermark went past the malformed rows: they do not come back and block nothing.
    assert result.watermark.value in (T0 + timedelta(minutes=7), "2026-03-02 09:07:00.000000")
    add(ext_db, row("归档", "TT1", updated=T0 + timedelta(minutes=8), id=109))
    again = src.poll(result.watermark)
    assert [e.type for e in again.events] == [TicketEventType.CLOSED] and again.malformed == []
    assert src.counts.malformed == 6


def test_unknown_word_without_a_type_map(ext_db: Engine) -> None:
    add(ext_db, row("dispatch", "TT1", id=201))
    result = source(ext_db, types={}).poll()
    assert result.malformed[0].key == "201"
    assert result.malformed[0].message.startswith("unknown event type 'dispatch' in column step (expected one of: ")


def test_reads_in_batches(ext_db: Engine) -> None:
    add(ext_db, *(row("报障", f"TT{i:02}", channel="客户热线", updated=T0 + timedelta(seconds=i)) for i in range(25)))
    src = source(ext_db, batch_size=10)
    parts = src.batches()
    first = next(parts)
    assert [e.ticket for e in first.events] == [f"TT{i:02}" for i in range(10)]
    assert src.counts.rows == 10  # the rest is not read until asked for
    rest = list(parts)
    assert [len(p.events) for p in rest] == [10, 5]
    # Every batch's watermark is a safe place to resume from (e.g. after a crash mid-poll).
    resumed = src.poll(first.watermark)
    assert [e.ticket for e in resumed.events] == [f"TT{i:02}" for i in range(10, 25)]
    assert src.poll(rest[-1].watermark).events == []
    whole = source(ext_db, batch_size=7).poll()
    assert len(whole.events) == 25 and whole.watermark == rest[-1].watermark


def test_many_rows_at_one_instant_span_batches(ext_db: Engine) -> None:
    """More rows share one updated_at than a batch holds: the watermark cannot advance inside them, yet none is lost."""
    add(ext_db, *(row("报障", f"TT{i:02}", channel="客户热线", updated=T0) for i in range(12)))
    src = source(ext_db, batch_size=5)
    result = src.poll()
    assert len(result.events) == 12 and len(result.watermark.seen) == 12
    add(ext_db, row("报障", "TT99", channel="客户热线", updated=T0))
    assert [e.ticket for e in src.poll(result.watermark).events] == ["TT99"]


def test_a_mapped_column_the_query_does_not_return(ext_db: Engine) -> None:
    query = (
        f"SELECT id, ticket_no, step, step_time, circuit_code, updated_at FROM {TABLE} "
        "WHERE updated_at >= :watermark ORDER BY updated_at"
    )
    with pytest.raises(TicketDbError, match="returns no column channel, note"):
        source(ext_db, query=query).poll()


def test_upper_case_column_names(ext_db: Engine) -> None:
    """PostgreSQL folds unquoted names to lower case; a mapping written in upper case still finds them."""
    add(ext_db, row("报障", "TT1", channel="客户热线"))
    columns = {name.upper(): f for name, f in settings().columns.items()}
    assert [e.ticket for e in source(ext_db, columns=columns).poll().events] == ["TT1"]


def test_watermark_round_trip() -> None:
    for value in [
        "2026-03-02 09:00:00",
        42,
        1.5,
        Decimal("12.50"),
        date(2026, 3, 2),
        T0,
        datetime(2026, 3, 2, 1, tzinfo=UTC),
    ]:
        w = Watermark(value, frozenset({"ab", "cd"}))
        back = Watermark.load(w.dump())
        assert back == w and type(back.value) is type(value)


# settings --------------------------------------------------------------------------------------------

CASES = sorted(SETTINGS_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_settings_files(path: Path) -> None:
    problems = Problems()
    s = ticket_db_settings(Section.load(path, problems))
    got = [str(p) for p in problems.items]
    if path.name.endswith(".good.yaml"):
        assert s is not None and got == []
        return
    assert s is None
    expected = expectations(path)
    assert expected, f"{path} has no '# expect:' lines"
    for line, key, message in expected:
        prefix = f"{path}:{line}: {key}: " if key else f"{path}:{line}: "
        assert any(p.startswith(prefix) and message in p for p in got), (
            f"missing {prefix}{message}\ngot:\n" + "\n".join(got)
        )
    assert len(got) == len(expected), "extra problems reported:\n" + "\n".join(got)


def test_good_settings_are_read_in_full() -> None:
    s = settings()
    assert s.query.endswith("ORDER BY updated_at")  # the trailing `;` is dropped for server-side cursors
    assert s.types["派单"] is TicketEventType.DISPATCHED and s.types["备注"] is None
    assert s.sources["客户经理"] is TicketSource.ACCOUNT_MANAGER
    assert str(s.timezone) == "Asia/Shanghai" and s.batch_size == 500 and s.interval == timedelta(minutes=1)
    assert "secret" not in repr(s)
    problems = Problems()
    minimal = ticket_db_settings(Section.load(SETTINGS_DIR / "minimal.good.yaml", problems))
    assert minimal is not None and minimal.types == {} and minimal.timezone is None
    assert minimal.start == "1970-01-01 00:00:00"
