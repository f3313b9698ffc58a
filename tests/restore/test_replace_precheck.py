"""Replace-disks pre-check against the VM as it is now (--target-vm): rules R01-R08 reading it, the checks
without a rule id (each fires in one scenario and stays quiet in another), the LUN map and the replace steps.

The VM to replace is tests/restore/scenarios/target-vm-show-d.json, as `az vm show -d -o json` prints it.
"""

from __future__ import annotations

from typing import Any

import pytest

from restorekit.model import build_model
from restorekit.plan import plan
from restorekit.replacesteps import replace_preview
from restorekit.rules import CHECKS, Ctx, replace
from tests.restore.scenario_kit import GB, findings, load, merge, scenario

OLR = "replace-disks"
SUB = "/subscriptions/6f1c3e9a-2b4d-4c8e-9a51-0d7e3b2f8c41/resourceGroups/rg-app/providers/Microsoft.Compute/disks/"
DATA1 = {"caching": "None", "createOption": "Attach", "deleteOption": "Detach", "diskSizeGb": 64, "lun": 1,
         "managedDisk": {"diskEncryptionSet": None, "id": SUB + "vm-app01-data1", "resourceGroup": "rg-app",
                         "securityProfile": None, "storageAccountType": "Premium_LRS"},
         "name": "vm-app01-data1", "toBeDetached": False, "vhd": None, "writeAcceleratorEnabled": None}
EXTRA_DISK = {"target": {"storageProfile.dataDisks": [load("target-vm-show-d.json")["storageProfile"]["dataDisks"][0],
                                                     DATA1]}}
MOVED_LUN = {"target": {"storageProfile.dataDisks.0.lun": 1}}
RUNNING = {"target": {"powerState": "VM running"}}
RECREATED = {"target": {"vmId": "9d0e4c1b-5a2f-4e3d-8b7c-1f6a2e9d0c55"}}
ADE_EXTENSION = {"target": {"resources": [
    {"autoUpgradeMinorVersion": True, "id": "/subscriptions/x/virtualMachines/vm-app01/extensions/AzureDiskEncryption",
     "name": "AzureDiskEncryption", "publisher": "Microsoft.Azure.Security", "resourceGroup": "rg-app",
     "type": "Microsoft.Compute/virtualMachines/extensions", "typeHandlerVersion": "2.2",
     "typePropertiesType": "AzureDiskEncryption"}]}}
GEN1_VM = {"target": {"instanceView": {"hyperVGeneration": "V1", "statuses": [
    {"code": "ProvisioningState/succeeded", "displayStatus": "Provisioning succeeded", "level": "Info"},
    {"code": "PowerState/deallocated", "displayStatus": "VM deallocated", "level": "Info"}]},
    "storageProfile.imageReference.sku": "2019-Datacenter"}}
