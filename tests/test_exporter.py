"""The exporter on the daemon core in-process: figures as the API gives them, rows recomputed only where facts
changed, the month turning, reloads, the two writers agreeing, and rendering off the event loop."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitord import exporter
from monitord.app import Daemon, DaemonBackend, load
from monitord.domain import TicketEvent, TicketEventType, TicketSource
from monitord.scheduler import Timer
from monitord.sdnotify import Notifier
from monitord.sources.snmp import DevicePoll, InterfaceStatus, SnmpTarget
from monitord.storage.repo import Repository
from tests.conftest import ROOT, program

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 10, 12, 10, 0, tzinfo=TZ)
OCTOBER = 31 * 86400
AAA, AAA2, A = "GZ-SDH-000123", "GZ-VPN-000201", "GZ-SDH-000401"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Clock:
    """The daemon's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def config(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules", ignore=shutil.ignore_patterns("tests"))
    shutil.copy(ROOT / "demo/inventory.yaml", tmp_path / "inventory.yaml")
    cfg = tmp_path / "monitord.yaml"
    cfg.write_text("rules: rules\ninventory: inventory.yaml\nstorage: sqlite:///state.db\n", encoding="utf-8")
    return cfg


def start(config: Path, clock: Clock) -> DaemonBackend:
    loaded = load(config)
    daemon = Daemon(loaded, Repository.open(loaded.settings.storage), clock())
    return DaemonBackend(daemon, Timer(daemon.tick, daemon.next_instant, clock), config, clock, Notifier({}))


def scrape(backend: DaemonBackend) -> Samples:
    text = asyncio.run(backend.metrics()).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def circuit(samples: Samples, name: str, cid: str) -> float:
    found = [v for labels, v in series(samples, name).items() if ("circuit", cid) in labels]
    assert len(found) == 1, (name, cid)
    return found[0]


def report(ticket: str, when: datetime, circuit: str) -> TicketEvent:
    return TicketEvent(when, TicketEventType.REPORTED, ticket, circuit, TicketSource.CUSTOMER)


def step(kind: TicketEventType, ticket: str, when: datetime) -> TicketEvent:
    return TicketEvent(when, kind, ticket)


@pytest.fixture
def clock() -> Clock:
    return Clock(at(0))


def test_circuit_series_give_state_availability_and_budget_as_the_api_does(config: Path, clock: Clock):
    b = start(config, clock)
    b.daemon.ingest([report("T1", at(0), AAA), step(TicketEventType.RESTORED, "T1", at(30))], at(30))
    clock.now = at(50)
    b.daemon.ingest([report("T2", at(50), AAA2)], at(50))
    clock.now = at(60)
    s = scrape(b)
    assert circuit(s, "monitord_circuit_up", AAA) == 1.0  # restored: up again though the ticket is open
    assert circuit(s, "monitord_circuit_up", AAA2) == 0.0  # reported, not restored
    assert circuit(s, "monitord_circuit_availability_ratio", AAA) == pytest.approx(1 - 1800 / OCTOBER)
    budget = round((1 - 0.9999) * OCTOBER, 6)
    assert circuit(s, "monitord_circuit_downtime_budget_remaining_seconds", AAA) == pytest.approx(budget - 1800)
    assert circuit(s, "monitord_circuit_downtime_budget_remaining_seconds", AAA2) == pytest.approx(budget - 600)
    assert value(s, "monitord_sla_availability_target_ratio", sla_class="AAA") == 0.9999
    assert value(s, "monitord_sla_downtime_budget_seconds", sla_class="AAA") == pytest.approx(budget)
    # Every circuit's figures are the API's.
    api = {c["circuit"]: c for c in b.circuits()}
    assert len(series(s, "monitord_circuit_availability_ratio")) == len(api)
    for cid, c in api.items():
        assert circuit(s, "monitord_circuit_availability_ratio", cid) == pytest.approx(c["availability"], abs=1e-12)
        left = c["budget_seconds"] - c["downtime_seconds"]
        assert circuit(s, "monitord_circuit_downtime_budget_remaining_seconds", cid) == pytest.approx(left)
    labels = next(iter(series(s, "monitord_circuit_up")))
    assert {k for k, _ in labels} == {"circuit", "customer", "sla_class"}


