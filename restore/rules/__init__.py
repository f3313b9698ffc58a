"""The rule table: every rule of ``spec/restore-rules.md`` (R01-R104) plus restorekit's consistency checks, as data.

Topics live in their own modules; :data:`RULES` is the whole table in id order, :data:`CHECKS` the replace-disks
pre-checks against ``--target-vm`` that no rule id covers, and :func:`evaluate` applies one of either to one option.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from restorekit.rules import (
    consistency,
    crossregion,
    crosssub,
    crosszone,
    disks,
    files,
    identity,
    newvm,
    replace,
    staging,
    target,
)
from restorekit.rules.base import Ctx, NeedInput, Rule


def _order(r: Rule) -> tuple[bool, int]:
    """R01-R104 first, then restorekit's own checks."""
    return (not r.id.startswith("R"), int(r.id[1:]))


RULES: list[Rule] = sorted(
    [*replace.RULES, *disks.RULES, *newvm.RULES, *staging.RULES, *crossregion.RULES, *crosssub.RULES,
     *crosszone.RULES, *identity.RULES, *files.RULES, *consistency.RULES], key=_order)
BY_ID: dict[str, Rule] = {r.id: r for r in RULES}
CHECKS: list[Rule] = target.CHECKS


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on one option; a check without a rule id has ``rule`` None and its name in ``check``."""

    rule: str | None
    severity: str  # block | warn | info | unknown
    message: str
    source: str
    evidence: str | None = None
    check: str | None = None

    @property
    def cites(self) -> str:
        """The rule id, or the check's name when no rule covers it."""
        return self.rule or self.check or "?"

    def to_dict(self) -> dict[str, Any]:
        """JSON shape of the plan (``check`` only on findings without a rule id)."""
        out = {"rule": self.rule, "severity": self.severity, "message": self.message, "source": self.source,
               "evidence": self.evidence}
        return out if self.rule else {**out, "check": self.check}


def evaluate(rule: Rule, ctx: Ctx, option: str) -> Finding | None:
    """The finding of ``rule`` for ``option``, or None when it does not apply or does not fire."""
    if option not in rule.options or rule.coverage == "not-applicable" or not ctx.modifier_active(rule.modifier):
        return None
    cited, check = (rule.id, None) if rule.cited else (None, rule.id)
    try:
        fired = rule.condition(ctx)
    except NeedInput as need:
        return Finding(cited, "unknown", f"{rule.when}: {need.what} unknown; {need.how}", rule.source, check=check)
    if not fired:
        return None
    message = rule.message + (" (documents disagree across versions: verify)" if rule.disputed
                              and "verify" not in rule.message else "")
    return Finding(cited, rule.severity, message, rule.source, fired if isinstance(fired, str) else None, check)


__all__ = ["BY_ID", "CHECKS", "RULES", "Ctx", "Finding", "NeedInput", "Rule", "evaluate"]
