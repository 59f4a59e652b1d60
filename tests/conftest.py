"""Shared fixtures: the repository root and the shipped rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitord.sla.policy import SlaPolicy, load_policy

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = Path(__file__).resolve().parent / "testdata"


@pytest.fixture(scope="session")
def policy() -> SlaPolicy:
    """The shipped SLA policy."""
    return load_policy(ROOT / "rules")
