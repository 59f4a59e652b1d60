"""Receivers: who hears about an alert, and through which notifiers.

A receiver is either fixed (the NOC on-call channel, the shift supervisors,
the department heads) or resolved per alert from the inventory (``person:
account_manager`` or ``person: contact``): the alert's ``customer`` label
finds the customer, and the customer names the person, so no route has to be
written per customer. When the person cannot be found (no ``customer`` label,
a customer not in the inventory, a customer without its own contact), the
receiver's ``fallback`` takes over, by default the root route's receiver, and
the resolution says why.

Each receiver lists its notifiers as ``{kind: ..., fields}``; the kinds and
their fields are in ``NOTIFIER_KINDS``. This module only validates them; the
notifiers that send come later. Example::

    receivers:
      - name: noc-oncall
        notifiers:
          - {kind: webhook, url: "https://chat.example.com/hooks/noc"}
          - {kind: email, to: [noc-oncall@example.com]}
      - name: account-manager
        person: account_manager        # the alert's customer's account manager
        fallback: noc-oncall           # optional; default: the root route's receiver
        notifiers:
          - {kind: email}              # to: the person's e-mail from the inventory
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from monitord.domain import Customer, Person
from monitord.yamldoc import Section


class PersonRole(enum.StrEnum):
    """Whom of a customer a dynamic receiver delivers to."""

    ACCOUNT_MANAGER = "account_manager"  # every customer has one
    CONTACT = "contact"  # the customer's own contact, for proactive notices; optional


@dataclass(frozen=True)
class EmailSettings:
    """An e-mail notifier; ``to`` is empty for a receiver whose address comes from the inventory."""

    to: tuple[str, ...] = ()
    send_resolved: bool = True
    kind: str = "email"


@dataclass(frozen=True)
class WebhookSettings:
    """A webhook notifier: POSTs the alerts (and, for a dynamic receiver, the person) as JSON."""

    url: str
    send_resolved: bool = True
    timeout: timedelta = timedelta(seconds=10)
    kind: str = "webhook"


@dataclass(frozen=True)
class AlertmanagerSettings:
    """Forwards the alerts to a Prometheus Alertmanager (its ``/api/v2/alerts``)."""

    url: str
    timeout: timedelta = timedelta(seconds=10)
    kind: str = "alertmanager"


NotifierSettings = EmailSettings | WebhookSettings | AlertmanagerSettings


@dataclass(frozen=True)
class ReceiverSettings:
    """A named receiver: fixed, or resolved to a customer's person with a fallback."""

    name: str
    notifiers: tuple[NotifierSettings, ...] = ()
    person: PersonRole | None = None  # None: a fixed receiver
    fallback: str | None = None  # for a dynamic receiver: who hears it when the person is not found

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


def _email(sec: Section, person: PersonRole | None) -> EmailSettings | None:
    sec.only("kind", "to", "send_resolved")
    to_sec = sec.get("to")
    if person is not None:
        if to_sec is not None:
            to_sec.error(f"the address comes from the inventory (person: {person}); remove `to`")
            return None
        return EmailSettings((), _send_resolved(sec))
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
    return EmailSettings(tuple(addresses), _send_resolved(sec))


def _webhook(sec: Section, person: PersonRole | None) -> WebhookSettings | None:
    sec.only("kind", "url", "send_resolved", "timeout")
    url = _http_url(u) if (u := sec.get("url", required=True)) else None
    timeout, resolved = _timeout(sec), _send_resolved(sec)
    return WebhookSettings(url, resolved, timeout) if url and timeout else None


def _alertmanager(sec: Section, person: PersonRole | None) -> AlertmanagerSettings | None:
    sec.only("kind", "url", "timeout")
    url = _http_url(u) if (u := sec.get("url", required=True)) else None
    timeout = _timeout(sec)
    return AlertmanagerSettings(url, timeout) if url and timeout else None


