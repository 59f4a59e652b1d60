r"""The ``alerting:`` section of monitord.yaml, parsed and validated: routes, receivers, matchers.

The semantics of the routing tree are in ``monitord.alerting.route``; this
module turns the section into settings and reports every problem with its
file, line and key. Example (``demo/alerting.yaml`` is a fuller one)::

    alerting:
      route:
        receiver: noc-oncall
        routes:
          - matchers: ['step=~"shift_supervisor|department_head"']
            receiver: shift-supervisors
            continue: true
          - receiver: noc-oncall
      receivers:
        - name: noc-oncall
          notifiers: [{kind: webhook, url: "https://chat.example.com/hooks/noc"}]
        - name: shift-supervisors
          notifiers: [{kind: email, to: [supervisors@example.com]}]
        - name: account-manager
          person: account_manager        # the alert's customer's account manager
          fallback: noc-oncall           # optional; default: the root route's receiver
          notifiers:
            - {kind: email}              # to: the person's e-mail from the inventory
          lang: zh-CN                    # the language of its messages (zh-CN, the default, or en)
      smtp: {smarthost: "smtp.example.com:587", from: monitord@example.com}   # the mail server of e-mail
      external_url: https://monitord.example.com                             # base of links in messages

Notifier settings: ``email`` (to, send_resolved, lang), ``webhook`` (url,
send_resolved, timeout, secret_file, lang), ``alertmanager`` (urls, timeout,
resend_interval, lang). ``smtp``: smarthost, from, starttls, username,
password_file, ca_file, timeout. Files are relative to the config file and
must exist; secrets are never written inline.

Label matchers follow Alertmanager: ``=``, ``!=``, ``=~``, ``!~``. A missing
label counts as the empty string, so ``team!="noc"`` matches an alert without
a ``team`` label and ``team=""`` matches exactly those. Regular expressions are
anchored at both ends (``severity=~"crit"`` does not match ``critical``), as
Alertmanager anchors them with ``^(?:...)$``. They are Python ``re`` patterns;
the common RE2 syntax (classes, alternation, repetition, a leading ``(?i)``)
means the same in both. Inside a quoted value ``\"``, ``\\`` and ``\n`` are
escapes and any other backslash is kept, so ``'ticket=~"MON-\d+"'`` is the
regex ``MON-\d+``, as in Alertmanager.
"""

from __future__ import annotations

import enum
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from monitord.yamldoc import Section

# matchers ---------------------------------------------------------------------

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


# receivers --------------------------------------------------------------------

class PersonRole(enum.StrEnum):
    """Whom of a customer a dynamic receiver delivers to."""

    ACCOUNT_MANAGER = "account_manager"  # every customer has one
    CONTACT = "contact"  # the customer's own contact, for proactive notices; optional


LANGUAGES = ("zh-CN", "en")
"""The languages a receiver's messages can be written in; the first is the default (the operator's)."""

DEFAULT_RESEND_INTERVAL = timedelta(minutes=1)
"""How often firing alerts are re-sent to Alertmanager (Prometheus' ``resend_delay`` default)."""


@dataclass(frozen=True)
class EmailSettings:
    """An e-mail notifier; ``to`` is empty for a receiver whose address comes from the inventory.

    ``lang`` None: the receiver's language.
    """

    to: tuple[str, ...] = ()
    send_resolved: bool = True
    lang: str | None = None
    kind: str = "email"


@dataclass(frozen=True)
class WebhookSettings:
    """A webhook notifier: POSTs the notice as JSON (schema: docs/webhook.schema.json), signed when it has a secret."""

    url: str
    send_resolved: bool = True
    timeout: timedelta = timedelta(seconds=10)
    secret_file: Path | None = None  # HMAC key of the X-Monitord-Signature header
    lang: str | None = None
    kind: str = "webhook"


@dataclass(frozen=True)
class AlertmanagerSettings:
    """Forwards the alerts to every instance of a Prometheus Alertmanager cluster (their ``/api/v2/alerts``)."""

    urls: tuple[str, ...]
    timeout: timedelta = timedelta(seconds=10)
    resend_interval: timedelta = DEFAULT_RESEND_INTERVAL
    lang: str | None = None
    kind: str = "alertmanager"


NotifierSettings = EmailSettings | WebhookSettings | AlertmanagerSettings


