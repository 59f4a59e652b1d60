"""The demo's scripted first minutes, played against a running daemon and the simulated routers.

``SCRIPT`` is a table of steps: when (seconds after the demo starts), what it
says, and what it does: post ticket events to ``POST /api/v1/events`` with the
bearer token (``Post``), set an interface's ifOperStatus on a simulated router
(``Link``), or make a router stop or resume answering (``Reach``).

Tickets are back-dated (reported some minutes before the demo starts), so that
limits come due in the first minutes: what a NOC would see when the demo's
faults had been running for a while. Link and reachability changes only touch
the routers; the daemon learns of them by polling SNMP, as it would in service.

Timeline (minutes after the start):

- 0     AAA ticket on GZ-VPN-000201 reported 58 min ago, dispatched and accepted in time: its
        restore warnings (50 %, 80 %) are past and fire at once with their true instants;
        RestoreBreached at +2: the NOC's webhook and account manager 李明's mailbox hear of it
        within a second (the demo's webhook endpoint and mail server keep both).
- 0     class A ticket on GZ-SDH-000401 reported 14 min ago: DispatchOverdue at +1.
- 0     AA ticket on GZ-ETH-000302, on hold for 10 min (customer's room locked).
- 0.33  GZ-SDH-000123 (AAA) goes down on pe-gz-yuexiu-01, no ticket: the daemon's SNMP poll
        sees it and, past the debounce, opens a proactive ticket and notifies the customer's contact.
- 1     the AA ticket resumes: 11 min on hold push its 50 % RestoreWarning to +6.
- 1.5   the class A ticket is dispatched (late), accepted at +3.
- 2     pe-gz-huangpu-03 stops answering SNMP: DeviceUnreachable, not "its circuits down".
- 2.5   GZ-VPN-000301 (AA, monitored by ifName on pe-gz-tianhe-02) flaps down, up at +3.5.
- 4     pe-gz-huangpu-03 answers again.
- 5     GZ-SDH-000123 comes back up: the proactive ticket still needs its human steps.
- 6     the AAA ticket is restored, 4 min late: RestoreBreached resolves (told to the same people);
        confirm due in 15 min, confirmed at +7.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from monitord.demo.devices import SimulatedDevice

TZ = ZoneInfo("Asia/Shanghai")
"""The zone event times are written in (the rules' zone), so they read as the NOC's local time."""

HTTP_TIMEOUT = 5.0
"""Seconds to wait for the daemon to answer one request."""


@dataclass(frozen=True)
class Post:
    """Send ticket events; each is (minutes after the demo start, negative for the past; the event's fields)."""

    events: tuple[tuple[float, dict[str, str]], ...]


@dataclass(frozen=True)
class Link:
    """Set an interface's ifOperStatus on the router whose inventory port is ``device``."""

    device: int  # the port in demo/inventory.yaml (16100-16102), whatever port the router really has
    interface: int | str  # ifIndex or ifName
    up: bool


@dataclass(frozen=True)
class Reach:
    """Make the router whose inventory port is ``device`` answer SNMP again, or stop answering."""

    device: int
    reachable: bool


@dataclass(frozen=True)
class Step:
    """One scripted moment: run ``action`` ``after`` seconds into the demo and print ``says``."""

    after: float
    says: str
    action: Post | Link | Reach


def _ticket(minutes: float, type_: str, ticket: str, **fields: str) -> tuple[float, dict[str, str]]:
    return minutes, {"type": type_, "ticket": ticket, **fields}


SCRIPT: tuple[Step, ...] = (
    Step(0, "customer 南方电网 reported GZ-VPN-000201 (AAA, 60 min to restore) down 58 min ago; dispatched and "
            "accepted in time: its restore warnings 50 %/80 % fire now with their past instants, RestoreBreached "
            "in about 2 min, told within a second to the NOC webhook and to account manager 李明 by e-mail",
         Post((_ticket(-58, "reported", "DEMO-AAA-1", circuit="GZ-VPN-000201", source="customer"),
               _ticket(-52, "dispatched", "DEMO-AAA-1"),
               _ticket(-45, "accepted", "DEMO-AAA-1")))),
    Step(0, "广州地铁 GZ-SDH-000401 (class A) reported by its account manager 14 min ago, not dispatched yet: "
            "DispatchOverdue in about 1 min",
         Post((_ticket(-14, "reported", "DEMO-A-1", circuit="GZ-SDH-000401", source="account_manager"),))),
    Step(0, "省联社 GZ-ETH-000302 (AA, 90 min to restore): reported 50 min ago, on hold for 10 min "
            "(customer's equipment room locked): the restore clock stands still",
         Post((_ticket(-50, "reported", "DEMO-AA-1", circuit="GZ-ETH-000302", source="customer"),
               _ticket(-47, "dispatched", "DEMO-AA-1"),
               _ticket(-40, "accepted", "DEMO-AA-1"),
               _ticket(-10, "paused", "DEMO-AA-1", reason="customer's equipment room locked, key holder on the way")))),
    Step(20, "pe-gz-yuexiu-01 GigabitEthernet0/0/0 (ifIndex 1) goes down: GZ-SDH-000123 (AAA), no ticket open; "
             "once the daemon polls it, it opens a proactive ticket and notifies the customer's contact",
         Link(16100, 1, up=False)),
    Step(60, "DEMO-AA-1 resumes after 11 min on hold: its 50 % RestoreWarning moves 11 min later, to about +6 min",
         Post((_ticket(1, "resumed", "DEMO-AA-1"),))),
    Step(90, "DEMO-A-1 dispatched, 15.5 min after the report (limit 15 min: already breached)",
         Post((_ticket(1.5, "dispatched", "DEMO-A-1"),))),
    Step(120, "pe-gz-huangpu-03 (16102) stops answering SNMP: DeviceUnreachable, its circuits are not called down",
         Reach(16102, reachable=False)),
    Step(150, "pe-gz-tianhe-02 GigabitEthernet0/0/1 goes down: GZ-VPN-000301 (AA, monitored by ifName)",
         Link(16101, "GigabitEthernet0/0/1", up=False)),
    Step(180, "DEMO-A-1 accepted by the repair team",
         Post((_ticket(3, "accepted", "DEMO-A-1"),))),
    Step(210, "pe-gz-tianhe-02 GigabitEthernet0/0/1 is back up (a 1 min flap)",
         Link(16101, "GigabitEthernet0/0/1", up=True)),
    Step(240, "pe-gz-huangpu-03 answers SNMP again",
         Reach(16102, reachable=True)),
    Step(300, "pe-gz-yuexiu-01 GigabitEthernet0/0/0 is back up: the daemon records it; "
              "the proactive ticket still needs its human steps",
         Link(16100, 1, up=True)),
    Step(360, "DEMO-AAA-1 restored, 4 min past its limit: RestoreBreached resolves and the NOC and 李明 are told; "
              "the customer must confirm within 15 min, the fault report is due in 1 working day",
         Post((_ticket(6, "restored", "DEMO-AAA-1"),))),
    Step(420, "DEMO-AAA-1 confirmed with the customer",
         Post((_ticket(7, "confirmed", "DEMO-AAA-1"),))),
)
"""The demo's first seven minutes."""


def events_of(post: Post, start: datetime) -> list[dict[str, str]]:
    """The step's events as the API takes them, ``at`` being ``start`` plus each one's minutes."""
    return [{"at": (start + timedelta(minutes=m)).isoformat(), **fields} for m, fields in post.events]


class Scenario:
    """Plays ``SCRIPT`` (or given steps) against the daemon at ``base_url`` and the simulated routers.

    ``devices`` maps each router's inventory port (16100-16102) to the running
    device. A step that fails (the daemon refuses an event, or does not answer)
    is reported and the scenario goes on: a demo shows what happens, it does not stop.
    """

    def __init__(self, base_url: str, token: str, devices: Mapping[int, SimulatedDevice], *,
                 start: datetime | None = None, out: TextIO | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.devices = devices
        self.start = (start or datetime.now(TZ)).replace(microsecond=0)
        self.out = out or sys.stdout
        # Loopback only: never through an HTTP proxy the environment may name.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.failures = 0

    async def run(self, steps: Sequence[Step] = SCRIPT) -> None:
        """Run every step at its time; returns after the last one."""
        began = time.monotonic()
        for step in sorted(steps, key=lambda s: s.after):
            delay = began + step.after - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            minutes, seconds = divmod(int(step.after), 60)
            self._say(f"[+{minutes:02d}:{seconds:02d}] {step.says}")
            try:
                await self.act(step.action)
            except Exception as exc:  # one failed step must not end the demo
                self.failures += 1
                self._say(f"          ! failed: {exc}")
        self._say("[scenario done] the daemon keeps running; alerts keep coming due. Ctrl-C stops the demo.")

    async def act(self, action: Post | Link | Reach) -> None:
        """Do one step's action."""
        if isinstance(action, Post):
            status, body = await asyncio.to_thread(self._post, events_of(action, self.start))
            if status >= 400:
                raise RuntimeError(f"the daemon answered {status}: {json.dumps(body, ensure_ascii=False)}")
        elif isinstance(action, Link):
            self.devices[action.device].set_oper(action.interface, action.up)
        else:
            self.devices[action.device].reachable = action.reachable

    def _post(self, events: list[dict[str, str]]) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{self.base_url}/api/v1/events",
            data=json.dumps(events, ensure_ascii=False).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with self._opener.open(request, timeout=HTTP_TIMEOUT) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw.decode(errors="replace")
        except (urllib.error.URLError, OSError) as exc:
            raise RuntimeError(f"cannot reach the daemon at {self.base_url}: {exc}") from None

    def _say(self, line: str) -> None:
        print(line, file=self.out, flush=True)
