"""Shared fixtures: the repository root and the shipped rules."""

from __future__ import annotations

import re
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
