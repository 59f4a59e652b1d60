"""systemd/monitord.service: the directives the daemon relies on, `systemd-analyze verify`, and its
`systemd-analyze security` exposure score.

The systemd-analyze tests skip only when CI is unset and the tool is missing; under CI they run
(`.ci/systemd.sh` installs it). Both work offline: no running systemd is needed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import program

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "monitord.service"
SHIPPED_EXEC_START = "ExecStart=/usr/local/bin/monitord run --config /etc/monitord/monitord.yaml"

# Highest acceptable `systemd-analyze security` exposure (0.0 best .. 10.0 worst). The unit
# scores 1.5 with systemd 252; what remains is the network access the daemon needs, the host's
# root directory and /proc, and syscall groups we keep on purpose. 2.0 leaves room for a new
# systemd version to weigh a check differently, but catches a dropped hardening line or two.
MAX_EXPOSURE = 2.0


def _systemd_analyze() -> str:
    """The systemd-analyze path (skipped when missing, except under CI)."""
    return program("systemd-analyze", "run .ci/systemd.sh")


def _monitord() -> str:
    """The installed `monitord` console script (verify insists that ExecStart exists)."""
    path = shutil.which("monitord") or shutil.which("monitord", path=str(Path(sys.executable).parent))
    assert path, "the monitord console script is not installed (pip install -e .)"
    return path


def _directives(text: str) -> dict[str, list[str]]:
    """``Section.Key`` -> its values, in order, from unit file text (no line continuations used)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key}", []).append(value)
    return found


def _testable_unit(tmp_path: Path, text: str | None = None) -> Path:
    """A copy of the unit named monitord.service whose ExecStart is the real console script."""
    text = UNIT.read_text() if text is None else text
    assert text.count(SHIPPED_EXEC_START) == 1
    unit = tmp_path / "monitord.service"
    unit.write_text(text.replace("ExecStart=/usr/local/bin/monitord ", f"ExecStart={_monitord()} "))
    return unit


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_systemd_analyze(), "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""},
    )


def _unit_problems(result: subprocess.CompletedProcess[str]) -> list[str]:
    # verify exits 0 for some problems it only warns about (an unknown key is "ignoring"), so any
    # line that names our unit counts as a failure too.
    return [line for line in (result.stdout + result.stderr).splitlines() if "monitord.service" in line]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Service.Type", "notify"),
        ("Service.NotifyAccess", "main"),
        ("Service.ExecStart", SHIPPED_EXEC_START.removeprefix("ExecStart=")),
        ("Service.ExecReload", "/bin/kill -HUP $MAINPID"),
        ("Service.WatchdogSec", "30s"),
        ("Service.Restart", "on-failure"),
        ("Service.DynamicUser", "yes"),
        ("Service.StateDirectory", "monitord"),
        ("Service.ConfigurationDirectory", "monitord"),
        ("Service.RuntimeDirectory", "monitord"),
        ("Service.EnvironmentFile", "-/etc/default/monitord"),
        ("Service.ProtectSystem", "strict"),
        ("Service.RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX AF_NETLINK"),
        ("Service.CapabilityBoundingSet", ""),
        ("Service.MemoryDenyWriteExecute", "yes"),
        ("Service.SystemCallFilter", "@system-service"),
        ("Service.UMask", "0077"),
    ],
)
def test_unit_has_the_directives_the_daemon_relies_on(key: str, value: str) -> None:
    assert _directives(UNIT.read_text()).get(key) == [value]


def test_environment_example_is_comments_and_commented_out_assignments() -> None:
    # Prose comments start "# "; a sample setting is "#KEY=value", valid once the '#' is removed.
    samples = 0
    for number, line in enumerate((ROOT / "systemd" / "monitord.env.example").read_text().splitlines(), 1):
        if not line or line == "#" or line.startswith("# "):
            continue
        assert re.fullmatch(r"#[A-Za-z_][A-Za-z0-9_]*=\S+", line), f"line {number}: {line!r}"
        samples += 1
    assert samples > 0


def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    result = _verify(_testable_unit(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert _unit_problems(result) == []


def test_systemd_analyze_verify_catches_a_typo(tmp_path: Path) -> None:
    # Proves the test above can fail: a misspelt hardening key is only a warning to systemd.
    text = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict")
    assert any("ProtectSytem" in line for line in _unit_problems(_verify(_testable_unit(tmp_path, text))))


def test_systemd_analyze_security_exposure_is_low(tmp_path: Path) -> None:
    analyze = _systemd_analyze()
    usage = subprocess.run([analyze, "--help"], capture_output=True, text=True, timeout=60).stdout
    if "--offline" not in usage:
        # systemd < 250 can only review loaded units of a running manager.
        message = "systemd-analyze has no --offline (systemd < 250); cannot review a unit file"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    unit = _testable_unit(tmp_path)
    result = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_COLORS": "0"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    found = re.search(r"Overall exposure level for monitord\.service: (\d+(?:\.\d+)?) (\S+)", output)
    assert found, output
    exposure = float(found.group(1))
    assert exposure < MAX_EXPOSURE, output
