"""YAML documents that remember where each value came from, and the problems found in them.

Every loader of a user-written file (rules, config, inventory, rule tests)
reads through ``Section`` so that each error names ``file:line: key``. The
loaders collect every problem first and raise once, so a user sees all of
them in one run.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

Path_ = tuple[str | int, ...]
E = TypeVar("E", bound=Enum)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file, at a line, under a key."""

    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        key = f" {self.key}:" if self.key else ""
        return f"{self.file}:{self.line}:{key} {self.message}"


class InputError(Exception):
    """Raised when a file has problems; carries all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class Problems:
    """A collector of problems across one or more files."""

    items: list[Problem] = field(default_factory=list)

    def add(self, file: str, line: int, key: str, message: str) -> None:
        """Record a problem."""
        self.items.append(Problem(file, line, key, message))

    def raise_if_any(self) -> None:
        """Raise ``InputError`` with every problem recorded so far."""
        if self.items:
            raise InputError(sorted(self.items, key=lambda p: (p.file, p.line)))


@dataclass(frozen=True)
class WorkingDays:
    """A limit counted in working days: due at the end of the N-th working day after its start day."""

    days: int

    def __str__(self) -> str:
        return f"{self.days}wd"


Limit = timedelta | WorkingDays

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_WORKING_DAYS = re.compile(r"^(\d+)wd$")
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)\s*%$")
_MONTHS = re.compile(r"^(\d+)\s*(?:mo|months?)$")


def parse_duration(text: str) -> timedelta | None:
    """``"1h30m"`` -> timedelta; None when the text is not a duration."""
    m = _DURATION.match(text.strip())
    if not m or not any(m.groups()):
        return None
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


def format_path(path: Path_) -> str:
    """``("classes", "AAA", "limits", 0)`` -> ``classes.AAA.limits[0]``."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _load_nodes(text: str, file: str, problems: Problems) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML text into plain values plus the line of every path."""
    lines: dict[Path_, int] = {}
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark, ctx = exc.problem_mark, exc.context_mark
        where = f" ({exc.context} at line {ctx.line + 1})" if exc.context and ctx else ""
        problems.add(file, (mark.line + 1) if mark else 1, "", f"not valid YAML: {exc.problem}{where}")
        return None, lines
    except yaml.YAMLError as exc:
        problems.add(file, 1, "", f"not valid YAML: {exc}")
        return None, lines
    finally:
        loader.dispose()

    def walk(node: yaml.Node | None, path: Path_) -> Any:
        if node is None:
            return None
        # A mapping entry is located at its key's line (set by the parent), which is
        # where a user looks for `key:` even when the value is a block below it.
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for knode, vnode in node.value:
                key = str(loader.construct_object(knode, deep=True))
                if key in out:
                    problems.add(file, knode.start_mark.line + 1, format_path((*path, key)), "duplicate key")
                lines[(*path, key)] = knode.start_mark.line + 1
                out[key] = walk(vnode, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [walk(v, (*path, i)) for i, v in enumerate(node.value)]
        return loader.construct_object(node, deep=True)

    return walk(root, ()), lines


MISSING: Any = object()


@dataclass
class Section:
    """A value at a path in a YAML file, with typed readers that record problems.

    Each reader returns None (and records a problem) when the value is wrong, so
    a loader can keep going and report everything at once.
    """

    file: str
    path: Path_
    value: Any
    lines: dict[Path_, int]
    problems: Problems

    @classmethod
    def load(cls, path: Path | str, problems: Problems, display: str | None = None) -> Section:
        """Read a YAML file; an unreadable or unparsable file is recorded as a problem."""
        name = display or str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            problems.add(name, 0, "", f"cannot read: {exc.strerror}")
            return cls(name, (), None, {}, problems)
        value, lines = _load_nodes(text, name, problems)
        return cls(name, (), value, lines, problems)

    @classmethod
    def parse(cls, text: str, name: str, problems: Problems) -> Section:
        """Parse YAML text held in memory."""
        value, lines = _load_nodes(text, name, problems)
        return cls(name, (), value, lines, problems)

    # where ------------------------------------------------------------------
    @property
    def line(self) -> int:
        """The line this value starts on (the nearest enclosing one if unknown)."""
        p = self.path
        while p and p not in self.lines:
            p = p[:-1]
        return self.lines.get(p, 1)

    @property
    def key(self) -> str:
        """This value's path as users write it."""
        return format_path(self.path)

    def error(self, message: str) -> None:
        """Record a problem at this value."""
        self.problems.add(self.file, self.line, self.key, message)

    def child(self, key: str | int, value: Any) -> Section:
        """The section for a value below this one."""
        return Section(self.file, (*self.path, key), value, self.lines, self.problems)

    # structure --------------------------------------------------------------
    def is_mapping(self) -> bool:
        """Whether the value is a mapping."""
        return isinstance(self.value, dict)

    def mapping(self) -> dict[str, Section] | None:
        """The value as a mapping of sections, or None (recorded) when it is not one."""
        if self.value is None:
            return {}
        if not isinstance(self.value, dict):
            self.error(f"expected a mapping, got {_show(self.value)}")
            return None
        return {k: self.child(k, v) for k, v in self.value.items()}

    def items(self) -> Iterator[tuple[str, Section]]:
        """The entries of a mapping (none if it is not one)."""
        yield from (self.mapping() or {}).items()

    def entries(self) -> list[Section]:
        """The value as a list of sections ([] and recorded when it is not a list)."""
        if self.value is None:
            return []
        if not isinstance(self.value, list):
            self.error(f"expected a list, got {_show(self.value)}")
            return []
        return [self.child(i, v) for i, v in enumerate(self.value)]

    def get(self, key: str, required: bool = False) -> Section | None:
        """The entry ``key`` of a mapping; None when absent (recorded if required)."""
        if not isinstance(self.value, dict):
            if required:
                self.error(f"expected a mapping with {key!r}, got {_show(self.value)}")
            return None
        if key not in self.value:
            if required:
                self.error(f"missing required key {key!r}")
            return None
        return self.child(key, self.value[key])

    def only(self, *allowed: str) -> None:
        """Record every key of this mapping that is not one of ``allowed``."""
        if isinstance(self.value, dict):
            for k in self.value:
                if k not in allowed:
                    self.child(k, None).error(f"unknown key (expected one of: {', '.join(allowed)})")

    # scalars ----------------------------------------------------------------
    def text(self) -> str | None:
        """A non-empty string (numbers are taken as their text)."""
        v = self.value
        if isinstance(v, bool) or v is None or isinstance(v, (dict, list)):
            self.error(f"expected a string, got {_show(v)}")
            return None
        text = str(v)
        if not text:
            self.error("expected a non-empty string")
            return None
        return text

    def flag(self) -> bool | None:
        """A boolean."""
        if not isinstance(self.value, bool):
            self.error(f"expected true or false, got {_show(self.value)}")
            return None
        return self.value

    def integer(self, minimum: int | None = None) -> int | None:
        """An integer, optionally at least ``minimum``."""
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int):
            self.error(f"expected an integer, got {_show(v)}")
            return None
        if minimum is not None and v < minimum:
            self.error(f"expected an integer >= {minimum}, got {v}")
            return None
        return v

    def duration(self) -> timedelta | None:
        """A duration like ``15m``, ``1h30m``, ``2h``, ``90s`` or ``1d``."""
        d = parse_duration(str(self.value)) if isinstance(self.value, str) else None
        if d is None:
            self.error(f'expected a duration like "60m", got {_show(self.value)}')
        return d

    def limit(self) -> Limit | None:
        """A duration, or a number of working days like ``2wd``."""
        if isinstance(self.value, str):
            m = _WORKING_DAYS.match(self.value.strip())
            if m:
                return WorkingDays(int(m.group(1)))
            d = parse_duration(self.value)
            if d is not None:
                return d
        self.error(f'expected a duration like "60m" or working days like "2wd", got {_show(self.value)}')
        return None

    def months(self) -> int | None:
        """A number of calendar months like ``3mo`` or ``3 months``."""
        m = _MONTHS.match(self.value.strip()) if isinstance(self.value, str) else None
        if not m or int(m.group(1)) < 1:
            self.error(f'expected calendar months like "3mo", got {_show(self.value)}')
            return None
        return int(m.group(1))

    def percent(self) -> float | None:
        """A percentage like ``99.95%`` as a ratio (0.9995)."""
        m = _PERCENT.match(self.value.strip()) if isinstance(self.value, str) else None
        if not m or not 0 <= float(m.group(1)) <= 100:
            self.error(f'expected a percentage like "99.95%", got {_show(self.value)}')
            return None
        return round(float(m.group(1)) / 100, 12)

    def enum(self, kind: type[E]) -> E | None:
        """One of an enum's values."""
        try:
            return kind(str(self.value))
        except ValueError:
            allowed = ", ".join(str(m.value) for m in kind)
            self.error(f"expected one of {allowed}, got {_show(self.value)}")
            return None

    def timezone(self) -> ZoneInfo | None:
        """An IANA time zone name like ``Asia/Shanghai``."""
        name = self.text()
        if name is None:
            return None
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.error(f'unknown time zone "{name}" (expected an IANA name like Asia/Shanghai)')
            return None

    def date(self) -> date | None:
        """A calendar date ``YYYY-MM-DD``."""
        v = self.value
        if isinstance(v, date) and not isinstance(v, datetime):
            return v
        if isinstance(v, str):
            try:
                return date.fromisoformat(v)
            except ValueError:
                pass
        self.error(f"expected a date like 2026-10-01, got {_show(v)}")
        return None

    def instant(self) -> datetime | None:
        """An ISO 8601 instant with its UTC offset."""
        v = self.value
        if isinstance(v, str):
            with contextlib.suppress(ValueError):
                v = datetime.fromisoformat(v)
        if isinstance(v, datetime):
            if v.tzinfo is None:
                self.error(f"time {self.value!s} has no UTC offset (write e.g. +08:00)")
                return None
            return v
        self.error(f"expected an ISO 8601 time with offset, got {_show(self.value)}")
        return None


def _show(value: Any) -> str:
    """A value as it would be quoted in an error."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
