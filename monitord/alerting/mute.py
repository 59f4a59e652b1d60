"""Muting: whether an alert is kept quiet at an instant, and why. Silences, maintenance windows, inhibition.

One protocol, ``Muter.mutes(labels, at)``, answers with the reason or None.
The labels are the ones the alert is routed on (``route.route_labels``: its
own plus ``alertname``). The dispatcher asks when it flushes a group, so
every implementation answers in a few dictionary look-ups per alert, not in
a scan of all silences, windows or firing alerts. Time is always an input.

- ``Silences``: Alertmanager's silences. A silence mutes an alert when every
  matcher holds (a missing label is "") and ``starts_at <= at < ends_at``.
- ``MaintenanceMuter``: an alert of a circuit inside a maintenance window of
  that circuit or of the device it is monitored on, and an alert of a device
  (``DeviceUnreachable``) inside a window of that device.
- ``Inhibitor``: Alertmanager's ``inhibit_rules``. While an alert matching a
  rule's source matchers fires, alerts matching its target matchers with the
  same values of the ``equal`` labels are muted. An alert that matches both
  sides is not muted by alerts that also match both (so a rule cannot make
  alerts mute each other).
- ``Muters``: asks each muter in turn; the first reason wins.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from monitord.config.alerting import InhibitRuleSettings, Matcher, MatchOp, parse_matcher
from monitord.domain import Inventory, MaintenanceWindow, Recurrence, Silence
from monitord.maintenance import WEEKDAYS, WindowIndex


class Muter(Protocol):
    """Something that may mute an alert."""

    def mutes(self, labels: Mapping[str, str], at: datetime) -> str | None:
        """Why the alert with these labels is muted at ``at``; None when it is not."""
        ...


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    """Matcher strings -> Matchers; raises ``ValueError`` naming the first bad one."""
    out = []
    for text in texts:
        parsed = parse_matcher(text)
        if isinstance(parsed, str):
            raise ValueError(parsed)
        out.append(parsed)
    return tuple(out)


def silence_problem(matchers: Sequence[Matcher]) -> str | None:
    """Why matchers cannot make a silence (Alertmanager's rule), or None.

    At least one matcher must fail on the empty value: a silence whose every
    matcher also matches a missing label would mute nearly every alert.
    """
    if not matchers:
        return "a silence needs at least one matcher"
    if all(m.test("") for m in matchers):
        return 'at least one matcher must not match an empty value (e.g. alertname="CircuitDown")'
    return None


# silences ---------------------------------------------------------------------


class _Compiled:
    __slots__ = ("key", "matchers", "silence")

    def __init__(self, silence: Silence) -> None:
        self.silence = silence
        self.matchers = parse_matchers(silence.matchers)
        self.key: tuple[str, str] | None = None  # the label and value it is filed under


class Silences:
    """A set of silences, indexed so that one alert is tested only against silences that could match it.

    A silence with ``=`` matchers on non-empty values is filed under one of
    them, the one whose file is the smallest then (so a thousand silences of
    ``alertname="CircuitDown", circuit="K.."`` end up one per circuit, not all
    under the alert name); an alert looks up each of its own labels. Only
    silences without such a matcher are tried on every alert.
    """

    def __init__(self, silences: Iterable[Silence] = ()) -> None:
        self._by_id: dict[str, _Compiled] = {}
        self._filed: dict[tuple[str, str], dict[str, _Compiled]] = defaultdict(dict)
        self._loose: dict[str, _Compiled] = {}
        for s in silences:
            self.put(s)

    def put(self, silence: Silence) -> None:
        """Add a silence, or replace the one with its id (an expiry is a replacement with an earlier end).

        Raises ``ValueError`` for a matcher that does not parse.
        """
        compiled = _Compiled(silence)
        self.drop(silence.id)
        self._by_id[silence.id] = compiled
        keys = [(m.name, m.value) for m in compiled.matchers if m.op is MatchOp.EQUAL and m.value]
        if not keys:
            self._loose[silence.id] = compiled
        else:
            compiled.key = min(keys, key=lambda k: len(self._filed.get(k, ())))
            self._filed[compiled.key][silence.id] = compiled

    def drop(self, silence_id: str) -> None:
        """Forget a silence (nothing happens for an unknown id)."""
        old = self._by_id.pop(silence_id, None)
        if old is None:
            return
        self._loose.pop(silence_id, None)
        if (key := old.key) is not None:
            self._filed[key].pop(silence_id, None)
            if not self._filed[key]:
                del self._filed[key]

    def prune(self, before: datetime) -> None:
        """Forget the silences that ended before ``before``: they cannot mute anything from then on."""
        for sid in [sid for sid, c in self._by_id.items() if c.silence.ends_at < before]:
            self.drop(sid)

    def __len__(self) -> int:
        return len(self._by_id)

    def mutes(self, labels: Mapping[str, str], at: datetime) -> str | None:
        """The first (by id) active silence whose matchers all hold, as a reason; None when none does."""
        candidates = list(self._loose.values())
        for item in labels.items():
            if (filed := self._filed.get(item)) is not None:
                candidates.extend(filed.values())
        found = [c.silence for c in candidates
                 if c.silence.starts_at <= at < c.silence.ends_at
                 and all(m.test(labels.get(m.name, "")) for m in c.matchers)]
        if not found:
            return None
        s = min(found, key=lambda x: x.id)  # several may match; the answer must not depend on set order
        return f"silenced by {s.id} ({s.created_by}: {s.comment})"


# maintenance windows ------------------------------------------------------------


class MaintenanceMuter:
    """Mutes alerts of circuits and devices inside their announced maintenance windows.

    An alert is a circuit's by its ``circuit`` label (the circuit's device is
    taken from the inventory) and a device's by its ``device`` label.
    """

    def __init__(self, inventory: Inventory, tz: ZoneInfo) -> None:
        self.index = WindowIndex(inventory, tz)
        self.tz = tz

    def mutes(self, labels: Mapping[str, str], at: datetime) -> str | None:
        """The covering window as a reason, or None."""
        cover = self.index.window(labels.get("circuit", ""), labels.get("device", ""), at)
        if cover is None:
            return None
        w = cover.window
        whose = f"circuit {w.circuit}" if w.circuit else f"device {w.device}"
        until = cover.end.astimezone(self.tz).isoformat()
        if isinstance(w, MaintenanceWindow):
            what = f"maintenance of {whose} until {until}"
        else:
            days = ", ".join(WEEKDAYS[d] if w.every is Recurrence.WEEKLY else str(d) for d in w.days)
            what = (f"{w.every.value} maintenance of {whose} ({days} at {w.at:%H:%M} for {_length(w.duration)}) "
                    f"until {until}")
        return f"{what}: {w.comment}" if w.comment else what


def _length(d: timedelta) -> str:
    """``4h``, ``1h30m``, ``2d``: a duration as the inventory writes it."""
    minutes = int(d.total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    parts = [f"{days}d" if days else "", f"{rest // 60}h" if rest // 60 else "", f"{rest % 60}m" if rest % 60 else ""]
    return "".join(parts) or f"{int(d.total_seconds())}s"


# inhibition ---------------------------------------------------------------------


class _Rule:
    """One inhibition rule at run time with the firing sources it knows, counted by their ``equal`` values."""

    __slots__ = ("equal", "name", "source", "sources", "sources_both", "target")

    def __init__(self, settings: InhibitRuleSettings) -> None:
        self.name = settings.key
        self.source = tuple((m.name, m.test) for m in settings.source_matchers)
        self.target = tuple((m.name, m.test) for m in settings.target_matchers)
        self.equal = settings.equal
        # equal-label values -> alertnames of the firing sources; and of those that also match the target
        # side (they cannot mute an alert that matches both sides either).
        self.sources: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
        self.sources_both: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)

    def key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(n, "") for n in self.equal)


def _holds(tests: Sequence[tuple[str, Callable[[str], object]]], labels: Mapping[str, str]) -> bool:
    return all(test(labels.get(name, "")) for name, test in tests)


class Inhibitor:
    """Mutes alerts that a firing alert inhibits under the configured ``inhibit_rules``.

    It keeps the set of firing alerts itself: give the alerts firing when it
    is built, then ``fired`` and ``resolved`` as they change, each with the
    labels it is routed on. ``at`` is not consulted: the set is the present.
    """

    def __init__(self, rules: Sequence[InhibitRuleSettings], firing: Iterable[Mapping[str, str]] = ()) -> None:
        self.rules = [_Rule(r) for r in rules]
        for labels in firing:
            self.fired(labels)

    def fired(self, labels: Mapping[str, str]) -> None:
        """An alert with these labels fires (from now on it may inhibit others)."""
        for r in self.rules:
            if _holds(r.source, labels):
                key, name = r.key(labels), labels.get("alertname", "")
                r.sources[key][name] += 1
                if _holds(r.target, labels):
                    r.sources_both[key][name] += 1

    def resolved(self, labels: Mapping[str, str]) -> None:
        """An alert with these labels no longer fires."""
        for r in self.rules:
            if _holds(r.source, labels):
                key, name = r.key(labels), labels.get("alertname", "")
                for counts in (r.sources, r.sources_both) if _holds(r.target, labels) else (r.sources,):
                    c = counts.get(key)
                    if c is None or c[name] <= 0:
                        continue  # never told it fired: nothing to take back
                    c[name] -= 1
                    if c[name] == 0:
                        del c[name]
                    if not c:
                        del counts[key]

    def mutes(self, labels: Mapping[str, str], at: datetime) -> str | None:
        """The first rule under which a firing alert inhibits this one, as a reason; None when none does."""
        for r in self.rules:
            if not r.sources or not _holds(r.target, labels):
                continue
            key = r.key(labels)
            found = r.sources.get(key)
            if not found:
                continue
            if _holds(r.source, labels):
                found = found - r.sources_both.get(key, Counter())  # only sources that are not targets too
                if not found:
                    continue
            equal = ", ".join(f'{n}="{v}"' for n, v in zip(r.equal, key, strict=True))
            return f"inhibited by {min(found)} ({r.name}" + (f"; {equal})" if equal else ")")
        return None


# together -----------------------------------------------------------------------


class Muters:
    """Several muters asked in turn; the first reason wins (so put the cheapest or most telling first)."""

    def __init__(self, *muters: Muter) -> None:
        self.muters = muters

    def mutes(self, labels: Mapping[str, str], at: datetime) -> str | None:
        """The first muter's reason, or None when none mutes the alert."""
        for m in self.muters:
            if (reason := m.mutes(labels, at)) is not None:
                return reason
        return None
