"""What is known about a recovery point, and what is not: the data behind ``restorekit show``.

:func:`describe` joins the three sources the planner uses: the declared JSON (read through
:func:`restorekit.model.build_model` and, for details the rules do not need, the ``az`` documents themselves), the
disk images (format and size, from :func:`restorekit.evidence.collect`) and the evidence inside them (OS edition,
EFI boot, encryption, pools, and the shadow copies that are earlier points in time inside the recovery point).
Every model fact nothing declared is listed under ``unknown`` with the input that would decide it
(:data:`restorekit.model.HOW`). Field names are camelCase, as ``az -o json`` prints them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from restorekit.evidence import ADE_FORMATS
from restorekit.jsonio import ci_get, id_segment, properties
from restorekit.model import VmModel, build_model, ip_configurations, vm_disks
from restorekit.recoverypoint import OS_LUN, DiskRef

if TYPE_CHECKING:
    from restorekit.evidence import Evidence
    from restorekit.recoverypoint import RecoveryPoint

#: The form numbers of ``spec/recovery-point.md``.
FORMS = {"restore-disks-folder": 1, "manifest": 2, "images": 3}


def describe(rp: RecoveryPoint, evidence: Evidence) -> dict[str, Any]:
    """Everything known about ``rp`` and, under ``unknown``, each missing fact with the input that decides it."""
    model = build_model(rp)
    return {
        "form": FORMS[rp.form],
        "formName": rp.form,
        "files": _files(rp),
        "vm": _identity(rp, model),
        "os": _os(rp, model, evidence),
        "hardware": _hardware(rp, model, evidence),
        "disks": _disks(rp, model, evidence),
        "networkInterfaces": _nics(rp),
        "vault": _vault(rp, model),
        "recoveryPoint": _recovery_point(rp, model),
        "shadowCopies": _shadow_copies(evidence),
        "evidence": {"scanned": evidence.scanned, "volumes": evidence.volumes, "diskErrors": evidence.disk_errors},
        "unknown": _unknown(model, evidence),
        "warnings": list(rp.warnings),
    }


def _files(rp: RecoveryPoint) -> dict[str, Any]:
    return {
        "manifest": str(rp.manifest_path) if rp.manifest_path else None,
        "config": str(rp.config_path) if rp.config_path else None,
        "template": str(rp.template_path) if rp.template_path else None,
        "images": [d.shown for d in rp.disks],
    }


def _identity(rp: RecoveryPoint, model: VmModel) -> dict[str, Any]:
    source = ci_get(properties(rp.recovery_point), "sourceResourceId")
    vm_id = model.vm_id or source
    return {
        "name": model.vm_name or id_segment(vm_id, "virtualMachines"),
        "id": vm_id,
        "vmId": model.vm_unique_id,
        "computerName": model.hostname,
        "location": model.location,
        "subscription": model.subscription,
        "resourceGroup": ci_get(rp.vm, "resourceGroup") or id_segment(vm_id, "resourceGroups"),
    }


def _os(rp: RecoveryPoint, model: VmModel, evidence: Evidence) -> dict[str, Any]:
    image = ci_get(rp.vm, "storageProfile", "imageReference")
    reference = None
    if isinstance(image, dict) and ci_get(image, "offer"):
        reference = ":".join(str(ci_get(image, k) or "") for k in ("publisher", "offer", "sku", "version"))
    found = [{"volume": v["id"], **v["os"]} for v in evidence.os_volumes()]
    family = evidence.os_family()
    declared = model.os_type
    agrees = None if not (family and declared) else family == declared.lower()
    return {"osType": declared, "imageReference": reference, "osName": model.facts.get("osName"),
            "found": found, "agrees": agrees}


def _hardware(rp: RecoveryPoint, model: VmModel, evidence: Evidence) -> dict[str, Any]:
    efi = evidence.efi_boot()
    esp = next((v["os"]["efiSystemPartition"] for v in evidence.os_volumes() if v["os"].get("efiSystemPartition")),
               None)
    return {
        "vmSize": model.vm_size,
        "hyperVGeneration": model.hyperv_generation,
        "efiBoot": efi,
        "efiSystemPartition": esp,
        "generationFromDisks": None if efi is None else ("V2" if efi else "V1"),
        "securityType": model.security_type,
        "zones": model.zones,
        "availabilitySet": ci_get(rp.vm, "availabilitySet", "id") if model.availability_set else model.availability_set,
    }


def _disks(rp: RecoveryPoint, model: VmModel, evidence: Evidence) -> list[dict[str, Any]]:
    """One entry per disk: the image given for it and what the VM declares; declared disks without an image too."""
    declared = dict(vm_disks(rp.vm)) if rp.vm is not None else {}
    opened = {d["id"]: d for d in evidence.disks}
    rows: list[tuple[str, int | None, str | None, str | None]] = [
        (ref.id, ref.lun, ref.name, ref.shown) for ref in rp.disks]
    given = {ref.lun for ref in rp.disks}
    rows += [(DiskRef.id_for(lun, 0), lun, None, None) for lun in declared if lun not in given]
    out = []
    for disk_id, lun, name, image_path in rows:
        spec = declared.get(lun) if lun is not None else None
        image = opened.get(disk_id, {})
        seen = sorted({str(v["encryption"]) for v in evidence.encrypted() if v["disk"] == disk_id})
        out.append({
            "id": disk_id,
            "lun": lun,
            "name": name or ci_get(spec, "name"),
            "image": image_path,
            "format": image.get("format"),
            "virtualSize": image.get("virtualSize"),
            "error": evidence.disk_errors.get(disk_id),
            "diskSizeGb": ci_get(spec, "diskSizeGb"),
            "storageAccountType": ci_get(spec, "managedDisk", "storageAccountType"),
            "managed": None if spec is None else ci_get(spec, "managedDisk") is not None,
            "vhdUri": ci_get(spec, "vhd", "uri"),
            "included": None if model.included_luns is None else lun == OS_LUN or lun in model.included_luns,
            "encryption": {
                "ade": model.ade,
                "diskEncryptionSet": ci_get(spec, "managedDisk", "diskEncryptionSet", "id"),
                "seen": seen if evidence.scanned and disk_id in opened else None,
            },
        })
    return out


def _nics(rp: RecoveryPoint) -> list[dict[str, Any]]:
    """Each NIC of ``az network nic show``; NICs the VM lists without that JSON show their id only."""
    out = []
    for nic in rp.network_interfaces:
        configs = [{"name": cfg.name, "privateIPAddress": cfg.private_ip, "privateIPAllocationMethod": cfg.allocation,
                    "loadBalancerBackendAddressPools": list(cfg.lb_pools),
                    "publicIPAddress": ci_get(cfg.public_ip, "id"), "subnet": cfg.subnet}
                   for cfg in ip_configurations(nic)]
        out.append({"name": ci_get(nic, "name"), "id": ci_get(nic, "id"), "ipConfigurations": configs})
    known = {str(n["id"]).lower() for n in out}
    for ref in ci_get(rp.vm, "networkProfile", "networkInterfaces", default=[]) or []:
        nic_id = ci_get(ref, "id")
        if isinstance(nic_id, str) and nic_id.lower() not in known:
            out.append({"name": id_segment(nic_id, "networkInterfaces"), "id": nic_id, "ipConfigurations": None})
    return out


def _vault(rp: RecoveryPoint, model: VmModel) -> dict[str, Any]:
    vault_id = ci_get(rp.vault, "id") or _vault_id(ci_get(rp.recovery_point, "id"))
    return {
        "name": ci_get(rp.vault, "name") or id_segment(vault_id, "vaults"),
        "id": vault_id,
        "location": model.vault_location,
        "storageRedundancy": model.vault_redundancy,
        "crossRegionRestore": model.vault_crr,
        "crossSubscriptionRestore": model.vault_csr,
        "customerManagedKey": model.vault_cmk,
        "identity": model.vault_identity,
    }


def _vault_id(rp_id: Any) -> str | None:
    if not isinstance(rp_id, str):
        return None
    match = re.match(r"(.*?/vaults/[^/]+)", rp_id, re.IGNORECASE)
    return match.group(1) if match else None


def _recovery_point(rp: RecoveryPoint, model: VmModel) -> dict[str, Any]:
    props = properties(rp.recovery_point)
    return {
        "name": ci_get(rp.recovery_point, "name"),
        "recoveryPointTime": ci_get(props, "recoveryPointTime"),
        "recoveryPointType": ci_get(props, "recoveryPointType"),
        "tiers": sorted(model.tiers) if model.tiers is not None else None,
        "expiryTime": ci_get(props, "recoveryPointProperties", "expiryTime"),
        "isSourceVMEncrypted": model.ade,
        "diskExclusion": model.disk_exclusion,
        "includedLuns": model.included_luns,
    }


def _shadow_copies(evidence: Evidence) -> list[dict[str, Any]] | None:
    """Earlier points in time inside the recovery point: each NTFS volume's shadow copies, oldest first, with
    whether Windows lists them; None when the images were not scanned."""
    if not evidence.scanned:
        return None
    return [{"id": c["id"], "volume": c["volume"], "created": c.get("created"), "listed": c.get("listed"),
             "hiddenReason": c.get("hiddenReason")} for c in evidence.shadow_copies()]


def _unknown(model: VmModel, evidence: Evidence) -> list[dict[str, Any]]:
    """Each undeclared fact with the input that decides it, and what the disks suggest where they can tell."""
    seen = _from_disks(evidence)
    return [{"fact": fact, "how": how, "disksShow": seen.get(fact)} for fact, how in model.missing().items()]


def _from_disks(evidence: Evidence) -> dict[str, Any]:
    """Facts the scan answers (the planner's rules already use them; declaring them confirms)."""
    if not evidence.scanned:
        return {}
    out: dict[str, Any] = {"ade": any(str(v["encryption"]).startswith(ADE_FORMATS) for v in evidence.encrypted())}
    family = evidence.os_family()
    if family:
        out["osType"] = family.capitalize()
    efi = evidence.efi_boot()
    if efi is not None:
        out["hyperVGeneration"] = "V2" if efi else "V1"
    if family == "windows":
        out["domainController"] = bool(evidence.domain_controllers())
    return out
