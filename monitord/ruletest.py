"""`monitord test-rules`: unit tests for the SLA rules, in the spirit of `promtool test rules`.

A test file::

    rules: ..                 # optional, relative to this file (default: its parent directory)
    outage_basis: monitoring  # optional override of the rules' basis for this file
    inventory: {customers: [...], circuits: [...], maintenance: [...]}   # or a path to a YAML file
    tests:
      - name: AAA restoration breached at minute 60
        events:               # the `monitord evaluate` event shape, as YAML
          - {at: "2026-10-08T10:00:00+08:00", type: reported, ticket: T1, circuit: C1, source: customer}
        evaluate:
          - at: "2026-10-08T11:00:00+08:00"
            alerts:           # exactly the alerts FIRING at `at` ([] for none); labels given are compared
              - {name: RestoreBreached, labels: {ticket: T1}, fired_at: "2026-10-08T11:00:00+08:00"}
            fired:            # optional: each must be among the alerts fired at or before `at`
              - {name: RestoreWarning, labels: {percent: "50"}, resolved_at: "..."}
            not_fired:        # optional: none of these may be among the alerts fired at or before `at`
              - {name: DispatchOverdue, labels: {ticket: T1}}
            deadlines:        # each must match one deadline; only the fields given are compared
              - {ticket: T1, kind: restore, due: "2026-10-08T11:00:00+08:00", state: breached}
            availability:     # each must match one circuit-month; numbers within 1e-3
              - {circuit: C1, month: "2026-10", downtime_seconds: 3600, met: false}

The run prints one line per test and a diff for each failure, and exits 1 if
any failed (2 if a file itself is bad).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

import yaml

from monitord.calendar import CalendarCoverageError
from monitord.config import OutageBasis
from monitord.domain import Event, Inventory
from monitord.evaluate import EvaluationError, evaluate
from monitord.sla.policy import SlaPolicy, load_policy
from monitord.sources.events import EventError, parse_event, parse_instant
from monitord.sources.inventory import inventory_from, load_inventory
from monitord.yamldoc import InputError, Problems, Section

_ALERT_FIELDS = ("name", "labels", "fired_at", "resolved_at")
_DEADLINE_FIELDS = ("ticket", "circuit", "kind", "due", "state", "done_at", "start")
_AVAIL_FIELDS = ("circuit", "month", "target", "availability", "downtime_seconds", "budget_seconds", "met",
                 "budget_left_seconds")


@dataclass
class Check:
    """One instant of one test and what is expected there."""

    at: datetime
    expected: dict[str, list[dict[str, Any]]]  # alerts / fired / deadlines / availability
    line: int


@dataclass
class Case:
    """One named test: events and the checks to run on them."""

    name: str
    events: list[tuple[int, Event]]
    checks: list[Check]


def _plain(value: Any) -> Any:
    """YAML values as the JSON document would hold them (times as ISO text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _entries(sec: Section | None, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for item in sec.entries() if sec else []:
        item.only(*fields)
        if item.is_mapping():
            out.append(_plain(item.value))
        else:
            item.error("expected a mapping")
    return out


@dataclass
class TestFile:
    """A parsed test file: the policy and inventory its cases run on."""

    policy: SlaPolicy
    inventory: Inventory
    cases: list[Case]


def load_test_file(path: Path, problems: Problems) -> TestFile | None:
    """Read a test file; problems are recorded with their lines (None when it cannot run)."""
    doc = Section.load(path, problems)
    doc.only("rules", "outage_basis", "inventory", "tests")
    rules_sec, basis_sec = doc.get("rules"), doc.get("outage_basis")
    rules_dir = path.parent / (rules_sec.text() or "..") if rules_sec else path.parent.parent
    basis = basis_sec.enum(OutageBasis) if basis_sec else None
    policy = None
    try:
        policy = load_policy(rules_dir, basis)
    except InputError as exc:
        problems.items.extend(exc.problems)
    inv_sec = doc.get("inventory", required=True)
    inventory: Inventory | None = None
    if inv_sec is not None and isinstance(inv_sec.value, str):
        try:
            inventory = load_inventory(path.parent / inv_sec.value)
        except InputError as exc:
            problems.items.extend(exc.problems)
    elif inv_sec is not None:
        inventory = inventory_from(inv_sec)
    cases = []
    tests = doc.get("tests", required=True)
    for t in tests.entries() if tests else []:
        t.only("name", "events", "evaluate")
        name_sec = t.get("name", required=True)
        name = (name_sec.text() if name_sec else None) or f"test at line {t.line}"
        events: list[tuple[int, Event]] = []
        for e in (ev.entries() if (ev := t.get("events")) else []):
            try:
                events.append((e.line, parse_event(_plain(e.value))))
            except EventError as exc:
                e.error(str(exc))
        checks = []
        for c in (ch.entries() if (ch := t.get("evaluate", required=True)) else []):
            c.only("at", "alerts", "fired", "not_fired", "deadlines", "availability")
            at_sec = c.get("at", required=True)
            at = at_sec.instant() if at_sec else None
            expected = {
                "alerts": _entries(c.get("alerts"), _ALERT_FIELDS),
                "fired": _entries(c.get("fired"), _ALERT_FIELDS),
                "not_fired": _entries(c.get("not_fired"), _ALERT_FIELDS),
                "deadlines": _entries(c.get("deadlines"), _DEADLINE_FIELDS),
                "availability": _entries(c.get("availability"), _AVAIL_FIELDS),
            }
            if c.get("alerts") is None:
                expected.pop("alerts")  # not given: firing alerts are not checked
            if at is not None:
                checks.append(Check(at, expected, c.line))
        cases.append(Case(name, events, checks))
    if policy is None or inventory is None:
        return None
    return TestFile(policy, inventory, cases)


def _same(expected: Any, actual: Any) -> bool:
    """Whether an expected value matches an actual one (times as instants, numbers within 1e-3)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _same(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return abs(expected - actual) <= 1e-3
    if isinstance(expected, str) and isinstance(actual, str) and "T" in expected and "T" in actual:
        try:
            return parse_instant(expected) == parse_instant(actual)
        except EventError:
            pass
    if expected is None or actual is None:
        return expected is actual
    return str(expected) == str(actual)


def _dump(items: list[dict[str, Any]]) -> list[str]:
    return yaml.safe_dump(items, allow_unicode=True, sort_keys=True, default_flow_style=False).splitlines()


def _diff(what: str, expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> str:
    lines = difflib.unified_diff(_dump(expected), _dump(actual), f"expected {what}", f"got {what}", lineterm="")
    return "\n".join("      " + line for line in lines)


_IDENTITY = {"alerts": ("name",), "fired": ("name",), "not_fired": ("name",), "deadlines": ("ticket", "kind"),
             "availability": ("circuit", "month")}


def _unmatched(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Expected entries with no distinct actual match."""
    free, missing = list(actual), []
    for exp in expected:
        hit = next((a for a in free if _same(exp, a)), None)
        if hit is None:
            missing.append(exp)
        else:
            free.remove(hit)
    return missing


def _failure(what: str, expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> str | None:
    """A diff when ``expected`` is not met by ``got``; None when it is.

    ``alerts`` must match one to one (the exact set firing); the other
    lists are checked entry by entry, and the diff shows each missing entry
    beside the actual entries of the same identity (name, ticket+kind, ...).
    """
    if what == "not_fired":
        present = [a for a in got if any(_same(e, a) for e in expected)]
        return _diff(what, [], present) if present else None
    missing = _unmatched(expected, got)
    if what == "alerts":
        if missing or len(expected) != len(got):
            return _diff(what, expected, got)
        return None
    if not missing:
        return None
    ident = _IDENTITY[what]
    near = [a for a in got if any(all(_same(m.get(k), a.get(k)) for k in ident if k in m) for m in missing)]
    keys = {k for m in missing for k in m}
    return _diff(what, missing, [{k: v for k, v in a.items() if k in keys} for a in near])


def run_case(policy: SlaPolicy, inventory: Inventory, case: Case) -> list[str]:
    """Failures of one case, each a printable block; [] when it passes."""
    failures = []
    for check in case.checks:
        try:
            doc = evaluate(policy, inventory, case.events, check.at).to_json(policy.tz)
        except EvaluationError as exc:
            return [f"    events line {b.position}: {b.message}" for b in exc.bad]
        except CalendarCoverageError as exc:
            return [f"    calendar: {exc}"]
        firing = [a for a in doc["alerts"] if a["resolved_at"] is None]
        actual = {"alerts": firing, "fired": doc["alerts"], "not_fired": doc["alerts"], "deadlines": doc["deadlines"],
                  "availability": doc["availability"]}
        for what, exp in check.expected.items():
            diff = _failure(what, exp, actual[what])
            if diff is not None:
                when = check.at.astimezone(policy.tz).isoformat()
                failures.append(f"    at {when} (line {check.line}): {what}\n{diff}")
    return failures


def run_files(paths: list[Path], out: TextIO) -> int:
    """Run every test in ``paths``; 0 all passed, 1 some failed, 2 a file is bad."""
    passed = failed = 0
    bad_files = False
    for path in paths:
        problems = Problems()
        tf = load_test_file(path, problems)
        if problems.items or tf is None:
            for p in problems.items:
                print(p, file=out)
            bad_files = True
            continue
        for case in tf.cases:
            failures = run_case(tf.policy, tf.inventory, case)
            if failures:
                failed += 1
                print(f"FAIL {path}: {case.name}", file=out)
                for f in failures:
                    print(f, file=out)
            else:
                passed += 1
                print(f"ok   {path}: {case.name}", file=out)
    print(f"{passed} passed, {failed} failed", file=out)
    if bad_files:
        return 2
    return 1 if failed else 0
