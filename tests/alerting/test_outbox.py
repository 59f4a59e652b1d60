"""The outbox against a real SQLite log and a real local webhook: sent and marked, retried later, failed for good."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitord.alerting.dispatch import Dispatcher
from monitord.alerting.notify import Notifiers, NotifyStats
from monitord.alerting.outbox import Outbox, entries
from monitord.alerting.route import Router
from monitord.config.alerting import AlertingSettings
from monitord.domain import Alert, AlertKey, AlertState
from monitord.storage.repo import Repository
from tests.alerting.test_dispatch import settings
from tests.hook import Hook

NOW = datetime.now(UTC).replace(microsecond=0)  # the outbox ages entries by the real clock


def config(url: str) -> AlertingSettings:
    return settings(f"""
alerting:
  route:
    receiver: noc
  receivers:
    - name: noc
      notifiers: [{{kind: webhook, url: "{url}"}}]
""")


def written(repo: Repository, alerting: AlertingSettings) -> list:
    d = Dispatcher(Router(alerting))
    alert = Alert(AlertKey("RestoreBreached", (("customer", "C1"), ("severity", "critical"))), AlertState.FIRING,
                  fired_at=NOW)
    d.take([alert], NOW)
    out = entries(d.due(NOW), alerting.receivers, NOW)
    repo.record_alerts([alert], out)
    return out


def send(repo: Repository, alerting: AlertingSettings, rounds: float = 0.0) -> Outbox:
    async def scenario() -> Outbox:
        outbox = Outbox(repo, Notifiers(alerting, stats=NotifyStats()), alerting.receivers,
                        lambda: datetime.now(UTC), attempts=1, retry_after=timedelta(milliseconds=100))
        outbox.submit(repo.unsent_notices())
        await outbox.drain()
        await asyncio.sleep(rounds)
        await outbox.drain()
        outbox.close()
        return outbox

    return asyncio.run(scenario())


def test_a_notice_is_written_then_sent_once_and_marked(tmp_path: Path) -> None:
    repo = Repository.open(f"sqlite:///{tmp_path / 'state.db'}")
    with Hook() as hook:
        alerting = config(hook.url)
        [entry] = written(repo, alerting)
        assert [n.key for n in repo.unsent_notices()] == [entry.key]
        outbox = send(repo, alerting)
        [got] = hook.received
        assert got.key == got.body["key"]  # the notice's idempotency key travels as the header
        assert repo.unsent_notices() == []
        [stored] = repo.notices()
        assert stored.sent_at is not None and stored.attempts == 1
        assert outbox.counts == {("noc", "sent"): 1}
        assert outbox.backlog == 0


def test_a_retryable_failure_stays_in_the_outbox_and_is_sent_later(tmp_path: Path) -> None:
    repo = Repository.open(f"sqlite:///{tmp_path / 'state.db'}")
    with Hook() as hook:
        hook.statuses = [503]
        alerting = config(hook.url)
        written(repo, alerting)
        outbox = send(repo, alerting, rounds=0.5)
        assert len(hook.received) == 2 and hook.received[0].key == hook.received[1].key
        [stored] = repo.notices()
        assert stored.sent_at is not None and stored.attempts == 2
        assert outbox.counts == {("noc", "retry"): 1, ("noc", "sent"): 1}


def test_a_refused_notice_is_marked_failed_with_the_error(tmp_path: Path) -> None:
    repo = Repository.open(f"sqlite:///{tmp_path / 'state.db'}")
    with Hook() as hook:
        hook.statuses = [400]
        alerting = config(hook.url)
        written(repo, alerting)
        outbox = send(repo, alerting, rounds=0.3)
        assert len(hook.received) == 1
        [stored] = repo.notices()
        assert stored.sent_at is None and stored.failed_at is not None and "HTTP 400" in stored.last_error
        assert repo.unsent_notices() == []  # not sent again, after a restart either
        assert outbox.counts == {("noc", "failed"): 1}


def test_the_log_says_what_each_group_was_last_told(tmp_path: Path) -> None:
    repo = Repository.open(f"sqlite:///{tmp_path / 'state.db'}")
    alerting = config("http://127.0.0.1:9/hook")
    [entry] = written(repo, alerting)
    assert repo.last_notices() == [(entry.group_key, entry.payload)]
    written(repo, alerting)  # the same content again: the same key, written once
    assert len(repo.notices()) == 1
