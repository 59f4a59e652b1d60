"""The routing tree and its receivers: config errors with their places, Alertmanager's matching
semantics (worked out from its documentation, not from this code's output), inventory-resolved
receivers with their fallbacks, and `monitord routes test`."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from monitord.alerting.route import Route, Router, route_labels
from monitord.cli import main
from monitord.config.alerting import (
    AlertingSettings,
    EmailSettings,
    MatchOp,
    PersonRole,
    WebhookSettings,
    alerting_settings,
    parse_matcher,
)
from monitord.domain import AlertKey, Customer, CustomerLevel, Person
from monitord.yamldoc import Problems, Section
from tests.conftest import ROOT, TESTDATA, expectations

DATA = TESTDATA / "alerting"
DEMO = ROOT / "demo" / "alerting.yaml"


def load(text: str) -> tuple[AlertingSettings | None, list[str]]:
    problems = Problems()
    doc = Section.parse(text, "t.yaml", problems)
    sec = doc.get("alerting", required=True)
    settings = alerting_settings(sec) if sec else None
    return settings, [str(p) for p in problems.items]


def tree(yaml_text: str) -> Route:
    settings, problems = load(yaml_text)
    assert settings is not None, problems
    return Route(settings.route)


def receivers(root: Route, **labels: str) -> list[str]:
    return [r.receiver for r in root.match(labels)]


# config files ------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(DATA.glob("*.yaml")), ids=lambda p: p.name)
def test_config_files(path: Path) -> None:
    problems = Problems()
    doc = Section.load(path, problems)
    sec = doc.get("alerting", required=True)
    settings = alerting_settings(sec) if sec else None
    got = [str(p) for p in problems.items]
    if path.name.endswith(".good.yaml"):
        assert settings is not None and not got, got
        return
    assert settings is None
    expected = expectations(path)
    assert expected, f"{path} has no '# expect:' lines"
    for line, key, message in expected:
        prefix = f"{path}:{line}: {key}: " if key else f"{path}:{line}: "
        assert any(p.startswith(prefix) and message in p for p in got), (
            f"missing {prefix}{message}\ngot:\n" + "\n".join(got))
    assert len(got) == len(expected), "extra problems reported:\n" + "\n".join(got)


def test_shipped_example_is_valid_and_has_every_receiver_kind() -> None:
    problems = Problems()
    settings = alerting_settings(Section.load(DEMO, problems).get("alerting", required=True))  # type: ignore[arg-type]
    assert not problems.items, problems.items
    assert settings is not None
    assert settings.receivers["account-manager"].person is PersonRole.ACCOUNT_MANAGER
    assert settings.receivers["customer-contact"].person is PersonRole.CONTACT
    assert settings.receivers["customer-contact"].fallback == "account-manager"
    assert {n.kind for n in settings.receivers["noc-oncall"].notifiers} == {"email", "webhook", "alertmanager"}


def test_parsed_settings_are_typed() -> None:
    settings, problems = load("""
alerting:
  route:
    receiver: noc
    routes:
      - matchers: ['severity=~"critical|major"', team!=db]
        receiver: am
        group_by: ["..."]
        group_wait: 1m30s
  receivers:
    - name: noc
      notifiers: [{kind: email, to: noc@example.com}, {kind: webhook, url: "http://h.example.com/x", timeout: 3s}]
    - name: am
      person: account_manager
  smtp: {smarthost: "smtp.example.com:587", from: monitord@example.com}
