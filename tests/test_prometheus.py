"""The shipped Prometheus and Grafana files (``exporters/``) against the real Prometheus.

``promtool`` checks the scrape config, the rules and a real scrape of the
demo. Then a Prometheus on a free port scrapes the running demo every second
with the shipped rules, and every PromQL expression of the dashboards (panel
targets, template variables) and of the rule files is run through its HTTP
API: any error fails, and so does any empty result, except the few listed in
``EMPTY_IN_A_HEALTHY_DEMO`` (alerts on monitord's own failures, panels of a
part the demo does not have).

The binaries come from Debian's ``prometheus`` (``.ci/prometheus.sh``); tests
needing one skip when it is missing, except under CI (env ``CI`` set), where
they fail.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, program

EXPORTERS = ROOT / "exporters"
PROMETHEUS_YML = EXPORTERS / "prometheus/prometheus.yml"
RULE_FILES = sorted((EXPORTERS / "prometheus/rules").glob("*.yml"))
DASHBOARDS = sorted((EXPORTERS / "grafana/dashboards").glob("*.json"))
PROVISIONING = EXPORTERS / "grafana/provisioning"

EMPTY_IN_A_HEALTHY_DEMO: dict[str, str | None] = {
    # Alerts on monitord's own failures: empty while the demo is healthy. Each maps to a query of the
    # alert's input, which must give data (so a misspelt metric cannot hide behind the allowance), or None.
    "alert MonitordDown": 'up{job="monitord"}',  # the demo answers its scrapes
    "alert MonitordEngineLagging": "monitord_engine_lag_seconds",  # its engine keeps up
    "alert MonitordReloadFailed": "monitord_config_last_reload_successful",  # its configuration loads
    "alert MonitordNotificationsFailing": "monitord_notifications_total",  # its mail and webhook sinks take all
    "alert MonitordOutboxBacklog": "monitord_notification_outbox_backlog",  # nothing piles up
    # One router of three stops answering, from minute 2 to 4: mostly below the alert's share, or not yet.
    "alert MonitordSnmpPollErrors": "monitord_snmp_poll_errors_total",
    "alert MonitordTicketSourceFailing": None,  # the demo has no ticket database
    # The holiday calendar: ending within 30 days or not, depending on the day the test runs.
    "alert MonitordHolidayCalendarEnding": "monitord_calendar_coverage_end_timestamp_seconds",
    "alert MonitordWorkingDaysGuessed": None,  # the demo's deadlines stay inside the calendar's years
    # The poller dashboard's ticket database panels: the demo has no ticket database.
    "poller.json: Ticket database rows and errors": None,
    "poller.json: Time since the last good poll": None,
}

# Grafana's built-in variables, as a dashboard showing the last few minutes would set them.
GRAFANA_VARIABLES = {"$__rate_interval": "30s", "$__interval": "5s", "$__range": "10m", "$__range_s": "600"}


def binary(name: str) -> str:
    """The path of a Prometheus binary (skipped when missing, except under CI)."""
    return program(name, ".ci/prometheus.sh installs Debian's prometheus")


def run(*argv: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(argv), input=input, capture_output=True, timeout=120)


# -- expressions of the shipped files --------------------------------------------------------


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def dashboard_expressions(path: Path) -> list[tuple[str, str]]:
    """(where, expression) of every panel target and query variable; ``label_values(m, l)`` gives ``m``."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for panel in _panels(doc["panels"]):
        for t in panel.get("targets", []):
            out.append((f"{path.name}: {panel['title']}", t["expr"]))
    for var in doc["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = re.fullmatch(r"\s*label_values\((.+),\s*\w+\)\s*", query) or re.fullmatch(
            r"\s*query_result\((.+)\)\s*", query)
        assert m, f"{path.name}: variable {var['name']}: cannot run {query!r}"
        out.append((f"{path.name}: variable {var['name']}", m.group(1)))
    return out