TRUSTED = {"securityProfile": {"encryptionAtHost": None, "securityType": "TrustedLaunch",
                               "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}}
CONFIDENTIAL = {"securityProfile": {"encryptionAtHost": None, "securityType": "ConfidentialVM",
                                    "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}}
TL_BOTH = {"target": TRUSTED, "vm": TRUSTED}

#: (check, scenario that fires it, scenario that does not)
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("osType", {"target": {"storageProfile.osDisk.osType": "Linux"}}, {}),
    ("hyperVGeneration", GEN1_VM, {"target": {"instanceView": {"hyperVGeneration": "V2"}}}),
    ("confidentialVm", {"target": CONFIDENTIAL}, {"target": CONFIDENTIAL, "vm": CONFIDENTIAL}),
    ("securityType", {"target": TRUSTED}, TL_BOTH),
    ("zone", {"target": {"zones": ["2"]}}, {}),
    ("lunMap", MOVED_LUN, EXTRA_DISK),
    ("diskSize", {"target": {"storageProfile.dataDisks.0.diskSizeGb": 128}}, {}),
    ("sectorSize", {"target": {"storageProfile.dataDisks.0.managedDisk.storageAccountType": "PremiumV2_LRS"}},
     {"target": {"storageProfile.dataDisks.0.managedDisk.storageAccountType": "StandardSSD_LRS"}}),
]


def by_check(name: str, mut: dict[str, Any]) -> list[Any]:
    return [f for f in findings(OLR, mut) if f.check == name]


def preview(mut: dict[str, Any] | None = None) -> dict[str, Any]:
    rp, request, evidence = scenario(mut)
    out = replace_preview(Ctx(build_model(rp), request, evidence))
    assert out is not None
    return out


@pytest.mark.parametrize(("name", "fire", "quiet"), CASES, ids=[c[0] for c in CASES])
def test_check_fires_and_stays_quiet(name: str, fire: dict[str, Any], quiet: dict[str, Any]) -> None:
    check = next(c for c in CHECKS if c.id == name)
    (fired,) = by_check(name, fire)
    assert fired.rule is None and fired.severity == check.severity and fired.evidence
    assert fired.to_dict()["check"] == name and fired.to_dict()["rule"] is None
    assert by_check(name, quiet) == []


def test_every_check_has_a_case() -> None:
    assert {c.id for c in CHECKS} == {name for name, _f, _q in CASES}


def test_conditions_read_as_one_clause() -> None:
    # the text view groups unknowns by what follows the first ": " of the finding
    assert [r.id for r in (*CHECKS, *replace.RULES) if ": " in r.when] == []


def test_matching_vm_is_allowed_with_every_disk_replaced() -> None:
    rp, request, evidence = scenario()
    entry = plan(rp, request, evidence, (OLR,)).option(OLR)
    assert entry.verdict == "allowed" and entry.findings == []
    steps = entry.to_dict()["replaceSteps"]
    assert [(s["step"], s["action"], s["lun"]) for s in steps] == [
        (1, "snapshotDisk", -1), (2, "snapshotDisk", 0), (3, "swapOsDisk", -1), (4, "swapDataDisk", 0),
        (5, "keepOriginalDisk", -1), (6, "keepOriginalDisk", 0)]
    assert steps[0]["disk"] == "vm-app01_OsDisk_1_8d1c"
    assert "staging account " + request.storage_account["name"] in steps[0]["detail"]
    assert steps[2]["restoredDisk"] == "os" and steps[4]["detail"].endswith("resource group rg-app")


def test_running_vm_warns_with_the_service_error() -> None:
    (f,) = [f for f in findings(OLR, RUNNING) if f.rule == "R08"]
    assert f.severity == "warn" and "UserErrorVmNotShutDown" in f.message and f.evidence == "powerState: VM running"


def test_power_state_from_an_instance_view() -> None:
    running = {"target": {"powerState": None, "instanceView": {"statuses": [
        {"code": "PowerState/running", "displayStatus": "VM running"}]}}}
    assert [f.severity for f in findings(OLR, running) if f.rule == "R08"] == ["warn"]


def test_extra_data_disk_stays_and_the_count_differs() -> None:
    (r07,) = [f for f in findings(OLR, EXTRA_DISK) if f.rule == "R07"]
    assert r07.severity == "warn" and "recovery point: 2 disks, VM now: 3" in (r07.evidence or "")
    assert "LUN 1 stays" in (r07.evidence or "")
    out = preview(EXTRA_DISK)
    assert [e["action"] for e in out["lunMap"]] == ["replace", "replace", "stays"]
    assert out["lunMap"][2]["recoveryPoint"] is None and out["lunMap"][2]["vm"]["name"] == "vm-app01-data1"
    keep = [s for s in out["replaceSteps"] if s["action"] == "keepDataDisk"]
    assert [(s["lun"], s["disk"]) for s in keep] == [(1, "vm-app01-data1")]
    assert all(s["lun"] != 1 for s in out["replaceSteps"] if s["action"] != "keepDataDisk")


def test_disk_only_in_the_recovery_point_is_not_attached() -> None:
    out = preview({"target": {"storageProfile.dataDisks": []}})
    assert [e["action"] for e in out["lunMap"]] == ["replace", "notOnVm"]
    (skip,) = [s for s in out["replaceSteps"] if s["action"] == "skipRestoredDisk"]
    assert skip["lun"] == 0 and skip["disk"] is None and skip["restoredDisk"] == "lun0"


@pytest.mark.parametrize("mut", [ADE_EXTENSION, {"target": {"storageProfile.osDisk.encryptionSettings": {
    "diskEncryptionKey": {"secretUrl": "https://kv.vault.azure.net/secrets/bek/1"}, "enabled": True}}}])
def test_encrypted_vm_to_replace_blocks(mut: dict[str, Any]) -> None:
    (r05,) = [f for f in findings(OLR, mut) if f.rule == "R05"]
    assert r05.severity == "block" and (r05.evidence or "").startswith("the VM to replace: ")


def test_same_name_but_another_vm_id_blocks() -> None:
    (r01,) = [f for f in findings(OLR, RECREATED) if f.rule == "R01"]
    assert r01.severity == "block" and "re-created under the same name" in (r01.evidence or "")


def test_unmanaged_classic_and_generalized_vm_to_replace_block() -> None:
    unmanaged = {"target": {"storageProfile.osDisk.managedDisk": None, "storageProfile.osDisk.vhd": {
        "uri": "https://stapp.blob.core.windows.net/vhds/os.vhd"}}}
    generalized = {"target": {"instanceView": {"statuses": [{"code": "OSState/generalized"},
                                                           {"code": "PowerState/deallocated"}]}},
                   "facts": {"generalized": None}}
    assert [f.rule for f in findings(OLR, unmanaged) if f.severity == "block"][:1] == ["R02"]
    assert "R03" in {f.rule for f in findings(OLR, {"target": {"type": "Microsoft.ClassicCompute/virtualMachines"}})}
    assert [f.severity for f in findings(OLR, generalized) if f.rule == "R04"] == ["block"]


def test_generalized_undecided_until_an_instance_view_or_a_running_vm() -> None:
    unknown = {"facts": {"generalized": None}}
    (r04,) = [f for f in findings(OLR, unknown) if f.rule == "R04"]
    assert r04.severity == "unknown" and "az vm get-instance-view" in r04.message
    assert [f for f in findings(OLR, merge(unknown, RUNNING)) if f.rule == "R04"] == []


def test_too_small_disk_names_both_sizes() -> None:
    (f,) = by_check("diskSize", {"target": {"storageProfile.dataDisks.0.diskSizeGb": 128}})
    assert f.evidence == "LUN 0: restored 256 GB does not fit the 128 GB disk on the VM now (the replacement is 256 GB)"
    (grown,) = by_check("diskSize", {"target": {"storageProfile.osDisk.diskSizeGb": 255}})
    assert "os: restored 127 GB < 255 GB now" in (grown.evidence or "")


def test_image_sizes_count_when_no_size_is_declared() -> None:
    mut = {"vm": {"storageProfile.dataDisks.0.diskSizeGb": None}, "disk_sizes": {"os": 127 * GB, "lun0": 300 * GB}}
    (f,) = by_check("diskSize", mut)
    assert "restored 300 GB does not fit the 256 GB disk" in (f.evidence or "")


def test_generation_mismatch_blocks_and_needs_input_when_unknown() -> None:
    (f,) = by_check("hyperVGeneration", GEN1_VM)
    assert f.severity == "block" and f.evidence == "recovery point: V2, VM now: V1"
    unknown = {"target": {"storageProfile.imageReference.sku": "2019-Datacenter"}}
    (u,) = by_check("hyperVGeneration", unknown)
    assert u.severity == "unknown" and "az vm get-instance-view" in u.message


def test_without_target_vm_every_check_names_the_flag() -> None:
    got = [f for f in findings(OLR, {"request": {"target_vm": None}}) if f.check]
    assert {f.check for f in got} == {c.id for c in CHECKS}
    assert all(f.severity == "unknown" and "--target-vm" in f.message for f in got)
    rp, request, evidence = scenario({"request": {"target_vm": None}})
    assert replace_preview(Ctx(build_model(rp), request, evidence)) is None
