"""Rules R01-R43 and R73-R85: one scenario that fires each rule and one that does not."""

from __future__ import annotations

from typing import Any

import pytest

from restorekit.rules import BY_ID
from tests.restore.scenario_kit import ADE, GB, OTHER_SUB, SNAPSHOT_ONLY, UNMANAGED, by_rule, merge

NEW, DISK, OLR = "create-vm", "restore-disks", "replace-disks"
OTHER_VM = "/subscriptions/" + OTHER_SUB + "/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/other"
MI = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-restore"
LVM_OS_AND_DATA = [
    {"id": "os-p2", "disk": "os", "container": "lvm2", "filesystem": None, "encryption": None, "locked": False},
    {"id": "lun0", "disk": "lun0", "container": "lvm2", "filesystem": None, "encryption": None, "locked": False},
]
ARCHIVE_ONLY = {"rp": {"properties.recoveryPointTierDetails": [{"type": "ArchivedRP", "status": "Valid"}]}}
PREMIUM = {"storage": {"sku": {"name": "Premium_LRS", "tier": "Premium"}}}
DENY = {"storage": {"networkRuleSet.defaultAction": "Deny"}}
CERT_KEY = {"rp": {"properties.keyAndSecret.kekDetails.keyUrl": "https://kv-app.vault.azure.net/certificates/c/1"}}

#: (rule, option, scenario that fires it, scenario that does not)
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("R01", OLR, {"target": {"id": OTHER_VM}}, {}),
    ("R02", OLR, UNMANAGED, {}),
    ("R03", OLR, {"vm": {"type": "Microsoft.ClassicCompute/virtualMachines"}}, {}),
    ("R04", OLR, {"facts": {"generalized": True}}, {}),
    ("R05", OLR, ADE, {}),
    ("R06", OLR, SNAPSHOT_ONLY, {}),
    ("R07", OLR, {"target": {"storageProfile.dataDisks": []}}, {}),
    ("R08", OLR, {"target": {"powerState": "VM running"}}, {}),
    ("R09", OLR, {"request": {"target_subscription_id": OTHER_SUB}}, {}),
    ("R10", OLR, {"request": {"use_secondary_region": True}}, {}),
    ("R11", OLR, {"request": {"target_zone": "2"}}, {}),
    ("R12", NEW, {"rp": {"properties.recoveryPointDiskConfiguration.excludedDiskList": [{"lun": 1, "name": "d1"}],
                         "properties.recoveryPointDiskConfiguration.numberOfDisksAttachedToVm": 3}}, {}),
    ("R13", DISK, {"request": {"diskslist": [3]}}, {"request": {"diskslist": [-1, 0]}}),
    ("R14", DISK, {"request": {"diskslist": [0]}}, {"request": {"diskslist": [-1, 0]}}),
    ("R15", DISK, {"evidence": LVM_OS_AND_DATA, "request": {"restore_only_osdisk": True}},
     {"evidence": LVM_OS_AND_DATA}),
    ("R16", NEW, ADE, {}),
    ("R17", NEW, {"vm": {"plan": {"name": "byol", "product": "fortigate", "publisher": "fortinet",
                              "promotionCode": None}}}, {}),
    ("R18", NEW, {"facts": {"diagnosticSettings": True}}, {}),
    ("R19", NEW, {"vm": {"availabilitySet": {"id": "/subscriptions/x/resourceGroups/rg-app/providers/"
                                                   "Microsoft.Compute/availabilitySets/as-app"}}}, {}),
    ("R20", NEW, {"nic": {"ipConfigurations.0.loadBalancerBackendAddressPools": [{"id": "/subscriptions/x/lb/pool"}]}},
     {}),
    ("R21", NEW, {"nic": {"ipConfigurations.0.privateIPAllocationMethod": "Static"}}, {}),
    ("R22", NEW, {"vm": {"priority": "Spot"}}, {}),
    ("R23", NEW, {"vm": {"host": {"id": "/subscriptions/x/hostGroups/hg/hosts/h1"}}}, {}),
    ("R24", NEW, {"vm": {"licenseType": "Windows_Server"}}, {}),
    ("R25", NEW, {"facts": {"skuNotAvailable": True}}, {}),
    ("R26", NEW, {"request": {"target_vm_name": "vm-app01"}}, {}),
    ("R27", NEW, {"request": {"target_vnet_name": "vnet-neu"}, "facts": {"targetVnetLocation": "northeurope"}},
     {"request": {"target_vnet_name": "vnet-weu2"}, "facts": {"targetVnetLocation": "westeurope"}}),
    ("R28", DISK, {"evidence": [{"id": "os-p3", "disk": "os", "filesystem": "ntfs",
                                 "os": {"family": "windows", "domainController": True}}]}, {}),
    ("R29", NEW, {}, {"request": {"target_vm": None}, "facts": {"sourceVmExists": False}}),
    ("R30", NEW, {"vm": {"storageProfile.imageReference.publisher": "MicrosoftSQLServer"}}, {}),
    ("R31", OLR, {"storage": {"location": "northeurope"}}, {}),
    ("R32", DISK, {"storage": {"kind": "BlobStorage"}}, {}),
    ("R33", DISK, {"storage": {"sku": {"name": "Standard_ZRS", "tier": "Standard"}}}, {}),
    ("R34", DISK, merge(PREMIUM, {"rp": {"properties.sourceVMStorageType": "NormalStorage"}}), PREMIUM),
    ("R35", DISK, merge(PREMIUM, DENY), PREMIUM),
    ("R36", DISK, merge(DENY, {"request": {"mi_user_assigned": MI}}), DENY),
    ("R37", DISK, {"storage": {"allowSharedKeyAccess": False}}, {}),
    ("R38", DISK, {"request": {"restore_as_unmanaged_disks": True, "target_resource_group": None},
                   "vm": {"storageProfile.dataDisks.0.managedDisk.storageAccountType": "Standard_LRS"}},
     {"request": {"restore_as_unmanaged_disks": True, "target_resource_group": None}}),
    ("R39", DISK, {"rp": {"properties.recoveryPointTierDetails": [{"type": "HardenedRP", "status": "Valid"}]},
                   "disk_sizes": {"os": 127 * GB, "lun0": 8192 * GB}},
     {"rp": {"properties.recoveryPointTierDetails": [{"type": "HardenedRP", "status": "Valid"}]}}),
    ("R40", DISK, {"request": {"target_resource_group": None}}, {}),
    ("R41", DISK, {"request": {"restore_as_unmanaged_disks": True}}, {}),
    ("R42", DISK, merge(UNMANAGED, SNAPSHOT_ONLY), UNMANAGED),
    ("R43", DISK, merge(UNMANAGED, {"request": {"target_resource_group": None}}),
     merge(UNMANAGED, {"request": {"target_resource_group": None, "restore_to_staging_storage_account": True}})),
    ("R73", NEW, merge(UNMANAGED, {"request": {"mi_system_assigned": True}}),
     {"request": {"mi_system_assigned": True}}),
    ("R74", DISK, {"request": {"mi_user_assigned": MI}}, {"request": {"mi_system_assigned": True}}),
    ("R75", NEW, {"request": {"disk_encryption_set_id": "/subscriptions/x/diskEncryptionSets/des"}},
     {"request": {"disk_encryption_set_id": "/subscriptions/x/diskEncryptionSets/des"},
      "vault": {"properties.encryption": {"keyVaultProperties": {"keyUri": "https://kv.vault.azure.net/keys/k"}}}}),
    ("R76", OLR, ARCHIVE_ONLY, merge(ARCHIVE_ONLY, {"request": {"rehydration_priority": "Standard"}})),
    ("R77", NEW, {"rp": {"properties.isPrivateAccessEnabledOnAnyDisk": True}},
     {"rp": {"properties.isPrivateAccessEnabledOnAnyDisk": True},
      "request": {"disk_access_option": "EnablePrivateAccessForAllDisks"}}),
    ("R79", DISK, {"request": {"restore_to_edge_zone": True, "use_secondary_region": True}},
     {"request": {"restore_to_edge_zone": True}}),
    ("R80", NEW, {"facts": {"restoreTriggersLast24h": 12}}, {}),
    ("R81", DISK, merge(ADE, CERT_KEY), ADE),
    ("R82", DISK, merge(ADE, {"disk_sizes": {"os": 127 * GB, "lun0": 5000 * GB}}), ADE),
    ("R83", DISK, merge(ADE, {"facts": {"adeKeysInKeyVault": False}}), ADE),
    ("R84", NEW, {"vm": {"storageProfile.osDisk.diffDiskSettings": {"option": "Local", "placement": "CacheDisk"}}},
     {}),
    ("R85", DISK, {"rp": {"properties.recoveryPointDiskConfiguration.numberOfDisksAttachedToVm": 40}}, {}),
]


