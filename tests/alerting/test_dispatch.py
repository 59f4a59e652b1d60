"""Grouping, timing and dedup of the dispatcher, worked out from Alertmanager's documented semantics.

Time is an input: every test drives ``take`` and ``due`` with its own instants.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from monitord.alerting.dispatch import Dispatcher
from monitord.alerting.notice import NoticeState
from monitord.alerting.route import Router
from monitord.config.alerting import AlertingSettings, alerting_settings
from monitord.domain import Alert, AlertKey, AlertState, Customer, CustomerLevel, Person
from monitord.yamldoc import Problems, Section

T0 = datetime(2026, 10, 12, 2, 0, tzinfo=UTC)

TREE = """
alerting:
  route:
    receiver: noc
    group_by: [alertname, customer]
    group_interval: 1m
    repeat_interval: 1h
    routes:
      - matchers: ['alertname="ProactiveNotice"']
        receiver: contact
        group_by: [customer, circuit]
        continue: true
      - matchers: ['severity="warning"']
        receiver: noc
        group_wait: 30s
        group_interval: 5m
      - receiver: noc
  receivers:
    - name: noc
      notifiers: [{kind: webhook, url: "http://127.0.0.1:9/noc"}]
    - name: contact
      person: contact
      notifiers: [{kind: webhook, url: "http://127.0.0.1:9/contact"}]
