"""``python -m monitord.demo``: the demo without the ``monitord`` command, and with the routers' ports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitord.demo import DEFAULT_PORT, main


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
    args = p.parse_args(argv)
    return main(args.workdir, port=args.port, snmp_ports=args.snmp_ports)


if __name__ == "__main__":
    sys.exit(cli())
