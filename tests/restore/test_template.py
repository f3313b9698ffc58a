"""What the builder puts in a template: disks by source, generation, findings carried, names, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from restorekit.errors import TemplateError
from restorekit.evidence import Evidence
from restorekit.recoverypoint import DiskRef, RecoveryPoint
from restorekit.request import RestoreRequest
from restorekit.template.build import build_template
from restorekit.template.findings import TEMPLATE_RULES
from restorekit.template.names import DISK_NAME, disk_name, vm_name
from tests.restore.scenario_kit import ADE, DROP, LINUX_VOLUMES, load, merge
from tests.restore.template_kit import SUB, all_problems, build


def _res(built: Any, rtype: str) -> list[dict[str, Any]]:
    return [r for r in built.template["resources"] if r["type"] == f"Microsoft.{rtype}"]


def _params(built: Any) -> dict[str, Any]:
    return built.template["parameters"]


def test_unmanaged_vm_import_converts_the_blobs() -> None:
    built = build("linux-unmanaged", disk_source="import")
    assert all_problems(built.template, built.parameters) == []
    disks = _res(built, "Compute/disks")
    assert [d["properties"]["creationData"]["createOption"] for d in disks] == ["Import", "Import"]
    assert _params(built)["OsDiskVhdUri"]["defaultValue"] == "https://stapp01.blob.core.windows.net/vhds/vm-app01-os.vhd"
    assert _params(built)["StorageAccountName"]["defaultValue"] == "stapp01"  # where the blobs are
    assert _params(built)["StorageAccountResourceGroup"]["defaultValue"] == "[resourceGroup().name]"
    assert _params(built)["DiskSource"]["defaultValue"] == "Import"
    assert disks[0]["properties"]["hyperVGeneration"] == "V1"


def test_vhd_mode_has_no_disk_resources_and_no_zone() -> None:
    built = build("linux-unmanaged")
    assert _res(built, "Compute/disks") == []
    vm = _res(built, "Compute/virtualMachines")[0]
    assert "zones" not in vm and "Zone" not in _params(built)
    assert vm["properties"]["storageProfile"]["osDisk"]["vhd"] == {"uri": "[parameters('OsDiskVhdUri')]"}


def test_default_disk_source_follows_the_restore() -> None:
    assert build("trusted-launch").disk_source == "attach"  # managed VM, --target-resource-group rg-restore
    assert build("windows-managed-gen2").disk_source == "import"  # restored to the staging account
    forced = build("trusted-launch", request={"restore_as_unmanaged_disks": True})
    assert forced.disk_source == "import"


def test_attach_names_the_restored_disks_and_their_group() -> None:
    built = build("trusted-launch")
    assert _params(built)["OsDiskName"]["defaultValue"] == "vm-app01_OsDisk_1_8d1c"
    assert _params(built)["ManagedDiskResourceGroup"]["defaultValue"] == "rg-restore"
    assert built.parameters["parameters"]["DiskSource"] == {"value": "Attach"}


@pytest.mark.parametrize(("mut", "expected", "why"), [
    ({}, "V2", "EFI system partition"),
    ({"evidence": LINUX_VOLUMES}, "V1", "without an EFI"),
    ({"evidence": None}, "V2", "image SKU 2019-datacenter-gensecond"),  # no scan: the VM description decides
    ({"evidence": None, "vm": {"storageProfile.imageReference.sku": "2019-datacenter"}}, "V1", "V1 assumed"),
])
def test_generation_from_evidence_then_description(mut: dict[str, Any], expected: str, why: str) -> None:
    built = build("availability-set-static-ip", **mut)
    assert _res(built, "Compute/disks")[0]["properties"]["hyperVGeneration"] == expected
    assert why in built.template["metadata"]["source"]["hyperVGenerationFrom"]


def test_disk_and_description_disagree_is_noted() -> None:
    built = build("trusted-launch", evidence=LINUX_VOLUMES)
    assert any("says V2 but the OS disk has no EFI" in n for n in built.template["metadata"]["notes"])


@pytest.mark.parametrize("name", ["windows-managed-gen2", "availability-set-static-ip"])
@pytest.mark.parametrize("extra", [
    {},
    merge(ADE, {"facts": {"adeKeysInKeyVault": False}}),
    {"vm": {"plan": {"name": "byol", "publisher": "fortinet", "product": "fortigate", "promotionCode": None}}},
    {"nic": {"ipConfigurations.0.privateIPAllocationMethod": "Static"}},
])
def test_every_fired_template_finding_is_carried_by_a_parameter(name: str, extra: dict[str, Any]) -> None:
    built = build(name, **extra)
    assert all_problems(built.template, built.parameters) == []
    listed = built.template["metadata"]["findings"]
    for finding in listed:
        assert finding["rule"] in TEMPLATE_RULES
        if finding["severity"] in ("warn", "block"):
            assert finding["parameters"], finding
            for param in finding["parameters"]:
                cited = f"{finding['rule']} ({finding['severity']}): "
                assert cited in _params(built)[param]["metadata"]["description"]


def test_ade_keys_become_parameters_and_disk_encryption_settings() -> None:
    built = build("windows-managed-gen2", **ADE)
    params = _params(built)
    assert params["DiskEncryptionKeySecretUrl"]["defaultValue"] == "https://kv-app.vault.azure.net/secrets/3f2a/9b1c"
    assert params["KeyEncryptionKeyUrl"]["defaultValue"] == "https://kv-app.vault.azure.net/keys/kek/1a2b"
    assert params["DiskEncryptionKeySecretUrl"]["metadata"]["description"].startswith("R16 (block)")
    os_disk = _res(built, "Compute/disks")[0]["properties"]
    assert os_disk["encryptionSettingsCollection"]["encryptionSettings"][0]["diskEncryptionKey"]["secretUrl"] == \
        "[parameters('DiskEncryptionKeySecretUrl')]"
    assert "encryptionSettingsCollection" not in _res(built, "Compute/disks")[1]["properties"]
    assert all_problems(built.template, built.parameters) == []


def test_ade_keys_are_read_from_a_flat_recovery_point_document_too() -> None:
    """``recoveryPoint`` given as its properties alone (no ``properties`` wrapper) carries the same keys."""
    from tests.restore.scenario_kit import scenario
    from tests.restore.template_kit import SCENARIOS

    rp, request, evidence = scenario(merge(SCENARIOS["windows-managed-gen2"][0], ADE))
    assert rp.recovery_point is not None
    rp.recovery_point = {**rp.recovery_point.pop("properties"), **rp.recovery_point}
    built = build_template(rp, request, evidence, "import")
    assert _params(built)["DiskEncryptionKeySecretUrl"]["defaultValue"] == \
        "https://kv-app.vault.azure.net/secrets/3f2a/9b1c"


def test_marketplace_plan_parameter() -> None:
    built = build("trusted-launch", vm={"plan": {"name": "byol", "publisher": "fortinet", "product": "fortigate"}})
    assert _params(built)["MarketplacePlan"]["defaultValue"] == {"name": "byol", "publisher": "fortinet",
                                                                 "product": "fortigate"}
    assert _res(built, "Compute/virtualMachines")[0]["plan"].startswith("[if(empty(parameters('MarketplacePlan'))")


def test_two_nics_one_primary_and_a_subnet_each() -> None:
    nic2 = load("nic-show.json")
    nic2.update(id=nic2["id"] + "2", name="vm-app01-nic2", primary=False)
    nic2["ipConfigurations"][0]["subnet"]["id"] = nic2["ipConfigurations"][0]["subnet"]["id"].replace("app", "db")
    refs = load("vm-show.json")["networkProfile"]["networkInterfaces"]
    refs = [refs[0], {**refs[0], "id": nic2["id"], "primary": False}]
    built = build("windows-managed-gen2", vm={"networkProfile.networkInterfaces": refs})
    # scenario() gives one NIC document; the second NIC is known from the VM only, so its subnet is the first's
    assert [r["properties"]["primary"] for r in
            _res(built, "Compute/virtualMachines")[0]["properties"]["networkProfile"]["networkInterfaces"]] == \
        [True, False]
    assert _params(built)["SubnetNic2"]["metadata"]["description"].startswith("R20 (warn)")
    assert all_problems(built.template, built.parameters) == []


def test_restore_only_osdisk_leaves_data_disks_out() -> None:
    built = build("windows-managed-gen2", request={"restore_only_osdisk": True})
    assert len(_res(built, "Compute/disks")) == 1
    assert "dataDisks" not in _res(built, "Compute/virtualMachines")[0]["properties"]["storageProfile"]


def test_unknown_values_are_left_to_fill_in() -> None:
    built = build("windows-managed-gen2", drop=["nic"], vm={"storageProfile.osDisk.vhd": DROP,
                                                            "storageProfile.dataDisks.0.vhd": DROP,
                                                            "storageProfile.dataDisks.1.vhd": DROP})
    assert built.fill_in == ["OsDiskVhdUri", "DataDiskLun0VhdUri", "DataDiskLun1VhdUri", "VirtualNetwork", "Subnet"]
    findings = {f["rule"]: f for f in built.template["metadata"]["findings"]}
    assert findings["R21"]["severity"] == "unknown" and "az network nic show" in findings["R21"]["message"]


@pytest.mark.parametrize(("base", "suffix"), [("web.app_01", "-osdisk"), ("x" * 90, "-datadisk-lun63"), ("..", "")])
def test_derived_disk_names_are_valid(base: str, suffix: str) -> None:
    assert DISK_NAME.fullmatch(disk_name(base, suffix + "-x"))


def test_vm_names_fit_the_os_limit() -> None:
    assert vm_name("vm-app01", None, "Windows") == "vm-app01-r"
    assert vm_name("db", None, "Linux") == "db-restored"
    assert vm_name("sql_server.prod-eu-west", None, "Windows") == "sql-server-pr-r"
    assert vm_name("x", "given-name", "Windows") == "given-name"


def _rp(form: str, disks: list[DiskRef], **kw: Any) -> RecoveryPoint:
    return RecoveryPoint(form, disks, **kw)


@pytest.mark.parametrize(("rp", "message"), [
    (_rp("images", [DiskRef("d0", Path("a.vhd"))]), "image files alone do not say which disk"),
    (_rp("manifest", [DiskRef("os", Path("a.vhd"), -1)]), "the OS type is unknown"),
    (_rp("manifest", [DiskRef("lun0", Path("a.vhd"), 0)], vm={"storageProfile": {"osDisk": {"osType": "Linux"}}}),
     r"has no OS disk \(LUN -1\)"),
    (_rp("manifest", [DiskRef("os", Path("a.vhd"), -1)],
         vm={"storageProfile": {"osDisk": {"osType": "Windows"}}, "securityProfile": {"securityType": "ConfidentialVM"},
             "id": f"{SUB}/rg/providers/Microsoft.Compute/virtualMachines/cvm"}), "confidential VMs"),
])
def test_refusals_name_the_missing_fact(rp: RecoveryPoint, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        build_template(rp, RestoreRequest(), Evidence())
