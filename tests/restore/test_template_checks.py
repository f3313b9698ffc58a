"""Each offline check passes a good template and catches a broken copy of it (schemas included)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from restorekit.template import checks
from tests.restore.arm_schemas import schema_errors
from tests.restore.template_kit import build

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def good() -> tuple[Doc, Doc]:
    built = build("availability-set-static-ip")
    return built.template, built.parameters


def _res(t: Doc, rtype: str, i: int = 0) -> Doc:
    return [r for r in t["resources"] if r["type"] == rtype][i]


def _vm(t: Doc) -> Doc:
    return _res(t, checks.VMS)["properties"]


def _storage(t: Doc) -> Doc:
    return _vm(t)["storageProfile"]


def test_good_template_passes_everything(good: tuple[Doc, Doc]) -> None:
    template, parameters = good
    assert schema_errors(template) == []
    assert checks.problems(template, parameters) == []


BREAKS: list[tuple[str, Callable[[Doc], None], Callable[[Doc], list[str]], str]] = [
    ("unknown parameter", lambda t: _vm(t)["hardwareProfile"].update(vmSize="[parameters('VmSize')]"),
     checks.check_references, "parameters('VmSize') is not a parameter"),
    ("unknown variable", lambda t: _res(t, checks.NICS).update(name="[variables('nic9Name')]"),
     checks.check_references, "variables('nic9Name') is not a variable"),
    ("unknown function", lambda t: _vm(t)["hardwareProfile"].update(vmSize="[parameter('VirtualMachineSize')]"),
     checks.check_references, "unknown function parameter()"),
    ("resourceId missing a name", lambda t: _vm(t)["networkProfile"]["networkInterfaces"][0].update(
        id="[resourceId(parameters('VirtualNetworkResourceGroup'), 'Microsoft.Network/virtualNetworks/subnets', "
           "parameters('Subnet'))]"), checks.check_references, "takes 2 name(s)"),
    ("resourceId of an unknown type", lambda t: _vm(t)["networkProfile"]["networkInterfaces"][0].update(
        id="[resourceId('Microsoft.Network/networkInterface', variables('nic1Name'))]"),
     checks.check_references, "neither deploys nor expects"),
    ("dependsOn a missing resource", lambda t: _res(t, checks.VMS)["dependsOn"].append(
        "[resourceId('Microsoft.Compute/disks', parameters('VirtualMachineName'))]"),
     checks.check_depends_on, "names no resource of the template"),
    ("dependsOn by bare name", lambda t: _res(t, checks.VMS)["dependsOn"].append("nic1"),
     checks.check_depends_on, "is not a resourceId() expression"),
    ("NIC reference to no NIC", lambda t: _vm(t)["networkProfile"]["networkInterfaces"][0].update(
        id="[resourceId('Microsoft.Network/networkInterfaces', parameters('Subnet'))]"),
     checks.check_depends_on, "is not a resource of the template"),
    ("apiVersion not pinned", lambda t: _res(t, checks.DISKS).update(apiVersion="2023-04-02"),
     checks.check_api_versions, "expected 2025-01-02"),
    ("Attach with osProfile", lambda t: _vm(t).update(osProfile={"computerName": "x", "adminUsername": "a"}),
     checks.check_attach, "osDisk Attach with osProfile"),
    ("Attach with imageReference", lambda t: _storage(t).update(imageReference={"publisher": "p"}),
     checks.check_attach, "osDisk Attach with imageReference"),
    ("OS disk not attached", lambda t: _storage(t)["osDisk"].update(createOption="FromImage"),
     checks.check_attach, "is not Attach"),
    ("Import without sourceUri", lambda t: _res(t, checks.DISKS)["properties"]["creationData"].pop("sourceUri"),
     checks.check_import, "Import without sourceUri"),
    ("Import without storageAccountId", lambda t: _res(t, checks.DISKS, 1)["properties"]["creationData"].pop(
        "storageAccountId"), checks.check_import, "Import without storageAccountId"),
    ("duplicate LUN", lambda t: _storage(t)["dataDisks"].append({**_storage(t)["dataDisks"][0]}),
     checks.check_luns, "LUN 0 used 2 times"),
    ("LUN out of range", lambda t: _storage(t)["dataDisks"][0].update(lun=64), checks.check_luns, "not 0-63"),
    ("two primary NICs", lambda t: _vm(t)["networkProfile"]["networkInterfaces"].append(
        copy.deepcopy(_vm(t)["networkProfile"]["networkInterfaces"][0])), checks.check_primary_nic,
     "2 primary NICs"),
    ("no primary NIC", lambda t: _vm(t)["networkProfile"]["networkInterfaces"][0]["properties"].update(
        primary=False), checks.check_primary_nic, "0 primary NICs"),
    ("no primary IP configuration", lambda t: _res(t, checks.NICS)["properties"]["ipConfigurations"][0][
        "properties"].update(primary=False), checks.check_primary_nic, "not exactly one primary IP configuration"),
    ("osType on a data disk", lambda t: _res(t, checks.DISKS, 1)["properties"].update(osType="Windows"),
     checks.check_os_only, "has osType, which only an OS disk may have"),
    ("hyperVGeneration on a data disk", lambda t: _res(t, checks.DISKS, 1)["properties"].update(
        hyperVGeneration="V2"), checks.check_os_only, "has hyperVGeneration"),
    ("OS disk without hyperVGeneration", lambda t: _res(t, checks.DISKS)["properties"].pop("hyperVGeneration"),
     checks.check_os_only, "no hyperVGeneration"),
    ("osType on the VM's data disk", lambda t: _storage(t)["dataDisks"][0].update(osType="Windows"),
     checks.check_os_only, "LUN 0: has osType"),
]


@pytest.mark.parametrize(("change", "check", "expected"), [b[1:] for b in BREAKS], ids=[b[0] for b in BREAKS])
def test_each_check_catches_its_break(good: tuple[Doc, Doc], change: Callable[[Doc], None],
                                      check: Callable[[Doc], list[str]], expected: str) -> None:
    template = copy.deepcopy(good[0])
    assert check(template) == []
    change(template)
    found = check(template)
    assert any(expected in p for p in found), found
    assert any(expected in p for p in checks.problems(template, good[1]))


@pytest.mark.parametrize(("value", "why"), [("vm.app01-osdisk", "dot"), ("d" * 81, "81 characters"), ("", "empty")])
def test_disk_names_checked_from_parameter_values(good: tuple[Doc, Doc], value: str, why: str) -> None:
    template, parameters = good
    values = checks.values_of(template, parameters)
    assert checks.check_disk_names(template, values) == []
    bad = copy.deepcopy(parameters)
    bad["parameters"]["OsDiskName"]["value"] = value
    found = checks.check_disk_names(template, checks.values_of(template, bad))
    assert len(found) == 2 and "OsDiskName" in found[0], why  # the disk resource and the VM's osDisk entry


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("NotAParameter", "x", "is not a template parameter"),
    ("CreatePublicIp", "true", "is not of type bool"),
    ("VirtualMachineName", 15, "is not of type string"),
    ("DiskSource", "Copy", "is not one of ['Import', 'Attach']"),
    ("VirtualMachineName", "a-much-too-long-windows-name", "is longer than 15"),
])
def test_parameters_file_must_match_template(good: tuple[Doc, Doc], name: str, value: Any, expected: str) -> None:
    template, parameters = good
    bad = copy.deepcopy(parameters)
    bad["parameters"][name] = {"value": value}
    found = checks.check_parameters_file(template, bad)
    assert any(expected in p for p in found), found


def test_a_parameter_without_default_must_be_in_the_file(good: tuple[Doc, Doc]) -> None:
    template = copy.deepcopy(good[0])
    parameters = copy.deepcopy(good[1])
    del template["parameters"]["Subnet"]["defaultValue"]
    del parameters["parameters"]["Subnet"]
    assert checks.check_parameters_file(template, parameters) == ["parameters file: Subnet has no default and no value"]


def test_malformed_expression_is_a_problem_not_a_crash(good: tuple[Doc, Doc]) -> None:
    template = copy.deepcopy(good[0])
    _vm(template)["hardwareProfile"]["vmSize"] = "[parameters('VirtualMachineSize']"
    assert any("expected ','" in p for p in checks.problems(template, good[1]))


def test_schema_rejects_a_literal_modern_vm_size_and_a_bad_enum(good: tuple[Doc, Doc]) -> None:
    """Why vmSize is a parameter: the schema's size list is closed and out of date."""
    template = copy.deepcopy(good[0])
    _vm(template)["hardwareProfile"]["vmSize"] = "Standard_D2s_v5"
    assert any("Standard_D2s_v5" in e for e in schema_errors(template))
    template = copy.deepcopy(good[0])
    _res(template, checks.DISKS)["properties"]["creationData"]["createOption"] = "Bogus"
    assert any("Bogus" in e for e in schema_errors(template))
    template = copy.deepcopy(good[0])
    del _res(template, checks.NICS)["apiVersion"]
    assert schema_errors(template)
