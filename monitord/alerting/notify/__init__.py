"""Notifiers: one module per channel, ``NOTIFIERS`` (the table from config ``kind`` to class), and building them.

``Notifiers`` builds the notifier of a receiver's notifier settings (the
outbox's factory) and keeps the ones it built, so that the scheduler can call
``Notifiers.resend(now)`` for Alertmanager, which expects firing alerts
re-sent periodically. ``build`` makes all of one receiver's notifiers at once.
``base.deliver`` sends a notice through one notifier with retries and counts
the outcome in the ``NotifyStats`` the exporter reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from monitord.alerting.messages import OPERATOR_TZ, Messages
from monitord.alerting.notice import Notice
from monitord.alerting.notify.alertmanager import AlertmanagerNotifier
from monitord.alerting.notify.base import (
    Notifier,
    NotifierClass,
    NotifierSetup,
    NotifyError,
    NotifyStats,
    Outcome,
    Result,
    deliver,
)
from monitord.alerting.notify.email import EmailNotifier
from monitord.alerting.notify.webhook import WebhookNotifier
from monitord.config.alerting import (
    DEFAULT_RESEND_INTERVAL,
    AlertingSettings,
    AlertmanagerSettings,
    NotifierSettings,
    ReceiverSettings,
)

NOTIFIERS: dict[str, NotifierClass] = {
    "email": EmailNotifier,
    "webhook": WebhookNotifier,
    "alertmanager": AlertmanagerNotifier,
}
"""Notifier kind (the config's ``kind``) -> its class."""


def build_one(receiver: ReceiverSettings, settings: NotifierSettings, alerting: AlertingSettings, *,
              tz: ZoneInfo = OPERATOR_TZ, stats: NotifyStats | None = None) -> Notifier:
    """The notifier of one of ``receiver``'s notifier settings; reads its secret files.

    ``tz`` is the zone messages show times in (the rules' ``timezone``).
    """
    messages = Messages(settings.lang or receiver.lang, alerting.external_url, alerting.links, tz)
    setup = NotifierSetup(receiver, messages, alerting.smtp, alerting.external_url, stats)
    return NOTIFIERS[settings.kind](settings, setup)


def build(receiver: ReceiverSettings, alerting: AlertingSettings, *, tz: ZoneInfo = OPERATOR_TZ,
          stats: NotifyStats | None = None) -> tuple[Notifier, ...]:
    """The notifiers of ``receiver``, in its settings' order."""
    return tuple(build_one(receiver, s, alerting, tz=tz, stats=stats) for s in receiver.notifiers)


class Notifiers:
    """The notifiers of one configuration, built on first use and kept: the outbox's notifier factory.

    Call it as ``notifiers(receiver, settings)``. ``previous`` is the instance of
    the configuration before a reload: an Alertmanager notifier with the same
    receiver and URLs takes over what its predecessor had sent, so re-sends go on.
    """

    def __init__(self, alerting: AlertingSettings, *, tz: ZoneInfo = OPERATOR_TZ, stats: NotifyStats | None = None,
                 previous: Notifiers | None = None) -> None:
        self.alerting, self.tz, self.stats = alerting, tz, stats
        self._built: dict[tuple[str, NotifierSettings], Notifier] = {}
        self._last_resend: dict[tuple[str, NotifierSettings], datetime] = {}
        self._previous = previous

    def __call__(self, receiver: ReceiverSettings, settings: NotifierSettings) -> Notifier:
        """The notifier of ``settings`` in ``receiver`` (built once)."""
        key = (receiver.name, settings)
        found = self._built.get(key)
        if found is None:
            found = self._built[key] = build_one(receiver, settings, self.alerting, tz=self.tz, stats=self.stats)
            if isinstance(found, AlertmanagerNotifier) and self._previous is not None:
                found.adopt(self._previous.alertmanagers(receiver.name, found.settings.urls))
        return found

    def remember(self, notices: Iterable[Notice], receivers: Mapping[str, ReceiverSettings]) -> None:
        """Give the Alertmanager notifiers what each group was last told (the log, at start-up) to re-send."""
        for notice in notices:
            receiver = receivers.get(notice.delivers)
            if receiver is None:
                continue  # a receiver since removed from the config
            for settings in receiver.notifiers:
                if isinstance(settings, AlertmanagerSettings):
                    notifier = self(receiver, settings)
                    assert isinstance(notifier, AlertmanagerNotifier)
                    notifier.remember(notice)

    def alertmanagers(self, receiver: str, urls: tuple[str, ...]) -> list[AlertmanagerNotifier]:
        """The Alertmanager notifiers built for ``receiver`` that post to ``urls``."""
        return [n for (name, _), n in self._built.items()
                if name == receiver and isinstance(n, AlertmanagerNotifier) and n.settings.urls == urls]

    @property
    def resend_interval(self) -> timedelta:
        """How often to call ``resend``: the shortest ``resend_interval`` configured (default 1 minute)."""
        intervals = [n.resend_interval for r in self.alerting.receivers.values() for n in r.notifiers
                     if isinstance(n, AlertmanagerSettings)]
        return min(intervals, default=DEFAULT_RESEND_INTERVAL)

    async def resend(self, now: datetime) -> int:
        """Re-send to Alertmanager whatever each notifier's own ``resend_interval`` says is due; how many alerts."""
        total = 0
        for key, notifier in list(self._built.items()):
            if not isinstance(notifier, AlertmanagerNotifier):
                continue
            last = self._last_resend.get(key)
            # Half a second of slack: a scheduler firing every interval must not skip every other round.
            if last is not None and now - last < notifier.settings.resend_interval - timedelta(milliseconds=500):
                continue
            self._last_resend[key] = now
            total += await notifier.resend(now)
        return total


__all__ = ["NOTIFIERS", "AlertmanagerNotifier", "EmailNotifier", "Notifier", "NotifierSetup", "Notifiers",
           "NotifyError", "NotifyStats", "Outcome", "Result", "WebhookNotifier", "build", "build_one", "deliver"]