@dataclass(frozen=True)
class ReceiverSettings:
    """A named receiver: fixed, or resolved to a customer's person with a fallback."""

    name: str
    notifiers: tuple[NotifierSettings, ...] = ()
    person: PersonRole | None = None  # None: a fixed receiver
    fallback: str | None = None  # for a dynamic receiver: who hears it when the person is not found
    lang: str = LANGUAGES[0]  # the language of its messages; a notifier may set its own

    @property
    def dynamic(self) -> bool:
        """Whether this receiver is resolved per alert from the inventory."""
        return self.person is not None


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _http_url(sec: Section) -> str | None:
    url = sec.text()
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        sec.error(f'expected an http:// or https:// URL, got "{url}"')
        return None
    return url


def _lang(sec: Section | None) -> str | None:
    """A language of LANGUAGES (None when absent or wrong; wrong is recorded)."""
    if sec is None or (lang := sec.text()) is None:
        return None
    if lang not in LANGUAGES:
        sec.error(f'expected one of {", ".join(LANGUAGES)}, got "{lang}"')
        return None
    return lang


def _file(sec: Section | None, base: Path) -> Path | None:
    """A path to an existing file, relative to the config file's directory."""
    if sec is None or (name := sec.text()) is None:
        return None
    path = base / name
    if not path.is_file():
        sec.error(f"no such file: {path}")
        return None
    return path


def _send_resolved(sec: Section) -> bool:
    flag = s.flag() if (s := sec.get("send_resolved")) else None
    return True if flag is None else flag


def _timeout(sec: Section) -> timedelta | None:
    if (t := sec.get("timeout")) is None:
        return timedelta(seconds=10)
    d = t.duration()
    if d is not None and d <= timedelta(0):
        t.error("expected a duration above 0")
        return None
    return d


def _email(sec: Section, person: PersonRole | None, base: Path) -> EmailSettings | None:
    sec.only("kind", "to", "send_resolved", "lang")
    to_sec = sec.get("to")
    lang = _lang(sec.get("lang"))
    if person is not None:
        if to_sec is not None:
            to_sec.error(f"the address comes from the inventory (person: {person}); remove `to`")
            return None
        return EmailSettings((), _send_resolved(sec), lang)
    if to_sec is None:
        sec.get("to", required=True)
        return None
    entries = to_sec.entries() if isinstance(to_sec.value, list) else [to_sec]
    if not entries:
        to_sec.error("expected at least one address")
    addresses = []
    for e in entries:
        if (a := e.text()) is not None and not _EMAIL.match(a):
            e.error(f'expected an e-mail address, got "{a}"')
        elif a is not None:
            addresses.append(a)
    if len(addresses) != len(entries):
        return None
    return EmailSettings(tuple(addresses), _send_resolved(sec), lang)


def _webhook(sec: Section, person: PersonRole | None, base: Path) -> WebhookSettings | None:
    sec.only("kind", "url", "send_resolved", "timeout", "secret_file", "lang")
    url = _http_url(u) if (u := sec.get("url", required=True)) else None
    timeout, resolved = _timeout(sec), _send_resolved(sec)
    secret_sec = sec.get("secret_file")
    secret = _file(secret_sec, base)
    lang_sec = sec.get("lang")
    lang = _lang(lang_sec)
    if not url or not timeout or (secret_sec and not secret) or (lang_sec and not lang):
        return None
    return WebhookSettings(url, resolved, timeout, secret, lang)


def _alertmanager(sec: Section, person: PersonRole | None, base: Path) -> AlertmanagerSettings | None:
    sec.only("kind", "urls", "timeout", "resend_interval", "lang")
    urls_sec = sec.get("urls", required=True)
    entries = (urls_sec.entries() if isinstance(urls_sec.value, list) else [urls_sec]) if urls_sec else []
    if urls_sec is not None and not entries:
        urls_sec.error("expected at least one Alertmanager URL (list every instance of the cluster)")
    urls = [_http_url(e) for e in entries]
    timeout = _timeout(sec)
    resend = timedelta(minutes=1)
    if (r := sec.get("resend_interval")) is not None:
        resend = _duration(r, zero_ok=False) or timedelta(0)
    lang_sec = sec.get("lang")
    lang = _lang(lang_sec)
    if not entries or None in urls or not timeout or not resend or (lang_sec and not lang):
        return None
    return AlertmanagerSettings(tuple(u for u in urls if u), timeout, resend, lang)