""")
    assert settings is not None, problems
    child = settings.route.routes[0]
    assert [(m.name, m.op, m.value) for m in child.matchers] == [
        ("severity", MatchOp.REGEX, "critical|major"), ("team", MatchOp.NOT_EQUAL, "db")]
    assert child.group_by == ("...",) and child.group_wait == timedelta(minutes=1, seconds=30)
    assert child.group_interval is None  # not written: inherited at run time
    assert settings.receivers["noc"].notifiers == (
        EmailSettings(("noc@example.com",)), WebhookSettings("http://h.example.com/x", True, timedelta(seconds=3)))


# matchers ----------------------------------------------------------------------------


@pytest.mark.parametrize(("matcher", "labels", "expected"), [
    # regexes are anchored at both ends
    ('severity=~"crit"', {"severity": "critical"}, False),
    ('severity=~"crit.*"', {"severity": "critical"}, True),
    ('severity=~"critical|major"', {"severity": "major"}, True),
    ('severity=~"critical|major"', {"severity": "majority"}, False),
    ('severity=~"a|ab"', {"severity": "ab"}, True),  # ^(?:a|ab)$: the alternation is inside the anchors
    ('severity!~"crit"', {"severity": "critical"}, True),
    ('severity=~"(?i)CRITICAL"', {"severity": "critical"}, True),
    (r'ticket=~"MON-\d+"', {"ticket": "MON-42"}, True),  # a backslash that is no escape is kept
    # a missing label is the empty string
    ('team!="noc"', {}, True),
    ('team=""', {}, True),
    ('team=""', {"team": "noc"}, False),
    ('team!=""', {}, False),
    ('team=~".*"', {}, True),
    ('team=~".+"', {}, False),
    ('team!~".+"', {}, True),
    ('team!~"noc|ops"', {}, True),
    ('team="noc"', {}, False),
    # quoting
    ('note="say \\"hi\\""', {"note": 'say "hi"'}, True),
    ("team = noc", {"team": "noc"}, True),
])
def test_matcher_semantics(matcher: str, labels: dict[str, str], expected: bool) -> None:
    m = parse_matcher(matcher)
    assert not isinstance(m, str), m
    assert m.matches(labels) is expected


# matching the tree -------------------------------------------------------------------

RECEIVERS = """
  receivers:
    - {name: root}
    - {name: a}
    - {name: b}
    - {name: c}
    - {name: d}
"""


def test_first_matching_child_wins_and_continue_goes_on() -> None:
    root = tree("""
alerting:
  route:
    receiver: root
    routes:
      - {matchers: ['severity="critical"'], receiver: a, continue: true}
      - {matchers: ['team="db"'], receiver: b}
      - {matchers: ['team="db"'], receiver: c}
""" + RECEIVERS)
    # a continues, b matches and stops the search: c is never tried
    assert receivers(root, severity="critical", team="db") == ["a", "b"]
    # only a (a continue route) matched: the root itself is then not a match
    assert receivers(root, severity="critical") == ["a"]
    assert receivers(root, team="db") == ["b"]
    # nothing matched below: the root is the match
    assert receivers(root, team="web") == ["root"]
    assert receivers(root) == ["root"]


def test_a_route_whose_children_do_not_match_is_itself_the_match() -> None:
    root = tree("""
alerting:
  route:
    receiver: root
    routes:
      - matchers: ['team="db"']
        receiver: a
        routes:
          - {matchers: ['severity="critical"'], receiver: b}
      - {receiver: c}
""" + RECEIVERS)
    assert receivers(root, team="db", severity="critical") == ["b"]
    assert receivers(root, team="db", severity="warning") == ["a"]  # a wins, so c is not reached
    assert receivers(root, team="web", severity="critical") == ["c"]  # b is behind a's matchers


def test_depth_first_with_continue_inside_and_a_catch_all() -> None:
    root = tree("""
alerting:
  route:
    receiver: root
    routes:
      - matchers: ['team="db"']
        receiver: a
        continue: true
        routes:
          - {matchers: ['severity="critical"'], receiver: b, continue: true}
          - {matchers: ['severity=~".*"'], receiver: c}
          - {receiver: d}
      - {receiver: root}
""" + RECEIVERS)
    # inside a: b continues, c matches (any severity, even none) and stops; a continues to the catch-all
    assert receivers(root, team="db", severity="critical") == ["b", "c", "root"]
    assert receivers(root, team="db") == ["c", "root"]
    assert receivers(root, team="web") == ["root"]


def test_children_inherit_options_and_the_root_takes_the_noc_defaults() -> None:
    root = tree("""
alerting:
  route:
    receiver: root
    routes:
      - matchers: ['team="db"']
        receiver: a
        group_by: [alertname, circuit]
        group_wait: 10s
        routes:
          - matchers: ['severity="critical"']
            group_interval: 2m
            routes:
              - {matchers: ['step="department_head"'], receiver: b, group_by: ['...']}
      - {matchers: ['team="web"'], repeat_interval: 3h}
""" + RECEIVERS)
    assert (root.group_by, root.group_by_all) == (("alertname", "customer"), False)
    assert (root.group_wait, root.group_interval, root.repeat_interval) == (
        timedelta(0), timedelta(minutes=1), timedelta(hours=1))
    [crit] = root.match({"team": "db", "severity": "critical"})
    assert crit.receiver == "a"  # from its parent
    assert crit.group_by == ("alertname", "circuit") and not crit.group_by_all
    assert (crit.group_wait, crit.group_interval, crit.repeat_interval) == (
        timedelta(seconds=10), timedelta(minutes=2), timedelta(hours=1))
    [step] = root.match({"team": "db", "severity": "critical", "step": "department_head"})
    assert step.receiver == "b" and step.group_by_all
    assert step.group_interval == timedelta(minutes=2)
    [web] = root.match({"team": "web"})
    assert web.receiver == "root" and web.repeat_interval == timedelta(hours=3)
    assert web.group_wait == timedelta(0)


def test_group_by_all_is_inherited_until_a_child_lists_labels() -> None:
    root = tree("""
