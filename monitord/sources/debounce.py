"""Debouncing polled circuit states into monitoring observations, and device reachability.

A circuit counts as down after ``polls`` consecutive down polls, and its
outage then starts at the first of them (the instant monitoring first saw it
down). It counts as up again at the first up poll. An operator's shutdown
(admin down), an unknown interface and an unreachable device say nothing
about the circuit, so they neither confirm nor break a run of down polls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from monitord.domain import Observation, ObservationType
from monitord.sources.snmp import CircuitState


@dataclass(slots=True)
class _Track:
    downs: int = 0
    first_down: datetime | None = None
    down: bool = False  # what monitoring last reported: down (True) or up


@dataclass
class Debouncer:
    """Per circuit: successive polled states -> debounced `down` / `up` observations."""

    polls: int = 2
    _tracks: dict[str, _Track] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.polls < 1:
            raise ValueError(f"debounce needs at least 1 poll, got {self.polls}")

    def known_down(self, circuit: str) -> None:
        """Start a circuit as down (e.g. from the stored observations after a restart)."""
        self._tracks[circuit] = _Track(down=True)

    def observe(self, circuit: str, state: CircuitState, at: datetime) -> Observation | None:
        """Take one polled state; returns the observation it confirms, if any."""
        t = self._tracks.setdefault(circuit, _Track())
        if state is CircuitState.DOWN:
            t.downs += 1
            t.first_down = t.first_down or at
            if not t.down and t.downs >= self.polls:
                t.down = True
                return Observation(t.first_down, ObservationType.DOWN, circuit)
        elif state is CircuitState.UP:
            t.downs, t.first_down = 0, None
            if t.down:
                t.down = False
                return Observation(at, ObservationType.UP, circuit)
        return None


@dataclass
class Reachability:
    """Per device: the stretches during which it did not answer (for the DeviceUnreachable alert)."""

    spans: dict[str, list[tuple[datetime, datetime | None]]] = field(default_factory=dict)

    def observe(self, device: str, reachable: bool, at: datetime) -> bool:
        """Take one poll's outcome; True when it changed the device's state."""
        spans = self.spans.setdefault(device, [])
        open_ = bool(spans) and spans[-1][1] is None
        if not reachable and not open_:
            spans.append((at, None))
            return True
        if reachable and open_:
            spans[-1] = (spans[-1][0], at)
            return True
        return False
