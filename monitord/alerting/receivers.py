"""Receivers at run time: whom a receiver reaches for one alert, following fallbacks.

A receiver is either fixed (the NOC on-call channel, the shift supervisors,
the department heads) or resolved per alert from the inventory (``person:
account_manager`` or ``person: contact``): the alert's ``customer`` label
finds the customer, and the customer names the person, so no route has to be
written per customer. When the person cannot be found (no ``customer`` label,
a customer not in the inventory, a customer without its own contact), the
receiver's ``fallback`` takes over, by default the root route's receiver, and
the resolution says why. The settings are ``monitord.config.alerting``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from monitord.config.alerting import PersonRole, ReceiverSettings
from monitord.domain import Customer, Person

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
