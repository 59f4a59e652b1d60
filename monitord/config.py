"""``monitord.yaml`` -> typed settings; every error names file:line and the key.

Paths in the file are relative to the file's own directory. Example::

    rules: rules/                     # the SLA policy directory
    inventory: demo/inventory.yaml    # customers, circuits, maintenance windows
    storage: sqlite:///var/lib/monitord/monitord.db
    outage_basis: tickets             # optional: overrides rules' availability.outage_basis
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from monitord.yamldoc import Problems, Section


class OutageBasis(enum.StrEnum):
    """Where availability takes its outage intervals from (rules default, deployment override)."""

    TICKETS = "tickets"  # reported (or first `down`) -> restored, minus pauses
    MONITORING = "monitoring"  # observed down -> up
    BOTH = "both"  # the union of the two


@dataclass(frozen=True)
class Settings:
    """The daemon's settings, validated."""

    file: Path
    rules: Path
    inventory: Path | None
    storage: str
    outage_basis: OutageBasis | None


DEFAULT_STORAGE = "sqlite:///monitord.db"


def load_settings(path: Path | str) -> Settings:
    """Read ``monitord.yaml``; raises ``InputError`` with every problem."""
    problems = Problems()
    settings = settings_from(Section.load(path, problems), Path(path))
    problems.raise_if_any()
    assert settings is not None
    return settings


def settings_from(doc: Section, path: Path) -> Settings | None:
    """Settings from a parsed document; problems go to its collector."""
    doc.only("rules", "inventory", "storage", "outage_basis")
    base = path.parent
    rules_sec, inv_sec = doc.get("rules", required=True), doc.get("inventory")
    storage_sec, basis_sec = doc.get("storage"), doc.get("outage_basis")
    rules = rules_sec.text() if rules_sec else None
    if rules is not None and not (base / rules).is_dir():
        assert rules_sec is not None
        rules_sec.error(f"no such directory: {base / rules}")
    inventory = inv_sec.text() if inv_sec else None
    if inventory is not None and not (base / inventory).is_file():
        assert inv_sec is not None
        inv_sec.error(f"no such file: {base / inventory}")
    storage = (storage_sec.text() if storage_sec else DEFAULT_STORAGE) or DEFAULT_STORAGE
    if "://" not in storage:
        assert storage_sec is not None
        storage_sec.error(f'expected an SQLAlchemy URL like "sqlite:///monitord.db", got "{storage}"')
    basis = basis_sec.enum(OutageBasis) if basis_sec else None
    if rules is None:
        return None
    return Settings(path, base / rules, base / inventory if inventory else None, storage, basis)
