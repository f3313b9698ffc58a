"""Cross-region (R44-R55, R78), cross-subscription (R56-R64) and cross-zone (R65-R72) rules: fire and quiet."""

from __future__ import annotations

from typing import Any

import pytest

from restorekit.rules import BY_ID
from tests.restore.scenario_kit import ADE, CRR, CSR, CZR, SNAPSHOT_ONLY, UNMANAGED, by_rule, merge

NEW, DISK, OLR = "create-vm", "restore-disks", "replace-disks"
CRR_OFF = {"vault": {"backupProperties.properties.crossRegionRestoreFlag": False,
                     "properties.redundancySettings.crossRegionRestore": "Disabled"}}
ZRS_VAULT = {"vault": {"properties.redundancySettings.standardTierStorageRedundancy": "ZoneRedundant",
                       "backupProperties.properties.storageType": "ZoneRedundant"}}
NOT_PINNED = {"rp": {"properties.zones": []}, "vm": {"zones": []}}
TRUSTED = {"rp": {"properties.securityType": "TrustedLaunch"}}
DES = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des-app"

CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("R44", NEW, merge(CRR, CRR_OFF), CRR),
    ("R45", DISK, merge(CRR, SNAPSHOT_ONLY), CRR),
    ("R46", DISK, merge(CRR, UNMANAGED), CRR),
    ("R47", NEW, merge(CRR, {"vm": {"storageProfile.dataDisks.0.managedDisk.storageAccountType": "UltraSSD_LRS"}}),
     CRR),
    ("R48", DISK, merge(CRR, {"request": {"mi_system_assigned": True}}), CRR),
    ("R49", DISK, merge(CRR, ADE, {"facts": {"pairedRegionSameGeography": False}}), merge(CRR, ADE)),
    ("R50", NEW, merge(CRR, {"rp": {"properties.securityType": "ConfidentialVM"}}), CRR),
    ("R51", DISK, merge(CRR, {"request": {"disk_encryption_set_id": DES}}),
     {"request": {"disk_encryption_set_id": DES}}),
    ("R52", NEW, merge(CRR, {"vm": {"storageProfile.osDisk.managedDisk.diskEncryptionSet": {"id": DES}}}), CRR),
    ("R53", DISK, merge(CRR, {"rp": {"properties.recoveryPointTierDetails": [{"type": "ArchivedRP",
                                                                                 "status": "Valid"}]}}), CRR),
    ("R54", DISK, merge(CRR, {"request": {"target_resource_group": None}}), CRR),
    ("R55", NEW, CRR, {}),
    ("R78", DISK, merge(CRR, {"request": {"disk_access_option": "SameAsOnSourceDisks"}}),
     {"request": {"disk_access_option": "SameAsOnSourceDisks"}}),
    ("R56", NEW, merge(CSR, {"vault": {"properties.restoreSettings.crossSubscriptionRestoreSettings."
                                       "crossSubscriptionRestoreState": "PermanentlyDisabled"}}), CSR),
    ("R57", DISK, merge(CSR, UNMANAGED), CSR),
    ("R58", DISK, merge(CSR, ADE), CSR),
    ("R59", NEW, merge(CSR, SNAPSHOT_ONLY), CSR),
    ("R60", NEW, merge(CSR, {"facts": {"targetSubscriptionSameTenant": False}}), CSR),
    ("R61", NEW, merge(CSR, {"facts": {"targetSubscriptionRegistered": False}}), CSR),
    ("R62", DISK, merge(CSR, TRUSTED), CSR),
    ("R63", DISK, merge(CSR, CRR), CSR),
    ("R64", OLR, CSR, {}),
    ("R65", NEW, merge(CZR, CRR_OFF), merge(CZR, ZRS_VAULT)),
    ("R66", DISK, merge(CZR, ZRS_VAULT, SNAPSHOT_ONLY), merge(CZR, ZRS_VAULT)),
    ("R67", NEW, CZR, merge(CZR, ZRS_VAULT)),
    ("R68", DISK, merge(CZR, CRR, {"facts": {"secondaryRegionHasZones": False}}), merge(CZR, CRR)),
    ("R69", NEW, merge(CZR, NOT_PINNED), merge(CZR, ZRS_VAULT, NOT_PINNED)),
    ("R70", DISK, merge(CZR, ZRS_VAULT, ADE), merge(CZR, ZRS_VAULT)),
    ("R71", NEW, merge(CZR, ZRS_VAULT, TRUSTED), merge(CZR, ZRS_VAULT)),
    ("R72", DISK, merge(CZR, ZRS_VAULT, UNMANAGED), merge(CZR, ZRS_VAULT)),
]


@pytest.mark.parametrize(("rule_id", "option", "fire", "quiet"), CASES, ids=[c[0] for c in CASES])
def test_rule_fires_and_stays_quiet(rule_id: str, option: str, fire: dict[str, Any], quiet: dict[str, Any]) -> None:
    rule = BY_ID[rule_id]
    fired = by_rule(option, rule_id, fire)
    assert [f.severity for f in fired] == [rule.severity], fired
    assert by_rule(option, rule_id, quiet) == []


def test_modifier_rules_stay_out_of_plain_restores() -> None:
    from tests.restore.scenario_kit import findings

    assert not [f for f in findings(NEW, merge(ADE, TRUSTED)) if BY_ID[f.rule].modifier is not None]


def test_same_subscription_is_not_cross_subscription() -> None:
    same = "6f1c3e9a-2b4d-4c8e-9a51-0d7e3b2f8c41"
    assert by_rule(OLR, "R09", {"request": {"target_subscription_id": same.upper()}}) == []


def test_disputed_rules_say_so() -> None:
    (f,) = by_rule(DISK, "R62", merge(CSR, TRUSTED))
    assert f.severity == "warn" and "verify" in f.message
