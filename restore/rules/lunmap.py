"""The recovery point's disks beside the disks of the VM to replace, LUN by LUN.

A LUN on both sides is replaced; a LUN only on the VM stays attached, untouched; a LUN only in the recovery point
is not on the VM now. Restored sizes are the declared ``diskSizeGb`` (what Azure restores), else the image's
virtual size rounded up to whole GiB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from restorekit.model import HOW
from restorekit.rules.base import NeedInput
from restorekit.rules.checks import lun_of
from restorekit.targetvm import OS_LUN, TargetVm, VmDisk, lun_label, read_target_vm

if TYPE_CHECKING:
    from restorekit.rules.base import Ctx

GIB = 1 << 30
RP_LUNS_HOW = HOW["disk_sizes_gb"] + ", or images named by LUN (a restore-disks folder or recoverypoint.json disks)"


@dataclass(frozen=True)
class RestoredDisk:
    """A disk of the recovery point."""

    lun: int
    size_gb: int | None
    storage_type: str | None

    @property
    def id(self) -> str:
        """``os`` / ``lun3``, as the plan names disks."""
        return "os" if self.lun == OS_LUN else f"lun{self.lun}"


@dataclass(frozen=True)
class LunEntry:
    """One LUN: the restored disk, the VM's disk, or both."""

    lun: int
    restored: RestoredDisk | None
    current: VmDisk | None

    @property
    def action(self) -> str:
        """``replace``, ``stays`` (only on the VM) or ``notOnVm`` (only in the recovery point)."""
        if self.restored and self.current:
            return "replace"
        return "stays" if self.current else "notOnVm"

    @property
    def label(self) -> str:
        """``os`` or ``LUN n``."""
        return lun_label(self.lun)

    def to_dict(self) -> dict[str, Any]:
        """JSON of one ``lunMap`` entry."""
        return {
            "lun": self.lun, "action": self.action,
            "recoveryPoint": None if self.restored is None else {
                "disk": self.restored.id, "diskSizeGb": self.restored.size_gb,
                "storageAccountType": self.restored.storage_type},
            "vm": None if self.current is None else {
                "name": self.current.name, "id": self.current.managed_id, "diskSizeGb": self.current.size_gb,
                "storageAccountType": self.current.storage_type},
        }


def target(c: Ctx) -> TargetVm:
    """The ``--target-vm`` VM; :class:`NeedInput` when it was not given."""
    return read_target_vm(c.target_vm())


def restored_disks(c: Ctx) -> dict[int, RestoredDisk]:
    """The recovery point's disks by LUN (OS = -1), from the declared storage profile and the images."""
    sizes: dict[int, int | None] = dict(c.model.disk_sizes_gb or {})
    for disk_id, size in c.evidence.disk_sizes.items():
        lun = lun_of(disk_id)
        if lun is not None and sizes.get(lun) is None:
            sizes[lun] = -(-size // GIB)
    types = c.model.disk_types or {}
    luns = set(sizes) | set(types) | {lun for d in c.evidence.disk_errors if (lun := lun_of(d)) is not None}
    if c.model.disk_exclusion and c.model.included_luns is not None:
        luns &= {OS_LUN, *c.model.included_luns}
    if not luns:
        raise NeedInput("the recovery point's disks by LUN", RP_LUNS_HOW)
    return {lun: RestoredDisk(lun, sizes.get(lun), types.get(lun)) for lun in sorted(luns)}


def lun_map(c: Ctx) -> list[LunEntry]:
    """Every LUN of either side, OS disk first."""
    restored, current = restored_disks(c), target(c).disks
    return [LunEntry(lun, restored.get(lun), current.get(lun)) for lun in sorted(set(restored) | set(current))]


def describe(entries: list[LunEntry], *actions: str) -> str:
    """``LUN 1 stays (on the VM, not in the recovery point)``: the entries with one of ``actions``."""
    words = {"stays": "stays (on the VM, not in the recovery point)",
             "notOnVm": "in the recovery point, not on the VM"}
    return "; ".join(f"{e.label} {words[e.action]}" for e in entries if e.action in actions)
