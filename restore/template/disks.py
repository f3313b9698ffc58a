"""Disks of the new VM: one ``Microsoft.Compute/disks`` per restored disk, or the VHD blobs attached as they are.

Managed (``import`` / ``attach``): every disk resource imports its VHD blob (``creationData.createOption: Import``
with ``sourceUri`` and ``storageAccountId``) and is deployed only when the ``DiskSource`` parameter is ``Import``;
with ``Attach`` the VM attaches the managed disks the restore job made, by name, from ``ManagedDiskResourceGroup``.
``osType``, ``hyperVGeneration`` and the Trusted Launch security type go on the OS disk only.
Unmanaged (``vhd``): no disk resources; the VM's ``osDisk``/``dataDisks`` name the blobs' ``vhd.uri``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from restorekit.jsonio import ci_get
from restorekit.template.arm import param, q, resource_id, var, x
from restorekit.template.names import DISK_NAME_MAX, disk_name

if TYPE_CHECKING:
    from restorekit.template.draft import Draft
    from restorekit.template.source import SourceDisk

DISKS = "Microsoft.Compute/disks"
STORAGE = "Microsoft.Storage/storageAccounts"
#: Disk SKUs a VHD can be imported into; others (Ultra, Premium SSD v2) become Premium_LRS.
IMPORTABLE_SKUS = ("Standard_LRS", "Premium_LRS", "StandardSSD_LRS", "Premium_ZRS", "StandardSSD_ZRS")
CACHING = {True: "ReadWrite", False: "None"}


def add_disks(d: Draft) -> dict[str, Any]:
    """Declare the disk parameters (and resources); returns the VM's ``storageProfile``."""
    managed = d.disk_source != "vhd"
    if managed:
        _managed_parameters(d)
    profile: dict[str, Any] = {}
    for disk in d.source.disks:
        name = _name_param(d, disk)
        uri = _uri_param(d, disk)
        entry: dict[str, Any] = {"name": name, "createOption": "Attach",
                                 "caching": disk.caching or CACHING[disk.is_os]}
        if managed:
            entry["managedDisk"] = {"id": x(resource_id(DISKS, param(_disk_param(disk)),
                                                         group=var("diskResourceGroup")))}
            _disk_resource(d, disk, name, uri)
            d.vm_depends_on.append(x(resource_id(DISKS, param(_disk_param(disk)))))
        else:
            entry["vhd"] = {"uri": uri}
        if disk.is_os:
            profile["osDisk"] = {"osType": d.source.os_type, **entry, **_vm_encryption(d, managed)}
        else:
            profile.setdefault("dataDisks", []).append({"lun": disk.lun, **entry})
    return profile


def _managed_parameters(d: Draft) -> None:
    d.params.add("DiskSource", "string",
                 "Import: create managed disks from the restored VHD blobs (sourceUri + storageAccountId). Attach: "
                 "attach the managed disks the restore job created (restore with --target-resource-group), named by "
                 "the *DiskName parameters, from ManagedDiskResourceGroup.",
                 "Import" if d.disk_source == "import" else "Attach", allowed=["Import", "Attach"])
    account = _account_name(d)
    known = d.request.storage_account
    group = ci_get(known, "resourceGroup") if known and ci_get(known, "name") == account else None
    d.params.add("StorageAccountName", "string",
                 "Storage account holding the restored VHD blobs (the host name of their URIs); Import only.",
                 account or "", fill_in=account is None and d.disk_source == "import")
    d.params.add("StorageAccountResourceGroup", "string", "Resource group of StorageAccountName; Import only.",
                 group or x("resourceGroup().name"))
    d.params.add("ManagedDiskResourceGroup", "string",
                 "Resource group holding the managed disks the restore job created; Attach only.",
                 d.request.target_resource_group or x("resourceGroup().name"))
    d.var("storageAccountId", x(resource_id(STORAGE, param("StorageAccountName"),
                                            group=param("StorageAccountResourceGroup"))))
    d.var("diskResourceGroup", x(f"if(equals({param('DiskSource')}, {q('Import')}), resourceGroup().name, "
                                 f"{param('ManagedDiskResourceGroup')})"))


def _account_name(d: Draft) -> str | None:
    """The account in the VHD blobs' URIs (where they are), else --storage-account's name."""
    for disk in d.source.disks:
        if disk.vhd_uri:
            return (urlparse(disk.vhd_uri).hostname or "").split(".", 1)[0] or None
    name = ci_get(d.request.storage_account, "name") if d.request.storage_account else None
    return name if isinstance(name, str) else None


def _disk_param(disk: SourceDisk) -> str:
    return "OsDiskName" if disk.is_os else f"DataDiskLun{disk.lun}Name"


def _name_param(d: Draft, disk: SourceDisk) -> str:
    suffix = "-osdisk" if disk.is_os else f"-datadisk-lun{disk.lun}"
    attach = d.disk_source == "attach" and disk.name
    default = disk.name if attach else disk_name(d.vm_name, suffix)
    what = "OS disk" if disk.is_os else f"data disk at LUN {disk.lun}"
    source = f" (on the source VM: {disk.name})" if disk.name else ""
    return d.params.add(_disk_param(disk), "string",
                        f"Name of the {what}{source}: the new managed disk (Import), the restored managed disk "
                        "(Attach; `az disk list -g ManagedDiskResourceGroup -o table`), or the unmanaged disk.",
                        default, max_length=DISK_NAME_MAX)


def _uri_param(d: Draft, disk: SourceDisk) -> str:
    what = "OS disk" if disk.is_os else f"data disk at LUN {disk.lun}"
    need = "Import only" if d.disk_source != "vhd" else "attached as an unmanaged disk"
    return d.params.add(("OsDisk" if disk.is_os else f"DataDiskLun{disk.lun}") + "VhdUri", "string",
                        f"URI of the restored VHD page blob of the {what} (vhd.uri in the restore job's "
                        f"config-*.json); {need}.", disk.vhd_uri or "",
                        fill_in=disk.vhd_uri is None and d.disk_source != "attach")


def _disk_resource(d: Draft, disk: SourceDisk, name: str, uri: str) -> None:
    props: dict[str, Any] = {}
    if disk.is_os:
        props["osType"] = d.source.os_type
        props["hyperVGeneration"] = d.source.generation
        if d.source.trusted_launch:
            props["securityProfile"] = {"securityType": "TrustedLaunch"}
    props["creationData"] = {"createOption": "Import", "sourceUri": uri, "storageAccountId": x(var("storageAccountId"))}
    if disk.is_os and d.ade_settings:
        props["encryptionSettingsCollection"] = {"enabled": True, "encryptionSettingsVersion": "1.1",
                                                 "encryptionSettings": [d.ade_settings]}
    body: dict[str, Any] = {"condition": x(f"equals({param('DiskSource')}, {q('Import')})"),
                            "location": x(param("Location"))}
    if d.zone:
        body["zones"] = [x(param("Zone"))]
    body["sku"] = {"name": disk.sku if disk.sku in IMPORTABLE_SKUS else _fallback_sku(d)}
    body["properties"] = props
    d.resource(DISKS, name, body)


def _fallback_sku(d: Draft) -> str:
    return "Premium_LRS" if d.source.model.premium_source else "StandardSSD_LRS"


def _vm_encryption(d: Draft, managed: bool) -> dict[str, Any]:
    """Unmanaged OS disks carry ADE settings on the VM; managed disks carry them on the disk resource."""
    if managed or not d.ade_settings:
        return {}
    return {"encryptionSettings": {"enabled": True, **d.ade_settings}}
