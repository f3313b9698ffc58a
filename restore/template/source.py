"""What the template is built from: the source VM's disks, NICs and settings, read from the recovery point.

:func:`read_source` joins the recovery point's disks (the ones restored) with the VM description by LUN, the VM's
NIC list with the ``az network nic show`` documents by id, and decides the OS disk's Hyper-V generation from the
disk evidence first (an EFI system partition means Gen2), then from what the VM description says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from restorekit.errors import TemplateError
from restorekit.jsonio import ci_get, properties
from restorekit.model import build_model, ip_configurations
from restorekit.model import vm_disks as model_vm_disks
from restorekit.recoverypoint import OS_LUN
from restorekit.targetvm import generation, source_generation, vm_disks

if TYPE_CHECKING:
    from restorekit.evidence import Evidence
    from restorekit.model import VmModel
    from restorekit.recoverypoint import RecoveryPoint
    from restorekit.request import RestoreRequest

TRUSTED_LAUNCH = "trustedlaunch"


@dataclass(frozen=True)
class SourceDisk:
    """One restored disk: its LUN (-1 for the OS disk) and what the VM description says about it."""

    lun: int
    name: str | None
    vhd_uri: str | None
    sku: str | None
    caching: str | None

    @property
    def is_os(self) -> bool:
        """Whether this is the OS disk."""
        return self.lun == OS_LUN


@dataclass(frozen=True)
class SourceNic:
    """One NIC of the source VM (``az network nic show`` when given, else only its id from the VM)."""

    name: str | None
    primary: bool
    subnet: str | None
    static_ips: tuple[str, ...] = ()
    lb_pools: tuple[str, ...] = ()
    public_ip: bool = False
    accelerated: bool | None = None


@dataclass
class Source:
    """Everything the builders read."""

    model: VmModel
    os_type: str
    disks: list[SourceDisk]
    nics: list[SourceNic]
    generation: str
    generation_why: str
    vm: dict[str, Any] = field(default_factory=dict)
    recovery_point: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Disks the VM's JSON declares that the template leaves out: ``{"lun", "name", "reason"}``.
    left_out: list[dict[str, Any]] = field(default_factory=list)

    @property
    def trusted_launch(self) -> bool:
        """Whether the source VM was a Trusted Launch VM."""
        return str(self.model.security_type or "").lower() == TRUSTED_LAUNCH

    def uefi(self, key: str) -> bool:
        """``securityProfile.uefiSettings.<key>`` of the source, True when it does not say."""
        return ci_get(self.vm, "securityProfile", "uefiSettings", key) is not False


def read_source(rp: RecoveryPoint, request: RestoreRequest, evidence: Evidence) -> Source:
    """Read the source VM; :class:`TemplateError` when the recovery point cannot say which disk is which."""
    if rp.form == "images" or any(d.lun is None for d in rp.disks):
        raise TemplateError("image files alone do not say which disk is the OS disk or at which LUN each data "
                            "disk sat", hint='write a recoverypoint.json with "disks": [{"lun": -1, "image": ...}] '
                            "(and the VM's `az vm show -o json` as \"vm\")")
    model = build_model(rp)
    os_type = model.os_type or (evidence.os_family() or "").capitalize() or None
    if os_type not in ("Windows", "Linux"):
        raise TemplateError("the OS type is unknown: neither the recovery point's JSON nor the disks say it",
                            hint='add "recoveryPoint" (az backup recoverypoint show) or "vm" (az vm show) to '
                            "recoverypoint.json, or let restorekit scan the images (drop --no-scan)")
    if str(model.security_type or "").lower() == "confidentialvm":
        raise TemplateError("confidential VMs need their VM guest state restored with the disk "
                            "(createOption ImportSecure); this template builds Standard and Trusted Launch VMs only",
                            hint="create the VM with the restore job's own option (create-vm)")
    vm = rp.vm or {}
    disks = _disks(rp, request, vm)
    if not any(d.is_os for d in disks):
        raise TemplateError("the recovery point has no OS disk (LUN -1)",
                            hint='give the OS disk image in recoverypoint.json as {"lun": -1, "image": ...}')
    gen, why, notes = _generation(model, evidence, vm)
    return Source(model, os_type, disks, _nics(rp, vm), gen, why, vm, rp.recovery_point or {}, notes,
                  _left_out(rp, vm, disks))


def _left_out(rp: RecoveryPoint, vm: dict[str, Any], kept: list[SourceDisk]) -> list[dict[str, Any]]:
    """The disks the VM declares that the recovery point has no image for, each with why; a disk left out by
    --diskslist or --restore-only-osdisk is the user's choice, not listed."""
    have = {ref.lun for ref in rp.disks}
    out = []
    for lun, entry in model_vm_disks(vm):
        if lun in have or any(d.lun == lun for d in kept):
            continue
        where = "the OS disk" if lun == OS_LUN else f"the data disk at LUN {lun}"
        if rp.form == "restore-disks-folder" and not isinstance(ci_get(entry, "vhd", "uri"), str):
            reason = (f"{where} has no vhd.uri in the restore job's config (a managed disk the job did not restore "
                      "as a VHD); give its image through a recoverypoint.json to include it")
        else:
            reason = (f"{where} is declared by the VM but the recovery point has no image for it (excluded from "
                      "the backup, or not downloaded); add it to recoverypoint.json's \"disks\" to include it")
        name = ci_get(entry, "name")
        out.append({"lun": lun, "name": name if isinstance(name, str) else None, "reason": reason})
    return out