"""

CUSTOMERS = {"C1": Customer("C1", "Customer One", CustomerLevel.GROUP, Person("AM", "am@example.com"),
                            Person("Contact", "contact@example.com"))}


def settings(text: str = TREE) -> AlertingSettings:
    problems = Problems()
    sec = Section.parse(text, "t.yaml", problems).get("alerting", required=True)
    got = alerting_settings(sec) if sec else None
    assert got is not None, [str(p) for p in problems.items]
    return got


def dispatcher(text: str = TREE, muter: object = None) -> Dispatcher:
    return Dispatcher(Router(settings(text), CUSTOMERS.get), muter)  # type: ignore[arg-type]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fired(name: str, when: datetime, **labels: str) -> Alert:
    labels.setdefault("severity", "critical")
    return Alert(AlertKey(name, tuple(sorted(labels.items()))), AlertState.FIRING, fired_at=when)


def resolve(alert: Alert, when: datetime) -> Alert:
    alert.state, alert.resolved_at = AlertState.RESOLVED, when
    return alert


def test_alerts_of_one_instant_make_one_notice_per_group_at_once() -> None:
    d = dispatcher()
    alerts = [fired("CircuitDown", at(0), customer="C1", circuit=f"X-{i}") for i in range(40)]
    d.take(alerts, at(0))
    assert d.next_instant() == at(0)  # group_wait 0s: due at the instant the alerts fired
    [due] = d.due(at(0))
    assert due.notice.receiver == "noc"
    assert len(due.notice.firing) == 40
    assert due.notice.group_labels == {"alertname": "CircuitDown", "customer": "C1"}
    assert d.due(at(1)) == []


def test_flood_of_ten_thousand_alerts_is_one_notice_per_group_per_receiver() -> None:
    d = dispatcher()
    alerts = [fired("CircuitDown", at(0), customer=f"C{i % 25}", circuit=f"X-{i}") for i in range(10_000)]
    d.take(alerts, at(0))
    due = d.due(at(0))
    assert Counter(x.notice.receiver for x in due) == {"noc": 25}
    assert sum(len(x.notice.alerts) for x in due) == 10_000
    assert d.due(at(3599)) == []  # nothing repeats before the repeat interval


def test_a_wait_gathers_alerts_and_a_changed_group_follows_after_the_interval() -> None:
    d = dispatcher()
    d.take([fired("RestoreWarning", at(0), customer="C1", circuit="A", severity="warning")], at(0))
    assert d.next_instant() == at(30)  # the warnings route waits 30 s
    d.take([fired("RestoreWarning", at(10), customer="C1", circuit="B", severity="warning")], at(10))
    assert d.due(at(29)) == []
    [first] = d.due(at(30))
    assert len(first.notice.firing) == 2
    d.take([fired("RestoreWarning", at(40), customer="C1", circuit="C", severity="warning")], at(40))
    assert d.next_instant() == at(330)  # group_interval 5m after the last flush, not at once
    [second] = d.due(at(330))
    assert [a.labels["circuit"] for a in second.notice.firing] == ["A", "B", "C"]


def test_unchanged_group_repeats_after_the_repeat_interval_with_a_new_key() -> None:
    d = dispatcher()
    d.take([fired("RestoreBreached", at(0), customer="C1", circuit="A")], at(0))
    [first] = d.due(at(0))
    assert d.next_instant() == at(3600)
    assert d.due(at(3599)) == []
    [again] = d.due(at(3600))
    assert again.notice.alerts == first.notice.alerts
    assert again.notice.key != first.notice.key  # a repeat is a notice of its own
    assert again.notice.at == at(3600)


def test_resolution_is_told_once_and_the_group_then_ends() -> None:
    d = dispatcher()
    a, b = (fired("RestoreBreached", at(0), customer="C1", circuit=c) for c in "AB")
    d.take([a, b], at(0))
    d.due(at(0))
    d.take([resolve(a, at(100))], at(100))
    [partial] = d.due(at(100))  # 100 s after the last flush: the 1m interval has passed
    assert [(x.labels["circuit"], x.state) for x in partial.notice.alerts] == [
        ("B", NoticeState.FIRING), ("A", NoticeState.RESOLVED)]
    assert partial.notice.alerts[1].resolved_at == at(100)
    d.take([resolve(b, at(200))], at(200))
    [done] = d.due(at(200))
    assert [(x.labels["circuit"], x.state) for x in done.notice.alerts] == [("B", NoticeState.RESOLVED)]
    assert d.groups == {} and d.next_instant() is None
    assert d.due(at(10_000)) == []


def test_an_alert_that_fired_and_resolved_unseen_is_not_told() -> None:
    d = dispatcher()
    a = fired("RestoreWarning", at(0), customer="C1", circuit="A", severity="warning")
    d.take([a], at(0))
    d.take([resolve(a, at(10))], at(10))
    assert d.due(at(30)) == []
    assert d.groups == {}


def test_muted_alerts_are_left_out_until_the_mute_ends() -> None:
    class Until:
        def __init__(self, end: datetime) -> None:
            self.end = end

        def mutes(self, labels: Mapping[str, str], when: datetime) -> str | None:
            return "maintenance" if labels.get("circuit") == "A" and when < self.end else None

    d = dispatcher(muter=Until(at(150)))
    d.take([fired("RestoreBreached", at(0), customer="C1", circuit=c) for c in "AB"], at(0))
    [first] = d.due(at(0))
    assert [x.labels["circuit"] for x in first.notice.alerts] == ["B"]
    assert d.next_instant() == at(60)  # a group with a muted alert is looked at every interval
    assert d.due(at(120)) == []
    [later] = d.due(at(180))
    assert [x.labels["circuit"] for x in later.notice.firing] == ["A", "B"]


def test_the_key_is_the_content_not_the_instant_it_was_made() -> None:
    one, two = dispatcher(), dispatcher()
    one.take([fired("RestoreBreached", at(0), customer="C1", circuit="A")], at(0))
    two.take([fired("RestoreBreached", at(0), customer="C1", circuit="A")], at(5))  # e.g. after a crash
    [a], [b] = one.due(at(0)), two.due(at(5))
    assert a.notice.key == b.notice.key
    assert a.notice.at != b.notice.at


def test_a_remembered_log_keeps_repeats_and_resolutions_right_across_a_restart() -> None:
    first = dispatcher()
    alert = fired("RestoreBreached", at(0), customer="C1", circuit="A")
    first.take([alert], at(0))
    [sent] = first.due(at(0))

    again = dispatcher()  # a restart 20 minutes later: the log is read back from the outbox
    again.remember(sent.group_key, sent.notice)
    again.take([fired("RestoreBreached", at(0), customer="C1", circuit="A")], at(1200))
    assert again.due(at(1200)) == []  # told already
    assert again.next_instant() == at(3600)  # and repeated on time, not an hour after the restart
    [repeat] = again.due(at(3600))
    assert repeat.notice.at == at(3600)
    again.take([resolve(fired("RestoreBreached", at(0), customer="C1", circuit="A"), at(4000))], at(4000))
    [resolved] = again.due(at(4000))
    assert [x.state for x in resolved.notice.alerts] == [NoticeState.RESOLVED]


def test_a_receiver_resolved_per_customer_gets_its_own_group_and_person() -> None:
    d = dispatcher()
    d.take([fired("ProactiveNotice", at(0), customer="C1", circuit="A", severity="info")], at(0))
    notices = {x.notice.receiver: x.notice for x in d.due(at(0))}
    assert set(notices) == {"contact", "noc"}
    assert notices["contact"].person == CUSTOMERS["C1"].contact
    assert notices["contact"].group_labels == {"customer": "C1", "circuit": "A"}
