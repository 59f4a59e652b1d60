"""``python -m monitord.demo``: the demo without the ``monitord`` command, with the routers' ports, fast-forwarded."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from monitord.demo import DEFAULT_PORT, DEFAULT_SMTP_PORT, DEFAULT_WEBHOOK_PORT, main


def _ports(text: str) -> list[int]:
    try:
        ports = [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three ports like 16100,16101,16102, got {text!r}") from None
    if len(ports) != 3 or not all(0 <= p < 65536 for p in ports):
        raise argparse.ArgumentTypeError(f"expected three ports like 16100,16101,16102, got {text!r}")
    return ports


def cli(argv: list[str] | None = None) -> int:
    """Parse the arguments and run the demo; returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m monitord.demo", description="monitord on simulated routers")
    p.add_argument("--workdir", type=Path,
                   help="directory for config, rules, token and state (default: a new temp dir)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="the daemon's HTTP port (0: any free port)")
    p.add_argument("--snmp-ports", type=_ports,
                   help="the three routers' UDP ports (default 16100,16101,16102; 0: free)")
    p.add_argument("--smtp-port", type=int, default=DEFAULT_SMTP_PORT,
                   help="the demo mail server's port (0: any free port)")
    p.add_argument("--webhook-port", type=int, default=DEFAULT_WEBHOOK_PORT,
                   help="the demo webhook endpoint's port (0: any free port)")
    p.add_argument("--fast-forward", type=float, default=0.0, metavar="SECONDS",
                   help="start the scenario's clock this much earlier, so its deadlines come that much sooner")
    args = p.parse_args(argv)
    return main(args.workdir, port=args.port, snmp_ports=args.snmp_ports, smtp_port=args.smtp_port,
                webhook_port=args.webhook_port, fast_forward=timedelta(seconds=args.fast_forward))


if __name__ == "__main__":
    sys.exit(cli())
