"""Template scenarios: the planner's real-shaped ``az`` JSON (scenario_kit) changed into the VMs the golden
templates are made for, plus the checks every template must pass (schemas, references, cross-field rules)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from restorekit.recoverypoint import DiskRef
from restorekit.template.build import Built, build_template
from restorekit.template.checks import problems
from tests.restore.arm_schemas import schema_errors
from tests.restore.scenario_kit import DROP, LINUX, UNMANAGED, load, merge, scenario

GOLDEN = Path(__file__).parent / "golden"
#: Set to 1 to rewrite the golden files from the current output (then read the diff before committing).
REGENERATE = os.environ.get("RESTOREKIT_REGENERATE_GOLDEN") == "1"
SUB = "/subscriptions/6f1c3e9a-2b4d-4c8e-9a51-0d7e3b2f8c41/resourceGroups"
STAGING = "https://stweurestore01.blob.core.windows.net/vm-app01-5c7e2a91-restore"
ORIGINAL = "https://stapp01.blob.core.windows.net/vhds"


def _data_disks(count: int, **extra: Any) -> list[dict[str, Any]]:
    base = load("vm-show.json")["storageProfile"]["dataDisks"][0]
    out = []
    for lun in range(count):
        disk = copy.deepcopy(base)
        disk.update(lun=lun, name=f"vm-app01-data{lun}", **extra)
        out.append(disk)
    return out


#: name → (scenario mutation, extra data-disk LUNs restored, --disk-source)
SCENARIOS: dict[str, tuple[dict[str, Any], list[int], str | None]] = {
    # Restored to the staging account (no --target-resource-group): VHD blobs imported as managed disks.
    "windows-managed-gen2": ({
        "vm": {"storageProfile.osDisk.vhd": {"uri": f"{STAGING}/vm-app01-osdisk-20260301-020000.vhd"},
               "storageProfile.dataDisks": [
                   {**d, "vhd": {"uri": f"{STAGING}/vm-app01-datadisk-00{d['lun']}-20260301-020000.vhd"}}
                   for d in _data_disks(2)]},
        "request": {"target_resource_group": None, "target_vm_name": None}}, [1], None),
    # An unmanaged VM whose VHD blobs are attached as they are.
    "linux-unmanaged": (merge(LINUX, UNMANAGED, {
        "vm": {"storageProfile.osDisk.osType": "Linux", "storageProfile.osDisk.managedDisk": None,
               "storageProfile.osDisk.name": "vm-app01-os",
               "storageProfile.osDisk.vhd": {"uri": f"{ORIGINAL}/vm-app01-os.vhd"},
               "storageProfile.dataDisks": [{**d, "managedDisk": None, "vhd": {"uri": f"{ORIGINAL}/vm-app01-data0.vhd"}}
                                            for d in _data_disks(1)],
               "storageProfile.imageReference": {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy",
                                                 "sku": "22_04-lts", "version": "latest"},
               "osProfile.windowsConfiguration": None, "zones": []},
        "rp": {"properties.zones": DROP},
        "nic": {"ipConfigurations.0.publicIPAddress": None},
        "request": {"target_resource_group": None}}), [], "vhd"),
    # Trusted Launch, zone 1, restored as managed disks into rg-restore (Attach).
    "trusted-launch": ({
        "vm": {"securityProfile": {"securityType": "TrustedLaunch", "uefiSettings": {"secureBootEnabled": True,
                                                                                      "vTpmEnabled": True}}},
        "rp": {"properties.securityType": "TrustedLaunch"}}, [], None),
    # Availability set, static IP, load-balancer pool and Hybrid Use Benefit: parameters citing R19/R20/R21/R24.
    "availability-set-static-ip": ({
        "vm": {"availabilitySet": {"id": f"{SUB}/rg-app/providers/Microsoft.Compute/availabilitySets/avset-app"},
               "zones": [], "licenseType": "Windows_Server"},
        "rp": {"properties.zones": DROP},
        "nic": {"ipConfigurations.0.privateIPAllocationMethod": "Static",
                "ipConfigurations.0.loadBalancerBackendAddressPools": [
                    {"id": f"{SUB}/rg-app/providers/Microsoft.Network/loadBalancers/lb-app/backendAddressPools/"
                           "pool-app", "resourceGroup": "rg-app"}]}}, [], None),
}


def build(name: str, **changes: Any) -> Built:
    """The template of scenario ``name``; ``changes`` go into the mutation (``disk_source`` overrides)."""
    mut, extra_luns, disk_source = SCENARIOS[name]
    rp, request, evidence = scenario(merge(mut, {k: v for k, v in changes.items() if k != "disk_source"}))
    rp.disks += [DiskRef(f"lun{lun}", Path(f"data{lun}.vhd"), lun) for lun in extra_luns]
    return build_template(rp, request, evidence, changes.get("disk_source", disk_source))


def all_problems(template: dict[str, Any], parameters: dict[str, Any]) -> list[str]:
    """Schema errors, then the structural and cross-field checks."""
    return schema_errors(template) + problems(template, parameters)


def dump(doc: dict[str, Any]) -> str:
    """A document as the command writes it."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
