"""The Alertmanager notifier: forwards alerts to every instance of a Prometheus Alertmanager cluster.

Each alert becomes one postable alert of Alertmanager's API v2
(``POST <url>/api/v2/alerts``): its labels plus ``alertname``, annotations
``summary`` and ``description`` rendered in the receiver's language (and one
``link_<name>`` per link), ``startsAt`` when it fired, and ``generatorURL``, its
first link (the circuit's) or ``external_url``.

``endsAt`` follows Prometheus' contract with Alertmanager: a firing alert ends
``RESENDS_VALID`` (4) resend intervals after the send, so Alertmanager resolves
it by itself only if monitord stops sending it; a resolved alert ends at its
resolve instant. The alert is posted to **every** configured instance, as
Prometheus does for an HA pair (they deduplicate among themselves); a send
counts when at least one accepted it.

``resend(now)`` is for the daemon's scheduler: call it every
``resend_interval`` (default 1 minute, Prometheus' ``resend_delay``). It posts
again every alert still firing with a fresh ``endsAt``, and every resolved one
for ``RESOLVED_RETENTION`` (15 minutes, as Prometheus keeps resolved alerts),
so an instance that was down or restarted learns both. What was sent lives in
memory; after a restart of monitord, ``remember`` takes each group's last notice
from the notification log, so the re-sends go on and Alertmanager does not
resolve by itself what is still firing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from monitord.alerting.notice import Notice, NoticeAlert, NoticeState
from monitord.alerting.notify.base import NotifierSetup, NotifyError, Result
from monitord.alerting.notify.http import post
from monitord.alerting.notify.webhook import rfc3339
from monitord.config.alerting import AlertmanagerSettings

log = logging.getLogger(__name__)

API_PATH = "/api/v2/alerts"
RESENDS_VALID = 4
"""A firing alert's ``endsAt`` is this many resend intervals after its send (Prometheus: 4)."""
RESOLVED_RETENTION = timedelta(minutes=15)
"""How long a resolved alert keeps being re-sent (Prometheus' resolvedRetention)."""

Fingerprint = tuple[tuple[str, str], ...]


@dataclass
class _Sent:
    """An alert as last sent; re-sent by ``resend``."""

    alert: dict[str, Any]  # the postable alert without endsAt
    resolved_at: datetime | None


class AlertmanagerNotifier:
    """Posts alerts to every instance of one Alertmanager cluster and re-sends them periodically."""

    kind = "alertmanager"
    send_resolved = True  # Alertmanager must hear of the resolve, or it keeps the alert until endsAt

    def __init__(self, settings: AlertmanagerSettings, setup: NotifierSetup, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self.setup = setup
        self.clock = clock  # endsAt of a firing alert is counted from the send, which may be a late retry
        self.urls = tuple(u.rstrip("/") + API_PATH for u in settings.urls)
        self._sent: dict[Fingerprint, _Sent] = {}

    @property
    def valid_for(self) -> timedelta:
        """How long after a send a firing alert stays firing in Alertmanager without another send."""
        return RESENDS_VALID * self.settings.resend_interval

    def postable(self, alert: NoticeAlert, summary: str, description: str, links: Mapping[str, str]
                 ) -> dict[str, Any]:
        """One alert of the v2 API, without ``endsAt``."""
        # An empty label is an absent one (Prometheus); Alertmanager would keep it as part of the identity.
        labels = {k: v for k, v in alert.labels.items() if v}
        labels["alertname"] = alert.name
        annotations = {"summary": summary, "description": description}
        annotations.update({f"link_{name}": url for name, url in links.items()})
        out: dict[str, Any] = {"labels": labels, "annotations": annotations, "startsAt": rfc3339(alert.fired_at)}
        generator = next(iter(links.values()), "") or self.setup.external_url
        if generator:
            out["generatorURL"] = generator
        return out

    def _ends(self, sent: _Sent, now: datetime) -> dict[str, Any]:
        ends = sent.resolved_at if sent.resolved_at is not None else now + self.valid_for
        return {**sent.alert, "endsAt": rfc3339(ends)}

    async def notify(self, notice: Notice) -> None:
        """Post the notice's alerts to every instance; ``NotifyError`` when none accepted them."""
        batch = self._batch(notice)
        now = self.clock()
        await self._post([self._ends(s, now) for s in batch])
        for s in batch:
            self._sent[_fingerprint(s.alert)] = s

    def remember(self, notice: Notice) -> None:
        """Take a notice sent before a restart as sent, so that ``resend`` keeps its alerts alive."""
        for s in self._batch(notice):
            self._sent[_fingerprint(s.alert)] = s

    def _batch(self, notice: Notice) -> list[_Sent]:
        message = self.setup.messages.render(notice)
        batch: list[_Sent] = []
        for i, (alert, summary, description) in enumerate(zip(notice.alerts, message.summaries,
                                                              message.descriptions, strict=True)):
            links = self.setup.messages.view(alert, notice.at, i).links
            resolved = alert.resolved_at or notice.at if alert.state is NoticeState.RESOLVED else None
            batch.append(_Sent(self.postable(alert, summary, description, links), resolved))
        return batch

    def adopt(self, others: list[AlertmanagerNotifier]) -> None:
        """Take over what ``others`` (the same cluster before a reload) sent, to keep re-sending it."""
        for other in others:
            for fp, sent in other._sent.items():
                self._sent.setdefault(fp, sent)

    async def resend(self, now: datetime) -> int:
        """Post again what is still firing, and what resolved within ``RESOLVED_RETENTION``; returns how many.

        Failures are logged and counted, never raised: the next call tries again.
        """
        for fp in [fp for fp, s in self._sent.items()
                   if s.resolved_at is not None and now - s.resolved_at > RESOLVED_RETENTION]:
            del self._sent[fp]
        if not self._sent:
            return 0
        alerts = [self._ends(s, now) for s in self._sent.values()]
        stats, receiver = self.setup.stats, self.setup.receiver.name
        try:
            await self._post(alerts)
        except NotifyError as exc:
            log.warning("re-sending %d alert(s) to Alertmanager for %s failed: %s", len(alerts), receiver, exc)
            if stats is not None:
                stats.count(receiver, self.kind, Result.RESEND_FAILED)
            return 0
        if stats is not None:
            stats.count(receiver, self.kind, Result.RESENT)
        return len(alerts)

    async def _post(self, alerts: list[dict[str, Any]]) -> None:
        body = json.dumps(alerts, ensure_ascii=False, separators=(",", ":")).encode()
        results = await asyncio.gather(*(post(url, body, {}, self.settings.timeout) for url in self.urls),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for r in errors:
            if not isinstance(r, NotifyError):
                raise r
        if len(errors) == len(results):
            raise NotifyError("no Alertmanager accepted the alerts: " + "; ".join(str(e) for e in errors),
                              retryable=any(isinstance(e, NotifyError) and e.retryable for e in errors))
        for e in errors:  # the others have them: the cluster gossips, and the next resend catches up
            log.warning("an Alertmanager instance did not take the alerts: %s", e)


def _fingerprint(alert: Mapping[str, Any]) -> Fingerprint:
    return tuple(sorted(alert["labels"].items()))
