"""Every JSON input, every field of the wrong type: one ``Error:`` line and exit 1, or a plan that copes; never a
traceback (issue #13, "Azure JSON inputs").

The base documents are the demo's ``recoverypoint.json`` (with a NIC, a vault and every fact added, so the readers
of those run too), the form-1 ``config-*.json`` of the demo (UTF-16, dot-flattened keys), the demo's
``target-vm.json`` and a real-shaped ``az storage account show``. Each field of them, plus the fields the code reads
that they lack, is replaced by a number, a boolean, a string, a list, an object and null, and ``show``, ``plan
--json`` and ``template -o`` run in-process on the result.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import restorekit
from restorekit.cli import cli
from restorekit.jsonio import MAX_DEPTH, decode_json_bytes, parse_json
from restorekit.shapes import FLAG, INT, STR, ListOf, Obj, find_shape_error
from tests.conftest import FIXTURES, gunzip_to
from tests.restore.scenario_kit import BASE_FACTS, load

DEMO = FIXTURES / "demo"
FORM1_CONFIG = next((FIXTURES / "demo-form1").glob("config-demo-vm-*.json"))
WRONG: list[Any] = [7, True, "x", [1], {"a": 1}, None]
MISSING = object()
Path_ = tuple[str | int, ...]

#: Fields the code reads that the base documents do not hold (paths below the document's root).
EXTRA_MANIFEST: list[Path_] = [
    ("recoveryPoint", "properties", "keyAndSecret", "kekDetails", "keyUrl"),
    ("recoveryPoint", "properties", "keyAndSecret", "bekDetails", "secretUrl"),
    ("recoveryPoint", "properties", "tierType"), ("recoveryPoint", "tierType"),
    ("recoveryPoint", "properties", "diskExclusionProperties"),
    ("vm", "securityProfile", "securityType"), ("vm", "securityProfile", "uefiSettings", "vTpmEnabled"),
    ("vm", "availabilitySet", "id"), ("vm", "plan", "name"), ("vm", "host", "id"), ("vm", "hostGroup", "id"),
    ("vm", "extendedLocation", "type"), ("vm", "instanceView", "hyperVGeneration"), ("vm", "powerState"),
    ("vm", "storageProfile", "osDisk", "encryptionSettings", "enabled"),
    ("vm", "storageProfile", "osDisk", "managedDisk", "diskEncryptionSet", "id"),
    ("vm", "storageProfile", "osDisk", "vhd", "uri"), ("vm", "licenseType"),
    ("vault", "identity", "userAssignedIdentities"), ("vault", "properties", "encryption", "keyVaultProperties"),
    ("facts", "hyperVGeneration"), ("facts", "osName"), ("facts", "sourceVmExists"), ("facts", "dedicatedHost"),
    ("facts", "sqlVm"), ("facts", "cloudInit"), ("facts", "targetVnetLocation"),
]
EXTRA_VM: list[Path_] = [
    ("instanceView", "statuses"), ("instanceView", "statuses", 0, "code"), ("instanceView", "hyperVGeneration"),
    ("resources",), ("resources", 0, "type"), ("powerState",), ("securityProfile", "securityType"),
]
EXTRA_ACCOUNT: list[Path_] = [("sku", "tier"), ("networkRuleSet", "defaultAction")]


#: Every quoted name in restore/: a member whose name is not among them is read by nothing, and is skipped.
NAMES_IN_CODE = {name.lower() for source in Path(restorekit.__file__).parent.rglob("*.py")
                 for name in re.findall(r'"([A-Za-z][A-Za-z0-9]*)"', source.read_text("utf-8"))}


def paths(doc: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every member of ``doc`` that the code may read (its name, or the last part of a dotted name, is quoted in
    restore/), at any depth; of a list only the first item."""
    out: list[Path_] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc[:1]) if isinstance(doc, list) else ()
    for key, value in items:
        if isinstance(key, int) or key.rsplit(".", 1)[-1].lower() in NAMES_IN_CODE:
            out.append((*prefix, key))
        out += paths(value, (*prefix, key))
    return out