alerting:
  route:
    receiver: root
    group_by: ['...']
    routes:
      - matchers: ['team="db"']
        routes:
          - {matchers: ['severity="critical"'], group_by: [circuit]}
""" + RECEIVERS)
    labels = {"team": "db", "severity": "warning", "circuit": "X"}
    [db] = root.match(labels)
    assert db.group_by_all and db.group_labels(labels) == labels
    [crit] = root.match({**labels, "severity": "critical"})
    assert not crit.group_by_all and crit.group_labels(labels) == {"circuit": "X"}


def test_alert_name_is_routed_as_alertname() -> None:
    key = AlertKey("RestoreBreached", (("customer", "C1"), ("severity", "critical")))
    assert route_labels(key) == {"alertname": "RestoreBreached", "customer": "C1", "severity": "critical"}


# receivers resolved from the inventory -----------------------------------------------

ALICE = Person("Alice", "alice@example.com")
BOB = Person("Bob", "bob@customer.example.com")
CUSTOMERS = {
    "C1": Customer("C1", "With contact", CustomerLevel.GROUP, ALICE, BOB),
    "C2": Customer("C2", "No contact", CustomerLevel.LOCAL_C, ALICE),
}
DYNAMIC = """
alerting:
  route:
    receiver: noc
    routes:
      - {matchers: ['alertname="CircuitDown"'], receiver: contact, continue: true}
      - {receiver: am}
  receivers:
    - {name: noc}
    - {name: am, person: account_manager}
    - {name: contact, person: contact, fallback: am}
