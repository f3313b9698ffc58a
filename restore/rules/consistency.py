"""Where the declared metadata and the disk evidence disagree: restorekit's own checks C01-C05.

They are not in ``spec/restore-rules.md``; ``spec/recovery-point.md`` asks for them ("Where evidence and
declared metadata disagree, the plan says so"). A disagreement is a warning on every option: the rules above
used the evidence as well, but the user should learn which input is wrong.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.evidence import ADE_FORMATS, ids
from restorekit.rules.base import ANY, rule

if TYPE_CHECKING:
    from restorekit.rules.base import Ctx

SOURCE = "restorekit: recovery-point.md, evidence vs metadata"


def _encryption(c: Ctx) -> str | bool:
    if not c.evidence.scanned or c.model.ade is None:
        return False
    seen = [v for v in c.evidence.encrypted() if str(v["encryption"]).startswith(ADE_FORMATS)]
    if c.model.ade is False and seen:
        return f"metadata says not encrypted; the disks show {ids(seen)}"
    if c.model.ade is True and not seen and c.evidence.readable():
        return "metadata says ADE-encrypted; no BitLocker/LUKS volume on the disks"
    return False


def _os_type(c: Ctx) -> str | bool:
    found = c.evidence.os_family()
    declared = (c.model.os_type or "").lower()
    return bool(found and declared and found != declared) and f"metadata says {c.model.os_type}; disks hold {found}"


def _generation(c: Ctx) -> str | bool:
    efi = c.evidence.efi_boot()
    if efi is None:
        return False
    gen = (c.model.hyperv_generation or "").upper()
    if c.model.security_type and c.model.security_type.lower() in ("trustedlaunch", "confidentialvm"):
        gen = gen or "V2"
    if gen == "V1" and efi:
        return "metadata says Gen1 (BIOS); the OS disk has an EFI system partition (Gen2)"
    if gen == "V2" and not efi:
        return f"metadata says Gen2 ({c.model.security_type or 'V2'}); the OS disk has no EFI system partition"
    return False


def _domain_controller(c: Ctx) -> str | bool:
    found = c.evidence.domain_controllers()
    return c.model.domain_controller is False and bool(found) and \
        f'facts say not a domain controller; {ids(found)} holds NTDS.dit'


def _disk_count(c: Ctx) -> str | bool:
    declared = c.model.disk_count
    images = len(c.evidence.disk_sizes) + len(c.evidence.disk_errors)
    if not c.evidence.scanned or declared is None or not images:
        return False
    excluded = c.model.disk_exclusion and c.model.included_luns is not None
    expected = len(c.model.included_luns or []) + 1 if excluded else declared
    return images != expected and f"metadata declares {expected} disk(s) in the backup; {images} image(s) given"


RULES = [
    rule("C01", ANY, "warn", "encryption: declared vs seen on the disks", "Declared encryption and the disks disagree.",
         SOURCE, _encryption),
    rule("C02", ANY, "warn", "OS type: declared vs found on the disks", "Declared OS type and the disks disagree.",
         SOURCE, _os_type),
    rule("C03", ANY, "warn", "VM generation: declared vs EFI system partition",
         "Declared VM generation and the OS disk's boot layout disagree.", SOURCE, _generation),
    rule("C04", ANY, "warn", "domain controller: declared vs NTDS.dit",
         "Declared role and the OS disk disagree.", SOURCE, _domain_controller),
    rule("C05", ANY, "warn", "disk count: declared vs images given",
         "The recovery point's declared disks and the images given disagree.", SOURCE, _disk_count),
]
