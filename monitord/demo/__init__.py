"""``monitord demo``: the daemon on simulated routers, with a scripted first few minutes.

``run_demo`` writes a demo ``monitord.yaml`` into a working directory (with a
copy of the shipped rules, the demo inventory pointed at the routers' ports, a
fresh token and an SQLite state file), starts the simulated routers
(``devices``), runs the daemon (``monitord.app.run``) on the same event loop,
plays the scenario (``scenario``) against its HTTP API, and stops everything
on Ctrl-C or SIGTERM.

The notices go where a NOC would get them, only local: the config's
``alerting:`` section is ``demo/alerting.yaml``'s, with its webhooks pointed at
the demo's webhook endpoint and its e-mail sent through the demo's mail server
(``sinks``), which store what they get under ``webhook/`` and ``mail/`` in the
working directory and print a line for each.

The rules, the inventory and the alerting example are packaged copies
(``monitord/demo/rules``, ``monitord/demo/inventory.yaml``,
``monitord/demo/alerting.yaml``) of the repository's ``rules/``,
``demo/inventory.yaml`` and ``demo/alerting.yaml``, so that an installed
package runs the demo too; tests/test_demo.py fails when they drift apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import yaml

from monitord.demo.devices import SimulatedDevice, demo_specs, start_devices
from monitord.demo.scenario import SCRIPT, TZ, Scenario, Step
from monitord.demo.sinks import LOOPBACK, MAIL_DIR, WEBHOOK_DIR, MailSink, WebhookSink, clear

PACKAGE_DIR = Path(__file__).resolve().parent
RULES_DIR = PACKAGE_DIR / "rules"
"""The packaged copy of the shipped SLA rules."""
INVENTORY = PACKAGE_DIR / "inventory.yaml"
"""The packaged copy of demo/inventory.yaml (routers on 127.0.0.1:16100-16102)."""
ALERTING = PACKAGE_DIR / "alerting.yaml"
"""The packaged copy of demo/alerting.yaml, the routing tree the demo's notices follow."""

DEFAULT_PORT = 9464
"""The daemon's HTTP port in the demo (the daemon's default)."""
DEFAULT_SMTP_PORT = 2525
"""The demo mail server's port (the usual unprivileged stand-in for 25)."""
DEFAULT_WEBHOOK_PORT = 9465
"""The demo webhook endpoint's port (next to the daemon's)."""
COMMUNITY = "public"
"""The routers' SNMPv2c community: the poller's default."""
STATE_FILE = "demo-state.db"
"""The SQLite state file in the working directory; removed at each start, so each demo starts afresh."""
CONFIG_HEADER = "# Written by `monitord demo`"
"""First line of the demo's monitord.yaml: the demo overwrites only a config it wrote."""

# systemd's variables: the demo is not the service, even when started from inside it.
_SERVICE_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class DemoError(Exception):
    """The demo cannot start as asked (a working directory that holds someone else's config)."""


@dataclass(frozen=True)
class DemoFiles:
    """What ``write_files`` put in the working directory."""

    workdir: Path
    config: Path
    token_file: Path
    token: str
    mail: Path  # where the mail server stores messages
    webhook: Path  # where the webhook endpoint stores bodies


