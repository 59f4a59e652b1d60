"""`monitord report monthly` and `monitord report fault`: the customer reports from the command line.

Kept beside ``cli.py``, which registers it with ``add_report_parser``, so the
main parser stays short. Data comes either from the daemon's config (its rules,
inventory and stored events) or, like `monitord evaluate`, from files. The
clock is read here and only here: everything below takes the instant.

Exit codes: 0 done; 1 the daemon could not be reached (``--mark-sent``); 2 bad
input (a file problem with its location, an unknown ticket or customer, a month
not begun).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from monitord.calendar import CalendarCoverageError
from monitord.config import load_settings
from monitord.evaluate import check_events, fold_events
from monitord.reports import render
from monitord.reports.fault import TicketNotFound, fault_report
from monitord.reports.i18n import LANGUAGES
from monitord.reports.monthly import ReportError, monthly_report
from monitord.sla.alerts import SlaPlanner
from monitord.sla.availability import Month
from monitord.sla.policy import SlaPolicy, load_policy
from monitord.sources.events import EventError, parse_instant, read_jsonl
from monitord.sources.inventory import load_inventory
from monitord.yamldoc import InputError


class _Failed(Exception):
    """A problem already reported on stderr; carries the exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _err(*lines: object) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def _instant(args: argparse.Namespace) -> datetime:
    if args.at is None:
        return datetime.now(UTC)
    try:
        return parse_instant(args.at, "--at")
    except EventError as exc:
        _err(f"--at: {exc}")
        raise _Failed(2) from None


def _planner(args: argparse.Namespace, at: datetime) -> tuple[SlaPolicy, SlaPlanner]:
    """The policy and a planner on every event up to ``at``, from the config's storage or from files."""
    try:
        if args.config:
            return _from_storage(args, at)
        return _from_files(args, at)
    except InputError as exc:
        _err(*exc.problems)
        raise _Failed(2) from None


def _from_storage(args: argparse.Namespace, at: datetime) -> tuple[SlaPolicy, SlaPlanner]:
    from monitord.storage.repo import Repository

    settings = load_settings(args.config)
    policy = load_policy(args.rules or settings.rules, settings.outage_basis)
    inventory_file = args.inventory or settings.inventory
    repo = Repository.open(settings.storage)
    try:
        inventory = load_inventory(inventory_file) if inventory_file else repo.load_inventory()
        facts, bad = fold_events(inventory, list(repo.events()), at)
    finally:
        repo.close()
    if bad:
        # As the daemon does at start-up: stored events for circuits since removed are skipped.
        _err(f"warning: {len(bad)} stored event(s) name circuits or tickets this inventory lacks; skipped")
    return policy, SlaPlanner(policy, facts)


def _from_files(args: argparse.Namespace, at: datetime) -> tuple[SlaPolicy, SlaPlanner]:
    if not args.inventory or not args.events:
        _err("give --config (the daemon's), or --inventory and --events")
        raise _Failed(2)
    policy = load_policy(args.rules or "rules")
    inventory = load_inventory(args.inventory)
    try:
        events, bad_lines = read_jsonl(args.events)
    except OSError as exc:
        _err(f"{args.events}: cannot read: {exc.strerror}")
        raise _Failed(2) from None
    found = [(b.line, b.message) for b in bad_lines]
    found += [(b.position, b.message) for b in check_events(inventory, events)]
    if not found:
        facts, bad = fold_events(inventory, events, at)
        found = [(b.position, b.message) for b in bad]
    if found:
        _err(*(f"{args.events}:{n}: {msg}" for n, msg in sorted(found)))
        raise _Failed(2)
    return policy, SlaPlanner(policy, facts)


def _write(args: argparse.Namespace, text: str) -> None:
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def cmd_report_monthly(args: argparse.Namespace) -> int:
    """Write the monthly SLA report of one month (all customers, or those given) as JSON, CSV or HTML."""
    try:
        month = Month.parse(args.month)
    except ValueError:
        _err(f"--month: expected a month like 2026-10, got {args.month!r}")
        return 2
    try:
        at = _instant(args)
        policy, planner = _planner(args, at)
        report = monthly_report(policy, planner, month, at, args.customer)
    except _Failed as exc:
        return exc.code
    except ReportError as exc:
        _err(f"report: {exc}")
        return 2
    except CalendarCoverageError as exc:
        _err(f"calendar: {exc}")
        return 2
    _write(args, render.monthly(report, args.format, args.lang)[0])
    return 0


def cmd_report_fault(args: argparse.Namespace) -> int:
    """Print the report of one fault; with ``--mark-sent``, first file its `report_sent` with the daemon."""
    if args.mark_sent:
        if not args.config:
            _err("--mark-sent files the event with the running daemon: give its --config")
            return 2
        from monitord.cli import cmd_ticket

        # The same path as `monitord ticket report_sent T`: the daemon stores the event, which
        # completes the report limit and so ends FaultReportOverdue, and it lands in storage
        # before the report below is read from it.
        sent = argparse.Namespace(config=args.config, event="report_sent", ticket=args.ticket, at=args.at,
                                  circuit=None, source=None, reason=None)
        code = cmd_ticket(sent)
        if code:
            return code
    try:
        at = _instant(args)
        policy, planner = _planner(args, at)
        report = fault_report(policy, planner, args.ticket, at)
    except _Failed as exc:
        return exc.code
    except TicketNotFound:
        _err(f"report: unknown ticket {args.ticket!r}")
        return 2
    except CalendarCoverageError as exc:
        _err(f"calendar: {exc}")
        return 2
    _write(args, render.fault(report, args.format, args.lang)[0])
    return 0


def _source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="the daemon's monitord.yaml: its rules, inventory and stored events")
    p.add_argument("--rules", help="rules directory (default: rules, or the config's)")
    p.add_argument("--inventory", help="inventory YAML (default: the config's)")
    p.add_argument("--events", help="events as JSON Lines (instead of --config's storage)")
    p.add_argument("--at", help="the instant the report is as of, ISO 8601 with offset (default: now)")
    p.add_argument("--lang", choices=LANGUAGES, default=LANGUAGES[0], help="language of HTML and text")
    p.add_argument("-o", "--output", help="write to this file (default: standard output)")


def add_report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `report monthly` and `report fault` under the main parser's subcommands."""
    rp = sub.add_parser("report", help="the monthly SLA report and the per-fault report")
    rsub = rp.add_subparsers(dest="report_command", required=True)
    m = rsub.add_parser("monthly", help="every circuit's month per customer: availability, faults, limits, credit")
    m.add_argument("--month", required=True, help="the month, e.g. 2026-10 (local time)")
    m.add_argument("--customer", action="append", help="a customer id (repeat for several; default: all)")
    m.add_argument("--format", choices=render.MONTHLY_FORMATS, default="json")
    _source_args(m)
    m.set_defaults(func=cmd_report_monthly)
    f = rsub.add_parser("fault", help="one fault's timeline, limits and fault-report status")
    f.add_argument("--ticket", required=True, help="the ticket id")
    f.add_argument("--format", choices=render.FAULT_FORMATS, default="text")
    f.add_argument("--mark-sent", action="store_true",
                   help="first record that the fault report was sent (via the daemon's API; needs --config)")
    _source_args(f)
    f.set_defaults(func=cmd_report_fault)
