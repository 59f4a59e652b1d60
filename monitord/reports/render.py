"""The reports in their formats: JSON, CSV (one row per circuit), HTML (Jinja2) and plain text.

Every renderer takes a report built by ``reports.monthly`` or ``reports.fault``
and computes no figure of its own: it only formats, so every format shows
the same numbers.

CSV columns of the monthly report, one row per circuit, in this order:

==========================  ================================================================
``month``                   the report's month, ``2026-10``
``customer``                customer id
``customer_name``           customer name
``circuit``                 operator circuit code
``service``                 service type (``sdh``, ``mpls_vpn``, ...)
``vpn``                     ``true`` when the circuit takes VPN limits
``sla_class``               AAA, AA, A, I, II, III or ordinary
``tier``                    commitment, maintenance or quality
``target``                  availability target as a ratio (``0.9999``)
``availability``            achieved availability as a ratio, 9 decimals
``downtime_seconds``        SLA downtime in the month (up to the report's instant)
``budget_seconds``          the month's downtime budget, (1 - target) x length of the month
``budget_left_seconds``     budget minus downtime (negative once overspent)
``met``                     ``true`` when downtime is within the budget
``maintenance_seconds``     announced maintenance in the month (excluded from downtime)
``faults``                  faults reported in the month
``carried_over_faults``     faults reported earlier whose outage runs into the month
``restore_limit``           the restoration limit as the rules write it (``60m``)
``K_met, K_breached,        for each deadline kind K of the rules, in their order (dispatch,
K_pending``                 accept, restore, confirm, report): that kind's limits of the month's faults
``repeat_faults``           repeat faults reported in the month
``credit_share``            compensation due as a share of the monthly fee (empty: no credit table)
``credit_capped``           ``true`` when the class's maximum credit capped it
``credit_basis``            ``example table; per the contract`` or ``per the contract``
==========================  ================================================================
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from monitord.reports.fault import FaultLine, FaultReport, LimitLine
from monitord.reports.i18n import LANGUAGES, Text
from monitord.reports.monthly import CircuitMonth, Compliance, CustomerMonth, MonthlyReport
from monitord.sla.compensation import Credit
from monitord.yamldoc import Limit, WorkingDays

TEMPLATES = Path(__file__).with_name("templates")


# --------------------------------------------------------------------------- JSON


def _iso(x: datetime | None, report_tz: Any) -> str | None:
    return None if x is None else x.astimezone(report_tz).isoformat()


def limit_text(limit: Limit | None) -> str | None:
    """A limit as the rules write it: ``60m``, ``1h30m``, ``2wd``."""
    if limit is None:
        return None
    if isinstance(limit, WorkingDays):
        return str(limit)
    assert isinstance(limit, timedelta)
    total = int(limit.total_seconds())
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0m"


def _limit_seconds(limit: Limit | None) -> float | None:
    return limit.total_seconds() if isinstance(limit, timedelta) else None


def _compliance_json(items: tuple[Compliance, ...]) -> list[dict[str, Any]]:
    return [{"kind": c.kind.value, "met": c.met, "breached": c.breached, "pending": c.pending,
             "share": None if c.share is None else round(c.share, 6)} for c in items]


def _limit_json(x: LimitLine, tz: Any) -> dict[str, Any]:
    return {"kind": x.kind.value, "limit": limit_text(x.limit), "limit_seconds": _limit_seconds(x.limit),
            "start": _iso(x.start, tz), "due": _iso(x.due, tz), "done_at": _iso(x.done_at, tz),
            "state": x.state.value, "elapsed_seconds": round(x.elapsed_seconds, 3)}


def fault_line_json(f: FaultLine, tz: Any, carried_over: bool = False) -> dict[str, Any]:
    """One fault as a JSON object."""
    return {
        "ticket": f.ticket, "circuit": f.circuit, "source": f.source.value,
        "reported": _iso(f.reported, tz), "clock_start": _iso(f.clock_start, tz),
        "restored": _iso(f.restored, tz), "closed": _iso(f.closed, tz),
        "customer_caused": f.customer_caused, "carried_over": carried_over,
        "held_seconds": round(f.held_seconds, 3), "restoration_seconds": round(f.restoration_seconds, 3),
        "outage_seconds": round(f.outage_seconds, 3), "repeat_of": f.repeat_of,
        "limits": [_limit_json(x, tz) for x in f.limits],
    }


def _credit_json(c: Credit | None, example: bool) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"tier_below": None if c.tier is None else c.tier.below,
            "availability_credit": c.availability_share, "missed_restorations": c.missed_restorations,
            "restoration_credit": round(c.restoration_share, 12), "total": c.total_share, "capped": c.capped,
            "per_contract": True, "example_table": example}


def _circuit_json(cm: CircuitMonth, report: MonthlyReport) -> dict[str, Any]:
    c, a, tz = cm.circuit, cm.availability, report.tz
    return {
        "circuit": c.id, "service": c.service, "vpn": c.vpn, "sla_class": c.sla_class.value, "tier": cm.tier.value,
        "a_end": c.a_end, "z_end": c.z_end,
        "target": a.target, "availability": round(a.availability, 9), "month_seconds": a.month_seconds,
        "downtime_seconds": round(a.downtime_seconds, 3), "budget_seconds": round(a.budget_seconds, 3),
        "budget_left_seconds": round(a.budget_left_seconds, 3), "met": a.met,
        "maintenance": [{"start": _iso(i.start, tz), "end": _iso(i.end, tz)} for i in cm.maintenance],
        "restore_limit": limit_text(cm.restore_limit), "restore_limit_seconds": _limit_seconds(cm.restore_limit),
        "faults": [fault_line_json(f, tz, f.ticket in cm.carried_over) for f in cm.faults],
        "repeats": [{"ticket": t, "previous_ticket": p} for t, p in cm.repeats],
        "repeat_window_months": cm.repeat_months,
        "compliance": _compliance_json(cm.compliance),
        "credit": _credit_json(cm.credit, report.compensation_example),
    }


def _customer_head(cust: CustomerMonth) -> dict[str, Any]:
    c = cust.customer
    am = c.account_manager
    return {"id": c.id, "name": c.name, "level": c.level.value,
            "account_manager": {"name": am.name, "email": am.email, "phone": am.phone}}


def monthly_json(report: MonthlyReport) -> dict[str, Any]:
    """The monthly report as one JSON document (times in the rules' zone, with offset)."""
    tz = report.tz
    return {
        "month": str(report.month), "at": _iso(report.at, tz), "start": _iso(report.start, tz),
        "end": _iso(report.end, tz), "complete": report.complete, "outage_basis": report.outage_basis.value,
        "compensation": {"per_contract": True, "example_table": report.compensation_example,
                         "note": report.compensation_note},
        "customers": [
            {**_customer_head(cust), "circuits_total": len(cust.circuits), "circuits_met": cust.circuits_met,
             "faults": cust.faults, "compliance": _compliance_json(cust.compliance),
             "circuits": [_circuit_json(cm, report) for cm in cust.circuits]}
            for cust in report.customers
        ],
    }


def fault_json(report: FaultReport) -> dict[str, Any]:
    """The fault report as one JSON document."""
    tz, c = report.tz, report.circuit
    line = report.report
    return {
        "at": _iso(report.at, tz),
        "customer": {"id": report.customer.id, "name": report.customer.name, "level": report.customer.level.value},
        "circuit": {"id": c.id, "service": c.service, "vpn": c.vpn, "sla_class": c.sla_class.value,
                    "tier": report.tier.value, "a_end": c.a_end, "z_end": c.z_end},
        "fault": fault_line_json(report.fault, tz),
        "timeline": [{"at": _iso(e.at, tz), "step": e.step} for e in report.timeline],
        "report": {"limit": limit_text(report.report_limit), "due": _iso(line.due if line else None, tz),
                   "sent": _iso(report.report_sent, tz), "state": line.state.value if line else None},
    }


# --------------------------------------------------------------------------- CSV


def csv_columns(report: MonthlyReport) -> list[str]:
    """The CSV header of a monthly report (see the module docstring)."""
    kinds = [f"{k.value}_{s}" for k in report.kinds for s in ("met", "breached", "pending")]
    return ["month", "customer", "customer_name", "circuit", "service", "vpn", "sla_class", "tier", "target",
            "availability", "downtime_seconds", "budget_seconds", "budget_left_seconds", "met",
            "maintenance_seconds", "faults", "carried_over_faults", "restore_limit", *kinds, "repeat_faults",
            "credit_share", "credit_capped", "credit_basis"]


def monthly_csv(report: MonthlyReport) -> str:
    """The monthly report as CSV, one row per circuit."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(csv_columns(report))
    basis = "example table; per the contract" if report.compensation_example else "per the contract"

    def flag(b: bool) -> str:
        return "true" if b else "false"

    for cust in report.customers:
        for cm in cust.circuits:
            c, a = cm.circuit, cm.availability
            by_kind = {x.kind: x for x in cm.compliance}
            counts = [n for k in report.kinds for n in (by_kind[k].met, by_kind[k].breached, by_kind[k].pending)]
            maint = sum(i.seconds for i in cm.maintenance)
            credit = cm.credit
            w.writerow([
                str(report.month), cust.customer.id, cust.customer.name, c.id, c.service, flag(c.vpn),
                c.sla_class.value, cm.tier.value, f"{a.target:g}", f"{a.availability:.9f}",
                f"{a.downtime_seconds:.3f}", f"{a.budget_seconds:.3f}", f"{a.budget_left_seconds:.3f}", flag(a.met),
                f"{maint:.3f}", len(cm.counted_faults), len(cm.carried_over), limit_text(cm.restore_limit) or "",
                *counts, len(cm.repeats),
                "" if credit is None else f"{credit.total_share:g}", "" if credit is None else flag(credit.capped),
                "" if credit is None else basis,
            ])
    return out.getvalue()


# --------------------------------------------------------------------------- chart


@dataclass(frozen=True, slots=True)
class Bar:
    """One circuit's bar: availability from the axis start, and a mark at its target."""

    label: str
    y: float
    width: float
    target_x: float
    value: str
    met: bool


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart of availability against target, as SVG geometry."""

    width: float
    height: float
    left: float  # x of the axis start (room for circuit codes on the left)
    plot_width: float
    bar_height: float
    top: float
    ticks: tuple[tuple[float, str], ...]  # (x, label) along the axis
    bars: tuple[Bar, ...]
    total: int  # circuits of the customer (bars may show fewer)


_AXIS_STARTS = (0.9999, 0.999, 0.995, 0.99, 0.98, 0.95, 0.9, 0.8, 0.5, 0.0)
MAX_BARS = 40
"""A chart shows at most this many circuits (those with the least margin); the table has them all."""


def availability_chart(circuits: tuple[CircuitMonth, ...], text: Text, max_bars: int = MAX_BARS) -> Chart:
    """The chart of one customer's circuits.

    Availabilities sit close to 100 %, so the axis starts at the highest round
    figure below every value and target (99.9 %, 99.5 %, ...) rather than at 0,
    with a margin so no target mark sits on the axis itself.
    """
    shown = list(circuits)
    if len(shown) > max_bars:
        shown = sorted(shown, key=lambda c: (c.availability.availability - c.availability.target, c.circuit.id))
        shown = shown[:max_bars]
    lowest = min((min(c.availability.availability, c.availability.target) for c in shown), default=1.0)
    lo = next(s for s in _AXIS_STARTS if s <= lowest - (1.0 - s) * 0.1 or s == 0.0)
    left, plot, bar_h, gap, top = 150.0, 520.0, 18.0, 10.0, 14.0

    def x(v: float) -> float:
        return left + plot * max(0.0, (v - lo)) / (1.0 - lo)

    bars = []
    for i, c in enumerate(shown):
        a = c.availability
        bars.append(Bar(c.circuit.id, top + i * (bar_h + gap), x(a.availability) - left, x(a.target),
                        text.pct(a.availability), a.met))
    ticks = tuple((x(lo + (1.0 - lo) * k / 5), text.pct(lo + (1.0 - lo) * k / 5, 4)) for k in range(6))
    height = top + len(shown) * (bar_h + gap) + 30.0
    return Chart(left + plot + 100.0, height, left, plot, bar_h, top, ticks, tuple(bars), len(circuits))


# --------------------------------------------------------------------------- HTML and text


@cache
def _env() -> jinja2.Environment:
    # Autoescape everything: customer names, circuit ends and notes come from files others edit.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              extensions=["jinja2.ext.do"], trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


def _text(lang: str, tz: Any) -> Text:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r} (expected one of: {', '.join(LANGUAGES)})")
    return Text(lang, tz)


def monthly_html(report: MonthlyReport, lang: str = LANGUAGES[0]) -> str:
    """The monthly report as one HTML page (a section per customer, each starting a printed page)."""
    t = _text(lang, report.tz)
    charts = [availability_chart(cust.circuits, t) for cust in report.customers]
    return _env().get_template("monthly.html").render(report=report, t=t, lang=lang,
                                                      sections=list(zip(report.customers, charts, strict=True)))


def fault_html(report: FaultReport, lang: str = LANGUAGES[0]) -> str:
    """The fault report as one HTML page."""
    t = _text(lang, report.tz)
    return _env().get_template("fault.html").render(r=report, f=report.fault, t=t, lang=lang,
                                                    status=_report_status(report, t))


def fault_text(report: FaultReport, lang: str = LANGUAGES[0]) -> str:
    """The fault report as plain text for a terminal."""
    t, f, c = _text(lang, report.tz), report.fault, report.circuit
    lines = [
        f"{t('fault_title')}  {f.ticket}",
        f"{t('customer')}: {report.customer.name} ({report.customer.id})",
        f"{t('circuit')}: {c.id}  {t('service.' + c.service)}  {t('sla_class')} {c.sla_class.value}"
        + (f"  {t('vpn')}" if c.vpn else ""),
        f"{t('source')}: {t('source.' + f.source.value)}",
        f"{t('as_of')}: {t.dt(report.at)}",
        "",
        f"{t('timeline')}:",
        *(f"  {t.dt(e.at)}  {t('step.' + e.step)}" for e in report.timeline),
        "",
        f"{t('restoration_time')}: {t.dur(f.restoration_seconds)}"
        + (f"  ({t('not_restored')})" if f.restored is None else "")
        + (f"  {t('held')}: {t.dur(f.held_seconds)}" if f.held_seconds else ""),
        f"{t('limits')}:",
    ]
    for x in f.limits:
        due = t.dt(x.due) if x.due else t("on_hold")
        lines.append(f"  {t('kind.' + x.kind.value)}: {t.limit(x.limit)}, {t('due')} {due}, "
                     f"{t('done')} {t.dt(x.done_at)}, {t('elapsed')} {t.dur(x.elapsed_seconds)} -> "
                     f"{t('state.' + x.state.value)}")
    if f.customer_caused:
        lines.append(f"  {t('customer_caused')}")
    if f.repeat_of:
        lines.append(f"{t('repeat_of')}: {f.repeat_of}")
    lines.append(_report_status(report, t))
    return "\n".join(lines) + "\n"


def _report_status(report: FaultReport, t: Text) -> str:
    line = report.report
    if report.report_limit is None:
        return t("report_none")
    if line is None:
        return t("report_waits", limit=t.limit(report.report_limit))
    sent = (f"{t('report_sent')}: {t.dt(line.done_at)}" if line.done_at else t("report_not_sent"))
    return f"{t('report_due')} {t.dt(line.due)}; {sent} -> {t('state.' + line.state.value)}"


def report_status(report: FaultReport, lang: str = LANGUAGES[0]) -> str:
    """One sentence on the fault report's own limit: due when, sent or not."""
    return _report_status(report, _text(lang, report.tz))


MONTHLY_FORMATS = ("json", "csv", "html")
"""What the monthly report is written as."""
FAULT_FORMATS = ("text", "json", "html")
"""What the fault report is written as."""
_MEDIA = {"json": "application/json", "csv": "text/csv", "html": "text/html", "text": "text/plain"}


def monthly(report: MonthlyReport, fmt: str, lang: str = LANGUAGES[0]) -> tuple[str, str]:
    """The monthly report written as ``fmt`` (one of ``MONTHLY_FORMATS``), with its media type."""
    if fmt == "json":
        text = json.dumps(monthly_json(report), ensure_ascii=False, indent=2) + "\n"
    elif fmt == "csv":
        text = monthly_csv(report)
    elif fmt == "html":
        text = monthly_html(report, lang)
    else:
        raise ValueError(f"format must be one of {', '.join(MONTHLY_FORMATS)}, got {fmt!r}")
    return text, _MEDIA[fmt]


def fault(report: FaultReport, fmt: str, lang: str = LANGUAGES[0]) -> tuple[str, str]:
    """The fault report written as ``fmt`` (one of ``FAULT_FORMATS``), with its media type."""
    if fmt == "json":
        text = json.dumps(fault_json(report), ensure_ascii=False, indent=2) + "\n"
    elif fmt == "html":
        text = fault_html(report, lang)
    elif fmt == "text":
        text = fault_text(report, lang)
    else:
        raise ValueError(f"format must be one of {', '.join(FAULT_FORMATS)}, got {fmt!r}")
    return text, _MEDIA[fmt]
