"""``restorekit plan --option replace-disks --target-vm`` end to end on the demo recovery point: exit codes,
the replace steps in JSON and text, and one-line errors for a vm.json that is not `az vm show -d` output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from fixtures.build import demo_target_vm
from restorekit.cli import cli

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo"
TARGET = DEMO / "target-vm.json"


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["plan", str(DEMO), *args])


def target_file(tmp_path: Path, **changes: Any) -> Path:
    doc = {**json.loads(TARGET.read_text("utf-8")), **changes}
    path = tmp_path / "vm.json"
    path.write_text(json.dumps(doc), "utf-8")
    return path


def test_demo_target_vm_is_what_the_fixture_builder_writes() -> None:
    assert json.loads(TARGET.read_text("utf-8")) == demo_target_vm()


def test_matching_demo_vm_exits_0_with_steps_after_the_findings() -> None:
    result = invoke("--option", "replace-disks", "--target-vm", str(TARGET))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == "replace-disks  allowed-with-warnings"
    start = lines.index("  replace steps:")
    assert all(line.startswith("  unknown ") for line in lines[2:start])
    assert [line.split()[1] for line in lines[start + 1:]] == [
        "snapshotDisk", "snapshotDisk", "swapOsDisk", "swapDataDisk", "keepOriginalDisk", "keepOriginalDisk"]
    assert lines[start + 4].split()[2:5] == ["LUN", "0", "demo-vm-data0:"]


def test_json_carries_the_lun_map_and_numbered_steps() -> None:
    result = invoke("--option", "replace-disks", "--target-vm", str(TARGET), "--json")
    (entry,) = json.loads(result.stdout)["options"]
    assert [e["action"] for e in entry["lunMap"]] == ["replace", "replace"]
    assert entry["lunMap"][1]["vm"]["diskSizeGb"] == 32 and entry["lunMap"][1]["recoveryPoint"]["disk"] == "lun0"
    steps = entry["replaceSteps"]
    assert [s["step"] for s in steps] == list(range(1, 7))
    assert set(steps[0]) == {"step", "action", "lun", "disk", "restoredDisk", "detail"}
    assert {f["rule"] for f in entry["findings"]} == {"R04", "R31", "R32", "R33", "R34", "R35", "R80"}


def test_another_vm_under_the_same_name_exits_3(tmp_path: Path) -> None:
    vm = target_file(tmp_path, vmId="5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b", powerState="VM running")
    result = invoke("--option", "replace-disks", "--target-vm", str(vm))
    assert result.exit_code == 3, result.output
    lines = result.output.splitlines()
    assert lines[1].endswith("blocked") and lines[2].startswith("  block   R01 ")
    assert "re-created under the same name" in lines[2] and lines[3].startswith("  warn    R08 ")
    assert invoke("--option", "all", "--target-vm", str(vm)).exit_code == 0


def test_check_without_rule_id_prints_its_name_and_blocks(tmp_path: Path) -> None:
    vm = target_file(tmp_path, zones=["3"])
    result = invoke("--option", "replace-disks", "--target-vm", str(vm), "--json")
    assert result.exit_code == 3
    (entry,) = json.loads(result.stdout)["options"]
    zone = next(f for f in entry["findings"] if f.get("check") == "zone")
    assert zone["rule"] is None and zone["severity"] == "block" and zone["evidence"].endswith("VM now: 3")
    text = invoke("--option", "replace-disks", "--target-vm", str(vm)).output
    assert "  block   zone The VM's availability zone differs" in text


def test_a_disk_document_is_refused_naming_the_file(tmp_path: Path) -> None:
    disk = tmp_path / "disk.json"
    disk.write_text(json.dumps({"id": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/disks/d",
                                "name": "d", "type": "Microsoft.Compute/disks", "diskSizeGb": 32}), "utf-8")
    result = invoke("--target-vm", str(disk))
    assert result.exit_code == 1
    assert result.stderr == (f"Error: --target-vm {disk}: is a Microsoft.Compute/disks, not a virtual machine. "
                             "Save the output of `az vm show -d -g RG -n VM -o json` for the VM to replace\n")


def test_vm_json_without_identity_or_disks_is_refused(tmp_path: Path) -> None:
    vm = tmp_path / "vm.json"
    vm.write_text(json.dumps({"name": "demo-vm", "powerState": "VM deallocated"}), "utf-8")
    result = invoke("--target-vm", str(vm))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith(f"Error: --target-vm {vm}: has no id, vmId, storageProfile.osDisk; ")
    two = tmp_path / "list.json"
    two.write_text(json.dumps([demo_target_vm(), demo_target_vm()]), "utf-8")
    assert "must hold one JSON object" in invoke("--target-vm", str(two)).stderr
    missing = invoke("--target-vm", str(tmp_path / "nope.json"))
    assert missing.exit_code == 1 and missing.stderr.startswith(f"Error: --target-vm {tmp_path / 'nope.json'}: ")
