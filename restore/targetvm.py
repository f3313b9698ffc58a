"""The VM a replace-disks restore would change, read from ``az vm show -d -o json`` (``--target-vm``).

:func:`read_target_vm` turns that document into a :class:`TargetVm`: identity (ARM ``id`` and the ``vmId``
GUID Azure gives each VM instance), power state (``powerState``, which ``-d`` adds, or ``instanceView.statuses``
of ``az vm get-instance-view``), OS type, security type, zones, Hyper-V generation where something shows it,
and its disks by LUN (``-1`` is the OS disk). :func:`check_target_vm` says in one line why a document is not a
VM description, so ``plan`` can refuse a wrong file before it judges anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from restorekit.errors import PlanError
from restorekit.jsonio import ci_get
from restorekit.model import os_name
from restorekit.model import vm_disks as storage_profile_disks

if TYPE_CHECKING:
    from restorekit.model import VmModel

OS_LUN = -1
VM_TYPE = "microsoft.compute/virtualmachines"
#: Marketplace image SKUs name their Gen2 variant so: ``2022-datacenter-g2``, ``22_04-lts-gen2``,
#: ``2019-datacenter-gensecond``. Only a positive sign: a SKU without it says nothing.
GEN2_SKU = re.compile(r"(gen2|gensecond|(^|[-_])g2)($|[-_])", re.IGNORECASE)
#: Security types that exist only on Gen2 VMs.
GEN2_ONLY = ("trustedlaunch", "confidentialvm")
ADE_EXTENSIONS = ("azurediskencryption", "azurediskencryptionforlinux")


@dataclass(frozen=True)
class VmDisk:
    """One disk attached to a VM, as ``storageProfile`` lists it."""

    lun: int
    name: str | None
    managed_id: str | None
    size_gb: int | None
    storage_type: str | None


def lun_label(lun: int) -> str:
    """``os`` or ``LUN n``, as findings and steps name a disk slot."""
    return "os" if lun == OS_LUN else f"LUN {lun}"


@dataclass(frozen=True)
class TargetVm:
    """What ``az vm show -d`` says about the VM to replace."""

    id: str | None
    vm_id: str | None
    name: str | None
    resource_group: str | None
    type: str | None
    power_state: str | None
    os_type: str | None
    security_type: str
    zones: tuple[str, ...]
    hyperv_generation: str | None
    generalized: bool | None
    ade: str | None
    disks: dict[int, VmDisk] = field(default_factory=dict)

    @property
    def managed(self) -> bool:
        """Whether the OS disk is a managed disk (unmanaged VMs name a ``vhd.uri`` instead)."""
        os_disk = self.disks.get(OS_LUN)
        return os_disk is not None and os_disk.managed_id is not None


def vm_disks(doc: Any) -> dict[int, VmDisk]:
    """The disks of a VM document by LUN, the OS disk at -1."""
    out = {}
    for lun, disk in storage_profile_disks(doc):
        size = ci_get(disk, "diskSizeGb")
        out[lun] = VmDisk(lun, ci_get(disk, "name"), ci_get(disk, "managedDisk", "id"),
                          size if isinstance(size, int) else None, ci_get(disk, "managedDisk", "storageAccountType"))
    return out


def power_state(doc: Any) -> str | None:
    """``VM running``, ``VM deallocated``...: ``powerState`` (``az vm show -d``) or the instance view's status."""
    state = ci_get(doc, "powerState")
    if isinstance(state, str):
        return state
    for status in _statuses(doc):
        code = str(ci_get(status, "code", default=""))
        if code.lower().startswith("powerstate/"):
            return str(ci_get(status, "displayStatus", default="VM " + code.split("/", 1)[1]))
    return None


def _statuses(doc: Any) -> list[Any]:
    statuses = ci_get(doc, "instanceView", "statuses")
    return statuses if isinstance(statuses, list) else []


def _generalized(doc: Any) -> bool | None:
    """From ``instanceView.statuses`` (``OSState/generalized``) when the document carries an instance view."""
    codes = [str(ci_get(s, "code", default="")).lower() for s in _statuses(doc)]
    return "osstate/generalized" in codes if codes else None


