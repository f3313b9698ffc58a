"""The ordered steps of a replace-disks restore, from the LUN map of the recovery point and ``--target-vm``.

What Azure Backup does for "Replace existing" (S1): snapshot the VM's current disks into the staging location,
swap the OS disk, swap the data disks by LUN, and keep the replaced disks in the resource group. The number of
disks follows the VM as it is now (R07): a LUN only on the VM stays attached, a LUN only in the recovery point is
not attached. The plan shows these steps so the user can review what will change before the job runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from restorekit.jsonio import id_segment
from restorekit.rules import NeedInput
from restorekit.rules.lunmap import lun_map, target
from restorekit.targetvm import OS_LUN

if TYPE_CHECKING:
    from restorekit.rules import Ctx
    from restorekit.rules.lunmap import LunEntry


def _resource_group(disk_id: str | None, default: str | None) -> str | None:
    return id_segment(disk_id, "resourceGroups") or default


def _step(action: str, entry: LunEntry, detail: str) -> dict[str, Any]:
    return {"action": action, "lun": entry.lun, "disk": entry.current.name if entry.current else None,
            "restoredDisk": entry.restored.id if entry.restored else None, "detail": detail}


def replace_steps(entries: list[LunEntry], staging: str | None, vm_group: str | None) -> list[dict[str, Any]]:
    """Numbered steps: snapshots, OS swap, data swaps by LUN, disks left as they are, originals kept."""
    account = f"staging account {staging}" if staging else "the staging storage account (--storage-account)"
    replaced = [e for e in entries if e.action == "replace"]
    steps = [_step("snapshotDisk", e, f"snapshot into {account}") for e in replaced]
    steps += [_step("swapOsDisk" if e.lun == OS_LUN else "swapDataDisk", e,
                    f"replaced by the restored {e.restored.id if e.restored else '?'}") for e in replaced]
    steps += [_step("keepDataDisk", e, "stays attached, unchanged (not in the recovery point)")
              for e in entries if e.action == "stays"]
    steps += [_step("skipRestoredDisk", e, f"restored {e.restored.id if e.restored else '?'} is not attached: the "
                    "VM has no disk at this LUN now (restore disks to get it)")
              for e in entries if e.action == "notOnVm"]
    steps += [_step("keepOriginalDisk", e, "the replaced disk stays in resource group "
                    f"{_resource_group(e.current.managed_id if e.current else None, vm_group) or '?'}")
              for e in replaced]
    return [{"step": n, **s} for n, s in enumerate(steps, 1)]


def replace_preview(ctx: Ctx) -> dict[str, Any] | None:
    """``{"lunMap", "replaceSteps"}`` when ``--target-vm`` was given and the recovery point's LUNs are known."""
    if ctx.request.target_vm is None:
        return None
    try:
        entries = lun_map(ctx)
    except NeedInput:
        return None
    staging = ctx.request.storage_account.get("name") if ctx.request.storage_account else None
    return {"lunMap": [e.to_dict() for e in entries],
            "replaceSteps": replace_steps(entries, staging, target(ctx).resource_group)}
