"""The `monitord` command: demo, run, ticket, silence, check, evaluate, test-rules, routes test, report.

Exit codes: 0 success; 1 a check or rule test failed; 2 bad input (the
message names file, line and what is wrong).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitord.alerting.route import Router
from monitord.calendar import CalendarCoverageError
from monitord.cli_report import add_report_parser
from monitord.config import Settings, load_settings
from monitord.config.alerting import LABEL_NAME, alerting_settings
from monitord.domain import TicketEventType, TicketSource
from monitord.evaluate import EvaluationError, check_events, evaluate
from monitord.sla.policy import load_policy
from monitord.sources.events import EventError, parse_instant, read_jsonl
from monitord.sources.inventory import load_inventory
from monitord.yamldoc import InputError, Problems, Section, parse_duration


def _err(*lines: object) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def cmd_check(args: argparse.Namespace) -> int:
    """Validate rules, config and inventory; print every problem with its location."""
    problems: list[str] = []
    rules = args.rules
    basis = None
    if args.config:
        try:
            settings = load_settings(args.config)
            rules = rules or settings.rules
            basis = settings.outage_basis
            args.inventory = args.inventory or settings.inventory
        except InputError as exc:
            problems.extend(map(str, exc.problems))
    try:
        load_policy(rules or "rules", basis)
    except InputError as exc:
        problems.extend(map(str, exc.problems))
    if args.inventory:
        try:
            load_inventory(args.inventory)
        except InputError as exc:
            problems.extend(map(str, exc.problems))
    if problems:
        _err(*problems)
        _err(f"{len(problems)} problem(s) found")
        return 1
    print("ok")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Replay events and print the state at an instant as one JSON document."""
    try:
        at = parse_instant(args.at, "--at")
    except EventError as exc:
        _err(f"--at: {exc}")
        return 2
    try:
        basis = load_settings(args.config).outage_basis if args.config else None
        policy = load_policy(args.rules, basis)
        inventory = load_inventory(args.inventory)
    except InputError as exc:
        _err(*exc.problems)
        return 2
    try:
        events, bad_lines = read_jsonl(args.events)
    except OSError as exc:
        _err(f"{args.events}: cannot read: {exc.strerror}")
        return 2
    if bad_lines:
        # Report every bad line in one run: also those that parse but name unknown things.
        found = [(b.line, b.message) for b in bad_lines]
        found += [(b.position, b.message) for b in check_events(inventory, events)]
        _err(*(f"{args.events}:{n}: {msg}" for n, msg in sorted(found)))
        return 2
    try:
        result = evaluate(policy, inventory, events, at)
    except EvaluationError as exc:
        _err(*(f"{args.events}:{b.position}: {b.message}" for b in exc.bad))
        return 2
    except CalendarCoverageError as exc:
        _err(f"calendar: {exc}")
        return 2
    json.dump(result.to_json(policy.tz), sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


def cmd_test_rules(args: argparse.Namespace) -> int:
    """Run rule test files; print a diff per failure."""
    from monitord.ruletest import run_files

    return run_files([Path(f) for f in args.files], sys.stdout)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM or Ctrl-C."""
    import asyncio
    import logging
    import os

    from monitord.api import ApiSettingsError
    from monitord.app import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def started(url: str) -> None:
        print(f"monitord is running: {url}/metrics, {url}/api/v1/alerts, {url}/api/v1/openapi.json", flush=True)

    try:
        asyncio.run(run(Path(args.config), dict(os.environ), started=started))
    except InputError as exc:
        _err(*exc.problems)
        return 2
    except ApiSettingsError as exc:
        _err(f"http: {exc}")
        return 2
    return 0


def cmd_ticket(args: argparse.Namespace) -> int:
    """Send one ticket event to the running daemon's API (URL and token from its config)."""
    import urllib.error
    import urllib.request
    from datetime import UTC, datetime

    try:
        settings = load_settings(args.config)
    except InputError as exc:
        _err(*exc.problems)
        return 2
    http = settings.http
    if http.token_file is None:
        _err(f"{args.config}: http.token_file is not set, so the daemon accepts no writes")
        return 2
    event = {"at": args.at or datetime.now(UTC).astimezone().isoformat(), "type": args.event, "ticket": args.ticket}
    event.update({k: v for k, v in (("circuit", args.circuit), ("source", args.source), ("reason", args.reason)) if v})
    host = f"[{http.host}]" if ":" in http.host else http.host
    req = urllib.request.Request(f"http://{host}:{http.port}/api/v1/events", data=json.dumps(event).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    req.add_header("Authorization", "Bearer " + http.token_file.read_text(encoding="utf-8").strip())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        errors = json.loads(exc.read() or b"{}").get("errors", [])
        _err(*(f"{args.event} {args.ticket}: {e.get('message', e)}" for e in errors or [exc.reason]))
        return 2
    except OSError as exc:
        _err(f"cannot reach monitord at {http.host}:{http.port}: {exc}")
        return 1
    print(f"{args.event} {args.ticket}: " + ("recorded" if body.get("new") else "already recorded"))
    return 0


class _Unreachable(Exception):
    """The daemon did not answer."""


def _call_daemon(settings: Settings, method: str, path: str, body: object = None) -> tuple[int, Any]:
    """One request to the running daemon's API with the config's token; ``(status, JSON body)``.

    Raises ``_Unreachable`` when nothing answers.
    """
    import urllib.error
    import urllib.request

    http = settings.http
    host = f"[{http.host}]" if ":" in http.host else http.host
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://{host}:{http.port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    if http.token_file is not None:
        req.add_header("Authorization", "Bearer " + http.token_file.read_text(encoding="utf-8").strip())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {"errors": [{"message": str(exc.reason)}]}
    except OSError as exc:
        raise _Unreachable(f"cannot reach monitord at {http.host}:{http.port}: {exc}") from None


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment or the user database
        return "unknown"


def _silence_line(s: dict[str, Any]) -> str:
    return "  ".join([s["id"], s["status"]["state"], s["startsAt"], s["endsAt"], s["createdBy"],
                      " ".join(s["matchers"]), f"# {s['comment']}"])


def cmd_silence(args: argparse.Namespace) -> int:
    """`monitord silence add | list | expire`: silences in the running daemon (address and token from its config)."""
    from datetime import UTC, datetime

    try:
        settings = load_settings(args.config)
    except InputError as exc:
        _err(*exc.problems)
        return 2
    if args.silence_command != "list" and settings.http.token_file is None:
        _err(f"{args.config}: http.token_file is not set, so the daemon accepts no writes")
        return 2
    try:
        if args.silence_command == "list":
            status, body = _call_daemon(settings, "GET", "/api/v1/silences")
            if status != 200:
                _err(*(f"silence list: {e.get('message', e)}" for e in body.get("errors", [])))
                return 2
            for s in body["silences"]:
                if args.all or s["status"]["state"] != "expired":
                    print(_silence_line(s))
            return 0
        if args.silence_command == "expire":
            code = 0
            for sid in args.ids:
                status, body = _call_daemon(settings, "DELETE", f"/api/v1/silences/{sid}")
                if status == 200:
                    print(f"{sid}: expired at {body['endsAt']}")
                else:
                    _err(*(f"{sid}: {e.get('message', e)}" for e in body.get("errors", [])))
                    code = 2
            return code
        # add
        try:
            start = parse_instant(args.start, "--start") if args.start else None
            end = parse_instant(args.end, "--end") if args.end else None
        except EventError as exc:
            _err(str(exc))
            return 2
        if args.duration is not None:
            length = parse_duration(args.duration)
            if length is None or not length:
                _err(f'--duration: expected a duration like "2h" or "1h30m", got "{args.duration}"')
                return 2
            end = (start or datetime.now(UTC).astimezone()) + length
        assert end is not None  # argparse requires --end or --duration
        silence = {"matchers": args.matchers, "endsAt": end.isoformat(), "createdBy": args.author or _login(),
                   "comment": args.comment}
        if start is not None:
            silence["startsAt"] = start.isoformat()
        status, body = _call_daemon(settings, "POST", "/api/v1/silences", silence)
        if status != 201:
            _err(*(f"silence add: {e.get('message', e)}" for e in body.get("errors", [])))
            return 2
        print(body["id"])  # alone on its line, as amtool prints it, so a script can keep it
        return 0
    except _Unreachable as exc:
        _err(str(exc))
        return 1


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the daemon on simulated routers with a scripted first few minutes, until Ctrl-C."""
    from monitord.demo import main as demo_main

    return demo_main(Path(args.workdir) if args.workdir else None, port=args.port, smtp_port=args.smtp_port,
                     webhook_port=args.webhook_port)


def _router(config: Path, inventory: str | None) -> Router:
    """The config's routing tree with its customer lookup; raises InputError with every problem."""
    problems = Problems()
    doc = Section.load(config, problems)
    sec = doc.get("alerting", required=doc.value is not None)
    settings = alerting_settings(sec) if sec else None
    inv_sec = doc.get("inventory") if inventory is None else None
    inv_text = inv_sec.text() if inv_sec else inventory
    inv_path = (config.parent / inv_text) if inv_sec and inv_text else (Path(inv_text) if inv_text else None)
    problems.raise_if_any()
    assert settings is not None
    return Router(settings, load_inventory(inv_path).customers.get if inv_path else None)


def cmd_routes_test(args: argparse.Namespace) -> int:
    """Print the receivers an alert with the given labels reaches, one per line (like amtool's routes test)."""
    labels: dict[str, str] = {}
    for arg in args.labels:
        name, eq, value = arg.partition("=")
        if not eq or not LABEL_NAME.match(name):
            _err(f"{arg}: expected label=value, e.g. severity=critical")
            return 2
        labels[name] = value[1:-1] if len(value) > 1 and value[0] == value[-1] == '"' else value
    try:
        router = _router(Path(args.config), args.inventory)
    except InputError as exc:
        _err(*exc.problems)
        return 2
    deliveries = router.deliveries(labels)
    if args.tree:
        reached = {id(r) for r, _ in deliveries}
        for depth, route in router.root.walk():
            print(f"{'*' if id(route) in reached else ' '} {'    ' * depth}{route.describe()}")
        print()
    for _, delivery in deliveries:
        print(delivery)
    got = [r.receiver for r, _ in deliveries]
    if args.expect is not None and args.expect.split(",") != got:
        _err(f"expected receivers {args.expect}, got {','.join(got)}")
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    p = argparse.ArgumentParser(prog="monitord", description="SLA monitoring for enterprise circuits")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="validate rules, config and inventory")
    c.add_argument("rules_pos", nargs="?", metavar="RULES_DIR", help="rules directory (same as --rules)")
    c.add_argument("--rules", help="rules directory (default: rules, or the config's)")
    c.add_argument("--config", help="monitord.yaml to validate")
    c.add_argument("--inventory", help="inventory YAML to validate")
    c.set_defaults(func=cmd_check)

    e = sub.add_parser("evaluate", help="replay events and print deadlines, alerts and availability at an instant")
    e.add_argument("--rules", default="rules", help="rules directory")
    e.add_argument("--inventory", required=True, help="inventory YAML")
    e.add_argument("--events", required=True, help="events as JSON Lines")
    e.add_argument("--at", required=True, help="the instant to evaluate at (ISO 8601 with offset)")
    e.add_argument("--config", help="monitord.yaml (for its outage_basis override)")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("run", help="run the daemon")
    r.add_argument("--config", required=True, help="monitord.yaml")
    r.set_defaults(func=cmd_run)

    k = sub.add_parser("ticket", help="send a ticket event to the running daemon")
    k.add_argument("event", choices=[t.value for t in TicketEventType], help="what happened")
    k.add_argument("ticket", help="the ticket id")
    k.add_argument("--config", required=True, help="the daemon's monitord.yaml (for its address and token)")
    k.add_argument("--circuit", help="the circuit (with `reported`)")
    k.add_argument("--source", choices=[s.value for s in TicketSource], help="how it was reported (`reported`)")
    k.add_argument("--reason", help="why (with `paused`)")
    k.add_argument("--at", help="when, ISO 8601 with offset (default: now)")
    k.set_defaults(func=cmd_ticket)

    si = sub.add_parser("silence", help="add, list or expire silences in the running daemon").add_subparsers(
        dest="silence_command", required=True)
    sa = si.add_parser("add", help="mute alerts matching every matcher until --end or for --duration; prints its id")
    sa.add_argument("matchers", nargs="+", metavar="MATCHER",
                    help="Alertmanager matchers, e.g. 'alertname=\"CircuitDown\"' 'circuit=~\"GZ-.*\"'")
    until = sa.add_mutually_exclusive_group(required=True)
    until.add_argument("--duration", help="how long from its start, e.g. 2h or 1h30m")
    until.add_argument("--end", help="when it ends, ISO 8601 with offset")
    sa.add_argument("--start", help="when it starts, ISO 8601 with offset (default: now)")
    sa.add_argument("--author", help="who silences (default: your login name)")
    sa.add_argument("--comment", required=True, help="why, e.g. the change number")
    sl = si.add_parser("list", help="silences not yet expired: id, state, start, end, author, matchers, comment")
    sl.add_argument("--all", action="store_true", help="expired ones too")
    se = si.add_parser("expire", help="end silences now")
    se.add_argument("ids", nargs="+", metavar="ID", help="the silence ids (from add or list)")
    for p_ in (sa, sl, se):
        p_.add_argument("--config", required=True, help="the daemon's monitord.yaml (for its address and token)")
        p_.set_defaults(func=cmd_silence)

    d = sub.add_parser("demo", help="run the daemon on simulated routers with a scripted scenario, until Ctrl-C")
    d.add_argument("--workdir", help="directory for the demo's config, rules, token and state "
                                     "(default: a new temporary directory)")
    d.add_argument("--port", type=int, default=9464, help="the daemon's HTTP port (0: any free port)")
    d.add_argument("--smtp-port", type=int, default=2525,
                   help="the demo mail server's port, whose messages land in WORKDIR/mail (0: any free port)")
    d.add_argument("--webhook-port", type=int, default=9465,
                   help="the demo webhook endpoint's port, whose bodies land in WORKDIR/webhook (0: any free port)")
    d.set_defaults(func=cmd_demo)

    add_report_parser(sub)  # report monthly | fault

    t = sub.add_parser("test-rules", help="run rule unit tests")
    t.add_argument("files", nargs="+", help="rule test YAML files")
    t.set_defaults(func=cmd_test_rules)

    rt = sub.add_parser("routes", help="the alert routing tree of a config").add_subparsers(
        dest="routes_command", required=True)
    rtt = rt.add_parser("test", help="print the receivers an alert with these labels reaches")
    rtt.add_argument("labels", nargs="*", metavar="label=value", help="the alert's labels (its name: alertname=...)")
    rtt.add_argument("--config", default="monitord.yaml", help="monitord.yaml with an alerting: section")
    rtt.add_argument("--inventory", help="inventory YAML for the account managers (default: the config's)")
    rtt.add_argument("--tree", action="store_true", help="also print the routing tree, reached routes marked *")
    rtt.add_argument("--expect", "--verify.receivers", metavar="A,B",
                     help="exit 1 unless exactly these receivers are reached, in order (as amtool)")
    rtt.set_defaults(func=cmd_routes_test)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `monitord` console script."""
    args = build_parser().parse_args(argv)
    if getattr(args, "rules_pos", None):
        args.rules = args.rules or args.rules_pos
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
