"""The offline evaluator: replay events through the engine and report the state at an instant.

`monitord evaluate` and `monitord test-rules` both run through ``evaluate``.
Events are replayed in time order (file order among equal instants), the
engine advanced to each event's instant before the event is taken, so every
alert fires at its own instant exactly as the daemon would fire it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from monitord.domain import Alert, Deadline, Event, Inventory, TicketEvent, TicketEventType
from monitord.engine import Engine
from monitord.sla.availability import Month, MonthAvailability, months_between
from monitord.sla.policy import SlaPolicy

from monitord.sla.alerts import SlaPlanner  # isort: skip
from monitord.sla.facts import Facts, FactError  # isort: skip


@dataclass(frozen=True)
class BadEvent:
    """An event that cannot be taken, with the position it came from."""

    position: int
    message: str


class EvaluationError(ValueError):
    """Events that cannot be replayed; carries every bad one."""

    def __init__(self, bad: list[BadEvent]) -> None:
        super().__init__("; ".join(f"{b.position}: {b.message}" for b in bad))
        self.bad = bad


@dataclass(frozen=True)
class Evaluation:
    """The state of every ticket, alert and circuit-month at one instant."""

    at: datetime
    deadlines: list[Deadline]
    alerts: list[Alert]
    availability: list[MonthAvailability]

    def to_json(self, tz: ZoneInfo) -> dict[str, Any]:
        """The documented JSON document of `monitord evaluate`."""

        def t(x: datetime | None) -> str | None:
            return None if x is None else x.astimezone(tz).isoformat()

        return {
            "at": t(self.at),
            "deadlines": [
                {"ticket": d.ticket, "circuit": d.circuit, "kind": d.kind.value, "due": t(d.due),
                 "state": d.state(self.at).value, "done_at": t(d.done_at), "start": t(d.start)}
                for d in self.deadlines
            ],
            "alerts": [
                {"name": a.name, "labels": a.labels, "fired_at": t(a.fired_at),
                 "resolved_at": t(a.resolved_at if a.resolved_at is not None and a.resolved_at <= self.at else None)}
                for a in self.alerts
            ],
            "availability": [
                {"circuit": m.circuit, "month": str(m.month), "target": m.target,
                 "availability": round(m.availability, 9), "downtime_seconds": round(m.downtime_seconds, 3),
                 "budget_seconds": round(m.budget_seconds, 3), "met": m.met,
                 "budget_left_seconds": round(m.budget_left_seconds, 3)}
                for m in self.availability
            ],
        }


def check_events(inventory: Inventory, events: Sequence[tuple[int, Event]]) -> list[BadEvent]:
    """Events that name an unknown circuit, or a ticket step with no report anywhere in the input."""
    reported = {e.ticket for _, e in events if isinstance(e, TicketEvent) and e.type is TicketEventType.REPORTED}
    bad = []
    for pos, e in events:
        circuit = getattr(e, "circuit", "")
        if circuit and circuit not in inventory.circuits:
            bad.append(BadEvent(pos, f"unknown circuit {circuit!r}"))
        elif isinstance(e, TicketEvent) and e.ticket not in reported:
            bad.append(BadEvent(pos, f"ticket {e.ticket!r} is never reported"))
    return bad


def evaluate(policy: SlaPolicy, inventory: Inventory, events: Sequence[tuple[int, Event]], at: datetime) -> Evaluation:
    """Replay ``events`` (each with its position, e.g. a line number) up to ``at``; raises ``EvaluationError``."""
    bad = check_events(inventory, events)
    if bad:
        raise EvaluationError(bad)
    facts = Facts(inventory)
    planner = SlaPlanner(policy, facts)
    engine = Engine(planner)
    timeline = sorted((e for e in events if e[1].at <= at), key=lambda pe: pe[1].at)
    for pos, event in timeline:
        engine.advance(event.at, before=True)
        try:
            subjects = facts.apply(event)
        except FactError as exc:
            bad.append(BadEvent(pos, str(exc)))
            continue
        engine.update(subjects, event.at)
    if bad:
        raise EvaluationError(bad)
    engine.advance(at)

    deadlines = [d for tid in facts.tickets for d in (c.deadline for c in planner.clocks(tid))]
    alerts = sorted(engine.history, key=lambda a: (a.fired_at, a.name, a.key.labels))
    first = min((e.at for _, e in timeline), default=at)
    months = months_between(Month.of(first, policy.tz), Month.of(at, policy.tz))
    availability = [planner.availability(cid, m, at) for cid in inventory.circuits for m in months]
    return Evaluation(at, deadlines, alerts, availability)


def fold_events(
    inventory: Inventory, events: Sequence[tuple[int, Event]], at: datetime
) -> tuple[Facts, list[BadEvent]]:
    """The facts of every event up to ``at``, taken in time order (input order on ties), and those not taken.

    What the reports read: the same facts the replay builds, without running the
    engine, since a report needs figures, not alert timing.
    """
    facts = Facts(inventory)
    bad: list[BadEvent] = []
    for pos, event in sorted((e for e in events if e[1].at <= at), key=lambda pe: pe[1].at):
        try:
            facts.load(event)
        except FactError as exc:
            bad.append(BadEvent(pos, str(exc)))
    return facts, bad