NOTIFIER_KINDS: dict[str, Callable[[Section, PersonRole | None, Path], NotifierSettings | None]] = {
    "email": _email,  # to (one address or a list; none for a dynamic receiver), send_resolved, lang
    "webhook": _webhook,  # url, send_resolved, timeout, secret_file, lang
    "alertmanager": _alertmanager,  # urls (every instance's base URL), timeout, resend_interval, lang
}
"""Notifier kind -> the parser of its settings (the one table to extend with a new kind)."""


def _notifier(sec: Section, person: PersonRole | None, base: Path) -> NotifierSettings | None:
    if not sec.is_mapping():
        sec.error("expected a mapping like {kind: email, to: noc@example.com}")
        return None
    kind_sec = sec.get("kind", required=True)
    kind = kind_sec.text() if kind_sec else None
    if kind_sec is None or kind is None:
        return None
    parse = NOTIFIER_KINDS.get(kind)
    if parse is None:
        kind_sec.error(f'unknown notifier kind "{kind}" (expected one of: {", ".join(NOTIFIER_KINDS)})')
        return None
    return parse(sec, person, base)


def parse_receivers(sec: Section, base: Path | None = None) -> dict[str, ReceiverSettings]:
    """The ``receivers:`` list by name; fallbacks are checked later, once the root receiver is known.

    Files the notifiers name (secrets) are relative to ``base``, by default the config file's directory.
    """
    base = Path(sec.file).parent if base is None else base
    out: dict[str, ReceiverSettings] = {}
    for r in sec.entries():
        if not r.is_mapping():
            r.error("expected a receiver mapping with a name")
            continue
        r.only("name", "person", "fallback", "notifiers", "lang")
        name_sec = r.get("name", required=True)
        name = name_sec.text() if name_sec else None
        person = p.enum(PersonRole) if (p := r.get("person")) else None
        fallback = None
        if (f := r.get("fallback")) is not None:
            fallback = f.text()
            if r.get("person") is None:
                f.error("only a receiver with `person` has a fallback")
        ns = r.get("notifiers")
        notifiers = [_notifier(n, person, base) for n in (ns.entries() if ns else [])]
        lang = _lang(r.get("lang")) or LANGUAGES[0]
        if name is None or name_sec is None:
            continue
        if name in out:
            name_sec.error(f'duplicate receiver name "{name}"')
            continue
        out[name] = ReceiverSettings(name, tuple(n for n in notifiers if n is not None), person, fallback, lang)
    return out


def check_fallbacks(sec: Section, receivers: dict[str, ReceiverSettings], root: str | None) -> None:
    """Record fallbacks that name no receiver or that never reach a fixed receiver.

    ``root`` is the root route's receiver, every dynamic receiver's default fallback.
    """
    for i, r in enumerate(sec.value if isinstance(sec.value, list) else []):
        if not isinstance(r, dict) or not isinstance(name := r.get("name"), str) or name not in receivers:
            continue
        where = sec.child(i, r)
        if (f := receivers[name].fallback) is not None and f not in receivers:
            where.child("fallback", f).error(f'no receiver named "{f}"')
            continue
        # A dynamic root receiver is reported at route.receiver; do not report it again here.
        default = root if root in receivers and not receivers[root].dynamic else None
        seen, current = [name], receivers[name]
        while current.dynamic:
            nxt = current.fallback or default
            if nxt is None or nxt not in receivers:
                break  # a missing name is reported where it is written
            if nxt in seen:
                key = "fallback" if receivers[name].fallback else "person"
                where.child(key, None).error("fallbacks go round in a circle: " + " -> ".join([*seen, nxt]))
                break
            seen.append(nxt)
            current = receivers[nxt]


# routes -----------------------------------------------------------------------

GROUP_BY_ALL = "..."
"""``group_by: [...]``: group by every label (each distinct label set is its own group)."""

DEFAULT_GROUP_BY = ("alertname", "customer")
DEFAULT_GROUP_WAIT = timedelta(0)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=1)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=1)

ROUTE_KEYS = ("receiver", "matchers", "continue", "group_by", "group_wait", "group_interval", "repeat_interval",
              "routes")


@dataclass(frozen=True)
class RouteSettings:
    """One node of the routing tree as written; None means "inherited from the parent"."""

    receiver: str | None = None
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    group_by: tuple[str, ...] | None = None  # (GROUP_BY_ALL,): every label
    group_wait: timedelta | None = None
    group_interval: timedelta | None = None
    repeat_interval: timedelta | None = None
    routes: tuple[RouteSettings, ...] = ()
    key: str = "route"  # where it is written, e.g. alerting.route.routes[1]
    line: int = 0


