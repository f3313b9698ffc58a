"""``restorekit template`` end to end on the demo recovery point: files, text, JSON, refusals, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from restorekit.cli import cli
from tests.conftest import fixture_file
from tests.restore.template_kit import all_problems

DEMO = "fixtures/demo"


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["template", *args])


def test_demo_writes_valid_files_and_prints_the_deploy_command(tmp_path: Path, readonly: Any) -> None:
    readonly([fixture_file("demo/recoverypoint.json"), fixture_file("demo/disks/os.vhd")])
    out = tmp_path / "tpl"
    result = invoke(DEMO, "-o", str(out))
    assert result.exit_code == 0, result.output
    template = json.loads((out / "azuredeploy.json").read_text("utf-8"))
    parameters = json.loads((out / "azuredeploy.parameters.json").read_text("utf-8"))
    assert all_problems(template, parameters) == []
    lines = result.stdout.splitlines()
    assert lines[0] == f"Wrote {out}/azuredeploy.json and {out}/azuredeploy.parameters.json"
    assert "Hyper-V V2: the OS disk has an EFI system partition" in lines[1]
    assert lines[-1] == (f"  az deployment group create -g RG --template-file {out}/azuredeploy.json "
                         f"--parameters @{out}/azuredeploy.parameters.json")
    assert any(line.startswith("  unknown R21 ") for line in lines)


def test_json_summary(tmp_path: Path) -> None:
    result = invoke(DEMO, "-o", str(tmp_path), "--json", "--target-resource-group", "rg-restore",
                    "--target-vm-name", "demo-r", "--no-scan")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"template", "parameters", "diskSource", "virtualMachineName", "resources", "findings",
                        "fillIn", "deployCommand"}
    assert doc["diskSource"] == "attach" and doc["virtualMachineName"] == "demo-r"
    assert doc["deployCommand"].startswith("az deployment group create -g rg-restore ")
    assert [r["type"] for r in doc["resources"]][-1] == "Microsoft.Compute/virtualMachines"
    assert doc["fillIn"] == ["VirtualNetwork", "Subnet"]


def test_never_overwrites_without_overwrite(tmp_path: Path) -> None:
    assert invoke(DEMO, "-o", str(tmp_path), "--no-scan").exit_code == 0
    before = (tmp_path / "azuredeploy.json").read_bytes()
    result = invoke(DEMO, "-o", str(tmp_path), "--no-scan", "--disk-source", "vhd")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {tmp_path}/azuredeploy.json: the template file already exists. Pass "
                             "--overwrite to replace it, or choose another name\n")
    assert (tmp_path / "azuredeploy.json").read_bytes() == before
    assert invoke(DEMO, "-o", str(tmp_path), "--no-scan", "--disk-source", "vhd", "--overwrite").exit_code == 0
    assert (tmp_path / "azuredeploy.json").read_bytes() != before


def test_never_replaces_a_file_of_the_recovery_point(tmp_path: Path) -> None:
    """Even with --overwrite, an output that is (a link to) the manifest is refused and nothing is written."""
    manifest = fixture_file("demo/recoverypoint.json")
    before = manifest.read_bytes()
    (tmp_path / "azuredeploy.parameters.json").symlink_to(manifest.resolve())
    result = invoke(DEMO, "-o", str(tmp_path), "--no-scan", "--overwrite")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {tmp_path}/azuredeploy.parameters.json: is the JSON of this recovery point; it "
                             "is never written or replaced. Choose an -o folder that is not one of its files\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["azuredeploy.parameters.json"]
    assert manifest.read_bytes() == before


def test_bad_input_is_one_line_exit_1(tmp_path: Path) -> None:
    result = invoke(str(fixture_file("demo/disks/os.vhd")), "-o", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: image files alone do not say which disk is the OS disk")
    assert len(result.stderr.splitlines()) == 1 and not list(tmp_path.iterdir())


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert invoke(DEMO).exit_code == 2  # no -o
    assert invoke(DEMO, "-o", str(tmp_path), "--disk-source", "copy").exit_code == 2