def get(doc: Any, path: Path_) -> Any:
    """The value at ``path``, or a marker when it is missing."""
    for step in path:
        try:
            doc = doc[step]
        except (KeyError, IndexError, TypeError):
            return MISSING
    return doc


def wrong_values(doc: Any, path: Path_) -> list[Any]:
    """The values of :data:`WRONG` whose JSON type differs from the one at ``path``."""
    kind = json_type(get(doc, path))
    return [value for value in WRONG if json_type(value) != kind]


def json_type(value: Any) -> str:
    """``null``, ``boolean``, ``number``, ``string``, ``array``, ``object`` or ``missing``."""
    if value is MISSING:
        return "missing"
    return {type(None): "null", bool: "boolean", int: "number", float: "number", str: "string", list: "array",
            dict: "object"}[type(value)]


def replaced(doc: Any, path: Path_, value: Any) -> Any:
    """A copy of ``doc`` with ``value`` at ``path`` (objects created where missing)."""
    out = copy.deepcopy(doc)
    node = out
    for step, following in itertools.pairwise(path):
        if isinstance(step, str) and not isinstance(node.get(step), dict | list):
            node[step] = [{}] if isinstance(following, int) else {}
        node = node[step]
    node[path[-1]] = value
    return out


def check(result: Result, what: str) -> None:
    """No traceback, an exit code the README documents, and an error is one ``Error:`` line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (what, result.exc_info)
    assert result.exit_code in (0, 1, 2, 3), what
    assert "Traceback" not in result.output + result.stderr, what
    if result.exit_code == 1:
        assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1, (
            what, result.stderr)


def run_all(rp: Path, out: Path, *flags: str, show: bool = True) -> None:
    """``show``, ``plan --json`` and ``template -o`` on one recovery point. The template is made from the JSON
    alone (``--no-scan``): what the scan adds to it, the plan and show already read."""
    runner = CliRunner()
    commands = [["plan", str(rp), "--json", *flags],
                ["template", str(rp), "-o", str(out), "--overwrite", "--no-scan", *flags]]
    for args in ([["show", str(rp)]] if show else []) + commands:
        check(runner.invoke(cli, args), " ".join(args))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A manifest folder and a form-1 staging folder, each with its images, and the base documents."""
    root = tmp_path_factory.mktemp("json-inputs")
    manifest = json.loads((DEMO / "recoverypoint.json").read_text("utf-8"))
    for disk in manifest["disks"]:
        disk["image"] = str((DEMO / disk["image"]).resolve())
    nic = load("nic-show.json")
    nic["id"] = manifest["vm"]["networkProfile"]["networkInterfaces"][0]["id"]
    manifest.update(networkInterfaces=[nic], vault=load("vault-show.json"), facts=dict(BASE_FACTS))
    (root / "manifest").mkdir()
    staging = root / "form1"
    staging.mkdir()
    for image in sorted((FIXTURES / "images" / "demo-form1").glob("*.vhd.gz")):
        gunzip_to(image, staging)
    config = json.loads(decode_json_bytes(FORM1_CONFIG.read_bytes()))
    return {"root": root, "manifest": manifest, "config": config, "staging": staging,
            "target": json.loads((DEMO / "target-vm.json").read_text("utf-8")),
            "account": load("storage-account-show.json")}


def test_base_documents_plan_cleanly(workspace: dict[str, Any]) -> None:
    root = workspace["root"]
    (root / "manifest" / "recoverypoint.json").write_text(json.dumps(workspace["manifest"]))
    for rp in (root / "manifest", workspace["staging"]):
        if rp == workspace["staging"]:
            (rp / FORM1_CONFIG.name).write_text(json.dumps(workspace["config"]), "utf-16")
        for args in (["show", str(rp)], ["plan", str(rp), "--json"], ["template", str(rp), "-o", str(root / "t"),
                                                                     "--overwrite"]):
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 0, (args, result.output)