def test_open_tickets_show_their_stage_and_next_deadline(config: Path, clock: Clock):
    b = start(config, clock)
    b.daemon.ingest([report("T1", at(0), AAA)], at(0))
    clock.now = at(1)
    s = scrape(b)
    assert value(s, "monitord_tickets_open", stage="reported", sla_class="AAA") == 1.0
    deadlines = series(s, "monitord_ticket_next_deadline_timestamp_seconds")
    assert deadlines == {frozenset({"ticket": "T1", "circuit": AAA, "customer": "CUST-GRP-001", "sla_class": "AAA",
                                    "kind": "dispatch"}.items()): at(15).timestamp()}

    b.daemon.ingest([step(TicketEventType.DISPATCHED, "T1", at(5))], at(5))
    clock.now = at(6)
    s = scrape(b)
    assert value(s, "monitord_tickets_open", stage="dispatched", sla_class="AAA") == 1.0
    assert value(s, "monitord_tickets_open", stage="reported", sla_class="AAA") is None
    (labels, due), = series(s, "monitord_ticket_next_deadline_timestamp_seconds").items()
    # The earliest deadline not yet met, as the API lists the ticket's deadlines.
    t1 = next(t for t in b.tickets() if t["ticket"] == "T1")
    pending = [d for d in t1["deadlines"] if d["done_at"] is None and d["due"] is not None]
    first = min(pending, key=lambda d: datetime.fromisoformat(d["due"]))
    assert dict(labels)["kind"] == first["kind"] != "dispatch"
    assert due == datetime.fromisoformat(first["due"]).timestamp()

    b.daemon.ingest([step(TicketEventType.CLOSED, "T1", at(7))], at(7))
    clock.now = at(8)
    s = scrape(b)
    assert series(s, "monitord_tickets_open") == {}
    assert series(s, "monitord_ticket_next_deadline_timestamp_seconds") == {}


def test_breaches_are_counted_by_kind_and_class_and_survive_a_restart(config: Path, clock: Clock):
    b = start(config, clock)
    s = scrape(b)
    zeros = series(s, "monitord_sla_breaches_total")
    assert len(zeros) == 5 * 7 and set(zeros.values()) == {0.0}  # every kind and class, from the start
    b.daemon.ingest([report("T1", at(0), AAA)], at(0))
    clock.now = at(16)
    b.daemon.tick(clock.now)  # DispatchOverdue at 10:15
    s = scrape(b)
    assert value(s, "monitord_sla_breaches_total", kind="dispatch", sla_class="AAA") == 1.0
    assert sum(series(s, "monitord_sla_breaches_total").values()) == 1.0
    b.daemon.repo.close()

    again = start(config, clock)  # counted from storage
    assert value(scrape(again), "monitord_sla_breaches_total", kind="dispatch", sla_class="AAA") == 1.0


def test_engine_lag_is_how_long_a_due_instant_has_waited(config: Path, clock: Clock):
    b = start(config, clock)
    b.daemon.ingest([report("T1", at(0), AAA)], at(0))
    clock.now = at(1)
    assert value(scrape(b), "monitord_engine_lag_seconds") == 0.0  # nothing due yet
    due = b.daemon.state.engine.next_instant()
    assert due is not None
    clock.now = due + timedelta(minutes=2)  # the instant passed and the timer has not run
    assert value(scrape(b), "monitord_engine_lag_seconds") == pytest.approx(120.0)
    b.daemon.tick(clock.now)
    assert value(scrape(b), "monitord_engine_lag_seconds") == 0.0


