"""The daemon core on a real SQLite file: exact firing, restarts without repeats, reloads that keep the old rules."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitord.app import Daemon, load
from monitord.calendar import WorkCalendar
from monitord.domain import AlertState, TicketEvent, TicketEventType, TicketSource
from monitord.scheduler import Timer
from monitord.storage.repo import Repository
from tests.conftest import ROOT

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 10, 12, 10, 0, tzinfo=TZ)
AAA = "GZ-SDH-000123"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules", ignore=shutil.ignore_patterns("tests"))
    shutil.copy(ROOT / "demo/inventory.yaml", tmp_path / "inventory.yaml")
    cfg = tmp_path / "monitord.yaml"
    cfg.write_text("rules: rules\ninventory: inventory.yaml\nstorage: sqlite:///state.db\n", encoding="utf-8")
    return cfg


def start(config: Path, now: datetime) -> Daemon:
    loaded = load(config)
    return Daemon(loaded, Repository.open(loaded.settings.storage), now)


def report(ticket: str, when: datetime, circuit: str = AAA) -> TicketEvent:
    return TicketEvent(when, TicketEventType.REPORTED, ticket, circuit, TicketSource.CUSTOMER)


def names(daemon: Daemon) -> list[tuple[str, datetime | None]]:
    return [(n.alert.name, n.at) for n in daemon.notices if n.new is AlertState.FIRING]


def test_deadline_fires_at_its_instant_and_is_stored(config: Path):
    d = start(config, at(0))
    assert d.ingest([report("T1", at(0))], at(0)).new == 1
    d.tick(at(14.9))
    assert [n for n in names(d) if n[0] == "DispatchOverdue"] == []
    d.tick(at(16))
    assert ("DispatchOverdue", at(15)) in names(d)
    stored = {(a.name, a.fired_at) for a in d.repo.alerts()}
    assert ("DispatchOverdue", at(15)) in stored


def test_restart_repeats_nothing_and_catches_up_with_true_instants(config: Path):
    d = start(config, at(0))
    d.ingest([report("T1", at(0))], at(0))
    d.tick(at(20))  # DispatchOverdue fired at 10:15 and was stored
    first = set(names(d))
    d.repo.close()  # the daemon dies here; the AAA restoration limit passes at 11:00 while it is down

    again = start(config, at(70))
    caught_up = set(names(again))
    assert ("RestoreBreached", at(60)) in caught_up  # fired once at start-up, with its true instant
    assert ("RestoreWarning", at(30)) in caught_up
    assert not caught_up & first  # nothing already stored is repeated
    again.repo.close()

    third = start(config, at(71))
    assert names(third) == []


def test_duplicate_event_changes_nothing(config: Path):
    d = start(config, at(0))
    assert d.ingest([report("T1", at(0))], at(0)).new == 1
    result = d.ingest([report("T1", at(0))], at(1))
    assert (result.new, result.duplicates) == (0, 1)


def test_a_batch_with_a_bad_event_is_rejected_whole(config: Path):
    d = start(config, at(0))
    result = d.ingest([report("T1", at(0)), report("T2", at(0), circuit="NO-SUCH"),
                       TicketEvent(at(1), TicketEventType.DISPATCHED, "T9")], at(1))
    assert [(r.index, r.message) for r in result.rejected] == [
        (1, "unknown circuit 'NO-SUCH'"), (2, "ticket 'T9' has not been reported")]
    assert list(d.repo.events()) == []


def test_invalid_reload_keeps_running_rules(config: Path):
    d = start(config, at(0))
    sla = config.parent / "rules/sla.yaml"
    sla.write_text(sla.read_text(encoding="utf-8").replace("limits: {restore: 60m, report: 1wd}",
                                                           "limits: {restore: sixty, report: 1wd}"), encoding="utf-8")
    errors = d.reload(config, at(1))
    assert d.reload_ok is False
    assert any("sla.yaml" in e and "classes.AAA.limits.restore" in e for e in errors)
    d.ingest([report("T1", at(2))], at(2))
    d.tick(at(63))
    assert ("RestoreBreached", at(62)) in names(d)  # still the old 60-minute limit


def test_valid_reload_swaps_rules(config: Path):
    d = start(config, at(0))
    sla = config.parent / "rules/sla.yaml"
    sla.write_text(sla.read_text(encoding="utf-8").replace("limits: {restore: 60m, report: 1wd}",
                                                           "limits: {restore: 45m, report: 1wd}"), encoding="utf-8")
    assert d.reload(config, at(1)) == []
    d.ingest([report("T1", at(2))], at(2))
    d.tick(at(48))
    assert ("RestoreBreached", at(47)) in names(d)


def test_timer_job_fires_within_a_second_of_the_deadline(config: Path):
    """The real scheduler on the real clock: a dispatch limit due 0.5 s from now."""

    async def scenario() -> list[tuple[datetime, datetime]]:
        now = datetime.now(UTC)
        d = start(config, now)
        d.ingest([report("T1", now - timedelta(minutes=15) + timedelta(seconds=0.5))], now)
        fired: list[tuple[datetime, datetime]] = []

        def tick(when: datetime) -> None:
            d.tick(when)
            fired.extend((n.at, when) for n in d.notices if n.alert.name == "DispatchOverdue")

        timer = Timer(tick, d.next_instant, lambda: datetime.now(UTC))
        timer.start()
        await asyncio.sleep(2.0)
        timer.stop()
        return fired

    fired = asyncio.run(scenario())
    assert fired, "DispatchOverdue never fired"
    due, woke = fired[0]
    assert timedelta(0) <= woke - due < timedelta(seconds=1)


def test_back_dated_batch_is_taken_as_a_whole(config: Path):
    """A report and its dispatch sent together, late: the dispatch limit was met, so nothing fires."""
    d = start(config, at(30))
    d.ingest([report("T1", at(0)), TicketEvent(at(5), TicketEventType.DISPATCHED, "T1")], at(30))
    assert [n for n in names(d) if n[0] == "DispatchOverdue"] == []
    assert ("RestoreWarning", at(30)) in names(d)  # this one did come due: 50 % of 60 min


def test_reload_keeps_tickets_and_applies_new_limits_to_them(config: Path):
    d = start(config, at(0))
    d.ingest([report("T1", at(0))], at(0))
    sla = config.parent / "rules/sla.yaml"
    sla.write_text(sla.read_text(encoding="utf-8").replace("limits: {restore: 60m, report: 1wd}",
                                                           "limits: {restore: 45m, report: 1wd}"), encoding="utf-8")
    assert d.reload(config, at(1)) == []
    assert "T1" in d.state.facts.tickets
    d.tick(at(46))
    assert ("RestoreBreached", at(45)) in names(d)


def test_a_proactive_notice_of_a_fault_in_a_protection_period_is_marked_protected(config: Path):
    inventory = config.parent / "inventory.yaml"
    text = inventory.read_text(encoding="utf-8")
    # CUST-GRP-001's circuits (AAA among them) under protection for the whole day of T0.
    inventory.write_text(text.replace("  - id: CUST-GRP-001\n", "  - id: CUST-GRP-001\n    protection: [{name: 广交会, "
                                      "start: 2026-10-12, end: 2026-10-13}]\n", 1), encoding="utf-8")
    daemon = start(config, at(0))
    ticket = TicketEvent(at(0), TicketEventType.REPORTED, "MON-1", AAA, TicketSource.MONITORING)
    assert daemon.ingest([ticket], at(0)).new == 1
    [notice] = [a for a in daemon.firing() if a.name == "ProactiveNotice"]
    assert notice.labels["protection"] == "广交会" and notice.labels["severity"] == "info"


def test_a_report_limit_reaching_past_the_holiday_calendar_is_guessed_not_a_failure(config: Path):
    last = WorkCalendar(TZ).library_years[1]  # the last year the installed calendar library knows
    restored = datetime(last, 12, 31, 20, 0, tzinfo=TZ)
    daemon = start(config, restored)
    events = [report("T-NYE", restored - timedelta(minutes=30)),
              TicketEvent(restored, TicketEventType.RESTORED, "T-NYE", AAA)]
    assert daemon.ingest(events, restored).new == 2  # taken, although its report limit runs into next year
    [report_clock] = [c for c in daemon.state.planner.clocks("T-NYE") if c.deadline.kind.value == "report"]
    first_weekday = next(date(last + 1, 1, d) for d in range(1, 8) if date(last + 1, 1, d).weekday() < 5)
    assert report_clock.deadline.due == datetime.combine(first_weekday + timedelta(days=1), time(0), TZ)
    assert daemon.loaded.policy.calendar.guessed == {last + 1}
