"""Real SNMP agents and interfaces for the SNMP tests and bench/poll.py.

``Snmpd`` runs Debian's net-snmp agent in the foreground on a loopback high port
from a generated config (v2c community and a v3 authPriv SHA/AES user).
``VethPair`` makes kernel interfaces whose state a test sets; the agent reports
them in IF-MIB like any others. (This sandbox's kernel has no ``dummy`` link type,
so veth pairs it is: one end is up only while both ends are up, which also gives
the realistic "admin up, oper down" of a circuit whose far end failed.)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

COMMUNITY = "mdtest-ro"
V3_USER = "mdtest"
V3_AUTH_KEY = "mdtest-auth-key"
V3_PRIV_KEY = "mdtest-priv-key"


def snmpd_binary() -> str:
    """The snmpd path; skips the test without it, but fails under CI, where .ci/snmpd.sh installs it."""
    import pytest  # here, so that bench/poll.py can use this module without pytest

    path = shutil.which("snmpd") or ("/usr/sbin/snmpd" if os.path.exists("/usr/sbin/snmpd") else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("snmpd is not installed; CI must run .ci/snmpd.sh first")
        pytest.skip("snmpd is not installed (bash .ci/snmpd.sh installs it)")
    return path


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Snmpd:
    """One net-snmp agent on 127.0.0.1:port, started in the foreground, stopped by ``stop``."""

    def __init__(self, workdir: Path, binary: str, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_udp_port()
        workdir.mkdir(parents=True, exist_ok=True)
        conf = workdir / "snmpd.conf"
        conf.write_text(
            f"rocommunity {COMMUNITY} 127.0.0.1\n"
            f'createUser {V3_USER} SHA "{V3_AUTH_KEY}" AES "{V3_PRIV_KEY}"\n'
            f"rouser {V3_USER} priv\n"
        )
        self.log = workdir / "snmpd.log"
        env = dict(os.environ, SNMP_PERSISTENT_DIR=str(workdir / "persist"))
        # -C: only our config; -m "" -M: no MIB files (the agent needs none, and loading
        # Debian's partial set only fills the log with warnings).
        argv = [binary, "-f", "-Lo", "-C", "-c", str(conf), "-p", str(workdir / "snmpd.pid")]
        argv += ["-m", "", "-M", str(workdir), f"udp:127.0.0.1:{self.port}"]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()

    def _wait_ready(self, within: float = 10.0) -> None:
        # With -Lo the agent prints its version line once its port is open.
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"snmpd exited with {self.proc.returncode}:\n{self.log.read_text()}")
            if "NET-SNMP version" in self.log.read_text(errors="replace"):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"snmpd did not start within {within} s:\n{self.log.read_text()}")

    def pause(self) -> None:
        """Stop the agent answering (SIGSTOP): requests are left unanswered, as with a dead device."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused agent run again."""
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Terminate the agent (resuming it first, so it can act on SIGTERM)."""
        if self.proc.poll() is None:
            self.resume()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class VethPair:
    """A veth pair ``name`` <-> ``name + 'p'``; ``name`` is the interface the tests poll."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.peer = name + "p"
        self.delete()  # left over from a run that was killed before its cleanup
        _ip("link", "add", self.name, "type", "veth", "peer", "name", self.peer)

    def set(self, *, admin_up: bool, peer_up: bool) -> None:
        """Set the polled end's admin state and its far end's; oper is up only when both are up."""
        _ip("link", "set", self.name, "up" if admin_up else "down")
        _ip("link", "set", self.peer, "up" if peer_up else "down")

    def delete(self) -> None:
        """Remove the pair (deleting one end removes both)."""
        subprocess.run(["ip", "link", "del", self.name], capture_output=True)


def make_veth(name: str) -> VethPair:
    """A new veth pair; skips the test where interfaces cannot be made, but fails under CI."""
    import pytest

    try:
        return VethPair(name)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        if os.environ.get("CI"):
            pytest.fail(f"cannot create a veth interface (root and iproute2 needed): {detail}")
        pytest.skip(f"cannot create a veth interface here: {detail}")