def security_type(doc: Any) -> str:
    """``securityProfile.securityType``; ``Standard`` when the VM has none."""
    value = ci_get(doc, "securityProfile", "securityType")
    return value if isinstance(value, str) and value else "Standard"


def generation(doc: Any) -> str | None:
    """``V1``/``V2`` from the instance view, else ``V2`` when the security type or image SKU needs Gen2."""
    declared = ci_get(doc, "instanceView", "hyperVGeneration")
    if isinstance(declared, str) and declared:
        return declared.upper()
    if security_type(doc).lower() in GEN2_ONLY:
        return "V2"
    sku = ci_get(doc, "storageProfile", "imageReference", "sku")
    return "V2" if isinstance(sku, str) and GEN2_SKU.search(sku) else None


def source_generation(model: VmModel, efi_boot: bool | None) -> tuple[str, str] | None:
    """The recovery point's VM generation and why, or None when nothing shows it.

    The OS disk's boot layout decides (an EFI system partition boots only as V2; without one, only V1), since
    the restored disk is what must boot; then the declared ``hyperVGeneration``; then a security type or an
    image SKU that exists only for generation 2.
    """
    if efi_boot is not None:
        if efi_boot:
            return "V2", "the OS disk has an EFI system partition"
        return "V1", "the OS disk boots without an EFI system partition (BIOS)"
    if model.hyperv_generation:
        return model.hyperv_generation.upper(), "hyperVGeneration declared"
    if (model.security_type or "").lower() in GEN2_ONLY:
        return "V2", f"security type {model.security_type} exists only for generation 2"
    if model.image_sku and GEN2_SKU.search(model.image_sku):
        return "V2", f"image SKU {model.image_sku} is a generation 2 image"
    return None


def _ade(doc: Any) -> str | None:
    """How the VM shows Azure Disk Encryption, or None."""
    if ci_get(doc, "storageProfile", "osDisk", "encryptionSettings", "enabled"):
        return "osDisk.encryptionSettings.enabled"
    for ext in ci_get(doc, "resources", default=None) or []:
        kind = ci_get(ext, "typePropertiesType") or ci_get(ext, "type")
        if isinstance(kind, str) and kind.lower() in ADE_EXTENSIONS:
            return f"extension {ci_get(ext, 'name') or kind}"
    return None


def read_target_vm(doc: dict[str, Any]) -> TargetVm:
    """The :class:`TargetVm` of an ``az vm show -d`` document."""
    zones = ci_get(doc, "zones")
    return TargetVm(
        id=ci_get(doc, "id"), vm_id=ci_get(doc, "vmId"), name=ci_get(doc, "name"),
        resource_group=ci_get(doc, "resourceGroup"), type=ci_get(doc, "type"), power_state=power_state(doc),
        os_type=os_name(ci_get(doc, "storageProfile", "osDisk", "osType")), security_type=security_type(doc),
        zones=tuple(str(z) for z in zones) if isinstance(zones, list) else (),
        hyperv_generation=generation(doc), generalized=_generalized(doc), ade=_ade(doc), disks=vm_disks(doc),
    )


def check_target_vm(doc: dict[str, Any], path: str) -> dict[str, Any]:
    """``doc`` when it describes one VM; else :class:`PlanError` naming the file and what is missing."""
    hint = "save the output of `az vm show -d -g RG -n VM -o json` for the VM to replace"
    kind = ci_get(doc, "type")
    if isinstance(kind, str) and kind.lower() != VM_TYPE and not kind.lower().startswith("microsoft.classiccompute"):
        raise PlanError(f"--target-vm {path}: is a {kind}, not a virtual machine", hint=hint)
    missing = [key for key, value in (("id", ci_get(doc, "id")), ("vmId", ci_get(doc, "vmId")),
                                      ("storageProfile.osDisk", ci_get(doc, "storageProfile", "osDisk")))
               if not value]
    if missing:
        raise PlanError(f"--target-vm {path}: has no {', '.join(missing)}; is it `az vm show` output?", hint=hint)
    return doc