SMTPS_PORT = 465
"""The port on which SMTP speaks TLS from the first byte (no STARTTLS), as Alertmanager treats it."""


@dataclass(frozen=True)
class SmtpSettings:
    """The mail server every e-mail notifier sends through (``alerting.smtp``), like Alertmanager's ``smtp_*``.

    The password is read from ``password_file`` when the notifiers are built, never written in the config.
    """

    host: str
    port: int
    sender: str  # the From: address (``from``)
    starttls: bool = True  # upgrade with STARTTLS and refuse a server that cannot (ignored on port 465)
    username: str = ""  # empty: no AUTH
    password_file: Path | None = None
    ca_file: Path | None = None  # a private CA to verify the server with; default: the system's
    timeout: timedelta = timedelta(seconds=10)

    @property
    def implicit_tls(self) -> bool:
        """Whether the connection is TLS from the start (port 465) rather than upgraded."""
        return self.port == SMTPS_PORT


DEFAULT_LINKS: Mapping[str, str] = {
    "circuit": "/api/v1/circuits?circuit={circuit}",
    "ticket": "/api/v1/tickets?ticket={ticket}",
}
"""Links of a message by name: patterns with ``{label}`` fields, relative to ``external_url`` unless absolute."""


@dataclass(frozen=True)
class InhibitRuleSettings:
    """An inhibition rule (Alertmanager's ``inhibit_rules``): a firing source alert mutes matching targets.

    A target is muted while an alert matching ``source_matchers`` fires whose
    labels named in ``equal`` have the same values as the target's (a label
    missing on both counts as equal, "" = "").
    """

    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()
    key: str = "inhibit_rules[0]"  # where it is written, for the mute reason
    line: int = 0


@dataclass(frozen=True)
class AlertingSettings:
    """The ``alerting:`` section of monitord.yaml, validated: the routing tree, receivers and how messages look."""

    route: RouteSettings
    receivers: Mapping[str, ReceiverSettings] = field(default_factory=dict)
    smtp: SmtpSettings | None = None
    external_url: str = ""  # the base URL of links in messages (and Alertmanager's generatorURL); "": no links
    links: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_LINKS))
    inhibit_rules: tuple[InhibitRuleSettings, ...] = ()  # see monitord.alerting.mute.Inhibitor


# parsing ----------------------------------------------------------------------


def alerting_settings(sec: Section) -> AlertingSettings | None:
    """Settings from the ``alerting:`` section; None when it has problems (each recorded with its place)."""
    before = len(sec.problems.items)
    if not sec.is_mapping():
        sec.error("expected a mapping with route: and receivers:")
        return None
    sec.only("route", "receivers", "smtp", "external_url", "links", "inhibit_rules")
    base = Path(sec.file).parent
    rec_sec = sec.get("receivers", required=True)
    receivers = parse_receivers(rec_sec, base) if rec_sec else {}
    route_sec = sec.get("route", required=True)
    route = _route(route_sec, receivers, None) if route_sec else None
    if rec_sec is not None:
        check_fallbacks(rec_sec, receivers, route.receiver if route else None)
    smtp = _smtp(s, base) if (s := sec.get("smtp")) is not None else None
    mailing = [r.name for r in receivers.values() if any(isinstance(n, EmailSettings) for n in r.notifiers)]
    if mailing and sec.get("smtp") is None:
        sec.error(f"e-mail notifiers (receivers {', '.join(mailing)}) need an smtp: section (the mail server)")
    external_url = (_http_url(u) or "").rstrip("/") if (u := sec.get("external_url")) is not None else ""
    links = _links(ls) if (ls := sec.get("links")) is not None else dict(DEFAULT_LINKS)
    inhibit_rules = _inhibit_rules(r) if (r := sec.get("inhibit_rules")) is not None else ()
    if route is None or len(sec.problems.items) > before:
        return None
    return AlertingSettings(route, receivers, smtp, external_url, links, inhibit_rules)


_HOST_PORT = re.compile(r"^\[?([^\[\]\s]+?)\]?:(\d{1,5})$")