def _disks(rp: RecoveryPoint, request: RestoreRequest, vm: dict[str, Any]) -> list[SourceDisk]:
    declared = vm_disks(vm)
    entries = dict(model_vm_disks(vm))
    wanted = {OS_LUN} if request.restore_only_osdisk else (
        {OS_LUN, *request.diskslist} if request.diskslist else None)
    out = []
    for ref in sorted(rp.disks, key=lambda r: r.lun if r.lun is not None else 0):
        lun = ref.lun if ref.lun is not None else OS_LUN
        if wanted is not None and lun not in wanted:
            continue
        info = declared.get(lun)
        entry = entries.get(lun, {})
        uri = ci_get(entry, "vhd", "uri")
        out.append(SourceDisk(lun, (info.name if info else None) or ref.name, uri if isinstance(uri, str) else None,
                              info.storage_type if info else None, ci_get(entry, "caching")))
    return out


def _generation(model: VmModel, evidence: Evidence, vm: dict[str, Any]) -> tuple[str, str, list[str]]:
    efi = evidence.efi_boot()
    declared = (model.hyperv_generation or generation(vm) or "").upper() or None
    notes = []
    if efi is not None and declared is not None and (declared == "V2") != efi:
        notes.append(f"the VM description says {declared} but the OS disk "
                     f"{'has' if efi else 'has no'} EFI system partition; the disk decides")
    found = source_generation(model, efi)
    if found is not None:
        return (*found, notes)
    if declared:
        return declared, "the VM description (instance view)", notes
    return "V1", "nothing shows the generation (images not scanned, no OS volume found); V1 assumed", notes


def _nics(rp: RecoveryPoint, vm: dict[str, Any]) -> list[SourceNic]:
    docs = {str(ci_get(n, "id", default="")).lower(): n for n in rp.network_interfaces if isinstance(n, dict)}
    refs = ci_get(vm, "networkProfile", "networkInterfaces", default=None) or []
    listed = [(str(ci_get(r, "id", default="")), bool(ci_get(r, "primary") or ci_get(r, "properties", "primary")))
              for r in refs if isinstance(r, dict)]
    if not listed:
        listed = [(str(ci_get(n, "id", default="")), bool(ci_get(n, "primary"))) for n in docs.values()]
    nics = [_nic(nic_id, primary, docs.get(nic_id.lower())) for nic_id, primary in listed] or [
        SourceNic(None, True, None)]
    first_primary = next((i for i, n in enumerate(nics) if n.primary), 0)
    return [SourceNic(n.name, i == first_primary, n.subnet, n.static_ips, n.lb_pools, n.public_ip, n.accelerated)
            for i, n in enumerate(nics)]


def _nic(nic_id: str, primary: bool, doc: Any) -> SourceNic:
    name = nic_id.rstrip("/").rsplit("/", 1)[-1] or None
    if doc is None:
        return SourceNic(name, primary, None)
    props = properties(doc)
    static, pools, public, subnet = [], [], False, None
    for cfg in ip_configurations(doc):
        if cfg.static:
            static.append("" if cfg.private_ip is None else str(cfg.private_ip))
        pools += [str(pool) for pool in cfg.lb_pools if pool]
        public = public or cfg.public_ip is not None
        subnet = subnet or cfg.subnet
    accelerated = ci_get(props, "enableAcceleratedNetworking")
    return SourceNic(name, primary, subnet, tuple(static), tuple(pools), public,
                     accelerated if isinstance(accelerated, bool) else None)
