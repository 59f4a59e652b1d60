"""Messages an on-call engineer can act on at a glance: a notice -> subject, text, HTML and one line per alert.

The words are in Jinja2 templates under ``templates/<lang>/`` (``zh-CN``, the
operator's default, and ``en``); this module only computes what they show:
the circuit, the customer's name and level, the SLA class, what is late and by
how much (against the notice's instant), the deadline in the operator's local
time, the ticket and its stage, and links built from ``external_url``.

What a message needs beyond the alert's labels comes from ``NoticeAlert.details``,
filled in by the daemon; every key is optional and a message leaves out what
is missing:

========================  =====================================================================
``customer_name``         the customer's name (``广州某集团有限公司``)
``customer_level``        ``CustomerLevel`` value: group, provincial, local_a, local_b, local_c
``account_manager``       the account manager's name, and phone if known (``李明 13800000000``)
``service``               the circuit's service type (``sdh``, ``mpls_vpn``)
``a_end``, ``z_end``      the circuit's two ends
``deadline``              the due instant the alert is about, ISO 8601 with offset
``deadline_kind``         dispatch, accept, restore, confirm or report (default: by alert name,
                          for the shipped rules' names)
``ticket_stage``          ``TicketEventType`` value of the ticket's latest step: reported,
                          dispatched, accepted, paused, resumed, restored, confirmed, report_sent,
                          closed
========================  =====================================================================

Labels used: ``circuit``, ``customer``, ``sla_class``, ``severity``, ``ticket``,
``step``, ``percent``, ``month``, ``previous_ticket`` (those of rules/sla.yaml).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from string import Formatter
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2

from monitord.alerting.notice import Notice, NoticeAlert, NoticeState
from monitord.config.alerting import DEFAULT_LINKS, LANGUAGES

TEMPLATES = Path(__file__).with_name("templates")

DETAIL_CUSTOMER_NAME = "customer_name"
DETAIL_CUSTOMER_LEVEL = "customer_level"
DETAIL_ACCOUNT_MANAGER = "account_manager"
DETAIL_SERVICE = "service"
DETAIL_A_END = "a_end"
DETAIL_Z_END = "z_end"
DETAIL_DEADLINE = "deadline"
DETAIL_DEADLINE_KIND = "deadline_kind"
DETAIL_TICKET_STAGE = "ticket_stage"
DETAILS = (DETAIL_CUSTOMER_NAME, DETAIL_CUSTOMER_LEVEL, DETAIL_ACCOUNT_MANAGER, DETAIL_SERVICE, DETAIL_A_END,
           DETAIL_Z_END, DETAIL_DEADLINE, DETAIL_DEADLINE_KIND, DETAIL_TICKET_STAGE)
"""Every ``NoticeAlert.details`` key a message reads (see the module docstring)."""

DEADLINE_KINDS: Mapping[str, str] = {
    "DispatchOverdue": "dispatch",
    "AcceptOverdue": "accept",
    "RestoreWarning": "restore",
    "RestoreBreached": "restore",
    "RestoreEscalation": "restore",
    "ConfirmOverdue": "confirm",
    "FaultReportOverdue": "report",
}
"""The deadline kind of the shipped rules' alert names, for alerts whose details do not say."""

