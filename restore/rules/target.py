"""Replace-disks pre-checks against the VM as it is now (``--target-vm``) that no rule id covers.

``spec/restore-rules.md`` has no row for these, yet each decides whether the recovery point's disks fit the VM
they would replace. They are data like the rules, with ``cited=False``: a finding carries ``"rule": null`` and
the check's name as ``"check"``. The sources are the Azure compute documentation facts each one rests on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.model import HOW
from restorekit.rules.base import OLR, TARGET_VM_HOW, NeedInput, rule
from restorekit.rules.lunmap import describe, lun_map, target
from restorekit.targetvm import source_generation

if TYPE_CHECKING:
    from restorekit.rules.base import Ctx

GEN_HOW = (f"{HOW['hyperv_generation']}; for the VM to replace, pass `az vm get-instance-view -g RG -n VM -o json` "
           "as --target-vm (instanceView.hyperVGeneration)")
#: Disk types whose logical sector size may be 4096 (the default when created); every other type has 512.
SECTOR_4K_TYPES = ("ultrassd_lrs", "premiumv2_lrs")
SRC_OS = "Azure compute docs: swapping the OS disk cannot switch a VM's OS type"
SRC_GEN = "Azure compute docs (generation 2 VMs): a VM's generation cannot change after it is created"
SRC_SEC = "Azure compute docs (Trusted Launch, confidential VMs): the security type belongs to the VM and its disks"
SRC_ZONE = "Azure compute docs: a zonal managed disk attaches only to a VM in the same zone"
SRC_SIZE = "Azure managed disks docs: a disk keeps its size and cannot shrink"
SRC_SECTOR = ("Azure managed disks docs: Ultra and Premium SSD v2 disks have 4096-byte logical sectors unless "
              "created with 512; other disk types have 512")


def _os_type(c: Ctx) -> str | bool:
    now = target(c).os_type
    if not now:
        raise NeedInput("the OS type of the VM to replace", TARGET_VM_HOW)
    then = c.model.os_type or (c.evidence.os_family() or "").capitalize() or c.need("os_type")
    return f"recovery point: {then}, VM now: {now}" if then.lower() != now.lower() else False


def rp_generation(c: Ctx) -> str:
    """The recovery point's VM generation (see :func:`restorekit.targetvm.source_generation`)."""
    found = source_generation(c.model, c.evidence.efi_boot())
    if found is None:
        raise NeedInput("the recovery point's VM generation", GEN_HOW)
    return found[0]


def _generation(c: Ctx) -> str | bool:
    now = target(c).hyperv_generation
    then = rp_generation(c)
    if now is None:
        raise NeedInput("the Hyper-V generation of the VM to replace", GEN_HOW)
    return f"recovery point: {then}, VM now: {now}" if then != now else False


def _security(c: Ctx, confidential: bool) -> str | bool:
    now = target(c).security_type
    then = c.need("security_type")
    if then.lower() == now.lower() or (confidential != ("confidentialvm" in (then.lower(), now.lower()))):
        return False
    return f"recovery point: {then}, VM now: {now}"


def _zones(c: Ctx) -> str | bool:
    now = sorted(target(c).zones)
    then = sorted(c.need("zones"))
    if then == now:
        return False
    return f"recovery point: {', '.join(then) or 'no zone'}; VM now: {', '.join(now) or 'no zone'}"


def _lun_map(c: Ctx) -> str | bool:
    entries = lun_map(c)
    restored = sum(1 for e in entries if e.restored)
    current = sum(1 for e in entries if e.current)
    if restored != current:
        return False  # R07 reports a different disk count, with the same LUN detail
    return describe(entries, "stays", "notOnVm") or False


def _sizes(c: Ctx) -> str | bool:
    seen = []
    for e in lun_map(c):
        if e.action != "replace" or e.restored is None or e.current is None:
            continue
        then, now = e.restored.size_gb, e.current.size_gb
        if then is None or now is None or then == now:
            continue
        if then > now:
            seen.append(f"{e.label}: restored {then} GB does not fit the {now} GB disk on the VM now "
                        f"(the replacement is {then} GB)")
        else:
            seen.append(f"{e.label}: restored {then} GB < {now} GB now (grown since the backup: "
                        "the replacement is the smaller disk; extend its partition again)")
    return "; ".join(seen) or False


def _sector(disk_type: str | None) -> str | None:
    if not disk_type:
        return None
    return "4096 by default" if disk_type.lower() in SECTOR_4K_TYPES else "512"


def _sectors(c: Ctx) -> str | bool:
    seen = []
    for e in lun_map(c):
        if e.restored is None or e.current is None:
            continue
        then, now = _sector(e.restored.storage_type), _sector(e.current.storage_type)
        if then and now and then != now:
            seen.append(f"{e.label}: {e.restored.storage_type} in the recovery point ({then}-byte logical sectors), "
                        f"{e.current.storage_type} on the VM now ({now})")
    return "; ".join(seen) or False


CHECKS = [
    rule("osType", OLR, "block", "OS type of the recovery point differs from the VM's",
         "The restored OS disk's OS type differs from the VM's: a VM cannot switch OS type by swapping its OS disk.",
         SRC_OS, _os_type, cited=False),
    rule("hyperVGeneration", OLR, "block", "Hyper-V generation of the recovery point differs from the VM's",
         "The restored OS disk was made for another VM generation: it does not boot on this VM.", SRC_GEN,
         _generation, cited=False),
    rule("confidentialVm", OLR, "block", "one side is a confidential VM, the other not",
         "A confidential VM's disks (and their VM guest state) cannot replace a non-confidential VM's, nor the "
         "reverse.", SRC_SEC, lambda c: _security(c, confidential=True), cited=False),
    rule("securityType", OLR, "warn", "security type differs (Standard vs TrustedLaunch)",
         "The VM's security type changed since the backup (e.g. upgraded to Trusted Launch): check that the "
         "restored OS boots with Secure Boot and vTPM as the VM has them now.", SRC_SEC,
         lambda c: _security(c, confidential=False), cited=False),
    rule("zone", OLR, "block", "recovery point zone differs from the VM's zone",
         "The VM's availability zone differs from the recovery point's: restored zonal disks cannot attach to it.",
         SRC_ZONE, _zones, cited=False),
    rule("lunMap", OLR, "warn", "same disk count, different LUNs",
         "The recovery point's LUNs and the VM's differ: only LUNs on both sides are replaced.", "S1", _lun_map,
         cited=False),
    rule("diskSize", OLR, "warn", "a restored disk's size differs from the VM's disk at that LUN",
         "A restored disk's size differs from the disk it replaces.", SRC_SIZE, _sizes, cited=False),
    rule("sectorSize", OLR, "warn",
         "logical sector size differs at a LUN (Ultra and Premium SSD v2 disks default to 4096)",
         "A restored disk's logical sector size differs from the disk it replaces: file systems and applications "
         "laid out for one sector size may not mount or start on the other.", SRC_SECTOR, _sectors, cited=False),
]
