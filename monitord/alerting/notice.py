"""A notice: what one receiver is told, at one instant, about one group of alerts.

The dispatcher (``dispatch.py``) makes notices from the alerts it groups; the
outbox stores each one (as ``to_json``) before a notifier sends it, under its
idempotency ``key``; notifiers (``notify/``) turn it into an e-mail, a
webhook body or Alertmanager alerts. ``details`` carry what a message needs
beyond the labels (the customer's name and level, the ticket's stage, the
deadline, how late it is), filled in by the daemon from its facts.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitord.domain import Person


class NoticeState(enum.StrEnum):
    """Whether an alert in a notice is still firing or has resolved."""

    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class NoticeAlert:
    """One alert as a notice reports it."""

    name: str
    labels: Mapping[str, str]
    state: NoticeState
    fired_at: datetime
    resolved_at: datetime | None = None
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Notice:
    """One message to one receiver about one group of alerts.

    ``receiver`` is the receiver the route named; ``delivers`` the receiver
    that actually gets it (the same, or a fallback when the person could not
    be found), and ``person`` the account manager or contact it was resolved
    to. ``group_labels`` are the labels the group was formed on.
    """

    key: str
    receiver: str
    delivers: str
    group_labels: Mapping[str, str]
    alerts: tuple[NoticeAlert, ...]
    at: datetime
    person: Person | None = None

    @property
    def firing(self) -> list[NoticeAlert]:
        """The alerts still firing."""
        return [a for a in self.alerts if a.state is NoticeState.FIRING]

    @property
    def resolved(self) -> list[NoticeAlert]:
        """The alerts that have resolved."""
        return [a for a in self.alerts if a.state is NoticeState.RESOLVED]

    def to_json(self) -> str:
        """The notice as canonical JSON (for the outbox)."""
        return json.dumps(_plain(self), ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    @staticmethod
    def from_json(text: str) -> Notice:
        """The notice ``to_json`` wrote."""
        d = json.loads(text)
        person = Person(**d["person"]) if d["person"] else None
        alerts = tuple(
            NoticeAlert(a["name"], a["labels"], NoticeState(a["state"]), datetime.fromisoformat(a["fired_at"]),
                        datetime.fromisoformat(a["resolved_at"]) if a["resolved_at"] else None, a["details"])
            for a in d["alerts"])
        return Notice(d["key"], d["receiver"], d["delivers"], d["group_labels"], alerts,
                      datetime.fromisoformat(d["at"]), person)


def _plain(notice: Notice) -> dict[str, Any]:
    person = notice.person
    return {
        "key": notice.key, "receiver": notice.receiver, "delivers": notice.delivers,
        "group_labels": dict(notice.group_labels), "at": notice.at.isoformat(),
        "person": None if person is None else {f: getattr(person, f) for f in person.__dataclass_fields__},
        "alerts": [{"name": a.name, "labels": dict(a.labels), "state": a.state.value,
                    "fired_at": a.fired_at.isoformat(),
                    "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
                    "details": dict(a.details)} for a in notice.alerts],
    }
