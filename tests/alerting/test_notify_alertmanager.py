"""The Alertmanager notifier against the real Alertmanager (Debian's prometheus-alertmanager), which
routes monitord's alerts to a test webhook: labels, annotations, HA (one instance down), resolve,
periodic re-sends, and a rejected alert that is not retried."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitord.alerting.notice import NoticeAlert, NoticeState
from monitord.alerting.notify import AlertmanagerNotifier, Notifiers, NotifyStats, build, deliver
from monitord.config.alerting import AlertmanagerSettings, ReceiverSettings
from tests.alerting.samples import BREACH_DETAILS, BREACH_LABELS, alerting, notice
from tests.alerting.servers import Alertmanager, WebhookServer, closed_port_url

URL = "https://monitord.noc.example.com"


async def no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[WebhookServer, Alertmanager]]:
    with WebhookServer() as hook, Alertmanager(tmp_path, hook.url + "/am") as am:
        yield hook, am


def forwarder(*urls: str, stats: NotifyStats | None = None) -> AlertmanagerNotifier:
    receiver = ReceiverSettings("noc-oncall", (AlertmanagerSettings(urls, timedelta(seconds=5)),))
    (built,) = build(receiver, alerting(receiver, external_url=URL), stats=stats)
    assert isinstance(built, AlertmanagerNotifier)
    return built


def alert(fired: datetime, resolved: datetime | None = None, **labels: str) -> NoticeAlert:
    state = NoticeState.RESOLVED if resolved else NoticeState.FIRING
    return NoticeAlert("RestoreBreached", {**BREACH_LABELS, **labels}, state, fired, resolved, dict(BREACH_DETAILS))


def firing_at_webhook(hook: WebhookServer, status: str, count: int = 1) -> list[dict[str, object]]:
    hook.wait_for(1, timeout=20, path="/am")
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while datetime.now(UTC) < deadline:
        found = [a for r in hook.requests if r.path == "/am" for a in r.json()["alerts"] if a["status"] == status]
        if len(found) >= count:
            return found
        asyncio.run(asyncio.sleep(0.1))
    raise AssertionError(f"no {status} alert reached the webhook: {[r.json() for r in hook.requests]}")


def test_alerts_reach_alertmanager_and_its_webhook_then_resolve(cluster: tuple[WebhookServer, Alertmanager]) -> None:
    hook, am = cluster
    stats = NotifyStats()
    n = forwarder(closed_port_url(), am.url, stats=stats)  # HA: one instance down, the other takes it
    now = datetime.now(UTC)
    fired = now - timedelta(minutes=12)
    outcome = asyncio.run(deliver(n, notice(alert(fired), at=now), stats=stats, sleep=no_sleep))
    assert outcome.sent and outcome.attempts == 1, outcome

    (got,) = firing_at_webhook(hook, "firing")
    labels = got["labels"]
    assert isinstance(labels, dict)
    assert labels == {**BREACH_LABELS, "alertname": "RestoreBreached"}
    annotations = got["annotations"]
    assert isinstance(annotations, dict)
    assert "恢复时限已超" in annotations["summary"] and "GZ-SDH-000123" in annotations["summary"]
    assert "故障单：MON-1234" in annotations["description"]
    assert annotations["link_ticket"] == f"{URL}/api/v1/tickets?ticket=MON-1234"
    assert got["generatorURL"] == f"{URL}/api/v1/circuits?circuit=GZ-SDH-000123"
    held = am.alerts()
    assert len(held) == 1 and held[0]["status"]["state"] == "active"
    ends = datetime.fromisoformat(held[0]["endsAt"].replace("Z", "+00:00"))
    assert now + timedelta(minutes=3) < ends <= now + timedelta(minutes=4, seconds=5)  # 4 resend intervals

    assert asyncio.run(n.resend(datetime.now(UTC))) == 1  # what the scheduler calls every resend_interval

    resolved_at = datetime.now(UTC) - timedelta(seconds=1)
    done = notice(alert(fired, resolved_at), at=resolved_at)
    assert asyncio.run(deliver(n, done, stats=stats, sleep=no_sleep)).sent
    (gone,) = firing_at_webhook(hook, "resolved")
    assert gone["labels"] == labels
    assert stats.snapshot() == {("noc-oncall", "alertmanager", "sent"): 2, ("noc-oncall", "alertmanager", "resent"): 1}

    # Resolved alerts are re-sent for a while, then forgotten.
    assert asyncio.run(n.resend(resolved_at + timedelta(minutes=10))) == 1
    assert asyncio.run(n.resend(resolved_at + timedelta(minutes=16))) == 0


def test_a_rejected_alert_is_not_retried(cluster: tuple[WebhookServer, Alertmanager]) -> None:
    _, am = cluster
    n = forwarder(am.url)
    bad = NoticeAlert("RestoreBreached", {"circuit": "C1"}, NoticeState.FIRING, datetime.now(UTC))
    # Alertmanager refuses an alert that ends before it starts.
    outcome = asyncio.run(deliver(n, notice(NoticeAlert(bad.name, bad.labels, NoticeState.RESOLVED, bad.fired_at,
                                                        bad.fired_at - timedelta(hours=1))), sleep=no_sleep))
    assert not outcome.sent and not outcome.retryable and "HTTP 400" in outcome.error, outcome


def test_no_instance_up_is_retryable() -> None:
    n = forwarder(closed_port_url(), closed_port_url())
    outcome = asyncio.run(deliver(n, notice(), attempts=2, sleep=no_sleep))
    assert not outcome.sent and outcome.retryable and outcome.attempts == 2
    assert "no Alertmanager accepted" in outcome.error


def test_resend_interval_and_takeover_after_reload(cluster: tuple[WebhookServer, Alertmanager]) -> None:
    _, am = cluster
    settings = AlertmanagerSettings((am.url,), resend_interval=timedelta(seconds=30))
    receiver = ReceiverSettings("noc-oncall", (settings,))
    old = Notifiers(alerting(receiver))
    assert old.resend_interval == timedelta(seconds=30)
    now = datetime.now(UTC)
    assert asyncio.run(deliver(old(receiver, settings), notice(alert(now), at=now))).sent
    new = Notifiers(alerting(receiver), previous=old)
    new(receiver, settings)  # built on first use, taking over what the old one sent
    assert asyncio.run(new.resend(now)) == 1
    assert asyncio.run(new.resend(now + timedelta(seconds=10))) == 0  # not due yet
    assert asyncio.run(new.resend(now + timedelta(seconds=30))) == 1


def test_after_a_restart_the_log_keeps_alertmanager_hearing_of_what_still_fires(
        cluster: tuple[WebhookServer, Alertmanager]) -> None:
    hook, am = cluster
    settings = AlertmanagerSettings((am.url,), resend_interval=timedelta(seconds=1))
    receiver = ReceiverSettings("noc-oncall", (settings,))
    now = datetime.now(UTC)
    told = notice(alert(now - timedelta(minutes=10)), at=now - timedelta(minutes=10))  # sent before the restart
    restarted = Notifiers(alerting(receiver))
    assert asyncio.run(restarted.resend(now)) == 0  # nothing in memory after a restart
    restarted.remember([told], {"noc-oncall": receiver})
    assert asyncio.run(restarted.resend(now + timedelta(seconds=1))) == 1
    [firing] = firing_at_webhook(hook, "firing")
    assert firing["labels"]["alertname"] == "RestoreBreached"