@pytest.mark.parametrize(("rule_id", "option", "fire", "quiet"), CASES, ids=[c[0] for c in CASES])
def test_rule_fires_and_stays_quiet(rule_id: str, option: str, fire: dict[str, Any], quiet: dict[str, Any]) -> None:
    rule = BY_ID[rule_id]
    fired = by_rule(option, rule_id, fire)
    assert [f.severity for f in fired] == [rule.severity], fired
    assert fired[0].source == rule.source
    assert by_rule(option, rule_id, quiet) == []


def test_unknown_names_the_input() -> None:
    (f,) = by_rule(OLR, "R08", {"request": {"target_vm": None}})
    assert f.severity == "unknown" and "--target-vm" in f.message and "az vm show -d" in f.message
    (f,) = by_rule(DISK, "R32", {"request": {"storage_account": None}})
    assert f.severity == "unknown" and "--storage-account" in f.message
    (f,) = by_rule(OLR, "R02", {"drop": ("rp", "vm")})
    assert f.severity == "unknown" and "az backup recoverypoint show" in f.message
    (f,) = by_rule(NEW, "R25", {"facts": {"skuNotAvailable": None}})
    assert f.severity == "unknown" and "az vm list-skus" in f.message and '--fact skuNotAvailable=' in f.message


def test_base_scenario_is_decided() -> None:
    from tests.restore.scenario_kit import findings

    for option in (NEW, DISK, OLR, "files"):
        got = findings(option)
        assert [f for f in got if f.severity in ("block", "unknown")] == [], option
    assert {f.rule for f in findings(NEW)} == {"R29"}
    assert findings(OLR) == [] and findings("files") == []


def _pool_member(vid: str, pool: str, name: str) -> dict[str, Any]:
    return {"id": vid, "disk": vid.split("-")[0], "container": "lvm2", "pool": pool, "poolName": name,
            "filesystem": None, "encryption": None, "locked": False}


def test_r15_compares_members_of_one_pool() -> None:
    two_pools = [_pool_member("os-p2", "A", "vgroot"), _pool_member("lun0-p1", "B", "vgdata"),
                 _pool_member("lun1-p1", "B", "vgdata")]
    (f,) = by_rule(DISK, "R15", {"evidence": two_pools, "request": {"diskslist": [-1, 0]}})
    assert f.evidence == "lvm2 vgdata: restoring lun0-p1 (lvm2) without lun1-p1 (lvm2)"
    assert by_rule(DISK, "R15", {"evidence": two_pools, "request": {"restore_only_osdisk": True}}) == []
