"""The webhook notifier against a real HTTP server: the documented body, the HMAC signature, the
idempotency key, and retry classification through ``deliver`` (503 then 200, 400, a closed port)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from monitord.alerting.notify import NOTIFIERS, Notifiers, NotifyStats, WebhookNotifier, build, deliver
from monitord.alerting.notify.base import Result
from monitord.config.alerting import ReceiverSettings, WebhookSettings
from monitord.domain import Person
from tests.alerting.samples import T0, alerting, breach, notice
from tests.alerting.servers import closed_port_url, webhook
from tests.conftest import ROOT

SCHEMA = json.loads((ROOT / "docs" / "webhook.schema.json").read_text(encoding="utf-8"))
URL = "https://monitord.noc.example.com"
SENT_AT = datetime(2026, 10, 8, 6, 12, 31, tzinfo=UTC)


async def no_sleep(_seconds: float) -> None:
    return None


def notifier(url: str, tmp_path: Path, *, secret: str | None = "hook-秘密", lang: str = "zh-CN",
             send_resolved: bool = True, timeout: float = 5) -> WebhookNotifier:
    secret_file = None
    if secret is not None:
        secret_file = tmp_path / "hook-secret"
        secret_file.write_text(f"  {secret}\n", encoding="utf-8")
    settings = WebhookSettings(url, send_resolved, timedelta(seconds=timeout), secret_file)
    receiver = ReceiverSettings("noc-oncall", (settings,), lang=lang)
    built = build(receiver, alerting(receiver, external_url=URL))
    assert isinstance(built[0], WebhookNotifier)
    built[0].clock = lambda: SENT_AT
    return built[0]


def test_body_follows_the_schema_and_is_signed(tmp_path: Path) -> None:
    with webhook() as hook:
        n = notifier(hook.url + "/hooks/noc", tmp_path)
        outcome = asyncio.run(deliver(n, notice(person=Person("李明", "li.ming@example.com", "138"))))
        assert outcome.sent and outcome.attempts == 1
        (request,) = hook.wait_for(1)
    assert request.path == "/hooks/noc"
    assert request.headers["idempotency-key"] == "notice-1"
    assert request.headers["content-type"].startswith("application/json")
    timestamp = request.headers["x-monitord-timestamp"]
    assert timestamp == str(int(SENT_AT.timestamp()))
    expected = hmac.new(b"hook-\xe7\xa7\x98\xe5\xaf\x86", timestamp.encode() + b"." + request.body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-monitord-signature"], f"sha256={expected}")
    body = request.json()
    jsonschema.validate(body, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert body["key"] == "notice-1" and body["status"] == "firing" and body["lang"] == "zh-CN"
    assert body["person"] == {"name": "李明", "email": "li.ming@example.com", "phone": "138"}
    (alert,) = body["alerts"]
    assert alert["labels"]["circuit"] == "GZ-SDH-000123" and alert["details"]["ticket_stage"] == "dispatched"
    assert alert["summary"].endswith("恢复时限已超 12 分钟")
    assert alert["links"]["ticket"] == f"{URL}/api/v1/tickets?ticket=MON-1234"
    assert "恢复超时" in body["title"] and "故障单：MON-1234" in body["text"]


def test_tampered_body_fails_the_signature(tmp_path: Path) -> None:
    n = notifier("http://127.0.0.1:9/", tmp_path, secret="k")
    body, headers = n.request(notice(), SENT_AT)
    forged = body.replace(b"MON-1234", b"MON-9999")
    good = "sha256=" + hmac.new(b"k", headers["X-Monitord-Timestamp"].encode() + b"." + forged,
                                hashlib.sha256).hexdigest()
    assert headers["X-Monitord-Signature"] != good


def test_without_a_secret_there_is_no_signature_and_english_when_asked(tmp_path: Path) -> None:
    with webhook() as hook:
        n = notifier(hook.url, tmp_path, secret=None, lang="en")
        assert asyncio.run(deliver(n, notice())).sent
        (request,) = hook.wait_for(1)
    assert "x-monitord-signature" not in request.headers
    body = request.json()
    jsonschema.validate(body, SCHEMA)
    assert body["lang"] == "en" and "restore limit passed 12 min ago" in body["alerts"][0]["summary"]


def test_resolved_notice_body(tmp_path: Path) -> None:
    with webhook() as hook:
        n = notifier(hook.url, tmp_path)
        done = notice(breach(resolved_at=T0 + timedelta(minutes=30)), at=T0 + timedelta(minutes=31))
        assert asyncio.run(deliver(n, done)).sent
        body = hook.wait_for(1)[0].json()
    jsonschema.validate(body, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert body["status"] == "resolved" and body["alerts"][0]["resolved_at"] == "2026-10-08T06:30:00Z"
    assert body["title"].startswith("【已解除】")


def test_503_then_200_is_retried_and_counted(tmp_path: Path) -> None:
    stats = NotifyStats()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with webhook([503, 503]) as hook:
        n = notifier(hook.url, tmp_path)
        outcome = asyncio.run(deliver(n, notice(), attempts=4, first_backoff=0.5, sleep=sleep, stats=stats))
        requests = hook.wait_for(3)
    assert outcome.sent and outcome.attempts == 3 and waits == [0.5, 1.0]
    assert {r.headers["idempotency-key"] for r in requests} == {"notice-1"}  # the same notice each time
    assert stats.snapshot() == {("noc-oncall", "webhook", "retried"): 2, ("noc-oncall", "webhook", "sent"): 1}


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (404, False), (429, True), (500, True)])
def test_status_classification(tmp_path: Path, status: int, retryable: bool) -> None:
    stats = NotifyStats()
    with webhook([status] * 2) as hook:
        n = notifier(hook.url, tmp_path)
        outcome = asyncio.run(deliver(n, notice(), attempts=2, sleep=no_sleep, stats=stats))
    assert not outcome.sent and outcome.retryable is retryable
    assert outcome.attempts == (2 if retryable else 1)
    assert f"HTTP {status}" in outcome.error
    assert stats.snapshot()[("noc-oncall", "webhook", Result.FAILED.value)] == 1


def test_closed_port_is_retryable(tmp_path: Path) -> None:
    n = notifier(closed_port_url("/hook"), tmp_path)
    outcome = asyncio.run(deliver(n, notice(), attempts=3, sleep=no_sleep))
    assert not outcome.sent and outcome.retryable and outcome.attempts == 3
    assert "ConnectError" in outcome.error


def test_send_resolved_false_skips_resolved_only_notices(tmp_path: Path) -> None:
    stats = NotifyStats()
    with webhook() as hook:
        n = notifier(hook.url, tmp_path, send_resolved=False)
        done = notice(breach(resolved_at=T0))
        assert asyncio.run(deliver(n, done, stats=stats)).attempts == 0
        mixed = notice(breach(), breach(circuit="GZ-SDH-000124", resolved_at=T0))
        assert asyncio.run(deliver(n, mixed, stats=stats)).sent
        body = hook.wait_for(1)[0].json()
    assert [a["labels"]["circuit"] for a in body["alerts"]] == ["GZ-SDH-000123"]
    assert stats.snapshot()[("noc-oncall", "webhook", "skipped")] == 1


def test_the_table_and_the_factory(tmp_path: Path) -> None:
    assert set(NOTIFIERS) == {"email", "webhook", "alertmanager"}
    settings = WebhookSettings("http://127.0.0.1:9/x")
    receiver = ReceiverSettings("noc", (settings,))
    factory = Notifiers(alerting(receiver))
    assert factory(receiver, settings) is factory(receiver, settings)  # built once
    assert factory.resend_interval == timedelta(minutes=1)
