"""``monitord demo``: the daemon on simulated routers, with a scripted first few minutes.

``run_demo`` writes a demo ``monitord.yaml`` into a working directory (with a
copy of the shipped rules, the demo inventory pointed at the routers' ports, a
fresh token and an SQLite state file), starts the simulated routers
(``devices``), runs the daemon (``monitord.app.run``) on the same event loop,
plays the scenario (``scenario``) against its HTTP API, and stops everything
on Ctrl-C or SIGTERM.

The rules and the inventory are packaged copies (``monitord/demo/rules``,
``monitord/demo/inventory.yaml``) of the repository's ``rules/`` and
``demo/inventory.yaml``, so that an installed package runs the demo too;
tests/test_demo.py fails when they drift apart.
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
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from monitord.demo.devices import SimulatedDevice, demo_specs, start_devices
from monitord.demo.scenario import SCRIPT, Scenario, Step

PACKAGE_DIR = Path(__file__).resolve().parent
RULES_DIR = PACKAGE_DIR / "rules"
"""The packaged copy of the shipped SLA rules."""
INVENTORY = PACKAGE_DIR / "inventory.yaml"
"""The packaged copy of demo/inventory.yaml (routers on 127.0.0.1:16100-16102)."""

DEFAULT_PORT = 9464
"""The daemon's HTTP port in the demo (the daemon's default)."""
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


def write_files(workdir: Path, port: int, device_ports: Mapping[int, int]) -> DemoFiles:
    """Write monitord.yaml, rules/, inventory.yaml (ports mapped by ``device_ports``) and a token.

    A token already there is kept, so a terminal's curl commands survive a restart.
    The state file is removed: each demo starts from an empty state.
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
        "  intervals: {AAA: 10s, AA: 15s, default: 20s}\n",
        encoding="utf-8",
    )
    return DemoFiles(workdir, config, token_file, token)


async def run_demo(workdir: Path | None = None, *, port: int = DEFAULT_PORT,
                   snmp_ports: Sequence[int] | None = None, steps: Sequence[Step] = SCRIPT,
                   out: TextIO | None = None) -> None:
    """Run routers, daemon and scenario until SIGINT or SIGTERM (or the daemon stops); then stop all.

    ``workdir`` defaults to a new temporary directory (kept afterwards, for a
    look at its state). ``port`` is the daemon's HTTP port (0: any free one);
    ``snmp_ports`` the routers' UDP ports in inventory order (default 16100-16102;
    0: any free one). Raises ``InputError``, ``ApiSettingsError``, ``DemoError``
    or ``OSError`` (a port in use) when it cannot start.
    """
    from monitord import app  # the composition root: imported late, it is the heaviest import

    out = out or sys.stdout
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
    daemon: asyncio.Task[None] | None = None
    scenario: asyncio.Task[None] | None = None
    stopping = asyncio.create_task(stop.wait())
    try:
        devices = await start_devices(specs, snmp_ports, community=COMMUNITY)
        by_port = {spec.port: device for spec, device in zip(specs, devices, strict=True)}
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="monitord-demo-"))
        files = write_files(workdir.resolve(), port, {p: d.port for p, d in by_port.items()})
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
        _banner(out, files, url, devices)
        scenario = asyncio.create_task(Scenario(url, files.token, by_port, out=out).run(steps), name="demo-scenario")
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
        for d in devices:
            d.stop()
        for sig in handled:
            loop.remove_signal_handler(sig)
        if devices:
            print("monitord demo stopped.", file=out, flush=True)


def _banner(out: TextIO, files: DemoFiles, url: str, devices: Sequence[SimulatedDevice]) -> None:
    routers = ", ".join(f"{d.name} 127.0.0.1:{d.port}" for d in devices)
    event = '{"at": "<now, ISO 8601 with offset>", "type": "dispatched", "ticket": "DEMO-A-1"}'
    lines = [
        f"monitord demo is running at {url}",
        f"  working directory: {files.workdir} (monitord.yaml, rules/, inventory.yaml, token, {STATE_FILE})",
        f"  simulated routers, SNMPv2c community {COMMUNITY!r}: {routers}",
        f"    snmpwalk -v2c -c {COMMUNITY} 127.0.0.1:{devices[0].port} 1.3.6.1.2.1.2.2",
        "  where to look:",
        f"    curl {url}/api/v1/alerts       alerts firing now",
        f"    curl {url}/api/v1/tickets      tickets and their deadlines",
        f"    curl {url}/api/v1/circuits     circuits and their availability this month",
        f"    curl {url}/metrics             Prometheus metrics",
        f"    curl {url}/api/v1/openapi.json the API",
        f"  send an event: curl -H \"Authorization: Bearer $(cat {files.token_file})\" \\\n"
        f"                 -d '{event}' {url}/api/v1/events",
        "  Ctrl-C stops the demo: routers, daemon and scenario.",
        "",
    ]
    print("\n".join(lines), file=out, flush=True)


def main(workdir: Path | None = None, *, port: int = DEFAULT_PORT, snmp_ports: Sequence[int] | None = None) -> int:
    """Run the demo in a new event loop; the exit code: 0 after Ctrl-C, 2 when it cannot start."""
    from monitord.api import ApiSettingsError
    from monitord.yamldoc import InputError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("apscheduler", "alembic"):  # a line per poll and per migration step would bury the alerts
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        asyncio.run(run_demo(workdir, port=port, snmp_ports=snmp_ports))
    except KeyboardInterrupt:  # Ctrl-C before the loop took the signal: nothing was running yet
        return 0
    except InputError as exc:
        print(*exc.problems, sep="\n", file=sys.stderr)
        return 2
    except (ApiSettingsError, DemoError) as exc:
        print(f"monitord demo: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a router's port is taken: most likely by another demo
        print(f"monitord demo: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