NOTIFIER_KINDS: dict[str, Callable[[Section, PersonRole | None], NotifierSettings | None]] = {
    "email": _email,  # to (one address or a list; none for a dynamic receiver), send_resolved
    "webhook": _webhook,  # url, send_resolved, timeout
    "alertmanager": _alertmanager,  # url (the Alertmanager's base URL), timeout
}
"""Notifier kind -> the parser of its settings (the one table to extend with a new kind)."""


def _notifier(sec: Section, person: PersonRole | None) -> NotifierSettings | None:
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
    return parse(sec, person)


def parse_receivers(sec: Section) -> dict[str, ReceiverSettings]:
    """The ``receivers:`` list by name; fallbacks are checked later, once the root receiver is known."""
    out: dict[str, ReceiverSettings] = {}
    for r in sec.entries():
        if not r.is_mapping():
            r.error("expected a receiver mapping with a name")
            continue
        r.only("name", "person", "fallback", "notifiers")
        name_sec = r.get("name", required=True)
        name = name_sec.text() if name_sec else None
        person = p.enum(PersonRole) if (p := r.get("person")) else None
        fallback = None
        if (f := r.get("fallback")) is not None:
            fallback = f.text()
            if r.get("person") is None:
                f.error("only a receiver with `person` has a fallback")
        ns = r.get("notifiers")
        notifiers = [_notifier(n, person) for n in (ns.entries() if ns else [])]
        if name is None or name_sec is None:
            continue
        if name in out:
            name_sec.error(f'duplicate receiver name "{name}"')
            continue
        out[name] = ReceiverSettings(name, tuple(n for n in notifiers if n is not None), person, fallback)
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


CustomerLookup = Callable[[str], Customer | None]
"""Finds a customer by id in the inventory (e.g. ``inventory.customers.get``)."""


@dataclass(frozen=True)
class Delivery:
    """Where a routed alert goes: the receiver the route named, and who actually gets it.

    ``delivers`` is the receiver itself or, when its person could not be found,
    the fallback that takes over; ``note`` says why a fallback was taken.
    """

    receiver: str
    delivers: ReceiverSettings
    person: Person | None = None
    note: str = ""

    def __str__(self) -> str:
        parts = [self.receiver]
        if self.delivers.name != self.receiver:
            parts.append(self.delivers.name)
        if self.person is not None:
            parts.append(self.person.name + (f" <{self.person.email}>" if self.person.email else ""))
        return " -> ".join(parts) + (f" (fallback: {self.note})" if self.note else "")


def _person(role: PersonRole, labels: Mapping[str, str], lookup: CustomerLookup | None) -> Person | str:
    """The customer's person, or why there is none."""
    customer_id = labels.get("customer", "")
    if not customer_id:
        return 'the alert has no "customer" label'
    if lookup is None:
        return "no inventory to look the customer up in"
    customer = lookup(customer_id)
    if customer is None:
        return f'no customer "{customer_id}" in the inventory'
    person = customer.account_manager if role is PersonRole.ACCOUNT_MANAGER else customer.contact
    return person if person is not None else f'customer "{customer_id}" has no {role.value.replace("_", " ")}'


def resolve(name: str, labels: Mapping[str, str], receivers: Mapping[str, ReceiverSettings], root: str,
            lookup: CustomerLookup | None) -> Delivery:
    """Whom receiver ``name`` reaches for an alert with ``labels``, following fallbacks.

    ``root`` is the default fallback (the root route's receiver); the settings
    were checked at load time, so every fallback chain ends at a fixed receiver.
    """
    notes: list[str] = []
    current = receivers[name]
    while current.person is not None:
        found = _person(current.person, labels, lookup)
        if isinstance(found, Person):
            return Delivery(name, current, found, "; ".join(notes))
        if found not in notes:  # contact -> account manager of an unknown customer: say it once
            notes.append(found)
        current = receivers[current.fallback or root]
    return Delivery(name, current, None, "; ".join(notes))