def demo_alerting(source: Path, *, external_url: str, smtp_port: int, webhook_url: str) -> dict[str, Any]:
    """The ``alerting:`` section of ``source`` (demo/alerting.yaml) made to deliver on this machine.

    Every webhook URL keeps its path on ``webhook_url`` (``/hooks/noc-oncall``,
    ``/notify``) and loses its ``secret_file``; ``alertmanager`` notifiers are
    dropped (the demo runs no Alertmanager); e-mail goes through the mail server on
    ``smtp_port`` without STARTTLS or login (loopback only; the config refuses a login
    without TLS); links point at ``external_url``; every receiver writes in Chinese
    unless it says otherwise. Routes, receivers, people and inhibition rules stay
    as written.
    """
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    section: dict[str, Any] = dict(doc["alerting"])
    receivers = []
    for receiver in section.get("receivers") or []:
        notifiers = []
        for notifier in receiver.get("notifiers") or []:
            if notifier.get("kind") == "alertmanager":
                continue
            if notifier.get("kind") == "webhook":
                path = urlsplit(str(notifier.get("url", ""))).path or "/"
                notifier = {k: v for k, v in notifier.items() if k != "secret_file"} | {"url": webhook_url + path}
            notifiers.append(notifier)
        # zh-CN is already the default; written out so that the NOC sees where the language is chosen.
        receivers.append({**receiver, "notifiers": notifiers, "lang": receiver.get("lang", "zh-CN")})
    section["receivers"] = receivers
    sender = (section.get("smtp") or {}).get("from", "monitord@noc.example.com")
    section["smtp"] = {"smarthost": f"{LOOPBACK}:{smtp_port}", "from": sender, "starttls": False}
    section["external_url"] = external_url
    return section


def write_files(workdir: Path, port: int, device_ports: Mapping[int, int], *, smtp_port: int = DEFAULT_SMTP_PORT,
                webhook_port: int = DEFAULT_WEBHOOK_PORT) -> DemoFiles:
    """Write monitord.yaml, rules/, inventory.yaml (ports mapped by ``device_ports``) and a token.

    The config's alerting section is ``demo_alerting``'s, on the mail server at
    ``smtp_port`` and the webhook endpoint at ``webhook_port``. A token already
    there is kept, so a terminal's curl commands survive a restart. The state file
    and the mail and webhook bodies of an earlier run are removed: each demo starts
    from an empty state.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "monitord.yaml"
    if config.exists() and not config.read_text(encoding="utf-8", errors="replace").startswith(CONFIG_HEADER):
        raise DemoError(f"{config} exists and was not written by the demo; choose another --workdir")
    rules = workdir / "rules"
    rules.mkdir(exist_ok=True)
    for f in sorted(RULES_DIR.glob("*.yaml")):
        shutil.copyfile(f, rules / f.name)

    def mapped(m: re.Match[str]) -> str:
        return f"port: {device_ports.get(int(m.group(1)), int(m.group(1)))}"

    inventory = re.sub(r"\bport: (\d+)", mapped, INVENTORY.read_text(encoding="utf-8"))
    (workdir / "inventory.yaml").write_text(inventory, encoding="utf-8")

    token_file = workdir / "token"
    token = token_file.read_text(encoding="utf-8").strip() if token_file.is_file() else ""
    if not token:
        token = secrets.token_urlsafe(32)
        token_file.write_text(token + "\n", encoding="utf-8")
    token_file.chmod(0o600)

    for suffix in ("", "-journal", "-wal", "-shm"):
        (workdir / f"{STATE_FILE}{suffix}").unlink(missing_ok=True)
    mail, webhook = workdir / MAIL_DIR, workdir / WEBHOOK_DIR
    clear(mail, "*.eml")
    clear(webhook, "*.json")
    alerting = demo_alerting(ALERTING, external_url=f"http://{LOOPBACK}:{port}", smtp_port=smtp_port,
                             webhook_url=f"http://{LOOPBACK}:{webhook_port}")
    config.write_text(
        f"{CONFIG_HEADER}; rewritten on every run.\n"
        "rules: rules\n"
        "inventory: inventory.yaml\n"
        f"storage: sqlite:///{STATE_FILE}\n"
        "http:\n"
        f"  listen: 127.0.0.1:{port}\n"
        "  token_file: token\n"
        "snmp:\n"
        f"  community: {COMMUNITY}\n"
        "  timeout: 1s\n"
        "  retries: 1\n"
        "  debounce_polls: 2\n"
        "  # Faster than in service, so that the demo's link changes show within a minute.\n"
        "  intervals: {AAA: 10s, AA: 15s, default: 20s}\n"
        "# demo/alerting.yaml's routing tree, delivered on this machine: webhooks to the demo's webhook endpoint\n"
        f"# (bodies in {WEBHOOK_DIR}/), e-mail through its mail server (messages in {MAIL_DIR}/), no TLS or login on\n"
        "# loopback, no Alertmanager (the demo runs none).\n"
        + yaml.safe_dump({"alerting": alerting}, allow_unicode=True, sort_keys=False, width=120,
                         default_flow_style=None),
        encoding="utf-8",
    )
    return DemoFiles(workdir, config, token_file, token, mail, webhook)


def _free_port() -> int:
    """A TCP port on loopback that nobody listens on right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


