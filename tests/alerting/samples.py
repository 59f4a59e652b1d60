"""Notices as the daemon makes them, for notifier and message tests (and the daemon's end-to-end tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitord.alerting.notice import Notice, NoticeAlert, NoticeState
from monitord.config.alerting import AlertingSettings, ReceiverSettings, RouteSettings
from monitord.domain import Person

T0 = datetime(2026, 10, 8, 6, 0, tzinfo=UTC)
"""The restore deadline of the sample breach: 14:00 in Beijing."""

BREACH_LABELS = {"circuit": "GZ-SDH-000123", "customer": "CUST-GRP-001", "sla_class": "AAA", "severity": "critical",
                 "ticket": "MON-1234"}
BREACH_DETAILS = {"customer_name": "广州某集团有限公司", "customer_level": "group", "deadline": T0.isoformat(),
                  "ticket_stage": "dispatched", "account_manager": "李明 13800000000", "service": "sdh",
                  "a_end": "广州天河", "z_end": "深圳南山"}


def breach(fired_at: datetime = T0, resolved_at: datetime | None = None, **labels: str) -> NoticeAlert:
    """The RestoreBreached alert of ticket MON-1234 (resolved when ``resolved_at`` is given)."""
    state = NoticeState.RESOLVED if resolved_at else NoticeState.FIRING
    return NoticeAlert("RestoreBreached", {**BREACH_LABELS, **labels}, state, fired_at, resolved_at,
                       dict(BREACH_DETAILS))


def notice(*alerts: NoticeAlert, at: datetime = T0 + timedelta(minutes=12, seconds=30), key: str = "notice-1",
           receiver: str = "noc-oncall", person: Person | None = None) -> Notice:
    """A notice of ``alerts`` (default: the breach, 12 minutes late) to ``receiver``."""
    return Notice(key, receiver, receiver, {"alertname": "RestoreBreached", "customer": "CUST-GRP-001"},
                  alerts or (breach(),), at, person)


def alerting(*receivers: ReceiverSettings, **kw: object) -> AlertingSettings:
    """Alerting settings with these receivers (the first is the root's) and ``smtp``/``external_url``/``links``."""
    return AlertingSettings(RouteSettings(receivers[0].name), {r.name: r for r in receivers}, **kw)  # type: ignore[arg-type]