def test_device_polls_give_reachability_counts_and_the_duration_histogram(config: Path, clock: Clock):
    b = start(config, clock)
    circuits = [c for c in b.daemon.loaded.inventory.circuits.values() if c.monitor and c.monitor.port == 16100]
    target = SnmpTarget("127.0.0.1", 16100)
    fine = DevicePoll(target, True, {1: InterfaceStatus(1, 1), 2: InterfaceStatus(1, 1)}, 0.02)
    dead = DevicePoll(target, False, {}, 2.0, "timeout")
    b.daemon.observe_poll(fine, circuits, {}, at(0))
    s = scrape(b)
    assert value(s, "monitord_device_up", device="127.0.0.1:16100") == 1.0
    b.daemon.observe_poll(dead, circuits, {}, at(1))
    s = scrape(b)
    assert value(s, "monitord_device_up", device="127.0.0.1:16100") == 0.0
    assert value(s, "monitord_snmp_polls_total", device="127.0.0.1:16100") == 2.0
    assert value(s, "monitord_snmp_poll_errors_total", device="127.0.0.1:16100") == 1.0
    assert value(s, "monitord_snmp_poll_duration_seconds_bucket", le="0.025") == 1.0
    assert value(s, "monitord_snmp_poll_duration_seconds_bucket", le="2.5") == 2.0
    assert value(s, "monitord_snmp_poll_duration_seconds_count") == 2.0
    assert value(s, "monitord_snmp_poll_duration_seconds_sum") == pytest.approx(2.02)


def test_a_scrape_recomputes_only_what_changed(config: Path, clock: Clock):
    b = start(config, clock)
    b.daemon.ingest([report("T1", at(0), AAA), report("T2", at(0), A)], at(0))
    scrape(b)
    view = b._view
    assert view is not None
    before = view.computed
    scrape(b)
    assert view.computed == before  # nothing changed: nothing computed
    b.daemon.ingest([step(TicketEventType.DISPATCHED, "T1", at(2))], at(2))
    b.daemon.ingest([step(TicketEventType.ACCEPTED, "T1", at(3))], at(3))
    clock.now = at(4)
    scrape(b)
    assert view.computed - before == 2  # T1 and its circuit, once for both events
    assert b._view is view


def test_the_month_turning_starts_every_circuit_afresh_but_open_outages(config: Path):
    clock = Clock(datetime(2026, 10, 31, 20, 0, tzinfo=TZ))
    b = start(config, clock)
    b.daemon.ingest([report("T1", clock.now, AAA), step(TicketEventType.RESTORED, "T1", clock.now.replace(hour=21)),
                     report("T2", clock.now.replace(hour=23), A)], clock.now.replace(hour=23))
    clock.now = datetime(2026, 10, 31, 23, 30, tzinfo=TZ)
    october = scrape(b)
    assert circuit(october, "monitord_circuit_availability_ratio", AAA) == pytest.approx(1 - 3600 / OCTOBER)
    clock.now = datetime(2026, 11, 1, 1, 0, tzinfo=TZ)
    november = scrape(b)
    assert circuit(november, "monitord_circuit_availability_ratio", AAA) == 1.0
    assert circuit(november, "monitord_circuit_availability_ratio", A) == pytest.approx(1 - 3600 / (30 * 86400))
    assert value(november, "monitord_sla_downtime_budget_seconds", sla_class="AAA") == pytest.approx(
        round((1 - 0.9999) * 30 * 86400, 6))
    api = {c["circuit"]: c for c in b.circuits()}
    for cid in (AAA, A):
        assert circuit(november, "monitord_circuit_availability_ratio", cid) == pytest.approx(api[cid]["availability"])


def test_a_reload_builds_a_new_view_and_a_failed_one_keeps_the_success_time(config: Path, clock: Clock):
    b = start(config, clock)
    b.daemon.ingest([report("T1", at(0), AAA)], at(0))
    first = scrape(b)
    assert value(first, "monitord_config_last_reload_successful") == 1.0
    loaded_at = value(first, "monitord_config_last_reload_success_timestamp_seconds")
    assert loaded_at == at(0).timestamp()
    sla = config.parent / "rules/sla.yaml"
    good = sla.read_text(encoding="utf-8")
    sla.write_text(good + "\nnot: [valid\n", encoding="utf-8")
    clock.now = at(5)
    assert not asyncio.run(b.reload()).ok
    failed = scrape(b)
    assert value(failed, "monitord_config_last_reload_successful") == 0.0
    assert value(failed, "monitord_config_last_reload_success_timestamp_seconds") == loaded_at
    sla.write_text(good, encoding="utf-8")
    view = b._view
    clock.now = at(6)
    assert asyncio.run(b.reload()).ok
    again = scrape(b)
    assert b._view is not view
    assert value(again, "monitord_config_last_reload_success_timestamp_seconds") == at(6).timestamp()
    assert circuit(again, "monitord_circuit_up", AAA) == 0.0  # the new view sees the facts
    assert value(again, "monitord_tickets_open", stage="reported", sla_class="AAA") == 1.0