MANIFEST_PATHS = sorted(set(paths(json.loads((DEMO / "recoverypoint.json").read_text("utf-8"))))
                        | {(k,) for k in ("networkInterfaces", "vault", "facts")}
                        | {("networkInterfaces", 0, *p) for p in paths(load("nic-show.json"))}
                        | {("vault", *p) for p in paths(load("vault-show.json"))}
                        | {("facts", k) for k in BASE_FACTS} | set(EXTRA_MANIFEST), key=str)


@pytest.mark.parametrize("field", MANIFEST_PATHS, ids=lambda p: ".".join(map(str, p)))
def test_manifest_field_of_any_type(workspace: dict[str, Any], field: Path_) -> None:
    folder = workspace["root"] / "manifest"
    for value in wrong_values(workspace["manifest"], field):
        (folder / "recoverypoint.json").write_text(json.dumps(replaced(workspace["manifest"], field, value)))
        run_all(folder, workspace["root"] / "tpl")


CONFIG_PATHS = sorted(set(paths(json.loads(decode_json_bytes(FORM1_CONFIG.read_bytes())))), key=str)


@pytest.mark.parametrize("field", CONFIG_PATHS, ids=lambda p: ".".join(map(str, p)))
def test_config_field_of_any_type(workspace: dict[str, Any], field: Path_) -> None:
    staging = workspace["staging"]
    for value in wrong_values(workspace["config"], field):
        (staging / FORM1_CONFIG.name).write_text(json.dumps(replaced(workspace["config"], field, value)), "utf-16")
        run_all(staging, workspace["root"] / "tpl")


TARGET_PATHS = sorted(set(paths(json.loads((DEMO / "target-vm.json").read_text("utf-8")))) | set(EXTRA_VM), key=str)


@pytest.mark.parametrize("field", TARGET_PATHS, ids=lambda p: ".".join(map(str, p)))
def test_target_vm_field_of_any_type(workspace: dict[str, Any], field: Path_) -> None:
    target = workspace["root"] / "target-vm.json"
    for value in wrong_values(workspace["target"], field):
        target.write_text(json.dumps(replaced(workspace["target"], field, value)))
        run_all(DEMO, workspace["root"] / "tpl", "--no-scan", "--target-vm", str(target), show=False)


ACCOUNT_PATHS = sorted(set(paths(load("storage-account-show.json"))) | set(EXTRA_ACCOUNT), key=str)


@pytest.mark.parametrize("field", ACCOUNT_PATHS, ids=lambda p: ".".join(map(str, p)))
def test_storage_account_field_of_any_type(workspace: dict[str, Any], field: Path_) -> None:
    account = workspace["root"] / "account.json"
    for value in wrong_values(workspace["account"], field):
        account.write_text(json.dumps(replaced(workspace["account"], field, value)))
        run_all(DEMO, workspace["root"] / "tpl", "--no-scan", "--storage-account", str(account), show=False)


# --- one error line naming the field -------------------------------------------------------------------------------


def form1_folder(workspace: dict[str, Any], folder: Path, change: Any) -> Path:
    """A form-1 staging folder (links to the workspace's images), its config changed by ``change(config)``."""
    folder.mkdir(exist_ok=True)
    for image in workspace["staging"].glob("*.vhd"):
        (folder / image.name).symlink_to(image)
    config = copy.deepcopy(workspace["config"])
    change(config)
    (folder / FORM1_CONFIG.name).write_bytes(json.dumps(config).encode("utf-16") + b"\0\0")
    return folder


