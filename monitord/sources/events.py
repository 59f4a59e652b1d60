"""The event shape shared by `monitord evaluate`, the ticket API and storage: JSON objects <-> domain events.

Every event has ``at`` (ISO 8601 with a UTC offset) and ``type``. Ticket events
carry ``ticket`` (and ``circuit`` plus ``source`` on ``reported``, ``reason`` on
``paused``); monitoring observations (``down``, ``up``) carry ``circuit``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from monitord.domain import Event, Observation, ObservationType, TicketEvent, TicketEventType, TicketSource

_TICKET_TYPES = {t.value for t in TicketEventType}
_OBS_TYPES = {t.value for t in ObservationType}


class EventError(ValueError):
    """An event object that is not of the documented shape; the message names the field."""


def _text(obj: dict[str, Any], key: str) -> str:
    v = obj.get(key)
    if not isinstance(v, str) or not v:
        raise EventError(f"`{key}` must be a non-empty string")
    return v


def parse_instant(value: Any, key: str = "at") -> datetime:
    """An ISO 8601 instant that must carry its UTC offset."""
    if not isinstance(value, str):
        raise EventError(f"`{key}` must be an ISO 8601 time with offset, got {value!r}")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise EventError(f"`{key}` is not an ISO 8601 time: {value!r}") from None
    if at.tzinfo is None:
        raise EventError(f"`{key}` has no UTC offset: {value!r} (write e.g. +08:00)")
    return at


def parse_event(obj: Any) -> Event:
    """A JSON object -> a domain event; raises ``EventError`` naming what is wrong."""
    if not isinstance(obj, dict):
        raise EventError("an event must be a JSON object")
    at = parse_instant(obj.get("at"))
    kind = obj.get("type")
    if kind in _OBS_TYPES:
        return Observation(at, ObservationType(kind), _text(obj, "circuit"))
    if kind not in _TICKET_TYPES:
        allowed = ", ".join(sorted(_TICKET_TYPES | _OBS_TYPES))
        raise EventError(f"unknown event type {kind!r} (expected one of: {allowed})")
    etype = TicketEventType(kind)
    ticket = _text(obj, "ticket")
    if etype is TicketEventType.REPORTED:
        source = obj.get("source", "customer")
        if source not in TicketSource._value2member_map_:
            raise EventError(f"`source` must be one of customer, account_manager, monitoring; got {source!r}")
        return TicketEvent(at, etype, ticket, circuit=_text(obj, "circuit"), source=TicketSource(source))
    reason = obj.get("reason", "")
    if not isinstance(reason, str):
        raise EventError("`reason` must be a string")
    return TicketEvent(at, etype, ticket, reason=reason)


def event_to_dict(event: Event) -> dict[str, str]:
    """A domain event -> its JSON object (the inverse of ``parse_event``)."""
    out: dict[str, str] = {"at": event.at.isoformat(), "type": event.type.value}
    if isinstance(event, Observation):
        out["circuit"] = event.circuit
        return out
    out["ticket"] = event.ticket
    if event.circuit:
        out["circuit"] = event.circuit
    if event.source is not None:
        out["source"] = event.source.value
    if event.reason:
        out["reason"] = event.reason
    return out


@dataclass(frozen=True)
class LineError:
    """A bad line of an events file."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def read_jsonl(path: Path | str) -> tuple[list[tuple[int, Event]], list[LineError]]:
    """Every event of a JSON Lines file with its line number, and every bad line."""
    name = str(path)
    with open(path, encoding="utf-8") as fh:
        return parse_lines(fh, name)


def parse_lines(lines: Iterable[str], name: str) -> tuple[list[tuple[int, Event]], list[LineError]]:
    """Parse JSON Lines text (blank lines skipped)."""
    events: list[tuple[int, Event]] = []
    errors: list[LineError] = []
    for n, line in _numbered(lines):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(LineError(name, n, f"not valid JSON: {exc.msg}"))
            continue
        try:
            events.append((n, parse_event(obj)))
        except EventError as exc:
            errors.append(LineError(name, n, str(exc)))
    return events, errors


def _numbered(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    for n, line in enumerate(lines, 1):
        if line.strip():
            yield n, line