def test_both_writers_give_the_same_samples(config: Path, clock: Clock):
    b = start(config, clock)
    b.daemon.ingest([report("T1", at(0), AAA), report('T"2\\x', at(0), A)], at(0))
    clock.now = at(20)
    b.daemon.tick(clock.now)
    b.daemon.observe_poll(DevicePoll(SnmpTarget("127.0.0.1", 16102), False, {}, 2.0, "timeout"), [], {}, at(1))
    snap = b.snapshot()
    ours, theirs = exporter.exposition(snap).decode(), exporter.client_exposition(snap).decode()
    assert ours == theirs  # byte for byte, label order and number format included
    assert '{circuit="GZ-SDH-000401",customer="CUST-LA-003",kind="dispatch",sla_class="A",ticket="T\\"2\\\\x"}' in ours


def test_label_values_are_escaped():
    assert exporter.label_text(("b", "a"), ('x"y', "p\\q\nr")) == 'a="p\\\\q\\nr",b="x\\"y"'


def test_rendering_runs_in_a_worker_thread_while_the_loop_goes_on(config: Path, clock: Clock,
                                                                   monkeypatch: pytest.MonkeyPatch):
    b = start(config, clock)
    rendered_in: list[threading.Thread] = []
    real: Callable[[exporter.Snapshot], bytes] = exporter.exposition

    def slow(snapshot: exporter.Snapshot) -> bytes:
        rendered_in.append(threading.current_thread())
        time.sleep(0.5)
        return real(snapshot)

    monkeypatch.setattr(exporter, "exposition", slow)

    async def main() -> tuple[bytes, int]:
        ticks = 0
        scraping = asyncio.create_task(b.metrics())
        while not scraping.done():
            await asyncio.sleep(0.01)
            ticks += 1
        return await scraping, ticks

    body, ticks = asyncio.run(main())
    assert rendered_in and rendered_in[0] is not threading.main_thread()
    assert ticks >= 20  # the loop ran on while the text was written
    assert b"monitord_circuit_up" in body


def promtool() -> str:
    """The promtool binary (skipped when missing, except under CI)."""
    return program("promtool", ".ci/prometheus.sh installs it")


def test_promtool_accepts_the_exposition(config: Path, clock: Clock):
    tool = promtool()
    b = start(config, clock)
    b.daemon.ingest([report("T1", at(0), AAA), report("T2", at(0), A)], at(0))
    b.daemon.observe_poll(DevicePoll(SnmpTarget("127.0.0.1", 16102), False, {}, 2.0, "timeout"), [], {}, at(1))
    clock.now = at(20)
    b.daemon.tick(clock.now)
    text = asyncio.run(b.metrics())
    done = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), (done.stdout, done.stderr)


def test_an_open_outage_into_a_new_month_leaves_out_that_months_recurring_windows(config: Path):
    inventory = config.parent / "inventory.yaml"
    text = inventory.read_text(encoding="utf-8")
    assert "\nmaintenance:\n" in text
    inventory.write_text(text.replace("\nmaintenance:\n", "\nmaintenance:\n  - {circuit: GZ-SDH-000401, "
                                      "monthly: {days: [1], at: \"00:00\", duration: 2h}}\n"), encoding="utf-8")
    clock = Clock(datetime(2026, 10, 31, 23, 0, tzinfo=TZ))
    b = start(config, clock)
    b.daemon.ingest([report("T2", clock.now, A)], clock.now)
    scrape(b)
    clock.now = datetime(2026, 11, 1, 3, 0, tzinfo=TZ)
    november = scrape(b)
    # 00:00-03:00 down, less the window 00:00-02:00
    assert circuit(november, "monitord_circuit_availability_ratio", A) == pytest.approx(1 - 3600 / (30 * 86400))
    api = {c["circuit"]: c for c in b.circuits()}
    assert api[A]["downtime_seconds"] == pytest.approx(3600)
