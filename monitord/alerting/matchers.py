r"""Label matchers with Alertmanager's semantics: ``=``, ``!=``, ``=~``, ``!~``.

A missing label counts as the empty string, so ``team!="noc"`` matches an
alert without a ``team`` label and ``team=""`` matches exactly those. Regular
expressions are anchored at both ends (``severity=~"crit"`` does not match
``critical``), as Alertmanager anchors them with ``^(?:...)$``. They are
Python ``re`` patterns; the common RE2 syntax (classes, alternation,
repetition, a leading ``(?i)``) means the same in both. Inside a quoted value
``\"``, ``\\`` and ``\n`` are escapes and any other backslash is kept, so
``'ticket=~"MON-\d+"'`` is the regex ``MON-\d+``, as in Alertmanager.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
"""What a label name may be (Prometheus' classic label names)."""

# name, operator, then either a double-quoted value (with \" \\ \n escapes) or a bare one.
_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"]*?))\s*$', re.S)
_ESCAPE = re.compile(r'\\([n"\\])')


class MatchOp(enum.StrEnum):
    """How a matcher compares a label's value."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"  # the whole value matches the pattern
    NOT_REGEX = "!~"  # the whole value does not match the pattern


@dataclass(frozen=True)
class Matcher:
    """One condition on one label: ``name op value``; raises ``re.error`` for a bad regex."""

    name: str
    op: MatchOp
    value: str
    # The value's test, built once: the router calls it for every alert at every route it tries.
    test: Callable[[str], object] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        op = MatchOp(self.op)
        object.__setattr__(self, "op", op)
        test: Callable[[str], object]
        if op is MatchOp.EQUAL:
            test = self.value.__eq__
        elif op is MatchOp.NOT_EQUAL:
            test = self.value.__ne__
        else:
            # fullmatch: anchored at both ends, as Alertmanager's ^(?:...)$.
            fullmatch = re.compile(self.value).fullmatch
            test = fullmatch if op is MatchOp.REGEX else (lambda v: fullmatch(v) is None)
        object.__setattr__(self, "test", test)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher (a missing label is "")."""
        return bool(self.test(labels.get(self.name, "")))

    def __str__(self) -> str:
        value = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{value}"'


def parse_matcher(text: str) -> Matcher | str:
    """``'severity=~"critical|major"'`` -> Matcher; an error message when it is not one."""
    m = _MATCHER.match(text)
    if m is None:
        return f'expected a matcher like \'severity="critical"\' (=, !=, =~ or !~), got "{text}"'
    name, op, quoted, bare = m.groups()
    value = _ESCAPE.sub(lambda e: "\n" if e.group(1) == "n" else e.group(1), quoted) if quoted is not None else bare
    try:
        return Matcher(name, MatchOp(op), value)
    except re.error as exc:
        return f'bad regular expression "{value}": {exc}'