def rule_expressions() -> list[tuple[str, str]]:
    """(where, expression) of every recording and alerting rule."""
    out = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                name = f"alert {rule['alert']}" if "alert" in rule else f"record {rule['record']}"
                out.append((name, rule["expr"]))
    return out


def test_the_shipped_files_have_expressions_to_check():
    assert len(DASHBOARDS) == 3 and len(RULE_FILES) == 2
    assert all(dashboard_expressions(d) for d in DASHBOARDS)
    assert {w for w, _ in rule_expressions()} >= {k for k in EMPTY_IN_A_HEALTHY_DEMO if k.startswith("alert ")}


def test_dashboards_use_the_datasource_variable_and_no_fixed_datasource():
    for path in DASHBOARDS:
        doc = json.loads(path.read_text(encoding="utf-8"))
        variables = {v["name"]: v for v in doc["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        refs = [p.get("datasource") for p in _panels(doc["panels"]) if p["type"] != "row"]
        refs += [t.get("datasource") for p in _panels(doc["panels"]) for t in p.get("targets", [])]
        refs += [v.get("datasource") for v in variables.values() if v["type"] == "query"]
        assert refs and all(r == {"type": "prometheus", "uid": "${datasource}"} for r in refs), path.name
        assert "monitord" in doc["tags"]
    customer = json.loads((EXPORTERS / "grafana/dashboards/customer.json").read_text(encoding="utf-8"))
    var = next(v for v in customer["templating"]["list"] if v["name"] == "customer")
    assert var["query"].startswith("label_values(")


def test_grafana_provisioning_names_a_prometheus_source_and_the_dashboards_folder():
    sources = yaml.safe_load((PROVISIONING / "datasources/monitord.yaml").read_text(encoding="utf-8"))
    assert [s["type"] for s in sources["datasources"]] == ["prometheus"]
    providers = yaml.safe_load((PROVISIONING / "dashboards/monitord.yaml").read_text(encoding="utf-8"))
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]


def test_promtool_accepts_the_scrape_config_and_the_rules():
    promtool = binary("promtool")
    config = run(promtool, "check", "config", str(PROMETHEUS_YML))
    assert config.returncode == 0, config.stdout.decode() + config.stderr.decode()
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in config.stdout.decode()
    rules = run(promtool, "check", "rules", *map(str, RULE_FILES))
    assert rules.returncode == 0, rules.stdout.decode() + rules.stderr.decode()


# -- the running demo and a Prometheus scraping it -------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str, timeout: float = 10) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, never a proxy
    with opener.open(url, timeout=timeout) as response:
        body: bytes = response.read()
        return body


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a running ``monitord demo`` (all ports free ones), fast-forwarded so deadlines pass."""
    work = tmp_path_factory.mktemp("demo")
    argv = [sys.executable, "-m", "monitord.demo", "--workdir", str(work), "--port", "0", "--snmp-ports", "0,0,0",
            "--smtp-port", "0", "--webhook-port", "0", "--fast-forward", "240"]
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline, url = time.monotonic() + 30, ""
        while time.monotonic() < deadline and not url and proc.poll() is None:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            output.append(line)
            if m := re.search(r"monitord demo is running at (http://127\.0\.0\.1:\d+)", line):
                url = m.group(1)
        assert url, "the demo did not start:\n" + "".join(output)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def prometheus(demo: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a real Prometheus scraping the demo every second with the shipped rules."""
    server = binary("prometheus")
    work = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load(PROMETHEUS_YML.read_text(encoding="utf-8"))
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    (job,) = config["scrape_configs"]
    job.update(scrape_interval="1s", scrape_timeout="1s")
    job["static_configs"] = [{"targets": [urllib.parse.urlsplit(demo).netloc]}]
    config["rule_files"] = [str(p) for p in RULE_FILES]
    (work / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = _free_port()
    log = (work / "prometheus.log").open("wb")
    proc = subprocess.Popen([server, f"--config.file={work / 'prometheus.yml'}",
                             f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                             "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def ready() -> bool:
            try:
                return _get(f"{url}/-/ready", 2).startswith(b"Prometheus")
            except OSError:
                return False

        assert _wait(ready, 30), "Prometheus did not get ready:\n" + (work / "prometheus.log").read_text()
        # Enough to compute rates over: several scrapes, the rules evaluated, the first notices counted.
        for expr in ('count_over_time(up{job="monitord"}[1m]) >= 5', 'up{job="monitord"} == 1',
                     "sla_class:monitord_circuit_availability_ratio:avg", "monitord_notifications_total",
                     "monitord_snmp_polls_total"):
            assert _wait(lambda e=expr: bool(query(url, e)), 60), f"no data for {expr} within 60 s"
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait(check: Any, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.25)
    return bool(check())


class QueryError(Exception):
    """Prometheus refused a query; the message is its error."""


def query(base: str, expr: str) -> list[dict[str, Any]]:
    """The result of an instant query now; raises ``QueryError`` when Prometheus refuses it."""
    try:
        body = json.loads(_get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read() or b"{}")
    if body.get("status") != "success":
        raise QueryError(f"{body.get('errorType')}: {body.get('error')}")
    data = body["data"]
    if data["resultType"] in ("scalar", "string"):
        return [{"value": data["result"]}]
    result: list[dict[str, Any]] = data["result"]
    return result


def test_promtool_accepts_a_scrape_of_the_running_demo(demo: str):
    promtool = binary("promtool")
    text = _get(f"{demo}/metrics")
    for family in ("monitord_circuit_up", "monitord_circuit_availability_ratio",
                   "monitord_circuit_downtime_budget_remaining_seconds",
                   "monitord_ticket_next_deadline_timestamp_seconds",
                   "monitord_tickets_open", "monitord_sla_breaches_total", "monitord_notifications_total",
                   "monitord_snmp_poll_duration_seconds", "monitord_snmp_poll_errors_total", "monitord_device_up",
                   "monitord_engine_lag_seconds", "monitord_config_last_reload_successful", "monitord_build_info"):
        assert f"\n# TYPE {family} ".encode() in text, family
    done = run(promtool, "check", "metrics", input=text)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    assert not done.stdout.strip() and not done.stderr.strip(), done.stdout.decode() + done.stderr.decode()


def _substitute(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace("${" + name[1:] + "}", value).replace(name, value)
    return expr


def test_every_expression_of_the_dashboards_and_rules_runs_and_gives_data(prometheus: str):
    customers = sorted({s["metric"]["customer"] for s in query(prometheus, "monitord_circuit_availability_ratio")})
    assert len(customers) >= 3
    checked, problems = 0, []
    expressions = [e for d in DASHBOARDS for e in dashboard_expressions(d)] + rule_expressions()
    for where, raw in expressions:
        expr = _substitute(raw)
        # A dashboard variable is tried with each of its values: some customer must give data.
        variants = [expr.replace("$customer", c) for c in customers] if "$customer" in expr else [expr]
        leftover = re.search(r"\$\{?\w+", variants[0])
        if leftover:
            problems.append(f"{where}: unknown variable {leftover.group(0)} in {raw}")
            continue
        results = []
        for e in variants:
            try:
                results.append(query(prometheus, e))
            except QueryError as exc:
                problems.append(f"{where}: {exc}\n    {e}")
        checked += len(variants)
        if results and not any(results) and where not in EMPTY_IN_A_HEALTHY_DEMO:
            problems.append(f"{where}: no data\n    {expr}")
    for where, witness in EMPTY_IN_A_HEALTHY_DEMO.items():
        if witness is not None and not query(prometheus, witness):
            problems.append(f"{where}: allowed to be empty, but its input {witness} gives no data either")
    assert not problems, f"{len(problems)} of {checked} queries:\n" + "\n".join(problems)
    assert checked > 60