@pytest.mark.parametrize("command", [["show"], ["plan", "--json"], ["template", "-o", "OUT"]])
def test_wrong_type_is_one_error_line_naming_the_field(workspace: dict[str, Any], tmp_path: Path,
                                                       command: list[str]) -> None:
    folder = form1_folder(workspace, tmp_path / "rp", lambda c: c["properties.storageProfile"].update(dataDisks=5))
    args = [command[0], str(folder), *[str(tmp_path / "out") if a == "OUT" else a for a in command[1:]]]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (f"Error: {folder / FORM1_CONFIG.name}: storageProfile.dataDisks: expected a list, got "
                             "a number (5). A restore job's config-*.json describes the VM as `az vm show -o json` "
                             "does; was it edited?\n")


@pytest.mark.parametrize(("field", "value", "message"), [
    (("vm", "storageProfile", "osDisk", "osType"), {"a": 1}, 'vm.storageProfile.osDisk.osType: expected "Windows" '
                                                            'or "Linux", got an object'),
    (("vm", "networkProfile", "networkInterfaces"), True, "vm.networkProfile.networkInterfaces: expected a list, "
                                                          "got true"),
    (("vm", "storageProfile", "imageReference", "sku"), ["g2"], "vm.storageProfile.imageReference.sku: expected a "
                                                                "string, got a list"),
    (("vm", "type"), 3, "vm.type: expected a string, got a number (3)"),
    (("recoveryPoint", "properties", "recoveryPointTierDetails"), "InstantRP",
     "recoveryPoint.properties.recoveryPointTierDetails: expected a list, got a string ('InstantRP')"),
    (("disks", 1, "lun"), True, "disks[1].lun: expected a LUN from 0 to 63, or -1 for the OS disk, got true"),
    (("disks", 1, "lun"), 64, "disks[1].lun: expected a LUN from 0 to 63, or -1 for the OS disk, got a number (64)"),
    (("disks", 1, "lun"), 10**30, "disks[1].lun: expected a LUN from 0 to 63, or -1 for the OS disk, got a number "
                                  "(1000000000000000000…)"),
    (("vm", "storageProfile", "dataDisks", 0, "lun"), -1, "vm.storageProfile.dataDisks[0].lun: expected a LUN from 0 "
                                                          "to 63, got a number (-1)"),
    (("recoveryPoint", "properties", "osType"), "Plan9", 'recoveryPoint.properties.osType: expected "Windows" or '
                                                         "\"Linux\", got a string ('Plan9')"),
    (("facts", "hyperVGeneration"), "V3", 'facts.hyperVGeneration: expected "V1" or "V2", got a string (\'V3\')'),
    (("facts", "hyperVGeneration"), 2, 'facts.hyperVGeneration: expected "V1" or "V2", got a number (2)'),
    (("facts", "generalized"), "yes", "facts.generalized: expected true or false (or \"Enabled\"/\"Disabled\"), "
                                      "got a string ('yes')"),
    (("vault", "properties", "redundancySettings", "crossRegionRestore"), 1,
     "vault.properties.redundancySettings.crossRegionRestore: expected true or false"),
    (("networkInterfaces", 0, "ipConfigurations", 0, "subnet"), "snet", "networkInterfaces[0].ipConfigurations[0]."
                                                                         "subnet: expected an object"),
])
def test_manifest_error_names_the_json_path(workspace: dict[str, Any], tmp_path: Path, field: Path_, value: Any,
                                            message: str) -> None:
    (tmp_path / "recoverypoint.json").write_text(json.dumps(replaced(workspace["manifest"], field, value)))
    result = CliRunner().invoke(cli, ["plan", str(tmp_path), "--json"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {tmp_path / 'recoverypoint.json'}: {message}"), result.stderr


def test_case_variants_and_nulls_are_accepted(workspace: dict[str, Any], tmp_path: Path) -> None:
    manifest = copy.deepcopy(workspace["manifest"])
    os_disk = manifest["vm"]["storageProfile"]["osDisk"]
    os_disk["OSTYPE"] = os_disk.pop("osType")
    manifest["vm"]["zones"] = ["1", 2]
    os_disk["OSTYPE"] = "WINDOWS"
    manifest["recoveryPoint"]["properties"].update(isManagedVirtualMachine="True", zones=None, osType=None)
    manifest["facts"]["hyperVGeneration"] = "v2"
    (tmp_path / "rp").mkdir()
    (tmp_path / "rp" / "recoverypoint.json").write_text(json.dumps(manifest))
    doc = json.loads(CliRunner().invoke(cli, ["show", str(tmp_path / "rp"), "--json", "--no-scan"]).stdout)
    assert doc["os"]["osType"] == "Windows" and doc["hardware"]["zones"] == ["1", "2"]
    result = CliRunner().invoke(cli, ["template", str(tmp_path / "rp"), "-o", str(tmp_path / "t"), "--no-scan"])
    assert result.exit_code == 0, result.output
    template = json.loads((tmp_path / "t" / "azuredeploy.json").read_text("utf-8"))
    assert template["metadata"]["source"]["osType"] == "Windows"


def test_target_vm_and_storage_account_wrong_types(tmp_path: Path) -> None:
    target = json.loads((DEMO / "target-vm.json").read_text("utf-8"))
    target["storageProfile"]["dataDisks"][0]["lun"] = "0"
    (tmp_path / "vm.json").write_text(json.dumps(target))
    result = CliRunner().invoke(cli, ["plan", str(DEMO), "--no-scan", "--target-vm", str(tmp_path / "vm.json")])
    assert result.exit_code == 1
    assert result.stderr == (f"Error: --target-vm {tmp_path / 'vm.json'}: storageProfile.dataDisks[0].lun: expected a "
                             "LUN from 0 to 63, got a string ('0'). Save the output of `az vm show -d -g RG -n VM "
                             "-o json`\n")
    account = load("storage-account-show.json")
    account["sku"] = "Standard_LRS"
    (tmp_path / "sa.json").write_text(json.dumps(account))
    result = CliRunner().invoke(cli, ["plan", str(DEMO), "--no-scan", "--storage-account", str(tmp_path / "sa.json")])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: --storage-account {tmp_path / 'sa.json'}: sku: expected an object, got "
                                    "a string ('Standard_LRS')")


def test_target_vm_in_rest_shape_is_read(tmp_path: Path) -> None:
    """``az rest`` / ARM exports nest a VM's fields under ``properties``; they are lifted as for the manifest."""
    target = json.loads((DEMO / "target-vm.json").read_text("utf-8"))
    nested = {k: target.pop(k) for k in ("storageProfile", "vmId", "hardwareProfile")}
    (tmp_path / "vm.json").write_text(json.dumps({**target, "properties": nested}))
    result = CliRunner().invoke(cli, ["plan", str(DEMO), "--option", "replace-disks", "--no-scan", "--target-vm",
                                      str(tmp_path / "vm.json")])
    assert result.exit_code == 0, result.output
    assert "swapDataDisk" in result.output


def test_shape_check_rules() -> None:
    shape = Obj({"disks": ListOf(Obj({"lun": INT})), "flag": FLAG})
    assert find_shape_error({"DISKS": [{"Lun": 1}, None], "flag": "Enabled", "other": [1, {"lun": "x"}]}, shape) is None
    assert str(find_shape_error({"flag": 1, "disks": [{"lun": "0"}]}, shape)) == (
        'flag: expected true or false (or "Enabled"/"Disabled"), got a number (1)')  # document order
    assert str(find_shape_error([], shape)) == "the document: expected an object, got a list"
    deep = Obj({"storageType": STR}, deep=True)
    found = find_shape_error({"a": [{"b": {"STORAGETYPE": 3}}]}, deep)
    assert str(found) == "a[0].b.STORAGETYPE: expected a string, got a number (3)"
    assert find_shape_error({"a": ["storageType", 3]}, deep) is None


# --- nesting depth --------------------------------------------------------------------------------------------------


def test_parse_json_depth_limit() -> None:
    assert parse_json("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert parse_json('["' + "[" * 5000 + '"]') == ["[" * 5000]  # brackets inside strings do not count
    with pytest.raises(ValueError, match=f"more than {MAX_DEPTH} deep"):
        parse_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    for bad in ("NaN", "[1e999]", "-Infinity"):
        with pytest.raises(ValueError, match=r"is not a JSON value|too large"):
            parse_json(bad)


@pytest.mark.parametrize("where", ["manifest", "config", "target-vm"])
def test_deeply_nested_input_is_one_error_line(tmp_path: Path, where: str) -> None:
    deep = '{"vm": ' + '{"a": [' * 600 + "]}" * 600 + "}"
    if where == "manifest":
        (tmp_path / "recoverypoint.json").write_text(deep)
        args, name = ["show", str(tmp_path)], str(tmp_path / "recoverypoint.json")
    elif where == "config":
        (tmp_path / "config-vm-1.json").write_text(deep, "utf-16")
        args, name = ["plan", str(tmp_path)], str(tmp_path / "config-vm-1.json")
    else:
        (tmp_path / "vm.json").write_text(deep)
        args, name = ["plan", str(DEMO), "--no-scan", "--target-vm", str(tmp_path / "vm.json")], \
            f"--target-vm {tmp_path / 'vm.json'}"
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert result.stderr.startswith(f"Error: {name}: is not valid JSON: nests arrays and objects more than "
                                    f"{MAX_DEPTH} deep"), result.stderr


# --- names JSON gives to files ---------------------------------------------------------------------------------------


def test_blob_name_too_long_names_the_field(workspace: dict[str, Any], tmp_path: Path) -> None:
    def long_blob(config: dict[str, Any]) -> None:
        disk = config["properties.storageProfile"]["dataDisks"][0]
        disk["vhd"]["uri"] = disk["vhd"]["uri"].rsplit("/", 1)[0] + "/" + "d" * 300 + ".vhd"

    folder = form1_folder(workspace, tmp_path, long_blob)
    result = CliRunner().invoke(cli, ["show", str(folder)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stderr.startswith(f"Error: {folder / FORM1_CONFIG.name}: storageProfile.dataDisks[0].vhd.uri: "
                                    f"cannot look up the image '{folder}/ddd")
    assert result.stderr.endswith(". Give the image a shorter name (through a recoverypoint.json for a restore job's "
                                  "blob) and point the field at it\n")
    assert "File name too long" in result.stderr


@pytest.mark.parametrize(("image", "message"), [
    ("x" * 300 + ".vhd", "disks[0].image: cannot look up the image"),
    ("os\0.vhd", "disks[0].image: cannot look up the image"),
])
def test_manifest_image_that_cannot_be_looked_up(tmp_path: Path, image: str, message: str) -> None:
    (tmp_path / "recoverypoint.json").write_text(json.dumps({"disks": [{"lun": -1, "image": image}]}))
    result = CliRunner().invoke(cli, ["inspect", str(tmp_path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stderr.startswith(f"Error: {tmp_path / 'recoverypoint.json'}: {message}"), result.stderr


@pytest.mark.parametrize("uri", ["https://a.blob.core.windows.net/c/", "https://a.blob.core.windows.net/c/..%2F..%2Fx.vhd",
                                 "https://a.blob.core.windows.net/c/.."])
def test_blob_name_must_be_a_file_name(workspace: dict[str, Any], tmp_path: Path, uri: str) -> None:
    def set_uri(config: dict[str, Any]) -> None:
        config["properties.storageProfile"]["osDisk"]["vhd"]["uri"] = uri

    folder = form1_folder(workspace, tmp_path, set_uri)
    result = CliRunner().invoke(cli, ["inspect", str(folder)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {folder / FORM1_CONFIG.name}: storageProfile.osDisk.vhd.uri {uri!r} "
                                    "does not end in a blob name")


# --- lone surrogates -------------------------------------------------------------------------------------------------


def test_lone_surrogate_in_json_is_escaped_in_every_output(workspace: dict[str, Any], tmp_path: Path) -> None:
    manifest = copy.deepcopy(workspace["manifest"])
    manifest["vm"]["name"] = "vm\ud800"
    manifest["vm"]["storageProfile"]["dataDisks"][0]["name"] = "data\udfff"
    (tmp_path / "rp").mkdir()
    (tmp_path / "rp" / "recoverypoint.json").write_text(json.dumps(manifest))  # ASCII: "vm\\ud800"
    rp = str(tmp_path / "rp")
    for args in (["show", rp, "--json"], ["plan", rp, "--json"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, (args, result.exc_info)
        assert "\\ud800" in result.stdout and json.loads(result.stdout)  # escaped, still JSON
    result = CliRunner().invoke(cli, ["template", rp, "-o", str(tmp_path / "t"), "--json"])
    assert result.exit_code == 0, result.exc_info
    template = json.loads((tmp_path / "t" / "azuredeploy.json").read_text("utf-8"))
    assert template["metadata"]["source"]["vm"] == "vm\ud800"
    for args in (["show", rp], ["plan", rp]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0 and "vm\\ud800" in result.stdout, (args, result.exc_info)


@pytest.mark.parametrize("lang", ["C", "C.UTF-8"])
def test_surrogates_reach_a_real_stdout_escaped(tmp_path: Path, lang: str) -> None:
    """A real process (its stdout strict under UTF-8 locales, ``surrogateescape`` under C): text and JSON output
    with lone surrogates from a manifest and from an image name that is not UTF-8."""
    manifest = json.loads((DEMO / "recoverypoint.json").read_text("utf-8"))
    manifest["vm"]["name"] = "vm\ud800"
    for disk in manifest["disks"]:
        disk["image"] = str((DEMO / disk["image"]).resolve())
    (tmp_path / "recoverypoint.json").write_text(json.dumps(manifest))
    image = Path(os.fsdecode(bytes(tmp_path) + b"/disk\xff.vhd"))
    shutil.copy(FIXTURES / "demo" / "disks" / "os.vhd", image)
    env = {**os.environ, "LANG": lang, "LC_ALL": lang}
    env.pop("PYTHONIOENCODING", None)

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True, env=env, check=False)
        assert b"Traceback" not in done.stderr, done.stderr.decode("utf-8", "replace")
        return done

    for args in (["show", str(tmp_path), "--no-scan"], ["plan", str(tmp_path), "--no-scan"]):
        done = run(*args)
        assert done.returncode == 0 and b"vm\\ud800" in done.stdout
    shown = json.loads(run("show", str(tmp_path), "--no-scan", "--json").stdout)
    planned = json.loads(run("plan", str(tmp_path), "--no-scan", "--json").stdout)
    assert shown["vm"]["name"] == planned["recoveryPoint"]["vm"] == "vm\ud800"
    inspected = run("inspect", str(image), "--json")
    assert inspected.returncode == 0 and json.loads(inspected.stdout)["disks"][0]["image"] == str(image)
    listed = run("ls", str(image), "d0-p3:/Users", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)


def test_key_case_variants_reach_the_template(workspace: dict[str, Any], tmp_path: Path) -> None:
    """Keys are read case-insensitively everywhere: a data disk's ``LUN`` used to raise KeyError in the template."""
    def upper_lun(config: dict[str, Any]) -> None:
        disk = config["properties.storageProfile"]["dataDisks"][0]
        disk["LUN"] = disk.pop("lun")

    folder = form1_folder(workspace, tmp_path / "rp", upper_lun)
    result = CliRunner().invoke(cli, ["template", str(folder), "-o", str(tmp_path / "t"), "--disk-source", "vhd"])
    assert result.exit_code == 0, result.output
    template = json.loads((tmp_path / "t" / "azuredeploy.json").read_text("utf-8"))
    vm = next(r for r in template["resources"] if r["type"] == "Microsoft.Compute/virtualMachines")
    (data,) = vm["properties"]["storageProfile"]["dataDisks"]
    assert data["lun"] == 0 and data["caching"] == "None"
