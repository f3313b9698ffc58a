"""Rules about which disks a recovery point holds and which a restore asks for: R13-R15, R84, R85."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from restorekit.evidence import ids
from restorekit.rules.base import DISK, ILR, STAGING, NeedInput, rule
from restorekit.rules.checks import TB_GB, disk_sizes_gb, lun_of

if TYPE_CHECKING:
    from restorekit.rules.base import Ctx

POOLS = ("lvm2", "mdraid", "storage-spaces", "ldm")


def _luns_not_included(c: Ctx) -> str | bool:
    asked = c.request.diskslist
    if not asked:
        return False
    if c.model.included_luns is None:
        raise NeedInput("the recovery point's included disk list",
                        "add \"recoveryPoint\" (az backup recoverypoint show) to recoverypoint.json; no "
                        "recoveryPointDiskConfiguration means the point predates disk exclusion and --diskslist "
                        "cannot be used")
    missing = [lun for lun in asked if lun != -1 and lun not in c.model.included_luns]
    return f"--diskslist {', '.join(map(str, missing))} not in includedDiskList {c.model.included_luns}" if missing \
        else False


def _restored_luns(c: Ctx) -> set[int] | None:
    if c.request.restore_only_osdisk:
        return {-1}
    if c.request.diskslist is not None:
        return {-1, *c.request.diskslist}
    return None


def _pools(c: Ctx) -> dict[str, list[dict[str, Any]]]:
    """Pool members grouped by pool (``lvm2 vgdata``), by the pool id the scan reports."""
    pools: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for v in c.evidence.containers(*POOLS):
        pools.setdefault((str(v["container"]), str(v.get("pool") or "")), []).append(v)
    return {f"{kind} {members[0].get('poolName') or pool_id or '?'}": members
            for (kind, pool_id), members in pools.items()}


def _split_pool(c: Ctx) -> str | bool:
    restored = _restored_luns(c)
    if restored is None and not c.model.disk_exclusion:
        return False
    c.scanned()
    pools = _pools(c)
    if not pools:
        return False
    if restored is None:
        return f"disks were excluded from backup and {', '.join(pools)} may have had members on them"
    split = []
    for name, members in pools.items():
        kept = [v for v in members if lun_of(v["disk"]) in restored]
        left_out = [v for v in members if lun_of(v["disk"]) not in restored]
        if kept and left_out:
            split.append(f"{name}: restoring {ids(kept)} without {ids(left_out)}")
    return "; ".join(split) if split else False


def _not_in_rp(c: Ctx) -> str | bool:
    seen = []
    if c.request.diskslist and c.model.included_luns is not None:
        gone = [lun for lun in c.request.diskslist if lun != -1 and lun not in c.model.included_luns]
        if gone:
            seen.append(f"LUN {', '.join(map(str, gone))} not backed up")
    if c.model.ephemeral_os:
        seen.append("ephemeral OS disk")
    if c.model.shared_disks:
        seen.append("shared disk(s)")
    return "; ".join(seen) if seen else False


def _too_big(c: Ctx) -> str | bool:
    count = c.need("disk_count")
    limit = 16 if c.model.managed is False or c.model.classic else 32
    sizes = disk_sizes_gb(c)
    seen = []
    if count > limit:
        seen.append(f"{count} disks (limit {limit})")
    seen += [f"{d}: {gb} GB" for d, gb in sorted(sizes.items()) if gb > 32 * TB_GB]
    if sum(sizes.values()) > 256 * TB_GB:
        seen.append(f"{sum(sizes.values())} GB in all")
    return "; ".join(seen) if seen else False


RULES = [
    rule("R13", DISK, "block", "--diskslist given but the point predates exclusion, or a LUN not in includedDiskList",
         "Selective disk restore is supported only for recovery points created after the disk exclusion capability "
         "is enabled, and only for backed-up LUNs.", "S10", _luns_not_included),
    rule("R14", DISK, "warn", "LUN list omits the OS disk",
         "The OS disk (LUN -1) is included by default and can't be excluded; an empty list restores the OS disk only.",
         "S10,S16", lambda c: bool(c.request.diskslist) and -1 not in c.request.diskslist
         and "--diskslist without -1: the OS disk is restored anyway"),
    rule("R15", DISK, "warn", "multi-disk volume (spanned/striped/LVM/Storage Spaces) with members excluded",
         "The volume comprising of some non-backed up disks won't be created.", "S10", _split_pool),
    rule("R84", (*STAGING, ILR), "block", "disk not in the recovery point: temp, NVMe/ephemeral, shared, excluded LUN",
         "Azure Backup doesn't back up temporary disks; NVMe/ephemeral and shared disks are not supported.", "S2",
         _not_in_rp),
    rule("R85", (*STAGING, ILR), "block", ">32 disks (>16 unmanaged/classic), a disk >32 TB, or >256 TB in all",
         "Outside backup support, so no valid recovery point exists.", "S2", _too_big),
]