OPERATOR_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Span:
    """A length of time as a message says it: whole days, hours and minutes (seconds dropped)."""

    days: int
    hours: int
    minutes: int

    @classmethod
    def of(cls, length: timedelta) -> Span:
        """The span of a non-negative ``length``."""
        minutes = max(0, int(length.total_seconds() // 60))
        return cls(minutes // 1440, minutes % 1440 // 60, minutes % 60)

    @property
    def total_minutes(self) -> int:
        """The whole span in minutes."""
        return self.days * 1440 + self.hours * 60 + self.minutes


@dataclass(frozen=True)
class AlertView:
    """One alert as the templates see it: its labels and details read, times local, lengths as spans."""

    index: int  # its place in the notice
    name: str
    firing: bool
    labels: Mapping[str, str]
    circuit: str
    customer: str
    customer_name: str
    customer_level: str
    account_manager: str
    sla_class: str
    severity: str
    service: str
    a_end: str
    z_end: str
    ticket: str
    ticket_stage: str
    step: str
    percent: str
    month: str
    previous_ticket: str
    deadline_kind: str
    deadline: str  # local time, "" when unknown
    overdue: Span | None  # past the deadline by this much (at the notice, or at the resolve instant)
    remaining: Span | None  # before the deadline by this much
    fired_at: str
    resolved_at: str
    lasted: Span  # from firing to the notice (firing) or to the resolve instant (resolved)
    links: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    """A notice rendered: the subject, plain text and HTML bodies, and per alert a summary line and a block."""

    lang: str
    subject: str
    text: str
    html: str
    summaries: tuple[str, ...]  # one per notice alert, in the notice's order
    descriptions: tuple[str, ...]


@cache
def _environment() -> jinja2.Environment:
    # Autoescape for .html only: customer names come from files others edit. Text templates stay raw.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)


def build_links(labels: Mapping[str, str], external_url: str, links: Mapping[str, str]) -> dict[str, str]:
    """Each link whose ``{label}`` fields the alert has, with the values URL-quoted.

    Relative patterns join ``external_url``; without it only absolute patterns make links.
    """
    out: dict[str, str] = {}
    for name, pattern in links.items():
        fields = [f for _, f, _, _ in Formatter().parse(pattern) if f is not None]
        if not all(labels.get(f) for f in fields):
            continue
        url = pattern.format(**{f: quote(labels[f], safe="") for f in fields})
        if url.startswith("/"):
            if not external_url:
                continue
            url = external_url + url
        out[name] = url
    return out


class Messages:
    """Renders notices in one language, in the operator's zone, with links under ``external_url``."""

    def __init__(self, lang: str = LANGUAGES[0], external_url: str = "", links: Mapping[str, str] = DEFAULT_LINKS,
                 tz: ZoneInfo = OPERATOR_TZ) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"no messages in {lang!r} (expected one of {', '.join(LANGUAGES)})")
        self.lang = lang
        self.external_url = external_url.rstrip("/")
        self.links = dict(links)
        self.tz = tz

    def local(self, at: datetime) -> str:
        """An instant in the operator's local time, to the minute."""
        return at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")

    def view(self, alert: NoticeAlert, at: datetime, index: int = 0) -> AlertView:
        """What the templates show of ``alert`` in a notice made at ``at``."""
        labels, details = alert.labels, alert.details
        firing = alert.state is NoticeState.FIRING
        until = at if firing or alert.resolved_at is None else alert.resolved_at
        deadline = _instant(details.get(DETAIL_DEADLINE, ""))
        overdue = remaining = None
        if deadline is not None:
            overdue, remaining = (Span.of(until - deadline), None) if until >= deadline else (None,
                                                                                             Span.of(deadline - until))
        return AlertView(
            index=index, name=alert.name, firing=firing, labels=labels,
            circuit=labels.get("circuit", ""), customer=labels.get("customer", ""),
            customer_name=details.get(DETAIL_CUSTOMER_NAME, ""), customer_level=details.get(DETAIL_CUSTOMER_LEVEL, ""),
            account_manager=details.get(DETAIL_ACCOUNT_MANAGER, ""),
            sla_class=labels.get("sla_class", ""), severity=labels.get("severity", ""),
            service=details.get(DETAIL_SERVICE, ""), a_end=details.get(DETAIL_A_END, ""),
            z_end=details.get(DETAIL_Z_END, ""),
            ticket=labels.get("ticket", ""), ticket_stage=details.get(DETAIL_TICKET_STAGE, ""),
            step=labels.get("step", ""), percent=labels.get("percent", ""), month=labels.get("month", ""),
            previous_ticket=labels.get("previous_ticket", ""),
            deadline_kind=details.get(DETAIL_DEADLINE_KIND) or DEADLINE_KINDS.get(alert.name, ""),
            deadline=self.local(deadline) if deadline else "", overdue=overdue, remaining=remaining,
            fired_at=self.local(alert.fired_at),
            resolved_at=self.local(alert.resolved_at) if alert.resolved_at else "",
            lasted=Span.of(until - alert.fired_at),
            links=build_links(labels, self.external_url, self.links))

    def render(self, notice: Notice) -> Message:
        """The notice's subject, bodies and per-alert lines."""
        env = _environment()
        views = [self.view(a, notice.at, i) for i, a in enumerate(notice.alerts)]
        context: dict[str, Any] = {
            "notice": notice, "alerts": views, "firing": [v for v in views if v.firing],
            "resolved": [v for v in views if not v.firing], "at": self.local(notice.at),
            "zone": self.tz.key, "zone_offset": _offset(notice.at.astimezone(self.tz)),
            "person": notice.person, "external_url": self.external_url,
        }
        alert_module: Any = env.get_template(f"{self.lang}/alert.txt").make_module(context)
        # The HTML template shows these as plain strings, so that it escapes them: a text macro called from an
        # autoescaping template would have its output marked safe unescaped.
        context["texts"] = [{"title": str(alert_module.title(v)), "customer": str(alert_module.customer(v)),
                             "what": str(alert_module.what(v)).strip(), "lasted": str(alert_module.span(v.lasted))}
                            for v in views]
        return Message(
            lang=self.lang,
            subject=" ".join(env.get_template(f"{self.lang}/subject.txt").render(context).split()),
            text=env.get_template(f"{self.lang}/body.txt").render(context).strip() + "\n",
            html=env.get_template(f"{self.lang}/body.html").render(context),
            summaries=tuple(str(alert_module.summary(v)).strip() for v in views),
            descriptions=tuple(str(alert_module.block(v)).strip() for v in views))


def _instant(text: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    return at if at is not None and at.tzinfo is not None else None


def _offset(at: datetime) -> str:
    minutes = int((at.utcoffset() or timedelta(0)).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
