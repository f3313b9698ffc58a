"""The VM itself: ``Microsoft.Compute/virtualMachines`` attaching the OS disk (so no ``osProfile`` and no
``imageReference``), data disks at their original LUNs, and the settings of the source that still apply.

Settings a plan finding is about become parameters citing it: the availability set (R19), the marketplace plan
(R17), the Hybrid Use Benefit licence (R24) and the Azure Disk Encryption keys (R16, R83).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from restorekit.jsonio import ci_get, properties
from restorekit.template.arm import param, q, x
from restorekit.template.names import VM_NAME_MAX

if TYPE_CHECKING:
    from restorekit.template.draft import Draft

VMS = "Microsoft.Compute/virtualMachines"
LICENSES = ["Windows_Server", "Windows_Client", "None"]


def add_vm_parameters(d: Draft) -> None:
    """The parameters every template has, declared first so the parameters file starts with them."""
    m = d.source.model
    d.params.add("VirtualMachineName", "string", "Name of the new VM; its NICs and (with Import) disks are named "
                 "after it. It must not be the name of a VM in the resource group, or that VM is changed.",
                 d.vm_name, max_length=VM_NAME_MAX[d.source.os_type])
    d.params.add("Location", "string", "Region of the VM, its disks and NICs (the source VM's region).",
                 m.location or x("resourceGroup().location"))
    d.params.add("VirtualMachineSize", "string", "VM size; the source VM's size by default (check that the region "
                 "offers it: `az vm list-skus -l LOCATION --size SIZE`).", m.vm_size or "",
                 fill_in=m.vm_size is None)
    if d.zone:
        d.params.add("Zone", "string", "Availability zone of the VM and its disks (the source VM's zone, or "
                     "--target-zone).", d.zone)
    if d.source.model.ade or d.cite("R16", "R83"):
        _ade_parameters(d)


def add_vm(d: Draft, storage: dict[str, Any], network: dict[str, Any]) -> None:
    """Declare the VM's own parameters and add the VM resource."""
    props: dict[str, Any] = {"hardwareProfile": {"vmSize": x(param("VirtualMachineSize"))},
                             "storageProfile": storage, "networkProfile": network}
    boot = ci_get(d.source.vm, "diagnosticsProfile", "bootDiagnostics", "enabled")
    d.params.add("BootDiagnostics", "bool", "Boot diagnostics with managed storage (serial console, screenshot).",
                 boot is not False)
    props["diagnosticsProfile"] = {"bootDiagnostics": {"enabled": x(param("BootDiagnostics"))}}
    body: dict[str, Any] = {"location": x(param("Location"))}
    if d.zone:
        body["zones"] = [x(param("Zone"))]
    if d.source.model.availability_set or d.cite("R19"):
        d.params.add("AvailabilitySetId", "string", "Resource id of an availability set in the VM's region and "
                     "resource group (the source's by default); empty: none. Not with a zone.",
                     str(ci_get(d.source.vm, "availabilitySet", "id", default="")), findings=d.cite("R19"))
        props["availabilitySet"] = x(f"if(empty({param('AvailabilitySetId')}), null(), "
                                     f"createObject({q('id')}, {param('AvailabilitySetId')}))")
    if d.source.model.marketplace_plan or d.cite("R17"):
        plan = ci_get(d.source.vm, "plan")
        d.params.add("MarketplacePlan", "object", "The source image's marketplace plan ({name, publisher, "
                     "product}); accept its terms first: `az vm image terms accept --publisher P --offer PRODUCT "
                     "--plan NAME`. Empty object: none.",
                     {k: plan[k] for k in ("name", "publisher", "product") if k in plan}
                     if isinstance(plan, dict) else {}, findings=d.cite("R17"))
        body["plan"] = x(f"if(empty({param('MarketplacePlan')}), null(), {param('MarketplacePlan')})")
    if d.source.model.hub_license:
        license_type = str(ci_get(d.source.vm, "licenseType"))
        d.params.add("LicenseType", "string", "Azure Hybrid Benefit licence of the source VM; None: pay for the "
                     "Windows licence with the VM.", license_type if license_type in LICENSES else "Windows_Server",
                     allowed=LICENSES, findings=d.cite("R24"))
        props["licenseType"] = x(f"if(equals({param('LicenseType')}, {q('None')}), null(), {param('LicenseType')})")
    if d.source.trusted_launch:
        for name, key, what in (("SecureBootEnabled", "secureBootEnabled", "Secure Boot"),
                                ("VTpmEnabled", "vTpmEnabled", "the virtual TPM")):
            d.params.add(name, "bool", f"Trusted Launch: enable {what} (as the source VM had it). The vTPM's "
                         "contents are not in the recovery point: keys sealed to the old vTPM are gone.",
                         d.source.uefi(key))
        props["securityProfile"] = {"securityType": "TrustedLaunch", "uefiSettings": {
            "secureBootEnabled": x(param("SecureBootEnabled")), "vTpmEnabled": x(param("VTpmEnabled"))}}
    d.resource(VMS, x(param("VirtualMachineName")), {**body, "dependsOn": d.vm_depends_on, "properties": props})


def _ade_parameters(d: Draft) -> None:
    secret = ci_get(properties(d.source.recovery_point), "keyAndSecret")
    bek = ci_get(secret, "bekDetails") or {}
    kek = ci_get(secret, "kekDetails") or {}
    cite = d.cite("R16", "R83")
    after = ("After the VM starts, run `az vm encryption enable` with the same key vault so Azure Disk Encryption "
             "manages the disks again.")
    values = [("DiskEncryptionKeySecretUrl", ci_get(bek, "secretUrl"), "URL of the BEK secret (keyAndSecret."
               "bekDetails.secretUrl of the recovery point), restored to Key Vault if it was deleted. " + after),
              ("DiskEncryptionKeyVaultId", ci_get(bek, "secretVaultId"), "Resource id of the Key Vault holding it.")]
    if ci_get(kek, "keyUrl"):
        values += [("KeyEncryptionKeyUrl", ci_get(kek, "keyUrl"), "URL of the key-encryption key (KEK)."),
                   ("KeyEncryptionKeyVaultId", ci_get(kek, "keyVaultId"), "Resource id of the KEK's Key Vault.")]
    for i, (name, value, what) in enumerate(values):
        d.params.add(name, "string", what, value if isinstance(value, str) else "", fill_in=not isinstance(value, str),
                     findings=cite if i == 0 else [])
    settings: dict[str, Any] = {"diskEncryptionKey": {"secretUrl": x(param("DiskEncryptionKeySecretUrl")),
                                                      "sourceVault": {"id": x(param("DiskEncryptionKeyVaultId"))}}}
    if len(values) > 2:
        settings["keyEncryptionKey"] = {"keyUrl": x(param("KeyEncryptionKeyUrl")),
                                        "sourceVault": {"id": x(param("KeyEncryptionKeyVaultId"))}}
    d.ade_settings = settings
