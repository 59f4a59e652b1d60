"""The engine: exact firing instants, the timer queue, transitions and catch-up after a restart."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitord.domain import Alert, AlertKey, AlertPlan, AlertState, Condition
from monitord.engine import Engine, transition

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 10, 12, 10, 0, tzinfo=TZ)
KEY = AlertKey("RestoreBreached", (("ticket", "T1"),))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Plans:
    """A planner whose plans the test sets directly (the planner is the engine's input)."""

    def __init__(self) -> None:
        self.plans: dict[Hashable, dict[AlertKey, list[Condition]]] = {}
        self.calls: list[Hashable] = []

    def __call__(self, subject: Hashable, now: datetime) -> AlertPlan:
        self.calls.append(subject)
        return AlertPlan(self.plans.get(subject, {}))


def test_fires_at_its_exact_instant_not_at_the_next_look():
    plans = Plans()
    plans.plans["T1"] = {KEY: [(at(60), None)]}
    eng = Engine(plans)
    eng.update(["T1"], at(0))
    assert eng.next_instant() == at(60)
    assert eng.alerts()[0].state is AlertState.PENDING
    assert eng.advance(at(59.99)) == []
    changes = eng.advance(at(75))  # looked at late: still fires at minute 60
    assert [(c.new, c.at) for c in changes] == [(AlertState.FIRING, at(60))]
    assert eng.firing()[0].fired_at == at(60)


def test_resolves_when_condition_ends_and_keeps_history():
    plans = Plans()
    plans.plans["T1"] = {KEY: [(at(60), None)]}
    eng = Engine(plans)
    eng.update(["T1"], at(0))
    eng.advance(at(61))
    plans.plans["T1"] = {KEY: [(at(60), at(80))]}  # restored at minute 80
    changes = eng.update(["T1"], at(80))
    assert [(c.old, c.new, c.at) for c in changes] == [(AlertState.FIRING, AlertState.RESOLVED, at(80))]
    assert eng.firing() == []
    assert [(a.fired_at, a.resolved_at) for a in eng.history] == [(at(60), at(80))]
    assert eng.next_instant() is None


def test_done_before_due_never_fires():
    plans = Plans()
    plans.plans["T1"] = {KEY: [(at(60), None)]}
    eng = Engine(plans)
    eng.update(["T1"], at(0))
    assert [a.state for a in eng.alerts()] == [AlertState.PENDING]
    plans.plans["T1"] = {}
    assert eng.update(["T1"], at(30)) == []
    assert eng.alerts() == []
    eng.advance(at(120))
    assert eng.history == []
    assert eng.next_instant() is None


def test_restart_fires_past_deadlines_once_with_true_instant():
    plans = Plans()
    plans.plans["T1"] = {KEY: [(at(60), None)]}
    fresh = Engine(plans)  # a restarted daemon plans everything anew at start-up
    changes = fresh.update(["T1"], at(200))
    assert [(c.new, c.at) for c in changes] == [(AlertState.FIRING, at(60))]
    assert fresh.update(["T1"], at(201)) == []  # planning again changes nothing
    assert fresh.advance(at(300)) == []


def test_a_stretch_entirely_past_on_first_plan_is_recorded_fired_and_resolved():
    plans = Plans()
    plans.plans["C1"] = {KEY: [(at(10), at(20)), (at(30), None)]}
    eng = Engine(plans)
    changes = eng.update(["C1"], at(40))
    assert [(c.new, c.at) for c in changes] == [
        (AlertState.FIRING, at(10)), (AlertState.RESOLVED, at(20)), (AlertState.FIRING, at(30))]
    assert len(eng.history) == 2


def test_flapping_condition_gives_separate_occurrences_at_exact_instants():
    plans = Plans()
    plans.plans["C1"] = {KEY: [(at(10), at(20)), (at(30), at(35))]}
    eng = Engine(plans)
    eng.update(["C1"], at(0))
    changes = eng.advance(at(100))
    assert [(c.new, c.at) for c in changes if c.new is not AlertState.PENDING] == [
        (AlertState.FIRING, at(10)), (AlertState.RESOLVED, at(20)),
        (AlertState.FIRING, at(30)), (AlertState.RESOLVED, at(35))]
    assert [(a.fired_at, a.resolved_at) for a in eng.history] == [(at(10), at(20)), (at(30), at(35))]


def test_work_is_proportional_to_changes():
    """Advancing past instants where nothing is due plans nothing; an update plans only its subjects."""
    plans = Plans()
    for i in range(1000):
        plans.plans[i] = {AlertKey("X", (("i", str(i)),)): [(at(60 + i), None)]}
    eng = Engine(plans)
    eng.update(range(1000), at(0))
    plans.calls.clear()
    eng.advance(at(30))
    assert plans.calls == []
    eng.update([5], at(31))
    assert plans.calls == [5]
    assert len(eng.advance(at(60 + 9))) == 10  # exactly the ten alerts due by then


def test_replan_timer_runs_at_its_instant():
    calls: list[datetime] = []

    def planner(subject: Hashable, now: datetime) -> AlertPlan:
        calls.append(now)
        return AlertPlan({}, replan_at=at(60) if now < at(60) else None)

    eng = Engine(planner)
    eng.update(["M"], at(0))
    eng.advance(at(90))
    assert calls == [at(0), at(60)]


def test_transitions_are_checked():
    alert = Alert(KEY, AlertState.INACTIVE)
    transition(alert, AlertState.FIRING, at(1))
    transition(alert, AlertState.RESOLVED, at(2))
    with pytest.raises(ValueError, match="resolved -> firing"):
        transition(alert, AlertState.FIRING, at(3))


def test_alerts_of_one_subject_fire_each_at_its_own_instant():
    warn = AlertKey("RestoreWarning", (("percent", "50"),))
    breach = AlertKey("RestoreBreached", ())
    esc = AlertKey("RestoreEscalation", (("step", "supervisor"),))
    plans = Plans()
    plans.plans["T1"] = {esc: [(at(90), None)], warn: [(at(30), None)], breach: [(at(60), None)]}
    eng = Engine(plans)
    eng.update(["T1"], at(0))
    assert sorted((a.name, a.fires_at) for a in eng.alerts()) == [
        ("RestoreBreached", at(60)), ("RestoreEscalation", at(90)), ("RestoreWarning", at(30))]
    assert eng.next_instant() == at(30)
    fired = [(c.alert.name, c.at) for c in eng.advance(at(100)) if c.new is AlertState.FIRING]
    assert fired == [("RestoreWarning", at(30)), ("RestoreBreached", at(60)), ("RestoreEscalation", at(90))]
    assert eng.next_instant() is None


def test_an_alert_planned_with_no_stretch_never_fires_and_breaks_nothing():
    plans = Plans()
    plans.plans["D1"] = {KEY: []}  # e.g. a device seen reachable and never unreachable
    eng = Engine(plans)
    assert eng.update(["D1"], at(0)) == []
    assert eng.next_instant() is None and eng.firing() == []
    plans.plans["D1"] = {KEY: [(at(5), None)]}
    assert [(c.new, c.at) for c in eng.update(["D1"], at(10))] == [(AlertState.FIRING, at(5))]
