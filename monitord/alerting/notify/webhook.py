"""The webhook notifier: POSTs a notice as JSON, signed with HMAC-SHA256, with an idempotency key.

The body's schema is ``docs/webhook.schema.json`` (version 1): the notice's
key, status, receiver, the person for a receiver resolved per customer, the
rendered title and text in the receiver's language, and each alert with its
labels, details, times, one-line summary, text block and links.

Headers:

- ``Idempotency-Key``: the notice's key. The outbox sends a notice again after
  a failure or a restart under the same key, so a receiver dedupes by it.
- ``X-Monitord-Timestamp``: Unix seconds of this send.
- ``X-Monitord-Signature: sha256=<hex>`` (with ``secret_file``): HMAC-SHA256
  keyed with the file's content (surrounding whitespace stripped) over
  ``<timestamp>.<body>``, the raw body bytes. A receiver recomputes it, compares
  in constant time, and rejects a timestamp too far from its clock (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from monitord.alerting.notice import Notice, NoticeState
from monitord.alerting.notify.base import NotifierSetup
from monitord.alerting.notify.http import post
from monitord.config.alerting import WebhookSettings

SCHEMA_VERSION = "1"
SIGNATURE_HEADER = "X-Monitord-Signature"
TIMESTAMP_HEADER = "X-Monitord-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def rfc3339(at: datetime) -> str:
    """An instant as RFC 3339 in UTC (``2026-10-08T06:00:00Z``)."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Monitord-Signature`` value: ``sha256=`` and the hex HMAC of ``timestamp.body``."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    """POSTs notices as JSON to one URL."""

    kind = "webhook"

    def __init__(self, settings: WebhookSettings, setup: NotifierSetup, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self.setup = setup
        self.send_resolved = settings.send_resolved
        # Read once at build time: a reload (build new, then swap) picks up a rotated secret.
        self.secret = settings.secret_file.read_bytes().strip() if settings.secret_file else None
        self.clock = clock  # the signature's timestamp is the send's, not the notice's

    def payload(self, notice: Notice) -> dict[str, Any]:
        """The JSON body of ``notice`` (docs/webhook.schema.json)."""
        message = self.setup.messages.render(notice)
        views = [self.setup.messages.view(a, notice.at, i) for i, a in enumerate(notice.alerts)]
        person = notice.person
        return {
            "version": SCHEMA_VERSION, "key": notice.key,
            "status": (NoticeState.FIRING if notice.firing else NoticeState.RESOLVED).value,
            "receiver": notice.receiver, "delivers": notice.delivers, "at": rfc3339(notice.at),
            "group_labels": dict(notice.group_labels),
            "person": None if person is None else {"name": person.name, "email": person.email, "phone": person.phone},
            "lang": message.lang, "title": message.subject, "text": message.text,
            "external_url": self.setup.external_url,
            "alerts": [{
                "name": a.name, "status": a.state.value, "labels": dict(a.labels), "details": dict(a.details),
                "fired_at": rfc3339(a.fired_at), "resolved_at": rfc3339(a.resolved_at) if a.resolved_at else None,
                "summary": summary, "description": description, "links": dict(view.links),
            } for a, view, summary, description in zip(notice.alerts, views, message.summaries,
                                                        message.descriptions, strict=True)],
        }

    def request(self, notice: Notice, now: datetime) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one send of ``notice`` at ``now``."""
        body = json.dumps(self.payload(notice), ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(now.timestamp()))
        headers = {IDEMPOTENCY_HEADER: notice.key, TIMESTAMP_HEADER: timestamp}
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = signature(self.secret, timestamp, body)
        return body, headers

    async def notify(self, notice: Notice) -> None:
        """POST the notice; raises ``NotifyError`` (retryable for connection errors, timeouts, 5xx, 429)."""
        body, headers = self.request(notice, self.clock())
        await post(self.settings.url, body, headers, self.settings.timeout)
