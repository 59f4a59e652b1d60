"""Repeat faults: a second SLA-affecting fault on a circuit within the class window of the previous one."""

from __future__ import annotations

import calendar as _cal
import itertools
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from monitord.domain import Ticket


def add_months(instant: datetime, months: int, tz: ZoneInfo) -> datetime:
    """The same local wall time ``months`` calendar months later (day clamped to the month's end)."""
    local = instant.astimezone(tz)
    total = local.month - 1 + months
    year, month = local.year + total // 12, total % 12 + 1
    day = min(local.day, _cal.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


def repeat_faults(
    tickets: Sequence[Ticket], window_months: int, tz: ZoneInfo, counts_customer_caused: bool
) -> list[tuple[Ticket, Ticket]]:
    """``(repeat, previous)`` pairs: each SLA-affecting ticket reported within the window of the one before.

    ``tickets`` are one circuit's tickets in any order; customer-caused ones
    are not SLA-affecting unless ``counts_customer_caused``.
    """
    affecting = sorted(
        (t for t in tickets if counts_customer_caused or not t.customer_caused), key=lambda t: (t.reported, t.id)
    )
    return [
        (cur, prev)
        for prev, cur in itertools.pairwise(affecting)
        if cur.reported < add_months(prev.reported, window_months, tz)
    ]
