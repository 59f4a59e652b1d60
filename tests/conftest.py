"""Shared fixtures and helpers: the repository root, the shipped rules, and what a test needs installed."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from monitord.sla.policy import SlaPolicy, load_policy

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = Path(__file__).resolve().parent / "testdata"


@pytest.fixture(scope="session")
def policy() -> SlaPolicy:
    """The shipped SLA policy."""
    return load_policy(ROOT / "rules")


def expectations(path: Path) -> list[tuple[int, str, str]]:
    """`# expect: LINE: KEY: MESSAGE` header lines of a bad test-data file."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"# expect: (\d+): ([^:]*): (.+)$", line)
        if m:
            out.append((int(m.group(1)), m.group(2).strip(), m.group(3).strip()))
    return out


def need(what: str, found: bool) -> None:
    """Skip the test when ``what`` is missing, but fail under CI, where ``.ci/run`` installs everything."""
    if found:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing (CI must have it: see .ci/)")
    pytest.skip(f"{what} is missing")


def program(name: str, install: str) -> str:
    """The path of an installed program, as ``need`` decides when it is missing; ``install`` says how."""
    found = shutil.which(name)
    need(f"{name} ({install})", found is not None)
    assert found is not None
    return found