def _smtp(sec: Section, base: Path) -> SmtpSettings | None:
    """``alerting.smtp``: smarthost, from, starttls, username, password_file, ca_file, timeout."""
    if not sec.is_mapping():
        sec.error("expected a mapping like {smarthost: smtp.example.com:587, from: monitord@example.com}")
        return None
    before = len(sec.problems.items)
    sec.only("smarthost", "from", "starttls", "username", "password_file", "ca_file", "timeout")
    host, port = "", 0
    if (hp := sec.get("smarthost", required=True)) is not None and (text := hp.text()) is not None:
        m = _HOST_PORT.match(text)
        if m is None or not 0 < int(m.group(2)) < 65536:
            hp.error(f'expected host:port like "smtp.example.com:587", got "{text}"')
        else:
            host, port = m.group(1), int(m.group(2))
    sender = ""
    if (f := sec.get("from", required=True)) is not None and (sender := f.text() or "") and not _EMAIL.match(sender):
        f.error(f'expected an e-mail address, got "{sender}"')
    starttls = (st.flag() if (st := sec.get("starttls")) is not None else True) is not False
    user_sec, pw_sec = sec.get("username"), sec.get("password_file")
    username = (user_sec.text() or "") if user_sec is not None else ""
    password_file = _file(pw_sec, base)
    if user_sec is not None and pw_sec is None:
        user_sec.error("AUTH needs password_file: a file holding the password (never the password itself here)")
    if pw_sec is not None and user_sec is None:
        pw_sec.error("a password without a username: add username")
    if username and not starttls and port != SMTPS_PORT and user_sec is not None:
        user_sec.error("AUTH without TLS would send the password in clear: set starttls: true or use port 465")
    ca_file = _file(sec.get("ca_file"), base)
    timeout = _timeout(sec)
    if len(sec.problems.items) > before or timeout is None:
        return None
    return SmtpSettings(host, port, sender, starttls, username, password_file, ca_file, timeout)


def _links(sec: Section) -> dict[str, str]:
    """``alerting.links``: name -> URL pattern whose ``{fields}`` are label names."""
    out: dict[str, str] = {}
    for name, entry in sec.items():
        pattern = entry.text()
        if pattern is None:
            continue
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
        except ValueError as exc:
            entry.error(f"bad pattern: {exc}")
            continue
        if bad := [f for f in fields if not LABEL_NAME.match(f)]:
            entry.error(f'"{{{bad[0]}}}" is not a label name (write fields like {{circuit}})')
            continue
        if not pattern.startswith("/") and urlsplit(pattern).scheme not in ("http", "https"):
            entry.error(f'expected a path starting with "/" or an http(s) URL, got "{pattern}"')
            continue
        out[name] = pattern
    return out


@dataclass(frozen=True)
class _Inherited:
    """What a child route takes from its parent, for the checks that need it."""

    receiver: str | None
    group_by: tuple[str, ...]


def _route(sec: Section, receivers: Mapping[str, ReceiverSettings], parent: _Inherited | None) -> RouteSettings | None:
    if not sec.is_mapping():
        sec.error("expected a route mapping (receiver, matchers, routes, ...)")
        return None
    for old in ("match", "match_re"):
        if (s := sec.get(old)) is not None:
            s.error("not supported: write matchers: ['label=\"value\"'] (or =~ for a regex)")
    sec.only(*ROUTE_KEYS, "match", "match_re")
    receiver = _receiver(sec, receivers, parent is None)
    matchers = _matchers(sec.get("matchers"))
    cont_sec = sec.get("continue")
    cont = bool(cont_sec.flag()) if cont_sec else False
    group_by = _group_by(sec.get("group_by"))
    group_wait = _duration(sec.get("group_wait"), zero_ok=True)
    group_interval = _duration(sec.get("group_interval"), zero_ok=False)
    repeat_interval = _duration(sec.get("repeat_interval"), zero_ok=False)
    if parent is None:
        if sec.get("matchers") is not None:
            sec.child("matchers", None).error("the root route matches every alert: it takes no matchers")
        if cont and cont_sec is not None:
            cont_sec.error("the root route has no siblings to continue to")
    here = _Inherited(receiver or (parent.receiver if parent else None),
                      group_by if group_by is not None else (parent.group_by if parent else DEFAULT_GROUP_BY))
    _check_grouping(sec, receivers, here, receiver is not None or group_by is not None)
    routes = sec.get("routes")
    children = [_route(child, receivers, here) for child in (routes.entries() if routes else [])]
    return RouteSettings(receiver, matchers, cont, group_by, group_wait, group_interval, repeat_interval,
                         tuple(child for child in children if child is not None), sec.key, sec.line)


