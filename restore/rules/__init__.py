"""The rule table: every rule of ``spec/restore-rules.md`` (R01-R104) plus restorekit's consistency checks, as data.

Topics live in their own modules; :data:`RULES` is the whole table in id order, and :func:`evaluate` applies one
rule to one option.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from restore.rules import (
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
)
from restore.rules.base import Ctx, NeedInput, Rule


def _order(r: Rule) -> tuple[bool, int]:
    """R01-R104 first, then restorekit's own checks."""
    return (not r.id.startswith("R"), int(r.id[1:]))


RULES: list[Rule] = sorted(
    [*replace.RULES, *disks.RULES, *newvm.RULES, *staging.RULES, *crossregion.RULES, *crosssub.RULES,
     *crosszone.RULES, *identity.RULES, *files.RULES, *consistency.RULES], key=_order)
BY_ID: dict[str, Rule] = {r.id: r for r in RULES}


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on one option."""

    rule: str
    severity: str  # block | warn | info | unknown
    message: str
    source: str
    evidence: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON shape of the plan."""
        return {"rule": self.rule, "severity": self.severity, "message": self.message, "source": self.source,
                "evidence": self.evidence}


def evaluate(rule: Rule, ctx: Ctx, option: str) -> Finding | None:
    """The finding of ``rule`` for ``option``, or None when it does not apply or does not fire."""
    if option not in rule.options or rule.coverage == "not-applicable" or not ctx.modifier_active(rule.modifier):
        return None
    try:
        fired = rule.condition(ctx)
    except NeedInput as need:
        return Finding(rule.id, "unknown", f"{rule.when}: {need.what} unknown; {need.how}", rule.source)
    if not fired:
        return None
    message = rule.message + (" (documents disagree across versions: verify)" if rule.disputed
                              and "verify" not in rule.message else "")
    return Finding(rule.id, rule.severity, message, rule.source, fired if isinstance(fired, str) else None)


__all__ = ["BY_ID", "RULES", "Ctx", "Finding", "NeedInput", "Rule", "evaluate"]
