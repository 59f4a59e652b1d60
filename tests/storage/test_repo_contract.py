"""The storage contract: every backend must pass every test here."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from monitord.alerting.outbox import OutboxEntry, SendResult
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
from monitord.storage.repo import Repository, alembic_config
from monitord.storage.tables import Base

CST = timezone(timedelta(hours=8))  # the operator's local offset


def at(hour: int, minute: int = 0, tz: timezone = CST) -> datetime:
    return datetime(2025, 3, 10, hour, minute, 30, 123456, tzinfo=tz)


def labels_of(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def inventory() -> Inventory:
    am = Person("Li Wei", "li.wei@example.com", "+86 10 5555 0101")
    customers = {
        "C1": Customer("C1", "Bank of Somewhere", CustomerLevel.GROUP, am, None, "brand"),
        "C2": Customer("C2", "Steelworks", CustomerLevel.LOCAL_B, am, Person("Zhang San", "", "138 0000 0000")),
    }
    circuits = {
        "K1": Circuit("K1", "C1", "mpls_vpn", SlaClass.AAA, True, "Beijing DC", "Shanghai DC",
                      Monitor("pe1.example.net", 161, 7, None)),
        "K2": Circuit("K2", "C1", "internet", SlaClass.A, False, "Beijing DC", ""),
        "K3": Circuit("K3", "C2", "leased_line", SlaClass.II, False, "", "", Monitor("pe2", 1161, None, "ge-0/0/1")),
    }  # fmt: skip
    maintenance = (
        MaintenanceWindow("K1", at(1), at(3)),
        MaintenanceWindow("K3", at(2, tz=UTC), at(4, tz=UTC)),
    )
    return Inventory(customers, circuits, maintenance)


def sample_events() -> list[Event]:
    return [
        TicketEvent(at(9), TicketEventType.REPORTED, "T1", circuit="K1", source=TicketSource.MONITORING),
        Observation(at(9, 1), ObservationType.DOWN, "K1"),
        TicketEvent(at(9, 5), TicketEventType.DISPATCHED, "T1"),
        TicketEvent(at(9, 20), TicketEventType.PAUSED, "T1", reason="customer site closed"),
        TicketEvent(at(10), TicketEventType.RESUMED, "T1"),
        Observation(at(11, tz=UTC), ObservationType.UP, "K1"),
    ]


def count(repo: Repository) -> int:
    return sum(1 for _ in repo.events())


# --- inventory ---------------------------------------------------------------


def test_inventory_round_trips(repo: Repository) -> None:
    inv = inventory()
    repo.save_inventory(inv)
    got = repo.load_inventory()
    assert got.customers == inv.customers
    assert got.customers["C1"].contact is None
    assert got.customers["C2"].contact == Person("Zhang San", "", "138 0000 0000")
    assert got.circuits == inv.circuits
    assert got.circuits["K1"].vpn is True and got.circuits["K2"].vpn is False
    assert got.circuits["K2"].monitor is None
    assert got.circuits["K3"].monitor == Monitor("pe2", 1161, None, "ge-0/0/1")
    assert sorted(got.maintenance, key=lambda m: m.start) == sorted(inv.maintenance, key=lambda m: m.start)
    assert all(m.start.utcoffset() == timedelta(0) for m in got.maintenance)


def test_save_inventory_replaces_what_was_stored(repo: Repository) -> None:
    repo.save_inventory(inventory())
    old = inventory()
    moved = Circuit("K2", "C3", "internet", SlaClass.AA, False, "Tianjin", "")
    new = Inventory(
        customers={
            "C1": Customer("C1", "Bank (renamed)", CustomerLevel.GROUP, old.customers["C1"].account_manager),
            "C3": Customer("C3", "Newco", CustomerLevel.LOCAL_C, Person("Wang Fang")),
        },
        circuits={"K1": old.circuits["K1"], "K2": moved},
        maintenance=(old.maintenance[0], MaintenanceWindow("K2", at(5), at(6))),
    )
    repo.save_inventory(new)
    repo.save_inventory(new)  # saving the same inventory again changes nothing
    got = repo.load_inventory()
    assert got.customers == new.customers
    assert got.circuits == new.circuits
    assert set(got.maintenance) == set(new.maintenance)
    assert len(got.maintenance) == 2


def test_empty_inventory(repo: Repository) -> None:
    repo.save_inventory(inventory())
    repo.save_inventory(Inventory({}, {}))
    assert repo.load_inventory() == Inventory({}, {}, ())


# --- events ------------------------------------------------------------------


def test_events_round_trip_as_the_same_instants(repo: Repository) -> None:
    events = sample_events()
    assert repo.record_events(events) == events
    stored = [e for _, e in repo.events()]
    assert stored == events  # aware datetimes compare as instants
    for got, sent in zip(stored, events, strict=True):
        assert got.at.utcoffset() == timedelta(0)
        assert got.at.timestamp() == sent.at.timestamp()
    reported, dispatched, paused = stored[0], stored[2], stored[3]
    assert isinstance(reported, TicketEvent) and reported.source is TicketSource.MONITORING
    assert isinstance(dispatched, TicketEvent) and dispatched.circuit == "" and dispatched.source is None
    assert isinstance(paused, TicketEvent) and paused.reason == "customer site closed"


def test_recording_the_same_batch_twice_changes_nothing(repo: Repository) -> None:
    events = sample_events()
    assert repo.record_events(events) == events
    assert repo.record_events(events) == []
    assert count(repo) == len(events)


def test_same_instant_with_another_offset_is_the_same_event(repo: Repository) -> None:
    e = Observation(at(9), ObservationType.DOWN, "K1")
    repo.record_events([e])
    assert repo.record_events([Observation(e.at.astimezone(UTC), ObservationType.DOWN, "K1")]) == []
    assert count(repo) == 1


def test_duplicates_within_one_batch_are_recorded_once(repo: Repository) -> None:
    a, b = sample_events()[:2]
    assert repo.record_events([a, b, a, b, a]) == [a, b]
    assert count(repo) == 2


def test_only_new_events_are_returned_in_input_order(repo: Repository) -> None:
    first, rest = sample_events()[:3], sample_events()[3:]
    repo.record_events(first)
    batch = [rest[1], first[0], rest[0], first[2], rest[2]]
    assert repo.record_events(batch) == [rest[1], rest[0], rest[2]]
    assert repo.record_events([]) == []


def test_events_stream_in_ingestion_order(repo: Repository) -> None:
    events = sample_events()
    later, earlier = events[3:], events[:3]  # ingest the later half first
    repo.record_events(later)
    repo.record_events(earlier)
    stored = list(repo.events())
    ids = [i for i, _ in stored]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e for _, e in stored] == later + earlier
    assert [e for _, e in repo.events(after_id=ids[2])] == earlier
    assert list(repo.events(after_id=ids[-1])) == []


def test_bulk_events_stream_completely(repo: Repository) -> None:
    start = datetime(2025, 1, 1, tzinfo=CST)
    events: list[Event] = [
        Observation(start + timedelta(seconds=i), ObservationType.DOWN if i % 2 else ObservationType.UP, f"K{i % 97}")
        for i in range(5_000)
    ]
    assert len(repo.record_events(events)) == len(events)
    assert [e for _, e in repo.events()] == events
    assert repo.record_events(events[::2]) == []


def test_naive_times_are_refused(repo: Repository) -> None:
    with pytest.raises(Exception, match="naive"):
        repo.record_events([Observation(datetime(2025, 1, 1), ObservationType.DOWN, "K1")])
    assert count(repo) == 0


def both_at_once(*work: Callable[[], Any]) -> list[Any]:
    """Run the callables in threads released together; their results, or re-raise the first error."""
    gate = threading.Barrier(len(work))
    out: list[Any] = [None] * len(work)

    def run(i: int) -> None:
        gate.wait()
        try:
            out[i] = work[i]()
        except BaseException as exc:  # handed to the main thread below
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for r in out:
        if isinstance(r, BaseException):
            raise r
    return out


def test_concurrent_writers_get_each_new_event_once(db_url: str) -> None:
    one, two = Repository.open(db_url), Repository.open(db_url)
    try:
        start = datetime(2025, 1, 1, tzinfo=CST)
        events: list[Event] = [Observation(start + timedelta(minutes=i), ObservationType.UP, "K1") for i in range(3000)]
        for lo in range(0, 3000, 1000):  # overlapping halves of each thousand, several rounds
            a, b = events[lo : lo + 700], events[lo + 300 : lo + 1000]
            got_a, got_b = both_at_once(partial(one.record_events, a), partial(two.record_events, b))
            assert not set(got_a) & set(got_b)
            assert set(got_a) | set(got_b) == set(events[lo : lo + 1000])
        assert sorted(e.at for _, e in one.events()) == [e.at for e in events]
    finally:
        one.close()
        two.close()


# --- alerts ------------------------------------------------------------------


def test_alert_resolve_updates_the_stored_row(repo: Repository) -> None:
    key = AlertKey("RestoreBreached", labels_of(circuit="K1", ticket="T1", severity="critical"))
    repo.record_alert(Alert(key, AlertState.FIRING, fired_at=at(10)))
    repo.record_alert(Alert(key, AlertState.FIRING, fired_at=at(10)))
    assert [(a.key, a.state, a.fired_at, a.resolved_at) for a in repo.alerts()] == [
        (key, AlertState.FIRING, at(10), None)
    ]
    repo.record_alert(Alert(key, AlertState.RESOLVED, fired_at=at(10).astimezone(UTC), resolved_at=at(12)))
    (only,) = repo.alerts()
    assert (only.key, only.state, only.fired_at, only.resolved_at) == (key, AlertState.RESOLVED, at(10), at(12))
    assert only.fired_at is not None and only.fired_at.utcoffset() == timedelta(0)


def test_alert_firing_again_is_another_row(repo: Repository) -> None:
    key = AlertKey("CircuitDown", labels_of(circuit="K1"))
    other = AlertKey("CircuitDown", labels_of(circuit="K2"))
    repo.record_alert(Alert(key, AlertState.RESOLVED, fired_at=at(1), resolved_at=at(2)))
    repo.record_alert(Alert(key, AlertState.FIRING, fired_at=at(3)))
    repo.record_alert(Alert(other, AlertState.FIRING, fired_at=at(3)))
    assert [(a.key, a.fired_at, a.state) for a in repo.alerts()] == [
        (key, at(1), AlertState.RESOLVED),
        (key, at(3), AlertState.FIRING),
        (other, at(3), AlertState.FIRING),
    ]


def test_unfired_alert_is_refused(repo: Repository) -> None:
    with pytest.raises(ValueError, match="not fired"):
        repo.record_alert(Alert(AlertKey("X", ()), AlertState.PENDING, fires_at=at(1)))


# --- source watermarks ------------------------------------------------------


def test_watermark_is_saved_per_source_and_replaced(repo: Repository) -> None:
    assert repo.watermark("tt-main") is None
    first = '{"value": ["datetime", "2026-03-02T09:00:00"], "seen": ["0a1b"]}'
    repo.save_watermark("tt-main", first)
    repo.save_watermark("工单", '{"value": ["json", 42], "seen": []}')
    assert repo.watermark("tt-main") == first
    later = '{"value": ["datetime", "2026-03-02T09:05:00"], "seen": ["2c3d", "4e5f"]}'
    repo.save_watermark("tt-main", later)
    assert repo.watermark("tt-main") == later
    assert repo.watermark("工单") == '{"value": ["json", 42], "seen": []}'
    assert repo.watermark("tt-other") is None


def test_watermark_survives_reopening(db_url: str) -> None:
    first = Repository.open(db_url)
    first.save_watermark("tt-main", "x" * 10_000)  # many boundary fingerprints: no length limit
    first.close()
    again = Repository.open(db_url)
    try:
        assert again.watermark("tt-main") == "x" * 10_000
    finally:
        again.close()


def test_a_database_at_0001_is_upgraded_keeping_its_events(db_url: str) -> None:
    engine = create_engine(db_url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")  # as deployed before source watermarks existed
    Repository(engine).record_events(sample_events())
    engine.dispose()
    upgraded = Repository.open(db_url)
    try:
        assert count(upgraded) == len(sample_events())
        upgraded.save_watermark("tt-main", "{}")
        assert upgraded.watermark("tt-main") == "{}"
    finally:
        upgraded.close()


# --- schema ------------------------------------------------------------------


def test_migrations_at_head_match_tables(repo: Repository) -> None:
    with repo.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(ctx, Base.metadata) == []
        assert ctx.get_current_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_reopening_keeps_data_and_migrates_nothing(db_url: str) -> None:
    first = Repository.open(db_url)
    first.save_inventory(inventory())
    first.record_events(sample_events())
    first.close()
    again = Repository.open(db_url)
    try:
        assert again.load_inventory().circuits == inventory().circuits
        assert count(again) == len(sample_events())
    finally:
        again.close()


def test_opening_twice_at_once_migrates_once(db_url: str) -> None:
    repos = both_at_once(lambda: Repository.open(db_url), lambda: Repository.open(db_url))
    try:
        repos[0].record_events(sample_events())
        assert count(repos[1]) == len(sample_events())
    finally:
        for r in repos:
            r.close()


def test_sqlite_pragmas_are_in_effect(tmp_path) -> None:
    repo = Repository.open(f"sqlite:///{tmp_path / 'monitord.db'}")
    try:
        with repo.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        repo.close()


# silences ------------------------------------------------------------------------------------------


def a_silence(sid: str, start: datetime, end: datetime, *matchers: str) -> Silence:
    return Silence(sid, matchers or ('alertname="CircuitDown"', 'circuit=~"GZ-.*"'), start, end, "王工",
                   "割接期间 cutover", start - timedelta(minutes=5))


def test_silences_round_trip_ordered_by_start(repo: Repository) -> None:
    later = a_silence("b", at(12), at(13), 'device="10.0.0.1:161"')
    earlier = a_silence("a", at(9), at(11))
    repo.add_silence(later)
    repo.add_silence(earlier)
    assert repo.silences() == [earlier, later]
    got = repo.silences()[0]
    assert got.starts_at == at(9) and got.starts_at.utcoffset() == timedelta(0)  # the same instant, in UTC
    assert got.matchers == ('alertname="CircuitDown"', 'circuit=~"GZ-.*"')


def test_a_silence_id_is_stored_once(repo: Repository) -> None:
    repo.add_silence(a_silence("a", at(9), at(11)))
    with pytest.raises(ValueError, match="already stored"):
        repo.add_silence(a_silence("a", at(10), at(12)))
    assert [s.starts_at for s in repo.silences()] == [at(9)]


def test_silences_ended_after_an_instant(repo: Repository) -> None:
    over, running, coming = a_silence("a", at(8), at(9)), a_silence("b", at(9), at(11)), a_silence("c", at(12), at(13))
    for s in (over, running, coming):
        repo.add_silence(s)
    # At 10:00 "a" has ended; one ending exactly at the instant is over too ([start, end)).
    assert repo.silences(ended_after=at(10)) == [running, coming]
    assert repo.silences(ended_after=at(11)) == [coming]


def test_expiring_ends_a_silence_now_and_twice_changes_nothing(repo: Repository) -> None:
    repo.add_silence(a_silence("a", at(9), at(11)))
    repo.add_silence(a_silence("b", at(12), at(13)))
    now = at(10)
    active = repo.expire_silence("a", now)
    assert active is not None
    assert (active.starts_at, active.ends_at, active.updated_at) == (at(9), now, now)
    # A pending silence expired before it starts: it starts and ends now (it never mutes anything).
    pending = repo.expire_silence("b", now)
    assert pending is not None and (pending.starts_at, pending.ends_at) == (now, now)
    assert repo.expire_silence("a", at(10, 30)) == active  # already over: unchanged
    assert repo.silences() == [active, pending]
    assert repo.expire_silence("nope", now) is None


# notification log -----------------------------------------------------------------------------------


def an_entry(key: str, group: str, created: datetime, receiver: str = "noc") -> OutboxEntry:
    return OutboxEntry(key, receiver, "webhook", group, f'{{"key": "{key}"}}', created)


def test_the_notification_log_is_written_once_marked_and_read_back(repo: Repository) -> None:
    t0 = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    first, repeat = an_entry("n1", "g1", t0), an_entry("n2", "g1", t0 + timedelta(hours=1))
    repo.record_notices([first, repeat])
    repo.record_notices([first])  # written again after a crash: still one row
    assert [n.key for n in repo.unsent_notices()] == ["n1", "n2"]
    repo.mark_notices([SendResult("n1", 1, sent_at=t0), SendResult("n2", 3, error="HTTP 503")])
    [left] = repo.unsent_notices()
    assert (left.key, left.attempts, left.last_error) == ("n2", 3, "HTTP 503")
    assert repo.last_notices() == [("g1", repeat.payload)]  # what the group was last told


def test_pruning_keeps_each_groups_latest_entry_and_what_is_unsent(repo: Repository) -> None:
    t0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    entries = [an_entry("old-1", "g1", t0), an_entry("old-2", "g1", t0 + timedelta(hours=1)),
               an_entry("old-only", "g2", t0), an_entry("old-unsent", "g3", t0),
               an_entry("old-unsent-latest", "g3", t0 + timedelta(minutes=1)),
               an_entry("new", "g4", t0 + timedelta(days=40)),
               an_entry("old-other-receiver", "g1", t0, receiver="am")]
    repo.record_notices(entries)
    repo.mark_notices([SendResult(k, 1, sent_at=t0) for k in ("old-1", "old-2", "old-only", "new",
                                                               "old-other-receiver")])
    assert repo.prune_notices(t0 + timedelta(days=30)) == 1  # only old-1: sent, old, and not its group's latest
    assert sorted(n.key for n in repo.notices()) == sorted(e.key for e in entries if e.key != "old-1")
