from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from monitord.domain import ObservationType
from monitord.sources.debounce import Debouncer, Reachability
from monitord.sources.snmp import CircuitState

T0 = datetime(2026, 10, 12, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
DOWN, UP, ADMIN, GONE = CircuitState.DOWN, CircuitState.UP, CircuitState.ADMIN_DOWN, CircuitState.UNREACHABLE


def s(n: int) -> datetime:
    return T0 + timedelta(seconds=30 * n)


def test_down_after_n_polls_starting_at_the_first():
    d = Debouncer(polls=3)
    assert d.observe("C", DOWN, s(0)) is None
    assert d.observe("C", DOWN, s(1)) is None
    obs = d.observe("C", DOWN, s(2))
    assert obs is not None and (obs.type, obs.at) == (ObservationType.DOWN, s(0))
    assert d.observe("C", DOWN, s(3)) is None  # already down: nothing new
    up = d.observe("C", UP, s(4))
    assert up is not None and (up.type, up.at) == (ObservationType.UP, s(4))


def test_a_blip_shorter_than_the_debounce_is_no_outage():
    d = Debouncer(polls=2)
    assert d.observe("C", DOWN, s(0)) is None
    assert d.observe("C", UP, s(1)) is None
    assert d.observe("C", DOWN, s(2)) is None
    obs = d.observe("C", DOWN, s(3))
    assert obs is not None and obs.at == s(2)


def test_unreachable_and_admin_down_neither_confirm_nor_break_a_run():
    d = Debouncer(polls=2)
    assert d.observe("C", DOWN, s(0)) is None
    assert d.observe("C", GONE, s(1)) is None
    assert d.observe("C", ADMIN, s(2)) is None
    obs = d.observe("C", DOWN, s(3))
    assert obs is not None and obs.at == s(0)


def test_known_down_after_restart_reports_only_the_recovery():
    d = Debouncer(polls=2)
    d.known_down("C")
    assert d.observe("C", DOWN, s(0)) is None
    up = d.observe("C", UP, s(1))
    assert up is not None and up.type is ObservationType.UP


def test_reachability_spans():
    r = Reachability()
    assert r.observe("dev", True, s(0)) is False
    assert r.observe("dev", False, s(1)) is True
    assert r.observe("dev", False, s(2)) is False
    assert r.observe("dev", True, s(3)) is True
    assert r.spans["dev"] == [(s(1), s(3))]
