"""The plan's findings that a disk-restore template must carry.

A VM built from restored disks meets what "Create new VM" would have: these rules of ``spec/restore-rules.md``
name something the template decides (an availability set, a static IP, load balancers and extra NICs, a
marketplace plan, Azure Disk Encryption keys, the Hybrid Use Benefit licence). Each finding that fires becomes
(part of) a parameter's description; each one the plan could not decide is listed with the input that would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from restorekit.model import build_model
from restorekit.plan import plan_option
from restorekit.rules import Ctx, Finding

if TYPE_CHECKING:
    from restorekit.evidence import Evidence
    from restorekit.recoverypoint import RecoveryPoint
    from restorekit.request import RestoreRequest

#: Rule id → what in the template it concerns.
TEMPLATE_RULES = {
    "R16": "Azure Disk Encryption keys",
    "R17": "marketplace plan",
    "R19": "availability set",
    "R20": "load balancer, several NICs or public IPs",
    "R21": "static private IP",
    "R24": "Hybrid Use Benefit licence",
    "R83": "Azure Disk Encryption keys in Key Vault",
}
FIRED = ("block", "warn")


def template_findings(rp: RecoveryPoint, request: RestoreRequest, evidence: Evidence) -> list[Finding]:
    """The template rules' findings for create-vm and restore-disks, one per rule, in rule order."""
    ctx = Ctx(build_model(rp), request, evidence)
    found: dict[str, Finding] = {}
    for option in ("create-vm", "restore-disks"):
        for finding in plan_option(ctx, option):
            if finding.rule in TEMPLATE_RULES:
                found.setdefault(finding.rule, finding)
    return sorted(found.values(), key=lambda f: int(f.rule[1:]))


def metadata(findings: list[Finding], carried: list[tuple[Finding, str]]) -> list[dict[str, Any]]:
    """The template's ``metadata.findings``: every template finding and the parameters that carry it."""
    params: dict[str, list[str]] = {}
    for finding, name in carried:
        params.setdefault(finding.rule, []).append(name)
    return [{**f.to_dict(), "concerns": TEMPLATE_RULES[f.rule], "parameters": params.get(f.rule, [])}
            for f in findings]


def left_out_finding(disk: dict[str, Any]) -> dict[str, Any]:
    """A ``metadata.findings`` entry for a disk the VM declares but the template leaves out (no rule: a check)."""
    name = f" ({disk['name']})" if disk["name"] else ""
    return {"rule": None, "severity": "warn", "message": f"left out{name}: {disk['reason']}", "source": "template",
            "evidence": f"lun {disk['lun']}", "check": "disk-left-out", "concerns": "disks the VM declares",
            "parameters": []}