def _receiver(sec: Section, receivers: Mapping[str, ReceiverSettings], root: bool) -> str | None:
    r = sec.get("receiver", required=root)
    name = r.text() if r else None
    if r is None or name is None:
        return None
    if name not in receivers:
        known = ", ".join(receivers) or "none are defined"
        r.error(f'no receiver named "{name}" under receivers: ({known})')
        return None
    if root and receivers[name].dynamic:
        r.error(f'the root receiver gets every alert no other route takes and is the fallback of the others; '
                f'"{name}" depends on the inventory (person: {receivers[name].person})')
    return name


def _matchers(sec: Section | None) -> tuple[Matcher, ...]:
    out = []
    for m in sec.entries() if sec else []:
        text = m.text()
        if text is None:
            continue
        parsed = parse_matcher(text)
        if isinstance(parsed, str):
            m.error(parsed)
        else:
            out.append(parsed)
    return tuple(out)


def _group_by(sec: Section | None) -> tuple[str, ...] | None:
    if sec is None:
        return None
    if not isinstance(sec.value, list):
        sec.error(f'expected a list of label names (or ["{GROUP_BY_ALL}"])')
        return None
    names: list[str] = []
    for e in sec.entries():
        name = e.text()
        if name is None:
            continue
        if name != GROUP_BY_ALL and not LABEL_NAME.match(name):
            e.error(f'"{name}" is not a label name')
        elif name in names:
            e.error(f'"{name}" is listed twice')
        else:
            names.append(name)
    if GROUP_BY_ALL in names and len(names) > 1:
        sec.error(f'"{GROUP_BY_ALL}" already groups by every label: list nothing else with it')
    return tuple(names)


def _duration(sec: Section | None, zero_ok: bool) -> timedelta | None:
    if sec is None:
        return None
    d = sec.duration()
    if d is not None and not zero_ok and d <= timedelta(0):
        sec.error("expected a duration above 0")
        return None
    return d


def _check_grouping(sec: Section, receivers: Mapping[str, ReceiverSettings], here: _Inherited,
                    changed: bool) -> None:
    """A receiver resolved per customer needs groups of one customer; checked where either is set."""
    r = receivers.get(here.receiver or "")
    if not changed or r is None or not r.dynamic:
        return
    if "customer" in here.group_by or GROUP_BY_ALL in here.group_by:
        return
    where = sec.child("receiver", None) if sec.get("receiver") is not None else sec.child("group_by", None)
    where.error(f'receiver "{r.name}" is resolved per customer, so its groups must be too: group_by must include '
                f'customer (or be [{GROUP_BY_ALL}]); it is [{", ".join(here.group_by)}]')


# inhibition -------------------------------------------------------------------


def _inhibit_rules(sec: Section) -> tuple[InhibitRuleSettings, ...]:
    """``alerting.inhibit_rules``: a list of {source_matchers, target_matchers, equal}."""
    out = []
    for r in sec.entries():
        if not r.is_mapping():
            r.error("expected a mapping with source_matchers, target_matchers and equal")
            continue
        for old in ("source_match", "source_match_re", "target_match", "target_match_re"):
            if (o := r.get(old)) is not None:
                new = old.split("_")[0] + "_matchers"
                o.error(f"not supported: write {new}: ['label=\"value\"'] (or =~ for a regex)")
        r.only("source_matchers", "target_matchers", "equal", "source_match", "source_match_re", "target_match",
               "target_match_re")
        before = len(r.problems.items)
        sides = []
        for side in ("source_matchers", "target_matchers"):
            # Written the old way: that is reported above, not again as missing.
            old_way = any(r.get(side.replace("matchers", k)) is not None for k in ("match", "match_re"))
            m = r.get(side, required=not old_way)
            matchers = _matchers(m)
            # No matchers would inhibit by, or inhibit, every alert: surely a mistake.
            if m is not None and isinstance(m.value, list) and not m.value:
                m.error("expected at least one matcher")
            sides.append(matchers)
        equal = _label_names(e) if (e := r.get("equal")) is not None else ()
        if len(r.problems.items) == before:
            out.append(InhibitRuleSettings(sides[0], sides[1], equal, r.key, r.line))
    return tuple(out)


def _label_names(sec: Section) -> tuple[str, ...]:
    if not isinstance(sec.value, list):
        sec.error("expected a list of label names, e.g. [device]")
        return ()
    names: list[str] = []
    for e in sec.entries():
        if (name := e.text()) is None:
            continue
        if not LABEL_NAME.match(name):
            e.error(f'"{name}" is not a label name')
        elif name in names:
            e.error(f'"{name}" is listed twice')
        else:
            names.append(name)
    return tuple(names)
