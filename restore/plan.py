"""The restore planner: a verdict per restore option, every finding citing its rule.

``plan(rp, request, evidence)`` builds the typed model of the recovery point, evaluates the rule table for each
option and, for ``files``, adds what restorekit itself can recover. A verdict is ``blocked`` when a rule blocks,
``allowed-with-warnings`` when any rule warns or could not be decided (``unknown``), else ``allowed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from restorekit.model import VmModel, build_model
from restorekit.replacesteps import replace_preview
from restorekit.request import OPTIONS
from restorekit.rules import CHECKS, RULES, Ctx, Finding, evaluate
from restorekit.selfrecovery import self_recovery

if TYPE_CHECKING:
    from collections.abc import Sequence

    from restorekit.evidence import Evidence
    from restorekit.recoverypoint import RecoveryPoint
    from restorekit.request import RestoreRequest

SEVERITY_ORDER = {"block": 0, "warn": 1, "unknown": 2, "info": 3}


@dataclass
class OptionPlan:
    """The verdict on one restore option."""

    option: str
    verdict: str
    findings: list[Finding]
    restorekit: dict[str, Any] | None = None
    #: replace-disks with --target-vm: ``{"lunMap": [...], "replaceSteps": [...]}``.
    replace: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON shape of one ``options`` entry."""
        out: dict[str, Any] = {"option": self.option, "verdict": self.verdict,
                               "findings": [f.to_dict() for f in self.findings]}
        if self.restorekit is not None:
            out["restorekit"] = self.restorekit
        return {**out, **(self.replace or {})}


@dataclass
class Plan:
    """All option verdicts plus a summary of what was known."""

    summary: dict[str, Any]
    options: list[OptionPlan] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """``{"recoveryPoint": {...}, "options": [...]}``."""
        return {"recoveryPoint": self.summary, "options": [o.to_dict() for o in self.options]}

    def option(self, name: str) -> OptionPlan:
        """The plan of one option."""
        return next(o for o in self.options if o.option == name)

    def exit_code(self, requested: str) -> int:
        """0 when the requested option is allowed (or ``all`` was asked), 3 when it is blocked."""
        if requested == "all":
            return 0
        return 3 if self.option(requested).verdict == "blocked" else 0


def verdict(findings: Sequence[Finding]) -> str:
    """``blocked`` / ``allowed-with-warnings`` / ``allowed``."""
    severities = {f.severity for f in findings}
    if "block" in severities:
        return "blocked"
    return "allowed-with-warnings" if severities & {"warn", "unknown"} else "allowed"


def plan_option(ctx: Ctx, option: str) -> list[Finding]:
    """Every firing or undecidable rule (then check) for ``option``, block first, then in rule order."""
    found = [f for rule in (*RULES, *CHECKS) if (f := evaluate(rule, ctx, option)) is not None]
    return sorted(found, key=lambda f: SEVERITY_ORDER[f.severity])


def plan(rp: RecoveryPoint, request: RestoreRequest, evidence: Evidence,
         options: Sequence[str] = OPTIONS) -> Plan:
    """Plan the restore of ``rp`` as ``request`` asks, using what the images showed in ``evidence``."""
    model = build_model(rp)
    ctx = Ctx(model, request, evidence)
    result = Plan(summary(rp, model, request, evidence))
    for option in options:
        findings = plan_option(ctx, option)
        extra = self_recovery(evidence) if option == "files" else None
        replace = replace_preview(ctx) if option == "replace-disks" else None
        result.options.append(OptionPlan(option, verdict(findings), findings, extra, replace))
    return result


def summary(rp: RecoveryPoint, model: VmModel, request: RestoreRequest, evidence: Evidence) -> dict[str, Any]:
    """What the plan was made from: the form, disks, declared facts, the facts nobody declared, the request."""
    return {
        "form": rp.form,
        "vm": model.vm_name,
        "osType": model.os_type or (evidence.os_family() or "").capitalize() or None,
        "disks": [{"id": d.id, "lun": d.lun, "image": d.shown} for d in rp.disks],
        "declared": model.known(),
        "unknown": model.unknown(),
        "request": request.flags(),
        "evidence": {
            "scanned": evidence.scanned,
            "volumes": [{k: v.get(k) for k in ("id", "filesystem", "encryption", "locked", "container", "os",
                                                "dedup")} for v in evidence.volumes],
            "diskErrors": evidence.disk_errors,
        },
        "warnings": list(rp.warnings),
    }