async def run_demo(workdir: Path | None = None, *, port: int = DEFAULT_PORT,
                   snmp_ports: Sequence[int] | None = None, smtp_port: int = DEFAULT_SMTP_PORT,
                   webhook_port: int = DEFAULT_WEBHOOK_PORT, steps: Sequence[Step] = SCRIPT,
                   fast_forward: timedelta = timedelta(0), out: TextIO | None = None) -> None:
    """Run routers, mail server, webhook endpoint, daemon and scenario until SIGINT or SIGTERM (or the daemon stops).

    ``workdir`` defaults to a new temporary directory (kept afterwards, for a
    look at its state, mail and webhook bodies). ``port`` is the daemon's HTTP port,
    ``smtp_port`` the mail server's and ``webhook_port`` the webhook endpoint's
    (0: any free one); ``snmp_ports`` the routers' UDP ports in inventory order
    (default 16100-16102; 0: any free one). ``fast_forward`` starts the scenario's
    clock that much earlier: its back-dated tickets are that much older, so every
    deadline comes that much sooner. Raises ``InputError``, ``ApiSettingsError``,
    ``DemoError`` or ``OSError`` (a port in use) when it cannot start.
    """
    from monitord import app  # the composition root: imported late, it is the heaviest import

    out = out or sys.stdout

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Ours until the daemon installs its own (it does on start): then Ctrl-C ends the daemon, and we follow.
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    specs = demo_specs()
    devices: list[SimulatedDevice] = []
    mail: MailSink | None = None
    webhook: WebhookSink | None = None
    daemon: asyncio.Task[None] | None = None
    scenario: asyncio.Task[None] | None = None
    stopping = asyncio.create_task(stop.wait())
    try:
        devices = await start_devices(specs, snmp_ports, community=COMMUNITY)
        by_port = {spec.port: device for spec, device in zip(specs, devices, strict=True)}
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="monitord-demo-"))
        workdir = workdir.resolve()
        # The config names the sinks' and the daemon's real ports (links in messages use the daemon's).
        mail = MailSink(workdir / MAIL_DIR, say, smtp_port)
        await mail.start()
        webhook = WebhookSink(workdir / WEBHOOK_DIR, say, webhook_port)
        webhook.start()
        files = write_files(workdir, port or _free_port(), {p: d.port for p, d in by_port.items()},
                            smtp_port=mail.port, webhook_port=webhook.port)
        started: asyncio.Future[str] = loop.create_future()
        env = {k: v for k, v in os.environ.items() if k not in _SERVICE_ENV}

        def on_started(url: str) -> None:
            if not started.done():
                started.set_result(url)

        daemon = asyncio.create_task(app.run(files.config, env, started=on_started), name="monitord-daemon")
        first: set[asyncio.Future[Any]] = {daemon, started, stopping}
        await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
        if daemon.done():
            daemon.result()  # a start-up error: raise it
            return
        if stop.is_set():
            return
        url = started.result()
        _banner(out, files, url, devices, mail, webhook)
        start = datetime.now(TZ) - fast_forward
        scenario = asyncio.create_task(Scenario(url, files.token, by_port, start=start, out=out).run(steps),
                                       name="demo-scenario")
        await asyncio.wait({daemon, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if daemon.done():
            daemon.result()
    finally:
        stopping.cancel()
        if scenario is not None:
            scenario.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scenario
        if daemon is not None and not daemon.done():
            daemon.cancel()  # app.run stops its scheduler and HTTP server in its finally
            with contextlib.suppress(asyncio.CancelledError):
                await daemon
        # After the daemon: a notice it is sending still finds its receiver.
        for sink in (webhook, mail):
            if sink is not None:
                await sink.stop()
        for d in devices:
            d.stop()
        for sig in handled:
            loop.remove_signal_handler(sig)
        if devices:
            print("monitord demo stopped.", file=out, flush=True)


def _banner(out: TextIO, files: DemoFiles, url: str, devices: Sequence[SimulatedDevice], mail: MailSink,
            webhook: WebhookSink) -> None:
    routers = ", ".join(f"{d.name} 127.0.0.1:{d.port}" for d in devices)
    event = '{"at": "<now, ISO 8601 with offset>", "type": "dispatched", "ticket": "DEMO-A-1"}'
    lines = [
        f"monitord demo is running at {url}",
        f"  working directory: {files.workdir} (monitord.yaml, rules/, inventory.yaml, token, {STATE_FILE})",
        f"  simulated routers, SNMPv2c community {COMMUNITY!r}: {routers}",
        f"    snmpwalk -v2c -c {COMMUNITY} 127.0.0.1:{devices[0].port} 1.3.6.1.2.1.2.2",
        "  notices, routed as in demo/alerting.yaml (NOC on-call by webhook and e-mail; account managers,",
        "  customer contacts and supervisors by e-mail), each told here on a line as it arrives:",
        f"    e-mail   smtp://{LOOPBACK}:{mail.port}  -> {files.mail}/*.eml",
        f"    webhook  {webhook.url}  -> {files.webhook}/*.json",
        "  where to look:",
        f"    curl {url}/api/v1/alerts       alerts firing now",
        f"    curl {url}/api/v1/tickets      tickets and their deadlines",
        f"    curl {url}/api/v1/circuits     circuits and their availability this month",
        f"    curl {url}/metrics             Prometheus metrics",
        f"    curl {url}/api/v1/openapi.json the API",
        f"  send an event: curl -H \"Authorization: Bearer $(cat {files.token_file})\" \\\n"
        f"                 -d '{event}' {url}/api/v1/events",
        "  Ctrl-C stops the demo: routers, mail server, webhook endpoint, daemon and scenario.",
        "",
    ]
    print("\n".join(lines), file=out, flush=True)


def main(workdir: Path | None = None, *, port: int = DEFAULT_PORT, snmp_ports: Sequence[int] | None = None,
         smtp_port: int = DEFAULT_SMTP_PORT, webhook_port: int = DEFAULT_WEBHOOK_PORT,
         fast_forward: timedelta = timedelta(0)) -> int:
    """Run the demo in a new event loop; the exit code: 0 after Ctrl-C, 2 when it cannot start."""
    from monitord.api import ApiSettingsError
    from monitord.yamldoc import InputError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # A line per poll, per migration step or per SMTP session would bury the alerts.
    # httpx logs each webhook POST, which the webhook endpoint tells already.
    for chatty in ("apscheduler", "alembic", "mail.log", "httpx"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        asyncio.run(run_demo(workdir, port=port, snmp_ports=snmp_ports, smtp_port=smtp_port,
                             webhook_port=webhook_port, fast_forward=fast_forward))
    except KeyboardInterrupt:  # Ctrl-C before the loop took the signal: nothing was running yet
        return 0
    except ModuleNotFoundError as exc:  # an install from before the demo's mail server became a dependency
        print(f"monitord demo: needs the {exc.name} package: python3 -m pip install -e .", file=sys.stderr)
        return 2
    except InputError as exc:
        print(*exc.problems, sep="\n", file=sys.stderr)
        return 2
    except (ApiSettingsError, DemoError) as exc:
        print(f"monitord demo: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a router's, the mail server's or the webhook's port is taken: most likely by another demo
        print(f"monitord demo: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
