"""The rule table is complete, every decidable rule has a fire/quiet case, and docs/rule-coverage.md is current."""

from __future__ import annotations

import re
from pathlib import Path

from restorekit.rules import RULES
from restorekit.rules.coverage import DOC, render
from tests.conftest import ROOT
from tests.restore import test_rules_cross, test_rules_files, test_rules_restore

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "restore-rules.md"


def test_every_spec_rule_is_in_the_table() -> None:
    ids = {r.id for r in RULES}
    assert {f"R{i:02d}" for i in range(1, 105)} <= ids
    if SPEC.exists():
        assert set(re.findall(r"^\| (R\d+) \|", SPEC.read_text("utf-8"), re.MULTILINE)) <= ids


def test_every_evaluated_rule_has_a_fire_and_quiet_case() -> None:
    cases = {c[0] for module in (test_rules_restore, test_rules_cross, test_rules_files) for c in module.CASES}
    evaluated = {r.id for r in RULES if r.coverage != "not-applicable"}
    assert evaluated - cases == set()


def test_every_rule_cites_a_source_and_a_severity() -> None:
    for r in RULES:
        assert r.source and r.message and r.when and r.severity in ("block", "warn") and r.options, r.id


def test_committed_coverage_table_is_current() -> None:
    doc = ROOT / DOC
    assert doc.exists(), "run: python -m restorekit.rules.coverage --write (from the checkout)"
    drifted = "docs/rule-coverage.md drifted: python -m restorekit.rules.coverage --write"
    assert doc.read_text("utf-8") == render(), drifted
