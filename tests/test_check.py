"""`monitord check`: every bad file fails with each expected `file:line: key: message`, good files pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitord.cli import main
from tests.conftest import ROOT, TESTDATA, expectations

FLAG = {"rules": "--rules", "inventory": "--inventory", "config": "--config"}
# Folders of files `monitord check` reads; others (e.g. alerting/) are checked by their own tests.
CASES = sorted(p for p in TESTDATA.glob("*/*.yaml") if p.parent.name in FLAG)


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_check(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", FLAG[path.parent.name], str(path)])
    err = capsys.readouterr().err
    if path.name.endswith(".good.yaml"):
        assert code == 0, err
        return
    assert code == 1
    problems = [line for line in err.splitlines() if line.startswith(str(path))]
    expected = expectations(path)
    assert expected, f"{path} has no '# expect:' lines"
    for line, key, message in expected:
        prefix = f"{path}:{line}: {key}: " if key else f"{path}:{line}: "
        assert any(p.startswith(prefix) and message in p for p in problems), (
            f"missing {prefix}{message}\ngot:\n" + "\n".join(problems))
    assert len(problems) == len(expected), "extra problems reported:\n" + "\n".join(problems)


def test_shipped_rules_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(ROOT / "rules")]) == 0, capsys.readouterr().err


def test_shipped_demo_inventory_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--rules", str(ROOT / "rules"), "--inventory", str(ROOT / "demo/inventory.yaml")]) == 0


def test_contract_change_is_a_yaml_edit(tmp_path: Path) -> None:
    """Changing the AAA limit in YAML changes the deadline, with no code change."""
    from monitord.sla.policy import load_policy

    text = (ROOT / "rules/sla.yaml").read_text(encoding="utf-8")
    changed = text.replace("limits: {restore: 60m, report: 1wd}", "limits: {restore: 45m, report: 1wd}")
    assert changed != text
    for f in (ROOT / "rules").glob("*.yaml"):
        (tmp_path / f.name).write_text(changed if f.name == "sla.yaml" else f.read_text(encoding="utf-8"),
                                       encoding="utf-8")
    from datetime import timedelta

    from monitord.domain import DeadlineKind, SlaClass

    assert load_policy(tmp_path).classes[SlaClass.AAA].limits[DeadlineKind.RESTORE] == timedelta(minutes=45)
    assert load_policy(ROOT / "rules").classes[SlaClass.AAA].limits[DeadlineKind.RESTORE] == timedelta(minutes=60)
