"""Conditions shared by several rules (encryption, tiers, managed disks, disk layout)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.evidence import ADE_FORMATS, ids
from restorekit.targetvm import power_state as target_power_state

if TYPE_CHECKING:
    from restorekit.rules.base import Ctx

TB_GB = 1024


def ade(c: Ctx) -> str | bool:
    """Azure Disk Encryption: declared, or (when undeclared) BitLocker/LUKS seen on the disks."""
    declared = c.model.ade
    if declared is not None:
        return "recoveryPoint isSourceVMEncrypted / osDisk.encryptionSettings: yes" if declared else False
    seen = [v for v in c.evidence.encrypted() if str(v["encryption"]).startswith(ADE_FORMATS)]
    if seen:
        return f"not declared; the disks show {ids(seen)}"
    c.need("ade")  # raises: neither metadata nor a scan
    return False


def no_vault_tier(c: Ctx) -> str | bool:
    """The recovery point has no vault-tier (Standard) copy yet."""
    tiers = c.need("tiers")
    return False if "vault" in tiers else f"tiers: {', '.join(sorted(tiers)) or 'none valid'}"


def unmanaged(c: Ctx) -> str | bool:
    """The VM used unmanaged disks."""
    return c.no("managed") and "isManagedVirtualMachine: no"


def security(c: Ctx, *types: str) -> str | bool:
    """The VM's security type is one of ``types``."""
    value = c.need("security_type")
    return f"securityType: {value}" if value.lower() in {t.lower() for t in types} else False


def disk_types(c: Ctx, *needles: str) -> str | bool:
    """Disks whose storage type contains one of ``needles`` (case-insensitive)."""
    found = {lun: t for lun, t in c.need("disk_types").items() if any(n in t.lower() for n in needles)}
    return ", ".join(f"LUN {lun}: {t}" for lun, t in sorted(found.items())) if found else False


def disk_sizes_gb(c: Ctx) -> dict[str, int]:
    """Disk sizes in GB by disk id, from the images when scanned, else from the VM's storage profile."""
    if c.evidence.disk_sizes:
        return {d: size >> 30 for d, size in c.evidence.disk_sizes.items()}
    return {("os" if lun == -1 else f"lun{lun}"): gb for lun, gb in c.need("disk_sizes_gb").items()}


def big_disks(c: Ctx, limit_gb: int) -> str | bool:
    """Disks larger than ``limit_gb``."""
    found = {d: gb for d, gb in disk_sizes_gb(c).items() if gb > limit_gb}
    return ", ".join(f"{d}: {gb} GB" for d, gb in sorted(found.items())) if found else False


def evidence_of(c: Ctx, *containers: str) -> str | bool:
    """Pool members of the given kinds on the disks (scan required)."""
    c.scanned()
    found = c.evidence.containers(*containers)
    return f"disks show {ids(found)}" if found else False


def vault_tier_rp(c: Ctx) -> bool:
    """The restore reads from the vault tier (no snapshot copy left)."""
    tiers = c.need("tiers")
    return "vault" in tiers and "snapshot" not in tiers


def power_state(c: Ctx) -> str:
    """``--target-vm``'s power state (``az vm show -d`` prints it)."""
    from restorekit.rules.base import TARGET_VM_HOW, NeedInput

    state = target_power_state(c.target_vm())
    if state is None:
        raise NeedInput("power state of the VM to replace", TARGET_VM_HOW + " (-d adds powerState)")
    return state


def lun_of(disk_id: str) -> int | None:
    """``os`` → -1, ``lun3`` → 3, else None."""
    if disk_id == "os":
        return -1
    if disk_id.startswith("lun") and disk_id[3:].isdigit():
        return int(disk_id[3:])
    return None
