"""Compensation: a circuit's month -> the credit due under its class's credit table in the rules.

The table (``rules/compensation.yaml``) gives, per class, availability tiers
(achieved availability below ``below`` earns ``credit`` of the monthly fee;
the deepest tier reached counts, tiers do not add up), a credit per missed
restoration limit, and a cap. The result is a share of the monthly fee: the
fee itself is in the customer's contract, not in monitord.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitord.sla.availability import MonthAvailability, budget_seconds
from monitord.sla.policy import ClassCredits, CreditTier


@dataclass(frozen=True, slots=True)
class Credit:
    """The credit one circuit earns in one month, as shares of its monthly fee."""

    tier: CreditTier | None  # the deepest availability tier reached; None: availability is above every tier
    availability_share: float
    missed_restorations: int
    restoration_share: float
    total_share: float  # the sum, capped at the class's ``max_credit``
    capped: bool


def tier_reached(credits: ClassCredits, availability: MonthAvailability) -> CreditTier | None:
    """The deepest tier whose ``below`` the month's availability falls under.

    Compared as downtime against that tier's budget, with the same rounding and
    tolerance as ``MonthAvailability.met``, so a circuit exactly at its target
    earns no credit and one a second over it does.
    """
    reached = None
    for tier in credits.availability:  # sorted by ``below``, highest first
        if availability.downtime_seconds > budget_seconds(tier.below, availability.month_seconds) + 1e-9:
            reached = tier
    return reached


def credit_due(credits: ClassCredits, availability: MonthAvailability, missed_restorations: int) -> Credit:
    """The credit for a month's availability and its count of missed restoration limits."""
    tier = tier_reached(credits, availability)
    avail_share = tier.credit if tier else 0.0
    restore_share = credits.per_missed_restoration * missed_restorations
    total = avail_share + restore_share
    capped = total > credits.max_credit + 1e-12
    return Credit(tier, avail_share, missed_restorations, restore_share,
                  round(min(total, credits.max_credit), 12), capped)