"""


def deliveries(labels: dict[str, str], lookup: object = CUSTOMERS.get) -> list[str]:
    settings, problems = load(DYNAMIC)
    assert settings is not None, problems
    return [str(d) for _, d in Router(settings, lookup).deliveries(labels)]  # type: ignore[arg-type]


def test_account_manager_and_contact_come_from_the_customer_label() -> None:
    assert deliveries({"alertname": "CircuitDown", "customer": "C1"}) == [
        "contact -> Bob <bob@customer.example.com>", "am -> Alice <alice@example.com>"]


def test_a_customer_without_contact_falls_back_to_its_account_manager() -> None:
    assert deliveries({"alertname": "CircuitDown", "customer": "C2"}) == [
        'contact -> am -> Alice <alice@example.com> (fallback: customer "C2" has no contact)',
        "am -> Alice <alice@example.com>"]


def test_an_unknown_customer_falls_back_to_the_root_receiver_and_says_so() -> None:
    assert deliveries({"alertname": "CircuitDown", "customer": "C9"}) == [
        'contact -> noc (fallback: no customer "C9" in the inventory)',
        'am -> noc (fallback: no customer "C9" in the inventory)']
    assert deliveries({"alertname": "DeviceUnreachable"}) == ['am -> noc (fallback: the alert has no "customer" label)']
    assert deliveries({"customer": "C1"}, lookup=None) == [
        "am -> noc (fallback: no inventory to look the customer up in)"]


def test_a_receiver_per_customer_needs_groups_per_customer() -> None:
    _, problems = load(DYNAMIC.replace("receiver: noc\n", "receiver: noc\n    group_by: [alertname]\n"))
    assert problems == [
        't.yaml:7: alerting.route.routes[0].receiver: receiver "contact" is resolved per customer, so its groups '
        "must be too: group_by must include customer (or be [...]); it is [alertname]",
        't.yaml:8: alerting.route.routes[1].receiver: receiver "am" is resolved per customer, so its groups '
        "must be too: group_by must include customer (or be [...]); it is [alertname]"]


# the shipped example, end to end -------------------------------------------------------


def routes_test(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(["routes", "test", "--config", str(DEMO), *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_cli_breach_of_an_aaa_circuit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = routes_test(capsys, "alertname=RestoreBreached", "severity=critical", "customer=CUST-GRP-001",
                               "sla_class=AAA", "--expect", "account-manager,noc-oncall")
    assert code == 0
    assert out == ["account-manager -> 李明 <li.ming@example.com>", "noc-oncall"]


def test_cli_proactive_notice_reaches_the_customer_contact(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = routes_test(capsys, "alertname=ProactiveNotice", "severity=info", "customer=CUST-GRP-001",
                               "sla_class=AAA", "circuit=GZ-SDH-000123", "ticket=MON-GZ-SDH-000123-20261012020000")
    assert code == 0
    assert out == ["customer-contact -> 王工 (NOC duty) <noc@grid.example.com>", "noc-oncall"]


def test_cli_escalation_steps(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["alertname=RestoreEscalation", "severity=critical", "customer=CUST-PRV-002", "sla_class=AA"]
    assert routes_test(capsys, *base, "step=shift_supervisor")[1] == ["shift-supervisors", "noc-oncall"]
    assert routes_test(capsys, *base, "step=department_head")[1] == [
        "shift-supervisors", "department-heads", "noc-oncall"]


def test_cli_protected_alerts_reach_the_supervisors_and_heads_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    # Labels as the planner gives an alert inside a protection period: severity critical, protection=<period>.
    breach = ["alertname=RestoreBreached", "severity=critical", "customer=CUST-PRV-002", "sla_class=AA"]
    code, out, _ = routes_test(capsys, *breach, "protection=年终决算",
                               "--expect", "shift-supervisors,department-heads,account-manager,noc-oncall")
    assert code == 0
    assert out == ["shift-supervisors", "department-heads", "account-manager -> 陈静 <chen.jing@example.com>",
                   "noc-oncall"]
    # the same breach outside the period: the account manager and the NOC only
    assert routes_test(capsys, *breach)[1] == ["account-manager -> 陈静 <chen.jing@example.com>", "noc-oncall"]
    # an escalation step in the period reaches each of them once, not once more by its step
    step = ["alertname=RestoreEscalation", "severity=critical", "customer=CUST-PRV-002", "step=shift_supervisor"]
    assert routes_test(capsys, *step, "protection=年终决算")[1] == [
        "shift-supervisors", "department-heads", "noc-oncall"]
    # a CircuitDown of a protected circuit: no waiting, whatever the root's group_wait
    settings, problems = load(DEMO.read_text(encoding="utf-8"))
    assert settings is not None, problems
    reached = Route(settings.route).match({"alertname": "CircuitDown", "severity": "critical",
                                          "customer": "CUST-PRV-002", "protection": "年终决算"})
    loud = [r for r in reached if r.receiver in ("shift-supervisors", "department-heads")]
    assert [r.receiver for r in loud] == ["shift-supervisors", "department-heads"]
    assert all(r.group_wait == timedelta(0) and "protection" in r.group_by for r in loud)
    # written out on those routes, not inherited, so a longer wait set on the root later does not reach them
    written = [r for r in settings.route.routes if any(m.name == "protection" and m.op is MatchOp.REGEX
                                                       for m in r.matchers)]
    assert len(written) == 2 and all(r.group_wait == timedelta(0) for r in written)


def test_cli_expect_mismatch_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = routes_test(capsys, "alertname=DeviceUnreachable", "device=10.0.0.1:161",
                                 "--expect", "account-manager")
    assert code == 1
    assert out == ["noc-oncall"]
    assert "expected receivers account-manager, got noc-oncall" in err


def test_cli_tree_marks_the_reached_routes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = routes_test(capsys, "--tree", "alertname=RestoreWarning", "severity=warning",
                               "customer=CUST-NOPE")
    assert code == 0
    marked = [line for line in out if line.startswith("*")]
    assert len(marked) == 2
    assert "account-manager" in marked[0] and "group_wait=30s" in marked[1]
    assert out[-2:] == ['account-manager -> noc-oncall (fallback: no customer "CUST-NOPE" in the inventory)',
                        "noc-oncall"]


def test_cli_bad_config_and_bad_labels_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = DATA / "route.bad.yaml"
    assert main(["routes", "test", "--config", str(bad), "a=b"]) == 2
    assert f"{bad}:24: alerting.route.routes[0].receiver: no receiver" in capsys.readouterr().err
    assert main(["routes", "test", "--config", str(DEMO), "not-a-label"]) == 2
    assert "expected label=value" in capsys.readouterr().err
    plain = tmp_path / "monitord.yaml"
    plain.write_text("rules: rules\n", encoding="utf-8")
    assert main(["routes", "test", "--config", str(plain)]) == 2
    assert f"{plain}:1: missing required key 'alerting'" in capsys.readouterr().err


def test_cli_as_a_command() -> None:
    run = subprocess.run([sys.executable, "-m", "monitord.cli", "routes", "test", "--config", str(DEMO),
                          "alertname=RepeatFault", "severity=major", "customer=CUST-LA-003",
                          "--expect", "account-manager,noc-oncall"], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["account-manager -> 张伟 <zhang.wei@example.com>", "noc-oncall"]
